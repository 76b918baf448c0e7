"""The same dbt models on Apache Spark (dbt-spark, session method, local mode): every model
and every data test passes on a simulated history, and every table equals DuckDB's.

The raw tables land as Parquet (exported from the DuckDB warehouse ingestion filled) and are
registered in Spark's metastore as external tables, as a data lake's landing zone would be.
"""

import json
import os
import subprocess
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from polycopy.dbt_project import DBT_PROJECT_DIR, dbt_executable, with_duckdb_limits
from polycopy.sim.loader import load_history
from polycopy.warehouse import WarehouseSettings, open_warehouse
from polycopy.warehouse.parquet_export import export_raw_parquet

AS_OF = "2026-11-19"
pytestmark = pytest.mark.spark


def _dbt(args: list[str], env: dict, tmp: Path, name: str) -> str:
    proc = subprocess.run(
        [dbt_executable(), *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(tmp / f"target-{name}"), "--log-path", str(tmp / f"logs-{name}")],
        env={**os.environ, **env}, capture_output=True, text=True, cwd=tmp, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def built(small_world, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("spark")
    db = tmp / "wh.duckdb"
    wh = open_warehouse(WarehouseSettings(duckdb_path=str(db)))
    # Some wallets' activity too, so that splits, merges and conversions reach the models.
    wallets = set(small_world.wallets["address"].str.lower().iloc[:60])
    load_history(small_world, wh, activity_wallets=wallets)
    duck_env = with_duckdb_limits({"POLYCOPY_WAREHOUSE": "duckdb", "POLYCOPY_DUCKDB_PATH": str(db)})
    _dbt(["build", "--vars", json.dumps({"as_of_date": AS_OF})], duck_env, tmp, "duckdb")
    export_raw_parquet(wh, tmp / "raw")

    spark_dir = tmp / "spark-warehouse"
    spark_env = {"POLYCOPY_SPARK_WAREHOUSE_DIR": str(spark_dir), "POLYCOPY_SPARK_SHUFFLE_PARTITIONS": "2"}
    _dbt(["run-operation", "register_raw_parquet", "--args", json.dumps({"path": str(tmp / "raw")}),
          "--target", "spark"], spark_env, tmp, "spark-raw")
    out = _dbt(["build", "--target", "spark", "--vars", json.dumps({"as_of_date": AS_OF})], spark_env, tmp, "spark")
    return db, spark_dir, out


def _tables(db: Path) -> list[tuple[str, str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("select table_schema, table_name from information_schema.tables where table_type = "
                           "'BASE TABLE' and table_schema in ('intermediate', 'marts') order by 1, 2").fetchall()
    finally:
        con.close()


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    floats = [c for c in df.columns if pd.api.types.is_float_dtype(df[c])]
    keys = [c for c in df.columns if c not in floats]
    rounded = df.assign(**{f"_r_{c}": df[c].round(6) for c in floats})
    return (rounded.sort_values(keys + [f"_r_{c}" for c in floats], na_position="first")
            .drop(columns=[f"_r_{c}" for c in floats]).reset_index(drop=True))


def test_every_model_and_test_passes_on_spark(built):
    _, _, out = built
    done = next(line for line in out.splitlines() if "Done. PASS=" in line)
    assert "ERROR=0" in done and "SKIP=0" in done and "WARN=0" in done, done


def test_every_table_equals_duckdbs(built):
    db, spark_dir, _ = built
    tables = _tables(db)
    assert len(tables) >= 18
    con = duckdb.connect(str(db), read_only=True)
    try:
        for schema, name in tables:
            duck = con.execute(f"select * from {schema}.{name}").df()
            spark = duckdb.sql(f"select * from read_parquet('{spark_dir}/{schema}.db/{name}/*.parquet')").df()
            assert list(spark.columns) == list(duck.columns), name
            assert len(spark) == len(duck), name
            duck, spark = _sorted(duck), _sorted(spark[duck.columns].astype(duck.dtypes.to_dict(), errors="ignore"))
            for column in duck.columns:
                a, b = duck[column], spark[column]
                if pd.api.types.is_float_dtype(a):
                    np.testing.assert_allclose(b.to_numpy(float), a.to_numpy(float), rtol=1e-9, atol=1e-9,
                                               equal_nan=True, err_msg=f"{name}.{column}")
                else:
                    assert b.astype(str).tolist() == a.astype(str).tolist(), f"{name}.{column}"
    finally:
        con.close()
