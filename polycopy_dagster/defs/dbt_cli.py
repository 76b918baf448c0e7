"""The dbt project as Dagster sees it: its manifest (parsed when the project changed), the
target of the configured warehouse, and the dbt CLI resource. The assets are in
``dbt_models``; the resources module builds the CLI resource from here."""

import os
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from polycopy.dbt_project import DBT_PROJECT_DIR, dbt_executable


def warehouse_target() -> str:
    return os.environ.get("POLYCOPY_WAREHOUSE", "duckdb")


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
    sources = [p for pat in ("*.sql", "*.yml", "*.csv") for p in DBT_PROJECT_DIR.rglob(pat) if "target" not in p.parts]
    return any(p.stat().st_mtime > built for p in sources)


if _manifest_is_stale():
    # Parse when the dbt project changed since the manifest was written (or none exists).
    dbt_resource().cli(["parse", "--quiet"], target_path=dbt_project.target_path).wait()
