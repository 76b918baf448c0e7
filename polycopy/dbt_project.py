"""Where the dbt project lives, and a plain dbt invocation for code outside Dagster
(benchmarks, the scoring evaluation)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from datetime import date
from pathlib import Path

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"


def dbt_executable() -> str:
    """dbt from PATH, else the one installed beside this interpreter (an unactivated venv)."""
    return shutil.which("dbt") or str(Path(sys.executable).parent / "dbt")


def with_duckdb_limits(env: dict[str, str]) -> dict[str, str]:
    """``env`` (dbt's extra environment) with the memory, thread and spill settings of the
    DuckDB file it names (``POLYCOPY_DUCKDB_PATH``), from the ``POLYCOPY_DUCKDB_*``
    variables or the machine; unchanged for another warehouse."""
    from polycopy.warehouse.duckdb_limits import duckdb_limits_from_env

    merged = {**os.environ, **env}
    if merged.get("POLYCOPY_WAREHOUSE", "duckdb") != "duckdb" or not merged.get("POLYCOPY_DUCKDB_PATH"):
        return env
    return {**duckdb_limits_from_env(merged["POLYCOPY_DUCKDB_PATH"], merged).dbt_environment(), **env}


def run_dbt(args: list[str], env: dict[str, str], target_path: str | Path) -> None:
    """Run ``dbt <args>`` on this project with extra environment ``env``; raise with dbt's
    own output when it fails. ``target_path`` keeps the run's artifacts apart."""
    env = with_duckdb_limits(env)
    proc = subprocess.run(
        [dbt_executable(), *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(target_path), "--log-path", str(Path(target_path) / "logs")],
        env={**os.environ, **env}, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args[:1])} failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")


def incremental_relations(manifest: dict) -> list[str]:
    """``schema.name`` of every incremental model in a dbt manifest (``manifest.json``)."""
    return sorted(f"{node['schema']}.{node.get('alias') or node['name']}"
                  for node in manifest.get("nodes", {}).values()
                  if node.get("resource_type") == "model" and node.get("config", {}).get("materialized") == "incremental")


def missing_relations(warehouse, relations: list[str]) -> list[str]:
    """Those of ``relations`` (``schema.name``) not yet in ``warehouse``: a dbt command
    that builds them builds them whole."""
    present = set(warehouse.query_df("select table_schema || '.' || table_name as relation "
                                     "from information_schema.tables")["relation"])
    return [r for r in relations if r not in present]


def thread_args(limits, builds_whole: bool) -> list[str]:
    """``--threads`` for a dbt command on the DuckDB warehouse whose limits are ``limits``
    (``DuckDBLimits``): ``limits.full_build_dbt_threads`` when it builds the incremental
    models whole, so that the largest do not share DuckDB's memory limit at once; nothing
    (the profile's threads) for a window's run or another warehouse (``limits`` None)."""
    return ["--threads", str(limits.full_build_dbt_threads)] if limits is not None and builds_whole else []


def dbt_vars(**values) -> list[str]:
    return ["--vars", json.dumps(values)]


# The partition window as the incremental models read it from the environment
# (macros/incremental_window.sql). Passed as --vars instead, a window that moves every day
# would make dbt parse the whole project again every day.
PARTITION_VARIABLES = ("POLYCOPY_PARTITION_START", "POLYCOPY_PARTITION_END")


def partition_environment(start: date | str, end: date | str) -> dict[str, str]:
    """The environment variables of a dbt command over the UTC days [start, end)."""
    return dict(zip(PARTITION_VARIABLES, (str(start), str(end))))


@contextmanager
def scoped_environment(overrides: dict[str, str | None]):
    """Set ``overrides`` in this process's environment (None: unset) for the block, then
    put back what was there."""
    saved = {k: os.environ.get(k) for k in overrides}
    try:
        for k, v in overrides.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class AsOfBuilder:
    """Builds this project's models on one DuckDB warehouse as of day after day, in this
    process: the project is parsed once and each build compiles a fresh copy of that
    manifest with the day's ``as_of_date`` var. A ``dbt build --vars ...`` subprocess would
    start dbt and reparse the whole project every time the var changes (about 4 s a
    build); dbt's compilation of ephemeral models mutates the manifest it is handed, hence
    the copy. For loops that replay history week by week (the backtest, the scoring
    evaluation); Dagster runs dbt through dagster-dbt."""

    def __init__(self, duckdb_path: str | Path, target_path: str | Path, limits=None):
        from dbt.cli.main import dbtRunner

        from polycopy.warehouse.duckdb_limits import duckdb_limits

        # The limits of the warehouse opened on the same file in this process (by default the
        # machine's, as open_warehouse gives): DuckDB refuses a second connection to a file
        # with another configuration.
        limits = limits or duckdb_limits(duckdb_path)
        self._env = {"POLYCOPY_WAREHOUSE": "duckdb", "POLYCOPY_DUCKDB_PATH": str(duckdb_path),
                     **limits.dbt_environment()}
        self._common = ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
                        "--target-path", str(target_path), "--log-path", str(Path(target_path) / "logs"), "--quiet"]
        with scoped_environment(self._env):
            parsed = dbtRunner().invoke(["parse", *self._common, "--no-write-json"])
        if not parsed.success:
            raise RuntimeError(f"dbt parse failed: {parsed.exception}")
        self._manifest = parsed.result

    def build(self, as_of: date) -> None:
        """Build every model (tests excluded) as of the end of UTC day ``as_of``."""
        from dbt.cli.main import dbtRunner

        with scoped_environment(self._env):
            res = dbtRunner(manifest=self._manifest.deepcopy()).invoke(
                ["build", "--exclude", "resource_type:test", *dbt_vars(as_of_date=as_of.isoformat()), *self._common,
                 "--no-write-json"])  # the run's results come back in memory; nothing reads the files
        if not res.success:
            failed = [f"{r.node.name}: {r.message}" for r in getattr(res.result, "results", None) or []
                      if str(r.status) in ("error", "fail", "runtime error")]
            raise RuntimeError(f"dbt build as of {as_of} failed: {'; '.join(failed) or res.exception}")
