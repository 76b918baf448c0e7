"""The dbt project as Dagster sees it: its manifest (parsed when the project changed), the
target of the configured warehouse, and the dbt CLI resource. The assets are in
``dbt_models``; the resources module builds the CLI resource from here."""

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from importlib.metadata import version
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


# What profiles.yml reads from the environment. dbt keeps a partial parse only under the
# connection settings it was made with.
_PROFILE_VARIABLES = sorted(
    set(re.findall(r"env_var\(\s*'([A-Z0-9_]+)'", (DBT_PROJECT_DIR / "profiles.yml").read_text()))
    - {"POLYCOPY_PG_PASSWORD"})  # not among the settings dbt compares; never written anywhere
_PARTIAL_PARSE = "partial_parse.msgpack"
_UNUSED_PARSE_DAYS = 7


def partial_parse_dir(project: DbtProject = dbt_project) -> Path:
    """Where the partial parse for this process's connection settings (the warehouse's path,
    memory limit, threads and spill directory, as the run sets them) is kept."""
    settings = json.dumps({"dbt": version("dbt-core"), **{n: os.environ.get(n) for n in _PROFILE_VARIABLES}},
                          sort_keys=True)
    return project.project_dir / project.target_path / f"parse-{hashlib.sha256(settings.encode()).hexdigest()[:16]}"


def parse_seed_dir(project: DbtProject = dbt_project) -> Path:
    """The directory whose partial parse seeds the next dbt command (dagster-dbt copies it
    from ``$DBT_TARGET_PATH``): the one kept for these connection settings, else the parse
    made when the definitions loaded.

    dbt throws away a partial parse made under other connection settings and parses the
    whole project again (about 3 s a command); the load-time parse, made before the
    warehouse resource sets them, would make every run do that."""
    kept = partial_parse_dir(project)
    return kept if (kept / _PARTIAL_PARSE).exists() else project.project_dir / project.target_path


def keep_partial_parse(invocation_target: Path, project: DbtProject = dbt_project) -> None:
    """Keep the partial parse a finished dbt command wrote (``invocation_target``) for the
    next command under the same connection settings, and drop those unused for a week."""
    written = Path(invocation_target) / _PARTIAL_PARSE
    if not written.exists():
        return
    kept = partial_parse_dir(project)
    kept.mkdir(parents=True, exist_ok=True)
    scratch = kept / f".{_PARTIAL_PARSE}.{os.getpid()}"
    shutil.copyfile(written, scratch)
    os.replace(scratch, kept / _PARTIAL_PARSE)  # a reader copies the old file or the new, never half of one
    stale = time.time() - _UNUSED_PARSE_DAYS * 86_400
    for other in kept.parent.glob("parse-*"):
        if other != kept and (other / _PARTIAL_PARSE).exists() and (other / _PARTIAL_PARSE).stat().st_mtime < stale:
            shutil.rmtree(other, ignore_errors=True)


ensure_manifest()
