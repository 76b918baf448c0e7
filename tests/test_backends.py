"""DuckDB and PostgreSQL hold identical raw tables and dbt staging models for one seed; the
dbt project runs through dagster-dbt on both, its tests surfacing as asset checks."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from polycopy.ingest import wallets_that_matter
from polycopy.sim import truth
from polycopy_dagster.defs.resources import WarehouseResource
from tests.conftest import REPO_ROOT
from tests.dagster_helpers import api_resource, ingest, warehouse

DBT_DIR = REPO_ROOT / "dbt_project"

RAW_TABLES = {
    "raw.trades": "trade_key",
    "raw.markets": "condition_id",
    "raw.market_tokens": "token_id",
    "raw.market_resolutions": "token_id",
    "raw.rejects": "reject_key",
    "raw.activity": "activity_key",
    "raw.market_tags": "condition_id, tag_slug",
}
STAGING = {
    "staging.stg_polymarket__trades": "trade_key",
    "staging.stg_polymarket__markets": "condition_id",
    "staging.stg_polymarket__market_tokens": "token_id",
    "staging.stg_polymarket__market_resolutions": "token_id",
    "staging.stg_polymarket__activity": "activity_key",
    "intermediate.int_market_categories": "condition_id",
}
INTERMEDIATE = {
    "intermediate.int_trade_outcomes": "trade_key",
    "intermediate.int_positions": "wallet_address, token_id",
    "intermediate.int_wallet_realizations": "wallet_address, token_id, realization_kind, realized_at_unix, "
                                            "realized_pnl_usd",
    "intermediate.int_wallet_redemptions": "wallet_address, condition_id",
    "marts.fct_wallet_daily_pnl": "wallet_address, activity_date",
    "marts.category_base_rates": "category",
    "marts.wallet_metrics": "wallet_address",
}
VOLATILE = {"ingested_at", "first_seen_at"}
# The models a whole build on DuckDB makes in slices of wallets (dbt_project/macros/fill_slices.sql).
SLICED = ("int_trade_outcomes", "int_wallet_market_days", "int_wallet_bets_placed")


def dbt_through_dagster(target: str, env: dict) -> dict:
    """Materialize the dbt assets with dagster-dbt for one backend (in a subprocess)."""
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "tests" / "run_dbt_assets.py")],
                          env={**os.environ, "POLYCOPY_WAREHOUSE": target, **env}, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # dagster-dbt echoes dbt's log lines, the sliced models' slices among them.
    return {**json.loads(proc.stdout.strip().splitlines()[-1]),
            "slices_logged": {model: proc.stdout.count(f"{model}: slice 2 of") for model in SLICED}}


def normalized(wh, table: str, key: str) -> pd.DataFrame:
    df = wh.query_df(f"select * from {table} order by {key}")
    df = df.drop(columns=[c for c in df.columns if c in VOLATILE])
    for c in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[c]):
            df[c] = pd.to_datetime(df[c]).dt.tz_localize(None).astype("datetime64[us]")
        elif df[c].dtype == object and df[c].map(lambda v: hasattr(v, "isoformat")).any():
            df[c] = pd.to_datetime(df[c]).astype("datetime64[us]")
    return df.reset_index(drop=True)


@pytest.mark.postgres
def test_both_backends_produce_identical_tables(small_world, venue, pg_database, tmp_path):
    pg_name = pg_database.rsplit("dbname=", 1)[1]
    duck = warehouse(tmp_path / "warehouse.duckdb")
    pg = WarehouseResource(backend="postgres", pg_database=pg_name)
    for wh in (duck, pg):
        r1, r2 = ingest(small_world, {"polymarket": api_resource(venue.url), "warehouse": wh})
        assert r1.success and r2.success

    d, p = duck.open(), pg.open()
    for table, key in RAW_TABLES.items():
        a, b = normalized(d, table, key), normalized(p, table, key)
        assert len(a) > 0, table
        pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=True, obj=table)

    # On DuckDB the whole builds (the first, and the backfill of every day) make the models
    # that sort every fill in slices of about 2,500 fills' wallets: three or more here, and
    # the tables still equal PostgreSQL's, made in one.
    duck_env = {"POLYCOPY_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
                "POLYCOPY_DUCKDB_WHOLE_BUILD_SLICE_FILLS": "2500"}
    assert int(d.scalar("select count(*) from raw.trades")) > 2 * 2500
    for target, env in (("duckdb", duck_env), ("postgres", {"POLYCOPY_PG_DATABASE": pg_name})):
        out = dbt_through_dagster(target, env)
        assert out["success"], out
        assert set(out["materialized"]) >= {t.replace("staging.", "staging/").replace("intermediate.", "intermediate/")
                                            for t in STAGING}
        # Every dbt test ran as a Dagster asset check and passed.
        assert len(out["checks"]) >= 20 and all(out["checks"].values()), out["checks"]
        assert out["freshness_ok"], "dbt source freshness failed right after ingestion"
        # The first build and a backfill of the whole history run dbt one model at a time on
        # DuckDB (the largest models would share its memory limit); the marts and a day's
        # window keep the profile's threads.
        (first,), (marts,), (day,), (backfill,) = out["dbt_commands"]
        assert ("--threads 1" in first) == ("--threads 1" in backfill) == (target == "duckdb"), (first, backfill)
        assert "--threads" not in marts and "--threads" not in day, (marts, day)
        # The first build and the backfill ran in slices on DuckDB; nothing else did.
        assert out["slices_logged"] == {model: 2 if target == "duckdb" else 0 for model in SLICED}, \
            out["slices_logged"]
    for table, key in STAGING.items():
        a, b = normalized(d, table, key), normalized(p, table, key)
        assert len(a) > 0, table
        pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=True, obj=table)
    for table, key in INTERMEDIATE.items():
        a, b = normalized(d, table, key), normalized(p, table, key)
        assert len(a) > 0, table
        pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=False, rtol=1e-9, atol=1e-9, obj=table)

    # The history starts mid-life; the activity of the most active wallets was read.
    read = set(wallets_that_matter(d, [], 200, 50)["candidates"])
    with_rows = set(d.query_df("select distinct proxy_wallet from raw.activity")["proxy_wallet"])
    assert with_rows <= read and len(with_rows) >= 10
    seen = truth.observed_positions(small_world, activity_wallets=read)
    assert seen["unknown_cost_shares_sold"].sum() > 100
    # Categories: dbt's reading of the tags is the execution plane's, market by market.
    cats = d.query_df("select m.condition_id, m.category as ingested, c.category as modelled from raw.markets m "
                      "join intermediate.int_market_categories c on c.condition_id = m.condition_id")
    assert len(cats) == int(d.scalar("select count(*) from raw.markets")) and (cats["ingested"] == cats["modelled"]).all()
    assert 0 < (cats["modelled"] == "unknown").mean() < 0.25

    # Where cost is known, realized P&L per wallet equals the ground truth (splits and merges
    # of the wallets whose activity was read included), on both backends; the shares of
    # unknown cost are the truth's shares sold beyond those bought in view, position by position.
    want = seen.groupby("proxy_wallet")["realized_pnl_usd"].sum()
    truth_unknown = seen.set_index(["proxy_wallet", "token_id"])
    for wh in (d, p):
        got = wh.query_df("select wallet_address, sum(realized_pnl_usd) as pnl from intermediate.int_positions "
                          "group by wallet_address").set_index("wallet_address")["pnl"].astype(float)
        diff = (got.reindex(want.index).fillna(0.0) - want).abs()
        assert diff.max() < 1e-6, diff.sort_values().tail()
        assert set(got.index) <= set(want.index)
        # The daily series adds up to the same P&L.
        daily = wh.query_df("select wallet_address, sum(realized_pnl_usd) as pnl from marts.fct_wallet_daily_pnl "
                            "group by wallet_address").set_index("wallet_address")["pnl"].astype(float)
        assert (daily.reindex(want.index).fillna(0.0) - want).abs().max() < 1e-6
        pos = wh.query_df("select wallet_address, token_id, unknown_cost_shares, open_shares from "
                          "intermediate.int_positions").set_index(["wallet_address", "token_id"])
        t = truth_unknown.reindex(pos.index)
        assert (pos["unknown_cost_shares"] >= 0).all() and (pos["open_shares"] >= -1e-9).all()
        assert np.allclose(pos["unknown_cost_shares"], t["unknown_cost_shares_sold"], atol=1e-6)
        assert (pos["unknown_cost_shares"] <= t["unknown_origin_shares"] + 1e-6).all()
        # Redeems: the shares beyond those on record are the truth's shares held of unknown cost.
        red = wh.query_df("select r.wallet_address, r.condition_id, r.redeemed_shares, r.recorded_shares, "
                          "r.unknown_cost_shares_redeemed from intermediate.int_wallet_redemptions r")
        assert len(red) > 0 and (red["unknown_cost_shares_redeemed"] >= 0).all()
        cid_tokens = small_world.markets.set_index("condition_id")[["token0", "token1"]].astype(str)
        known_end = seen.set_index(["proxy_wallet", "token_id"])["known_shares_at_end"]
        for r in red.itertuples():
            toks = cid_tokens.loc[r.condition_id]
            held = sum(known_end.get((r.wallet_address, tok), 0.0) for tok in (toks.token0, toks.token1))
            assert abs(r.recorded_shares - held) < 1e-6
            assert abs(r.unknown_cost_shares_redeemed - max(r.redeemed_shares - held, 0.0)) < 1e-6
