"""The dbt project as Dagster sees it: its manifest (parsed when the project changed), the
target of the configured warehouse, and the dbt CLI resource. The assets are in
``dbt_models``; the resources module builds the CLI resource from here."""

import os
import shutil
import tempfile
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject
from filelock import FileLock

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


def dbt_resource(project: DbtProject = dbt_project) -> DbtCliResource:
    return DbtCliResource(project_dir=project, profiles_dir=str(project.project_dir), target=warehouse_target(),
                          dbt_executable=dbt_executable())


def _manifest_is_stale(project: DbtProject) -> bool:
    manifest = project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [p for pat in ("*.sql", "*.yml", "*.csv") for p in project.project_dir.rglob(pat)
               if "target" not in p.relative_to(project.project_dir).parts]
    return any(p.stat().st_mtime > built for p in sources)


def ensure_manifest(project: DbtProject = dbt_project) -> Path:
    """Parse the dbt project when it changed since its manifest was written (or none
    exists), and return the manifest's path.

    Several processes load the definitions at once (test workers, a code server and the
    daemon), so the check and the parse hold a lock, and dbt writes into a private
    directory whose files are then moved into place: a reader never sees a half-written
    manifest, and a project is parsed once however many processes start together."""
    target = project.project_dir / project.target_path
    target.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / f".{target.name}.parse.lock")):
        if _manifest_is_stale(project):
            scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.parse-", dir=target.parent))
            try:
                dbt_resource(project).cli(["parse", "--quiet"], target_path=scratch).wait()
                # The manifest last: its arrival is what readers wait for.
                for name in ("partial_parse.msgpack", "semantic_manifest.json", "manifest.json"):
                    if (scratch / name).exists():
                        os.replace(scratch / name, target / name)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
    return project.manifest_path


ensure_manifest()
