"""Materialize the dbt assets through dagster-dbt for the backend in $POLYCOPY_WAREHOUSE and
print the asset-check results and the source-freshness status as JSON (run as a subprocess:
the dbt project's target is fixed when the code location loads)."""

import json
import sys

import dagster as dg

from polycopy_dagster.defs.dbt_models import dbt_resource, polycopy_dbt_models
from polycopy_dagster.defs.resources import build_data_resources

resources = build_data_resources()
result = dg.materialize([polycopy_dbt_models], resources=resources, raise_on_error=False,
                        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
mats = sorted(m.asset_key.to_user_string() for m in result.get_asset_materialization_events()
              for m in [m.event_specific_data.materialization])
freshness = dbt_resource().cli(["source", "freshness"], raise_on_error=False)
freshness.wait()
print(json.dumps({"success": result.success, "checks": checks, "materialized": mats,
                  "freshness_ok": freshness.is_successful()}))
sys.exit(0)
