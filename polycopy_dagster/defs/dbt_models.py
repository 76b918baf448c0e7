"""The dbt project as Dagster assets; dbt tests surface as asset checks."""


import os
import shutil
import sys
from pathlib import Path
from typing import Any, Mapping

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from polycopy_dagster.defs.resources import WarehouseResource

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"


def warehouse_target() -> str:
    return os.environ.get("POLYCOPY_WAREHOUSE", "duckdb")


def dbt_executable() -> str:
    """dbt from PATH, else the one installed beside this interpreter (an unactivated venv)."""
    return shutil.which("dbt") or str(Path(sys.executable).parent / "dbt")


dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR,
    profiles_dir=DBT_PROJECT_DIR,
    target=warehouse_target(),
    # One manifest per backend, so switching backends never reads a stale one.
    target_path=Path("target") / warehouse_target(),
)


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR), target=warehouse_target(),
                          dbt_executable=dbt_executable())


def _manifest_is_stale() -> bool:
    manifest = dbt_project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [p for pat in ("*.sql", "*.yml") for p in DBT_PROJECT_DIR.rglob(pat) if "target" not in p.parts]
    return any(p.stat().st_mtime > built for p in sources)


if _manifest_is_stale():
    # Parse when the dbt project changed since the manifest was written (or none exists).
    dbt_resource().cli(["parse", "--quiet"], target_path=dbt_project.target_path).wait()


class PolycopyDbtTranslator(DagsterDbtTranslator):
    """Groups dbt models by layer (staging, intermediate, marts)."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        return f"dbt_{fqn[1]}" if len(fqn) > 2 else "dbt"


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=PolycopyDbtTranslator(),
    pool="warehouse",
)
def polycopy_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    """Build (run + test) the selected dbt models."""
    # dbt reads its connection from the environment (profiles.yml); the warehouse
    # resource is the one place that decides where the DuckDB file lives.
    os.environ["POLYCOPY_DUCKDB_PATH"] = warehouse.settings().duckdb_path
    yield from dbt.cli(["build"], context=context).stream()


defs = dg.Definitions(assets=[polycopy_dbt_models])
