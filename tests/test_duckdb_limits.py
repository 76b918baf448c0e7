"""The embedded warehouse's memory limit, threads and spill directory: defaults from the
machine, settings named in one line when wrong, and the same limits in the warehouse
writer and in dbt."""

import json
import os
import subprocess
import sys

import pytest

from polycopy.configuration import ConfigurationError
from polycopy.dbt_project import (DBT_PROJECT_DIR, dbt_executable, incremental_relations, missing_relations,
                                  thread_args, with_duckdb_limits)
from polycopy.warehouse import WarehouseSettings, open_warehouse
from polycopy.warehouse.duckdb_limits import (DEFAULT_MEMORY_FRACTION, SLICE_FILLS_PER_MB, duckdb_limits,
                                              duckdb_limits_from_env, parse_memory_mb, physical_memory_mb)


def test_defaults_come_from_the_machine(tmp_path):
    limits = duckdb_limits(tmp_path / "wh.duckdb")
    assert limits.memory_limit_mb == int(physical_memory_mb() * DEFAULT_MEMORY_FRACTION)
    assert limits.threads == os.cpu_count()
    assert limits.temp_directory == str((tmp_path / "wh.duckdb").resolve()) + ".tmp"
    assert limits.full_build_dbt_threads == 1
    # Slices of a whole build scale with the memory limit; dbt reads their size from its environment.
    assert limits.whole_build_slice_fills == limits.memory_limit_mb * SLICE_FILLS_PER_MB
    assert limits.dbt_environment()["POLYCOPY_DUCKDB_WHOLE_BUILD_SLICE_FILLS"] == str(limits.whole_build_slice_fills)
    assert duckdb_limits(tmp_path / "wh.duckdb", memory_limit="1GB").whole_build_slice_fills == 1000 * SLICE_FILLS_PER_MB
    assert duckdb_limits_from_env(tmp_path / "wh.duckdb",
                                  {"POLYCOPY_DUCKDB_WHOLE_BUILD_SLICE_FILLS": "0"}).whole_build_slice_fills == 0


@pytest.mark.parametrize("text, mb", [("6GB", 6000), ("512MB", 512), ("4GiB", 4294), ("2048", 2048), ("1.5 GB", 1500)])
def test_memory_sizes(text, mb):
    assert parse_memory_mb(text) == mb


@pytest.mark.parametrize("env, message", [
    ({"POLYCOPY_DUCKDB_MEMORY_LIMIT": "lots"}, "POLYCOPY_DUCKDB_MEMORY_LIMIT='lots' is not a memory size"),
    ({"POLYCOPY_DUCKDB_MEMORY_LIMIT": "10MB"}, "below DuckDB's workable minimum"),
    ({"POLYCOPY_DUCKDB_THREADS": "two"}, "POLYCOPY_DUCKDB_THREADS='two' is not a number of threads"),
    ({"POLYCOPY_DUCKDB_FULL_BUILD_DBT_THREADS": "all"},
     "POLYCOPY_DUCKDB_FULL_BUILD_DBT_THREADS='all' is not a number of threads"),
    ({"POLYCOPY_DUCKDB_FULL_BUILD_DBT_THREADS": "0"}, "POLYCOPY_DUCKDB_FULL_BUILD_DBT_THREADS=0 must be at least 1"),
    ({"POLYCOPY_DUCKDB_WHOLE_BUILD_SLICE_FILLS": "10M"},
     "POLYCOPY_DUCKDB_WHOLE_BUILD_SLICE_FILLS='10M' is not a number of fills"),
])
def test_bad_settings_are_named_in_one_line(env, message, tmp_path):
    with pytest.raises(ConfigurationError) as err:
        duckdb_limits_from_env(tmp_path / "wh.duckdb", env)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_the_warehouse_resource_sizes_the_slices_of_a_whole_build(tmp_path):
    from polycopy_dagster.defs.resources import WarehouseResource

    def dbt_env(**fields) -> dict:
        resource = WarehouseResource(duckdb_path=str(tmp_path / "wh.duckdb"), **fields)
        return resource.settings().resolved_duckdb_limits().dbt_environment()

    assert dbt_env(duckdb_whole_build_slice_fills=2500)["POLYCOPY_DUCKDB_WHOLE_BUILD_SLICE_FILLS"] == "2500"
    assert dbt_env(duckdb_whole_build_slice_fills=0)["POLYCOPY_DUCKDB_WHOLE_BUILD_SLICE_FILLS"] == "0"
    assert dbt_env(duckdb_memory_limit="2GB")["POLYCOPY_DUCKDB_WHOLE_BUILD_SLICE_FILLS"] == str(2000 * SLICE_FILLS_PER_MB)


def test_whole_builds_run_dbt_one_model_at_a_time(tmp_path):
    from polycopy_dagster.defs.dbt_cli import ensure_manifest

    limits = duckdb_limits_from_env(tmp_path / "wh.duckdb", {"POLYCOPY_DUCKDB_FULL_BUILD_DBT_THREADS": "2"})
    assert thread_args(limits, builds_whole=True) == ["--threads", "2"]
    assert thread_args(duckdb_limits(tmp_path / "wh.duckdb"), builds_whole=True) == ["--threads", "1"]
    assert thread_args(limits, builds_whole=False) == [] and thread_args(None, builds_whole=True) == []
    # The incremental models, read from the project's manifest, are missing from a new warehouse.
    relations = incremental_relations(json.loads(ensure_manifest().read_text()))
    assert {"intermediate.int_positions", "marts.fct_wallet_daily_pnl"} <= set(relations)
    assert not any(r.endswith(("wallet_metrics", "stg_polymarket__trades")) for r in relations)
    wh = open_warehouse(WarehouseSettings(duckdb_path=str(tmp_path / "wh.duckdb")))
    assert missing_relations(wh, relations) == relations
    with wh.transaction() as cur:
        cur.execute("create schema if not exists intermediate")
        cur.execute("create table intermediate.int_positions (wallet_key bigint)")
    assert "intermediate.int_positions" not in missing_relations(wh, relations)


def test_the_warehouse_writer_runs_within_the_limits(tmp_path):
    limits = duckdb_limits(tmp_path / "wh.duckdb", memory_limit="300MB", threads=1,
                           temp_directory=str(tmp_path / "spill"))
    wh = open_warehouse(WarehouseSettings(duckdb_path=str(tmp_path / "wh.duckdb"), duckdb_limits=limits))
    got = wh.query_df("select current_setting('memory_limit') as m, current_setting('threads') as t, "
                      "current_setting('temp_directory') as d").iloc[0]
    assert got["m"] == "286.1 MiB" and int(got["t"]) == 1 and got["d"] == str(tmp_path / "spill")
    # A sort far larger than the limit spills instead of failing.
    n = wh.scalar("select count(*) from (select md5(cast(i as varchar)) as h from range(6000000) t(i) order by h)")
    assert int(n) == 6_000_000


def test_dbt_runs_within_the_same_limits(tmp_path):
    db = tmp_path / "wh.duckdb"
    open_warehouse(WarehouseSettings(duckdb_path=str(db)))
    env = with_duckdb_limits({"POLYCOPY_WAREHOUSE": "duckdb", "POLYCOPY_DUCKDB_PATH": str(db),
                              "POLYCOPY_DUCKDB_MEMORY_LIMIT": "700MB", "POLYCOPY_DUCKDB_THREADS": "1"})
    assert env["POLYCOPY_DUCKDB_TEMP_DIRECTORY"] == str(db.resolve()) + ".tmp"
    proc = subprocess.run(
        [dbt_executable(), "show", "--inline", "select current_setting('memory_limit') as m, "
         "current_setting('threads') as t, current_setting('temp_directory') as d", "--output", "json",
         "--log-format", "json", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        env={**os.environ, **env}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:]
    shown = next(json.loads(json.loads(line)["data"]["preview"]) for line in proc.stdout.splitlines()
                 if '"preview"' in line)
    assert shown == [{"m": "667.5 MiB", "t": 1, "d": str(db.resolve()) + ".tmp"}]
