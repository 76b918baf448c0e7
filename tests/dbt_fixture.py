"""A scratch warehouse on either backend for hand-made fixtures, and a real dbt build on it."""

import json
import os
import subprocess
import sys

from polycopy.warehouse import WarehouseSettings, open_warehouse
from tests.conftest import REPO_ROOT


def fixture_warehouse(request, tmp_path_factory):
    """(warehouse, dbt environment, scratch dir) for ``request.param`` ("duckdb" or "postgres")."""
    tmp_path = tmp_path_factory.mktemp(request.param)
    if request.param == "duckdb":
        settings = WarehouseSettings(backend="duckdb", duckdb_path=str(tmp_path / "wh.duckdb"))
        env = {"POLYCOPY_WAREHOUSE": "duckdb", "POLYCOPY_DUCKDB_PATH": settings.duckdb_path}
    else:
        dsn = request.getfixturevalue("pg_database_module")
        settings = WarehouseSettings(backend="postgres", pg_dsn=dsn)
        env = {"POLYCOPY_WAREHOUSE": "postgres", "POLYCOPY_PG_DATABASE": dsn.rsplit("dbname=", 1)[1]}
    return open_warehouse(settings), env, tmp_path


def run_dbt(env: dict, tmp_path, *args: str, succeeds: bool = True) -> str:
    """``dbt build`` with ``args`` on the warehouse ``env`` names (its run_results.json in
    ``tmp_path / "t"``); fails the test with dbt's output unless it ends as ``succeeds`` says."""
    dbt = REPO_ROOT / "dbt_project"
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "dbt"), "build", "--target", env["POLYCOPY_WAREHOUSE"],
         "--profiles-dir", str(dbt), "--project-dir", str(dbt), "--target-path", str(tmp_path / "t"),
         "--log-path", str(tmp_path / "l"), *args],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=600)
    assert (proc.returncode == 0) == succeeds, proc.stdout[-3000:]
    return proc.stdout


def dbt_build(env: dict, tmp_path, as_of: str) -> None:
    """``dbt build`` (models and tests) as of ``as_of``; fails the test with dbt's output."""
    run_dbt(env, tmp_path, "--vars", json.dumps({"as_of_date": as_of}))
