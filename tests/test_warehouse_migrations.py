"""The warehouse upgrades in place: a warehouse of an earlier schema — versioned, or made
before migrations existed — reaches the newest revision with nothing lost."""

import importlib

import pytest

from polycopy.warehouse import WarehouseSettings
from polycopy.warehouse.base import DuckDBWarehouse, PostgresWarehouse
from polycopy.warehouse.migrate import current_revision, head_revision, upgrade

BASELINE = importlib.import_module("polycopy.warehouse.migrations.versions.0001_baseline")

OLD_MARKET = ("insert into raw.markets (condition_id, market_id, category, closed, outcomes, outcome_prices, token_ids, "
              "protocol_version, neg_risk, ingested_at) values ('0x' || repeat('a', 64), '1', 'Sports', false, "
              "'[\"Yes\", \"No\"]', '[\"0.5\", \"0.5\"]', '[\"11\", \"12\"]', 'v1', false, current_timestamp)")
OLD_TRADE = ("insert into raw.trades (trade_key, transaction_hash, proxy_wallet, side, token_id, condition_id, size, "
             "price, usdc_size, timestamp, source_shape, partition_day, ingested_at) values ('k1', '0xt', '0xw', "
             "'BUY', '11', '0x' || repeat('a', 64), 10, 0.5, 5, 1700000000, 'v1', date '2023-11-14', "
             "current_timestamp)")


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request, tmp_path):
    if request.param == "duckdb":
        yield DuckDBWarehouse(str(tmp_path / "wh.duckdb"))
    else:
        yield PostgresWarehouse(request.getfixturevalue("pg_database"))


def _assert_upgraded_with_nothing_lost(wh):
    assert current_revision(wh) == head_revision()
    m = wh.query_df("select category, gamma_category, tags from raw.markets")
    # The old field is kept as Gamma's own category; no tag is invented.
    assert m.to_dict("records") == [{"category": "Sports", "gamma_category": "Sports", "tags": "[]"}]
    t = wh.query_df("select trade_key, size, price from raw.trades")
    assert t.to_dict("records") == [{"trade_key": "k1", "size": 10.0, "price": 0.5}]
    assert int(wh.scalar("select count(*) from raw.market_tags")) == 0
    assert int(wh.scalar("select count(*) from raw.activity")) == 0


def test_a_versioned_warehouse_upgrades_in_place(warehouse):
    upgrade(warehouse, "0001")
    assert current_revision(warehouse) == "0001"
    with warehouse.transaction() as cur:
        cur.execute(OLD_MARKET)
        cur.execute(OLD_TRADE)
    upgrade(warehouse)
    _assert_upgraded_with_nothing_lost(warehouse)
    upgrade(warehouse)  # idempotent
    assert current_revision(warehouse) == head_revision()


def test_a_warehouse_from_before_migrations_is_adopted(warehouse):
    # The schema as the earlier releases created it, with no version table.
    with warehouse.transaction() as cur:
        for stmt in BASELINE.STATEMENTS:
            cur.execute(stmt)
        cur.execute(OLD_MARKET)
        cur.execute(OLD_TRADE)
    assert current_revision(warehouse) is None
    upgrade(warehouse)
    _assert_upgraded_with_nothing_lost(warehouse)


def test_open_warehouse_brings_the_schema_to_head(tmp_path):
    from polycopy.warehouse import open_warehouse

    wh = open_warehouse(WarehouseSettings(backend="duckdb", duckdb_path=str(tmp_path / "fresh.duckdb")))
    assert current_revision(wh) == head_revision()


def test_duckdb_raw_trades_keep_no_in_memory_index(tmp_path):
    # Migration 0004: DuckDB's ART indexes live whole in memory, so the raw trades carry
    # none; every row written before the upgrade is still there.
    wh = DuckDBWarehouse(str(tmp_path / "wh.duckdb"))
    upgrade(wh, "0003")
    with wh.transaction() as cur:
        cur.execute(OLD_MARKET)
        cur.execute(OLD_TRADE)
    assert int(wh.scalar("select count(*) from duckdb_indexes() where table_name = 'trades'")) == 1
    upgrade(wh)
    assert int(wh.scalar("select count(*) from duckdb_indexes() where table_name = 'trades'")) == 0
    assert int(wh.scalar("select count(*) from duckdb_constraints() where table_name = 'trades' "
                         "and constraint_type = 'PRIMARY KEY'")) == 0
    assert wh.query_df("select trade_key, size, price, partition_day from raw.trades").to_dict("records") == [
        {"trade_key": "k1", "size": 10.0, "price": 0.5,
         "partition_day": __import__("datetime").date(2023, 11, 14)}]


def test_duckdb_fills_stored_before_the_wallet_order_are_rewritten_in_it(tmp_path):
    # Migration 0005: fills written in arrival order (by earlier releases) are stored again
    # with each day ordered by wallet, as the partition writer now stores them, so that a
    # build in slices of wallets skips the other ranges; every row and value is kept.
    from datetime import date

    wh = DuckDBWarehouse(str(tmp_path / "wh.duckdb"))
    upgrade(wh, "0004")
    with wh.transaction() as cur:
        # Three days of 3,000 fills each in time order, wallets in no order; one with no outcome.
        cur.execute("insert into raw.trades (trade_key, transaction_hash, proxy_wallet, side, token_id, "
                    "condition_id, size, price, usdc_size, timestamp, outcome, source_shape, partition_day, "
                    "ingested_at) select 'k' || i, '0xt' || i, '0x' || md5(cast(i % 701 as varchar)), "
                    "case when i % 3 = 0 then 'SELL' else 'BUY' end, '11', '0xc', 1 + i % 17, 0.01 * (1 + i % 99), "
                    "0.5, 1767225600 + i * 86, case when i = 5 then null else 'Yes' end, 'v1', "
                    "date '2026-01-01' + cast(i // 3000 as integer), current_timestamp from range(9000) t(i)")
    before = wh.query_df("select * exclude (ingested_at) from raw.trades order by trade_key")
    constraints = "select constraint_text from duckdb_constraints() where table_name = 'trades' order by 1"
    constraints_before = wh.query_df(constraints)["constraint_text"].tolist()
    assert not before.groupby("partition_day")["proxy_wallet"].apply(lambda s: s.is_monotonic_increasing).any()
    upgrade(wh)
    assert current_revision(wh) == head_revision()
    after = wh.query_df("select * exclude (ingested_at) from raw.trades order by trade_key")
    assert after.equals(before)
    for d in (date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)):
        stored = wh.query_df(f"select proxy_wallet from raw.trades where partition_day = '{d}' order by rowid")
        assert len(stored) == 3000 and stored["proxy_wallet"].is_monotonic_increasing, d
    # Still no in-memory index, and the columns' constraints of revision 0004.
    assert int(wh.scalar("select count(*) from duckdb_indexes() where table_name = 'trades'")) == 0
    assert len(constraints_before) == 13 and wh.query_df(constraints)["constraint_text"].tolist() == constraints_before


def test_a_duckdb_warehouse_revision_reads_in_a_fresh_process(tmp_path):
    # Alembic knows no DuckDB dialect until polycopy registers one: reading the revision
    # must not depend on a migration having run earlier in the same process.
    import subprocess
    import sys

    from polycopy.warehouse import open_warehouse

    path = str(tmp_path / "wh.duckdb")
    open_warehouse(WarehouseSettings(backend="duckdb", duckdb_path=path))
    code = ("from polycopy.warehouse.base import DuckDBWarehouse; from polycopy.warehouse.migrate import "
            f"current_revision; print(current_revision(DuckDBWarehouse({path!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == head_revision()
