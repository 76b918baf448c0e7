"""The dbt project as Dagster assets; dbt tests surface as asset checks."""


import json
import os
from typing import Any, Mapping

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from polycopy_dagster.defs.dbt_cli import dbt_project
from polycopy_dagster.defs.partitions import daily_partitions
from polycopy_dagster.defs.resources import WarehouseResource


class PolycopyDbtTranslator(DagsterDbtTranslator):
    """Groups dbt models by layer (staging, intermediate, marts)."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        return f"dbt_{fqn[1]}" if len(fqn) > 2 else "dbt"


INCREMENTAL = "config.materialized:incremental"
# The views (staging, and lookups such as market categories) and the seeds they read.
STAGING = "config.materialized:view resource_type:seed"


def _use_warehouse(warehouse: WarehouseResource) -> None:
    # dbt reads its connection from the environment (profiles.yml); the warehouse
    # resource is the one place that decides where the DuckDB file lives.
    os.environ["POLYCOPY_DUCKDB_PATH"] = warehouse.settings().duckdb_path
    # dagster-dbt seeds each invocation with the partial-parse file it finds under
    # $DBT_TARGET_PATH (default "target/"); ours is per backend. Without this every dbt
    # call re-parses the project. (Each dbt subprocess still gets its own target path.)
    os.environ["DBT_TARGET_PATH"] = str(dbt_project.project_dir / dbt_project.target_path)


# Three asset definitions, one per kind of build, so that no run has to execute one of
# them twice: staging views → incremental models → full marts tables. Staging shares
# the daily partitions (re-creating a view is the same for any window) so that staging
# and the incremental models run together, and an error-severity dbt test on staging —
# a blocking asset check — stops the incremental build in that run.
@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, select=STAGING,
            partitions_def=daily_partitions, backfill_policy=dg.BackfillPolicy.single_run(),
            dagster_dbt_translator=PolycopyDbtTranslator(), pool="warehouse", name="polycopy_dbt_staging")
def polycopy_dbt_staging(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    """Load the seeds and build (and test) the views over the raw tables."""
    _use_warehouse(warehouse)
    yield from dbt.cli(["build"], context=context).stream()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=INCREMENTAL,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    dagster_dbt_translator=PolycopyDbtTranslator(),
    pool="warehouse",
    name="polycopy_dbt_incremental_models",
)
def polycopy_dbt_incremental_models(context: dg.AssetExecutionContext, dbt: DbtCliResource,
                                    warehouse: WarehouseResource):
    """Build the incremental models over the run's partition window: only the positions
    and wallets the window's trades and resolutions touch are recomputed."""
    _use_warehouse(warehouse)
    window = context.partition_time_window
    dbt_vars = {"partition_start": window.start.date().isoformat(), "partition_end": window.end.date().isoformat()}
    yield from dbt.cli(["build", "--vars", json.dumps(dbt_vars)], context=context).stream()


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, exclude=f"{STAGING} {INCREMENTAL}",
            dagster_dbt_translator=PolycopyDbtTranslator(), pool="warehouse", name="polycopy_dbt_marts")
def polycopy_dbt_marts(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    """Build (and test) the full tables: category base rates and wallet metrics."""
    _use_warehouse(warehouse)
    yield from dbt.cli(["build"], context=context).stream()


dbt_asset_defs = [polycopy_dbt_staging, polycopy_dbt_incremental_models, polycopy_dbt_marts]
defs = dg.Definitions(assets=dbt_asset_defs)
