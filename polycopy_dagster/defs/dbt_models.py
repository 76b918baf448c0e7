"""The dbt project as Dagster assets; dbt tests surface as asset checks."""


import functools
import json
import os
from pathlib import Path
from typing import Any, Mapping

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from polycopy.dbt_project import (PARTITION_VARIABLES, incremental_relations, missing_relations, partition_environment,
                                  scoped_environment, thread_args)
from polycopy_dagster.defs.automation import DBT_DAILY, REBUILD_BATCH, after_upstream, recent_partitions_after_upstream
from polycopy_dagster.defs.dbt_cli import dbt_project, keep_partial_parse, parse_seed_dir
from polycopy_dagster.defs.metadata import DATA_OWNERS, RESEARCH_OWNERS, tags
from polycopy_dagster.defs.partitions import daily_partitions
from polycopy_dagster.defs.resources import WarehouseResource


def _layer(dbt_resource_props: Mapping[str, Any]) -> str:
    fqn = dbt_resource_props.get("fqn", [])
    return fqn[1] if len(fqn) > 2 else dbt_resource_props.get("resource_type", "dbt")


def _quoted(v) -> str:
    return ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)


def describe_dbt_test(test: Mapping[str, Any]) -> str:
    """What a dbt test asserts, in words: its own YAML description when it has one, else
    said from its declaration (generic tests) or the leading comment of its SQL (singular)."""
    own = test.get("description") or (test.get("meta") or {}).get("description")
    meta = test.get("test_metadata") or {}
    kw = meta.get("kwargs") or {}
    col = kw.get("column_name")
    name = meta.get("name")
    if own:
        text = own
    elif name == "not_null":
        text = f"`{col}` is never null."
    elif name == "unique":
        text = f"`{col}` is unique."
    elif name == "accepted_values":
        text = f"`{col}` is one of: {_quoted(kw.get('values', []))}."
    elif name == "relationships":
        to = str(kw.get("to", "")).replace("ref('", "").replace("')", "")
        text = f"every `{col}` exists as `{kw.get('field')}` in `{to}`."
    elif name == "accepted_range":
        lo, hi = kw.get("min_value"), kw.get("max_value")
        bounds = f"≥ {lo}" if hi is None else (f"≤ {hi}" if lo is None else f"within [{lo}, {hi}]")
        text = f"`{col}` is {bounds}."
    elif name == "unique_combination":
        text = f"each ({_quoted(kw.get('columns', []))}) appears once."
    elif name:
        text = f"{name} on `{col}`." if col else f"{name}."
    else:  # a singular test: its SQL opens with a comment saying what it asserts
        lines = [ln.strip()[2:].strip() for ln in (test.get("raw_code") or "").splitlines()
                 if ln.strip().startswith("--")]
        text = " ".join(lines[:3]) or test.get("name", "")
    severity = str((test.get("config") or {}).get("severity") or "error").lower()
    return text + (" Blocking: a failure stops downstream assets." if severity == "error" else " Warns only.")


def _is_daily(dbt_resource_props: Mapping[str, Any]) -> bool:
    """Seeds, views and incremental models are built per daily partition; the rest are full tables."""
    materialized = (dbt_resource_props.get("config") or {}).get("materialized")
    return dbt_resource_props.get("resource_type") == "seed" or materialized in ("view", "incremental")


class PolycopyDbtTranslator(DagsterDbtTranslator):
    """dbt models as Dagster sees them: grouped by layer (staging, intermediate, marts),
    owned and tagged, with the automation that keeps them fresh after each ingest, and
    their tests described in words."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        layer = _layer(dbt_resource_props)
        return f"dbt_{layer}" if layer in ("staging", "intermediate", "marts") else "dbt"

    def get_owners(self, dbt_resource_props: Mapping[str, Any]):
        # The wallet models are the scoring's measurements; the rest is the data platform's.
        return RESEARCH_OWNERS if "wallet" in dbt_resource_props.get("fqn", []) else DATA_OWNERS

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        cadence = "daily" if _is_daily(dbt_resource_props) else "table"
        return {**super().get_tags(dbt_resource_props), **tags("dbt", layer=_layer(dbt_resource_props)),
                "cadence": cadence}

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]):
        if _is_daily(dbt_resource_props):
            # Daily partitions: the recent days follow their trades, resolutions and the market
            # snapshot; a day's chain of views and incremental models runs as one run.
            return recent_partitions_after_upstream(batch=DBT_DAILY)
        # Full tables over the daily models: after an update, once every day they read exists
        # (a full rebuild over missing days would be wrong), in one run with the scoring that reads them.
        return after_upstream(when_missing=False, batch=REBUILD_BATCH)

    def get_asset_check_spec(self, asset_spec, manifest, unique_id, project):
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None:
            return None
        return spec._replace(description=describe_dbt_test(manifest["nodes"][unique_id]))


INCREMENTAL = "config.materialized:incremental"
# The views (staging, and lookups such as market categories) and the seeds they read.
STAGING = "config.materialized:view resource_type:seed"


def _use_warehouse(warehouse: WarehouseResource) -> None:
    # dbt reads its connection from the environment (profiles.yml); the warehouse
    # resource is the one place that decides where the DuckDB file lives.
    settings = warehouse.settings()
    os.environ["POLYCOPY_DUCKDB_PATH"] = settings.duckdb_path
    # The same memory limit, threads and spill directory as the warehouse writer's.
    os.environ.update(settings.resolved_duckdb_limits().dbt_environment())
    # dagster-dbt seeds each invocation with the partial-parse file it finds under
    # $DBT_TARGET_PATH (default "target/"): the one kept for these connection settings.
    # Without it every dbt call re-parses the project. (Each dbt subprocess still gets its
    # own target path.)
    os.environ["DBT_TARGET_PATH"] = str(parse_seed_dir())


@functools.lru_cache(maxsize=2)
def _incremental_relations(manifest_path: str, modified: float) -> list[str]:
    return incremental_relations(json.loads(Path(manifest_path).read_text()))


def _whole_build_reason(warehouse: WarehouseResource, window: dg.TimeWindow) -> str | None:
    """Why this DuckDB run builds the incremental models whole, or None for a window run:
    its window starts at the first partition (a backfill of the whole history), or some
    are not in the warehouse yet (a first build)."""
    if window.start.date() <= daily_partitions.start.date():
        return "the window starts at the first partition"
    missing = missing_relations(warehouse.open(), _incremental_relations(str(dbt_project.manifest_path),
                                                                         dbt_project.manifest_path.stat().st_mtime))
    if not missing:
        return None
    return (f"{len(missing)} incremental models are built whole ({', '.join(missing[:3])}"
            f"{', …' if len(missing) > 3 else ''})")


def _dbt_build(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource,
               window: dg.TimeWindow | None = None):
    """``dbt build`` of the asset definition's selection, with its events; over ``window``
    (daily partitions) for the incremental models.

    When the run builds the incremental models whole on DuckDB (a first build, or a
    backfill from the first partition), dbt runs one model at a time
    (``duckdb_full_build_dbt_threads``).

    The window goes to dbt in its environment, not as ``--vars``: dbt re-parses the whole
    project whenever the vars differ from its last parse's, which a daily window always
    does. The variables are set only while dagster-dbt starts the command, so no later dbt
    command of this process sees them."""
    _use_warehouse(warehouse)
    bounds = (partition_environment(window.start.date(), window.end.date()) if window
              else dict.fromkeys(PARTITION_VARIABLES))
    settings = warehouse.settings()
    threads = []
    # Only the daily asset holds incremental models; the full tables are small beside them.
    if window is not None and settings.backend == "duckdb":
        reason = _whole_build_reason(warehouse, window)
        threads = thread_args(settings.resolved_duckdb_limits(), builds_whole=reason is not None)
        if threads:
            context.log.info(f"{reason}: dbt runs {threads[1]} model(s) at a time")
    with scoped_environment(bounds):
        invocation = dbt.cli(["build", *threads], context=context)
    yield from invocation.stream()
    keep_partial_parse(invocation.target_path)


# Two asset definitions, one per kind of build, so that no run has to execute one of
# them twice: the daily models (seeds, staging views and the incremental models over a
# window of daily partitions) and the full tables. The views share the daily partitions
# (re-creating a view is the same for any window) so that they and the incremental
# models are one dbt command: a day pays for one dbt start-up, not two, and an
# error-severity dbt test on staging (a blocking asset check) stops the incremental
# models after it, as `dbt build` skips what follows a failed test.
@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=f"{STAGING} {INCREMENTAL}",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    dagster_dbt_translator=PolycopyDbtTranslator(),
    pool="warehouse",
    name="polycopy_dbt_daily_models",
)
def polycopy_dbt_daily_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    """Load the seeds, build (and test) the views over the raw tables, then the incremental
    models over the run's partition window: only the positions and wallets the window's
    trades and resolutions touch are recomputed."""
    yield from _dbt_build(context, dbt, warehouse, context.partition_time_window)


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, exclude=f"{STAGING} {INCREMENTAL}",
            dagster_dbt_translator=PolycopyDbtTranslator(), pool="warehouse", name="polycopy_dbt_marts")
def polycopy_dbt_marts(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    """Build (and test) the full tables: category base rates and wallet metrics."""
    yield from _dbt_build(context, dbt, warehouse)


dbt_asset_defs = [polycopy_dbt_daily_models, polycopy_dbt_marts]

build_dbt_daily_job = dg.define_asset_job(
    "build_dbt_daily", selection=dg.AssetSelection.assets(polycopy_dbt_daily_models),
    description="dbt over a range of days: the seeds, the staging views and the incremental models (and their "
                "tests); launch as a backfill to rebuild history.")
build_dbt_marts_job = dg.define_asset_job(
    "build_dbt_marts", selection=dg.AssetSelection.assets(polycopy_dbt_marts),
    description="dbt's full tables: the wallet models, category base rates and wallet metrics (and their tests).")

defs = dg.Definitions(assets=dbt_asset_defs, jobs=[build_dbt_daily_job, build_dbt_marts_job])
