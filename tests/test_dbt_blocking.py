"""Error-severity dbt tests are blocking asset checks: a bad staging row stops the
incremental models downstream in the same run."""

import json
import os
import subprocess
import sys

from polycopy.sim.loader import load_history
from polycopy.warehouse import WarehouseSettings, open_warehouse
from tests.conftest import REPO_ROOT
from tests.dbt_fixture import run_dbt

SCRIPT = """
import json, dagster as dg
from polycopy_dagster.defs.dbt_models import polycopy_dbt_daily_models
from polycopy_dagster.defs.resources import build_data_resources
specs = {c.key.name: c.blocking for a in (polycopy_dbt_daily_models,) for c in a.check_specs}
r = dg.materialize([polycopy_dbt_daily_models], resources=build_data_resources(),
                   raise_on_error=False, tags={"dagster/asset_partition_range_start": "2026-10-01",
                                               "dagster/asset_partition_range_end": "2026-11-20"},
                   run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
failed = sorted(e.check_name for e in r.get_asset_check_evaluations() if not e.passed)
mats = sorted(m.event_specific_data.materialization.asset_key.to_user_string()
              for m in r.get_asset_materialization_events())
print(json.dumps({"blocking": specs, "failed": failed, "materialized": mats, "success": r.success}))
"""


def test_failing_staging_test_blocks_the_incremental_models(small_world, tmp_path):
    path = tmp_path / "wh.duckdb"
    wh = open_warehouse(WarehouseSettings(backend="duckdb", duckdb_path=str(path)))
    load_history(small_world, wh)
    # A row no ingestion would write (price outside [0, 1]), as a bad upstream load might.
    with wh.transaction() as cur:
        cur.execute("update raw.trades set price = 1.5 where trade_key = (select min(trade_key) from raw.trades)")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "POLYCOPY_WAREHOUSE": "duckdb", "POLYCOPY_DUCKDB_PATH": str(path)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    check = "accepted_range_stg_polymarket__trades_price__1__0"
    assert out["blocking"][check] is True
    assert out["failed"] == [check]
    assert not out["success"]
    incremental = ("intermediate/int_trade_outcomes", "intermediate/int_positions",
                   "intermediate/int_wallet_realizations", "marts/fct_wallet_daily_pnl")
    assert not any(m in incremental or m.startswith("marts/") for m in out["materialized"]), out


def test_two_wallets_sharing_an_integer_key_fail_the_build_before_any_model_groups_by_it(small_world, tmp_path):
    """The wallet models group by the last 60 bits of a wallet id: two ids sharing them
    would be merged. int_id_keys' unique test fails first and every model after it is skipped."""
    path = tmp_path / "wh.duckdb"
    wh = open_warehouse(WarehouseSettings(backend="duckdb", duckdb_path=str(path)))
    load_history(small_world, wh)
    wallet = str(wh.scalar("select min(proxy_wallet) from raw.trades"))
    # Another wallet: a different first hex digit, the same last 15.
    twin = "0x" + ("f" if wallet[2] != "f" else "e") + wallet[3:]
    with wh.transaction() as cur:
        cur.execute(f"update raw.trades set proxy_wallet = '{twin}' "
                    f"where trade_key = (select min(trade_key) from raw.trades where proxy_wallet = '{wallet}')")
    run_dbt({"POLYCOPY_WAREHOUSE": "duckdb", "POLYCOPY_DUCKDB_PATH": str(path)}, tmp_path, succeeds=False)
    results = {r["unique_id"].split(".")[2]: r["status"]
               for r in json.loads((tmp_path / "t" / "run_results.json").read_text())["results"]}
    assert results["unique_combination_int_id_keys_id_kind__id_key"] == "fail"
    for model in ("int_trade_outcomes", "int_wallet_market_days", "int_wallet_crossings", "int_positions", "wallet_metrics"):
        assert results[model] == "skipped", (model, results[model])
    assert results["stg_polymarket__trades"] == "success"
