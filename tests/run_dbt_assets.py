"""Materialize the dbt assets through dagster-dbt for the backend in $POLYCOPY_WAREHOUSE and
print the asset-check results, the source-freshness status and dbt's command lines as JSON (run as a subprocess:
the dbt project's target is fixed when the code location loads)."""

import json
import sys

import dagster as dg

from polycopy_dagster.defs.dbt_cli import dbt_resource
from polycopy_dagster.defs.dbt_models import polycopy_dbt_daily_models, polycopy_dbt_marts
from polycopy_dagster.defs.partitions import daily_partitions
from polycopy_dagster.defs.resources import build_data_resources

resources = build_data_resources()
quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
keys = daily_partitions.get_partition_keys()
instance = dg.DagsterInstance.ephemeral()
every_day = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}


def daily(**partition):
    return dg.materialize([polycopy_dbt_daily_models], resources=resources, raise_on_error=False,
                          run_config=quiet, instance=instance, **partition)


# The first run is the last day's, on a warehouse without the incremental models: they are
# built whole. Then the marts; the last day again, a window on top of the built history;
# and a backfill of every daily partition, which rewrites every day.
results = [
    daily(partition_key=keys[-1]),
    dg.materialize([polycopy_dbt_marts], resources=resources, raise_on_error=False, run_config=quiet,
                   instance=instance),
    daily(partition_key=keys[-1]),
    daily(tags=every_day),
]
# dbt's command line in each run (first build, marts, window run, backfill), as dagster-dbt logs it.
commands = [[e.user_message.split("`")[1] for e in instance.all_logs(r.run_id)
             if e.user_message.startswith("Running dbt command: `")] for r in results]
checks = {e.check_name: e.passed for r in results for e in r.get_asset_check_evaluations()}
mats = sorted(m.asset_key.to_user_string() for r in results for m in r.get_asset_materialization_events()
              for m in [m.event_specific_data.materialization])
freshness = dbt_resource().cli(["source", "freshness"], raise_on_error=False)
freshness.wait()
print(json.dumps({"success": all(r.success for r in results), "checks": checks, "materialized": mats,
                  "freshness_ok": freshness.is_successful(), "dbt_commands": commands}))
sys.exit(0)
