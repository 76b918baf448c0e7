"""An incremental dbt build over a window of new daily partitions gives exactly what a full
refresh gives, on DuckDB and on PostgreSQL — and so does a backfill of earlier days re-run
after later ones were built."""

import json
from datetime import date, timedelta

import pandas as pd
import pytest

from polycopy.dbt_project import PARTITION_VARIABLES, partition_environment
from polycopy.polymarket.schema import trade_key
from polycopy.sim.loader import history_days, load_history
from polycopy.warehouse import WarehouseSettings, open_warehouse
from tests.dbt_fixture import run_dbt

MODELS = {
    "intermediate.int_trade_outcomes": "trade_key",
    "intermediate.int_positions": "wallet_address, token_id",
    "intermediate.int_wallet_realizations": "realization_key",
    "intermediate.int_wallet_redemptions": "wallet_address, condition_id",
    "intermediate.int_wallet_market_days": "wallet_address, condition_id, trade_date",
    "intermediate.int_wallet_markets": "wallet_key, market_key",
    "intermediate.int_wallet_market_pnl": "wallet_key, market_key",
    "intermediate.int_wallet_bets_placed": "wallet_address, transaction_hash, token_id",
    "intermediate.int_wallet_crossings": "sell_key",
    "intermediate.int_wallet_benchmark_pnl": "wallet_key, activity_date",
    "intermediate.int_wallet_market_making": "wallet_address",
    "marts.fct_wallet_daily_pnl": "wallet_address, activity_date",
    "marts.fct_wallet_active_returns": "wallet_key, activity_date",
    "marts.category_base_rates": "category",
    "marts.wallet_metrics": "wallet_address",
}


# The models built in slices of wallets on a large DuckDB history (fill_slices.sql), and
# the setting that sizes a slice (fills).
SLICED = ("int_trade_outcomes", "int_wallet_market_days", "int_wallet_bets_placed")
SLICE_FILLS = "POLYCOPY_DUCKDB_WHOLE_BUILD_SLICE_FILLS"

# What the walk and int_positions log when they cannot resume from int_positions' rows.
RESUMED_FROM_FILLS = "every walked position resumes from its earlier fills"
SUMMED_ALL_FILLS = "every touched position sums all its fills"
# What int_wallet_markets logs when its rows do not count every earlier day.
RECOUNTED_MARKETS = "every market is added up again"


def dbt(target: str, env: dict, tmp, *args: str, succeeds: bool = True) -> str:
    return run_dbt({"POLYCOPY_WAREHOUSE": target, **env}, tmp, *args, succeeds=succeeds)


def snapshot(wh) -> dict[str, pd.DataFrame]:
    return {t: wh.query_df(f"select * from {t} order by {k}") for t, k in MODELS.items()}


def add_late_fill(wh, day) -> str:
    """A BUY on ``day`` into a position whose market resolved before it (a resolved market
    traded late, as partial records show): a copy of one of the position's earlier BUYs.
    Returns the wallet."""
    start = int(pd.Timestamp(day, tz="UTC").timestamp())
    row = wh.query_df(
        "select t.* from raw.trades as t inner join staging.stg_polymarket__market_resolutions as r "
        f"on r.token_id = t.token_id where t.side = 'BUY' and r.resolved_at_unix < {start} "
        "order by t.trade_key limit 1").iloc[0]
    tx = "0x" + "e" * 64
    size, price = 7.0, float(row["price"])
    changed = {"trade_key": trade_key(tx, row["proxy_wallet"], row["token_id"], "BUY", size, price),
               "transaction_hash": tx, "size": size, "usdc_size": size * price, "timestamp": start + 43200,
               "partition_day": day}
    columns = list(row.index)
    values = [f"'{changed[c]}'" if isinstance(changed.get(c), (str, date)) else str(changed[c]) if c in changed else c
              for c in columns]
    with wh.transaction() as cur:
        cur.execute(f"insert into raw.trades ({', '.join(columns)}) select {', '.join(values)} from raw.trades "
                    f"where trade_key = '{row['trade_key']}'")
    return row["proxy_wallet"]


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_incremental_window_equals_full_refresh(backend, small_world, tmp_path, request):
    if backend == "duckdb":
        settings = WarehouseSettings(backend="duckdb", duckdb_path=str(tmp_path / "wh.duckdb"))
        env = {"POLYCOPY_DUCKDB_PATH": settings.duckdb_path}
    else:
        dsn = request.getfixturevalue("pg_database")
        settings = WarehouseSettings(backend="postgres", pg_dsn=dsn)
        env = {"POLYCOPY_PG_DATABASE": dsn.rsplit("dbname=", 1)[1]}
    wh = open_warehouse(settings)
    days = history_days(small_world)
    cut = len(days) - 10
    earlier, later = days[:cut], days[cut:]

    # Every wallet's splits, merges, conversions and redeems are read as well.
    everyone = set(small_world.wallets["address"])
    # Day 1: the history up to the cut, built from scratch.
    load_history(small_world, wh, earlier, activity_wallets=everyone)
    if backend == "duckdb":
        # The walk, market-days and bets placed build in slices of wallets when the fills
        # outnumber a slice (fill_slices.sql): here the first build in four or more, the ten
        # days' window in two or more; the full refresh compared with below in one.
        fills = int(wh.scalar("select count(*) from raw.trades"))
        env[SLICE_FILLS] = str(fills // 4)
    out = dbt(backend, env, tmp_path, "--full-refresh")
    if backend == "duckdb":
        for model in SLICED:
            assert f"{model}: slice 4 of" in out, out[-3000:]
    # A warehouse built before int_wallet_crossings was incremental by day holds it as a
    # table without trade_date: the next window run builds it whole instead of failing.
    # One built before fills stopped carrying their market's resolution has a column the
    # model no longer makes: the window run drops it and keeps every row.
    # One built before the touched positions were a model of their own has none: the
    # window run creates it with the window's positions, before the models that read it.
    # One built before market making was incremental by wallet holds it as a table without
    # wallet_key: the window run builds it whole too.
    with wh.transaction() as cur:
        cur.execute("alter table intermediate.int_wallet_crossings drop column trade_date")
        cur.execute("alter table intermediate.int_wallet_market_making drop column wallet_key")
        cur.execute("drop table intermediate.int_touched_positions")
        cur.execute("alter table intermediate.int_trade_outcomes add column hold_to_resolution_pnl_usd float")
    # The next ten daily partitions land; only their window is rebuilt.
    load_history(small_world, wh, later, activity_wallets=everyone)
    late_wallet = add_late_fill(wh, later[1])
    window = {"partition_start": later[0].isoformat(), "partition_end": (later[-1] + timedelta(days=1)).isoformat()}
    # As the orchestrator passes it: in the environment, so dbt keeps its partial parse
    # (vars that differ from the last parse's make it parse the whole project again).
    out = window_out = dbt(backend, {**env, **partition_environment(window["partition_start"], window["partition_end"])},
                           tmp_path)
    assert "ERROR=0" in out
    assert "Unable to do partial parsing" not in out, out[:3000]
    # The walk and the positions resumed each touched position from its row in int_positions.
    assert RESUMED_FROM_FILLS not in out and SUMMED_ALL_FILLS not in out, out[-3000:]
    assert RECOUNTED_MARKETS not in out, out[-3000:]
    dropped = [line for line in out.splitlines() if "built by an older layout" in line]
    assert len(dropped) == 2, dropped
    assert all(any(name in line for line in dropped) for name in ("int_wallet_crossings", "int_wallet_market_making"))
    assert "hold_to_resolution_pnl_usd" not in wh.query_df("select * from intermediate.int_trade_outcomes limit 1")
    incremental = snapshot(wh)
    # A backfill: the window's first three days again, with later days already built
    # (given as vars, as by hand).
    backfill = {"partition_start": later[0].isoformat(), "partition_end": later[3].isoformat()}
    out = dbt(backend, env, tmp_path, "--vars", json.dumps(backfill))
    assert RESUMED_FROM_FILLS not in out and SUMMED_ALL_FILLS not in out, out[-3000:]
    assert RECOUNTED_MARKETS not in out, out[-3000:]
    backfilled = snapshot(wh)
    # A window with one bound is named, and stops the run before it writes anything.
    out = dbt(backend, {**env, PARTITION_VARIABLES[0]: later[0].isoformat()}, tmp_path,
              "--select", "int_touched_positions", succeeds=False)
    assert "partition_start and partition_end must both be ISO dates" in out, out[-3000:]
    # The positions' models alone, for the first window again: the touched positions on
    # record are the backfill's, so they stop instead of rebuilding the wrong positions.
    out = dbt(backend, env, tmp_path, "--select", "int_positions", "--vars", json.dumps(window), succeeds=False)
    assert "int_touched_positions was not built for the window" in out, out[-3000:]
    assert snapshot(wh)["intermediate.int_positions"].equals(backfilled["intermediate.int_positions"])
    if backend == "duckdb":
        assert all(f"{model}: slice 2 of" in window_out for model in SLICED), window_out[-3000:]
        env[SLICE_FILLS] = "0"
    # The same data from scratch (in one slice).
    out = dbt(backend, env, tmp_path, "--full-refresh")
    assert "slice 2 of" not in out
    full = snapshot(wh)
    # The late fill changed what its position settled before the window: the window run
    # rewrote that earlier day of its wallet (compared with the full refresh below).
    settled_before = wh.scalar(
        "select count(*) from intermediate.int_wallet_realizations where realization_kind = 'settlement' "
        f"and wallet_address = '{late_wallet}' and realized_date < '{later[0]}'")
    assert int(settled_before) > 0
    assert int(wh.scalar("select count(*) from intermediate.int_trade_outcomes where event_kind <> 'trade'")) > 0
    for table in MODELS:
        assert len(full[table]) > 0, table
        pd.testing.assert_frame_equal(incremental[table], full[table], check_exact=False, rtol=1e-12, atol=1e-12,
                                      obj=table)
        pd.testing.assert_frame_equal(backfilled[table], full[table], check_exact=False, rtol=1e-12, atol=1e-12,
                                      obj=f"{table} after a backfill")
    # Rows of int_positions lost (as after a run that stopped between the walk and the
    # positions): a window run finds that they no longer count the walk's fills, and walks
    # and sums the touched positions from all their fills. Rows of int_wallet_markets lost
    # (as after a run that built the market-days without it): every market is added up again.
    # Benchmark rows of an earlier day lost: that day no longer adds up to its realizations,
    # so the window run rebuilds it.
    last = {"partition_start": later[-2].isoformat(), "partition_end": (later[-1] + timedelta(days=1)).isoformat()}
    lost_benchmarks = (f"intermediate.int_wallet_benchmark_pnl where activity_date = '{earlier[-5]}' "
                       "and mod(wallet_key, 3) = 0")
    assert int(wh.scalar(f"select count(*) from {lost_benchmarks}")) > 0
    # Daily rows of an earlier day lost too: their wallets' realizations no longer add up to
    # their rows, so the window run rebuilds those wallets from their first day.
    lost_days = (f"marts.fct_wallet_daily_pnl where activity_date = '{earlier[-5]}' and realizations > 0 "
                 "and mod(wallet_key, 2) = 0")
    assert int(wh.scalar(f"select count(*) from {lost_days}")) > 0
    with wh.transaction() as cur:
        cur.execute(f"delete from {lost_benchmarks}")
        cur.execute(f"delete from {lost_days}")
        cur.execute("delete from intermediate.int_positions p where exists (select 1 from raw.trades t "
                    "where t.proxy_wallet = p.wallet_address and t.token_id = p.token_id "
                    f"and t.partition_day >= '{later[-2]}')")
        cur.execute("delete from intermediate.int_wallet_markets "
                    f"where last_trade_date < '{later[-2]}' and mod(wallet_key, 7) = 0")
    out = dbt(backend, env, tmp_path, "--vars", json.dumps(last))
    assert RESUMED_FROM_FILLS in out and SUMMED_ALL_FILLS in out and RECOUNTED_MARKETS in out, out[-3000:]
    for table in ("intermediate.int_trade_outcomes", "intermediate.int_positions", "intermediate.int_wallet_markets",
                  "intermediate.int_wallet_benchmark_pnl", "marts.fct_wallet_daily_pnl",
                  "marts.fct_wallet_active_returns"):
        pd.testing.assert_frame_equal(snapshot(wh)[table], full[table], check_exact=False, rtol=1e-12, atol=1e-12,
                                      obj=f"{table} after lost rows")
    # The window was really incremental: positions untouched by it were not rebuilt.
    touched = wh.scalar(
        "select count(*) from intermediate.int_positions p where exists (select 1 from raw.trades t "
        f"where t.proxy_wallet = p.wallet_address and t.token_id = p.token_id and t.partition_day >= '{later[0]}')")
    assert 0 < int(touched) < len(full["intermediate.int_positions"])
    # A day whose fills are gone from a re-ingested record loses its row, though its wallet
    # (touched by its other day in the window) is otherwise unchanged.
    day = pd.Timestamp(wh.scalar("select max(partition_day) from raw.trades")).date()
    before = day - timedelta(days=1)
    wallet = wh.scalar(
        "select d.wallet_address from marts.fct_wallet_daily_pnl d "
        f"where d.activity_date = '{day}' and d.trades > 0 and exists (select 1 from marts.fct_wallet_daily_pnl e "
        f"where e.wallet_address = d.wallet_address and e.activity_date = '{before}' and e.trades > 0) "
        "and not exists (select 1 from intermediate.int_wallet_realizations z where z.wallet_address = "
        f"d.wallet_address and z.realized_date = '{day}' and z.realization_kind = 'settlement') "
        # ... and a market it traded that day only, which the day takes with it.
        "and exists (select 1 from intermediate.int_wallet_markets m where m.wallet_key = d.wallet_key "
        f"and m.first_trade_date = '{day}') "
        "order by d.wallet_address limit 1")
    assert wallet is not None
    # (And the daily rows were built before the capital at risk was read from the fills up
    # to each day: without capital_held_usd, on the old base, they are rebuilt whole.)
    with wh.transaction() as cur:
        cur.execute(f"delete from raw.trades where proxy_wallet = '{wallet}' and partition_day = '{day}'")
        cur.execute("alter table marts.fct_wallet_daily_pnl drop column capital_held_usd")
    out = dbt(backend, env, tmp_path, "--vars", json.dumps(
        {"partition_start": before.isoformat(), "partition_end": (day + timedelta(days=1)).isoformat()}))
    dropped = [line for line in out.splitlines() if "built by an older layout" in line]
    assert len(dropped) == 1 and "fct_wallet_daily_pnl" in dropped[0], dropped
    assert int(wh.scalar("select count(*) from marts.fct_wallet_daily_pnl where capital_held_usd is null")) == 0
    days = wh.query_df(f"select activity_date from marts.fct_wallet_daily_pnl where wallet_address = '{wallet}' "
                       "order by activity_date")
    assert str(before) in set(days["activity_date"].astype(str)) and str(day) not in set(days["activity_date"].astype(str))
    assert int(wh.scalar("select count(*) from marts.fct_wallet_daily_pnl where realizations = 0 and trades = 0")) == 0
    # The wallet's markets are added up again without the day, and the one it traded that
    # day only is gone.
    markets = "select wallet_key, market_key, trade_days, fills, last_trade_date from intermediate.int_wallet_markets"
    added_up = ("select wallet_key, market_key, count(*) as trade_days, sum(fills) as fills, "
                "max(trade_date) as last_trade_date from intermediate.int_wallet_market_days group by 1, 2")
    assert int(wh.scalar(f"select count(*) from (({markets}) except ({added_up})) as x")) == 0
    assert int(wh.scalar(f"select count(*) from (({added_up}) except ({markets})) as x")) == 0
    assert int(wh.scalar(f"select count(*) from intermediate.int_wallet_markets where first_trade_date = '{day}' "
                         f"and wallet_key = (select wallet_key from marts.fct_wallet_daily_pnl "
                         f"where wallet_address = '{wallet}' limit 1)")) == 0
