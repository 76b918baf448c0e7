"""Ingestion through the real Dagster assets: exact under faults, idempotent, resolutions right."""

import json

import dagster as dg
import pytest

from polycopy.polymarket.schema import Rejected
from polycopy.sim import truth
from polycopy.sim.server import FaultConfig, running_venue
from polycopy.sim.world import MALFORMED_KINDS
from polycopy_dagster.defs.ingestion import asset_checks, raw_trades
from tests.dagster_helpers import api_resource, day, ingest, warehouse

TRADE_COLS = "trade_key, proxy_wallet, token_id, condition_id, side, size, price, timestamp, transaction_hash"


@pytest.fixture(scope="module")
def ingested(small_world, tmp_path_factory):
    """The small world ingested through ≥10 % failing requests, shuffled pages, duplicates,
    malformed records, and a low offset cap that forces keyset paging on deep markets."""
    faults = FaultConfig(rate=0.15, retry_after_s=0, hang_s=0.4, duplicate_rate=0.05, shuffle=True, seed=5)
    path = tmp_path_factory.mktemp("wh") / "warehouse.duckdb"
    with running_venue(world=small_world, faults=faults, offset_cap=50) as server:
        resources = {"polymarket": api_resource(server.url, page_size=25, offset_cap=50),
                     "warehouse": warehouse(path)}
        r1, r2 = ingest(small_world, resources)
        stats = dict(server.venue.stats)
        renderer = server.venue.render
    return {"resources": resources, "results": (r1, r2), "stats": stats, "wh": resources["warehouse"].open(),
            "renderer": renderer, "faults": faults}


def test_faults_were_injected(ingested):
    s = ingested["stats"]
    failed = s.get("fault_429", 0) + s.get("fault_5xx", 0) + s.get("fault_timeout", 0)
    assert failed / s["requests"] >= 0.10, s
    assert s.get("fault_429") and s.get("fault_5xx") and s.get("fault_timeout")
    assert s.get("duplicates", 0) > 100 and s.get("shuffled_pages", 0) > 10


def test_exactly_the_emitted_trades(ingested, small_world):
    wh = ingested["wh"]
    got = wh.query_df(f"select {TRADE_COLS} from raw.trades").set_index("trade_key").sort_index()
    want = truth.emitted_trades(small_world).set_index("trade_key").sort_index()
    missing = want.index.difference(got.index)
    extra = got.index.difference(want.index)
    assert len(missing) == 0 and len(extra) == 0, (len(missing), len(extra))
    assert len(got) == len(want) and got.index.is_unique
    for col in ("proxy_wallet", "token_id", "condition_id", "side", "size", "price", "timestamp", "transaction_hash"):
        assert (got[col] == want[col]).all(), col


def test_deep_markets_were_walked_on_the_keyset_feed(ingested):
    (_, r2) = ingested["results"]
    mats = r2.asset_materializations_for_node("raw_trades")
    assert mats[0].metadata["keyset_records"].value > 0


def test_every_malformed_record_is_kept_with_its_reason(ingested, small_world):
    wh = ingested["wh"]
    rejects = wh.query_df("select reject_key, reason, payload, partition_key from raw.rejects "
                          "where source = 'data_api.trades'")
    mal = truth.malformed_records(small_world)
    n_trades = len(small_world.trades)
    render = ingested["renderer"]

    def keys(row):  # a malformed row may be served in the v1 or the /v2 keyset shape
        return {Rejected.of("data_api.trades", "", render.trade_v1(row)).reject_key,
                Rejected.of("data_api.trades", "", render.trade_v2(row)).reject_key}

    expected = [keys(n_trades + int(i)) for i in mal["malformed_idx"]]
    stored = set(rejects["reject_key"])
    assert all(k & stored for k in expected), "a malformed record is missing from raw.rejects"
    assert stored <= set().union(*expected), "raw.rejects holds a record that is not malformed"
    assert rejects["reason"].str.len().gt(5).all() and rejects["reject_key"].is_unique
    for payload in rejects["payload"]:
        assert json.loads(payload)  # the record itself is kept
    caught_kinds = {kind for kind, k in zip(mal["kind"], expected) if k & stored}
    assert caught_kinds == set(MALFORMED_KINDS)  # every kind of corruption was served and caught


def test_resolutions_match_the_truth(ingested, small_world):
    wh = ingested["wh"]
    res = wh.query_df("select condition_id, token_id, payout, is_winner, is_void, early from raw.market_resolutions")
    outcomes = truth.market_outcomes(small_world)
    resolved = outcomes[outcomes["resolved"]]
    assert set(res["condition_id"]) == set(resolved["condition_id"])
    winners = res[res["is_winner"]].set_index("condition_id")["token_id"]
    voids = set(res.loc[res["is_void"], "condition_id"])
    for row in resolved.itertuples():
        if row.void:
            assert row.condition_id in voids
        else:
            assert winners[row.condition_id] == row.winner_token_id
    assert voids and res["early"].any()
    v2 = set(resolved.loc[resolved["protocol_version"] == "v2", "condition_id"])
    assert v2 and v2 <= set(res["condition_id"])
    assert set(res.loc[res["is_void"], "payout"]) == {0.5}


def test_asset_checks_pass(ingested):
    for result in ingested["results"]:
        evals = result.get_asset_check_evaluations()
        assert evals
        assert all(e.passed for e in evals), [(e.check_name, e.metadata) for e in evals if not e.passed]


def test_rematerializing_a_partition_changes_nothing(ingested, small_world):
    wh = ingested["wh"]
    before = wh.query_df(f"select {TRADE_COLS}, partition_day from raw.trades order by trade_key")
    rejects_before = wh.query_df("select reject_key, partition_key from raw.rejects order by reject_key")
    middle = day(small_world.config.history_start_ts + 15 * 86400)
    with running_venue(world=small_world, faults=ingested["faults"], offset_cap=50) as server:
        resources = dict(ingested["resources"], polymarket=api_resource(server.url, page_size=25, offset_cap=50))
        result = dg.materialize([raw_trades, *asset_checks], instance=dg.DagsterInstance.ephemeral(),
                                resources=resources, partition_key=middle,
                                selection=dg.AssetSelection.assets(raw_trades))
    assert result.success
    assert result.asset_materializations_for_node("raw_trades")[0].metadata["trades"].value > 0
    after = wh.query_df(f"select {TRADE_COLS}, partition_day from raw.trades order by trade_key")
    rejects_after = wh.query_df("select reject_key, partition_key from raw.rejects order by reject_key")
    assert before.equals(after)
    assert rejects_before.equals(rejects_after)


def test_trades_over_an_empty_market_snapshot_fail_their_check(small_world, tmp_path):
    """Trades are read market by market: over an empty raw.markets a run reads nothing, and a
    blocking check says so (materialize raw_markets first) instead of every check passing."""
    with running_venue(world=small_world) as server:
        resources = {"polymarket": api_resource(server.url), "warehouse": warehouse(tmp_path / "empty.duckdb")}
        result = dg.materialize([raw_trades, *asset_checks], instance=dg.DagsterInstance.ephemeral(),
                                resources=resources, partition_key=day(small_world.config.history_start_ts + 86400),
                                raise_on_error=False)
    assert result.asset_materializations_for_node("raw_trades")[0].metadata["trades_in_run"].value == 0
    evals = {e.check_name: e for e in result.get_asset_check_evaluations()}
    failed = evals["raw_trades_markets_known"]
    assert not failed.passed and failed.metadata["markets_in_snapshot"].value == 0
    assert "materialize raw_markets first" in failed.description
    assert not result.success  # the blocking check fails the run: nothing downstream builds on it


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_a_partition_replace_is_all_or_nothing(backend, small_world, tmp_path, request):
    # Batches of a replace may be committed to a scratch table as they come (DuckDB, whose
    # open transactions hold their rows in memory): readers still see the days replaced at
    # once, a writer that fails leaves them as they were, and no scratch table stays behind.
    from polycopy.polymarket.schema import parse_trade
    from polycopy.sim.records import RecordRenderer
    from polycopy.warehouse import WarehouseSettings, open_warehouse
    from polycopy.warehouse.base import day_of

    settings = (WarehouseSettings(duckdb_path=str(tmp_path / "wh.duckdb")) if backend == "duckdb" else
                WarehouseSettings(backend="postgres", pg_dsn=request.getfixturevalue("pg_database")))
    wh = open_warehouse(settings)
    render = RecordRenderer(small_world)
    trades = [parse_trade(render.trade_v1(i)) for i in range(render.n_trades)]
    days = sorted({day_of(t.timestamp) for t in trades})
    with wh.trade_partition_writer(days, "test", flush_rows=500) as w:
        w.add(trades[:3000])
    before = int(wh.scalar("select count(*) from raw.trades"))
    assert before == 3000
    with pytest.raises(RuntimeError):
        with wh.trade_partition_writer(days, "test", flush_rows=500) as w:
            w.add(trades)  # several batches committed to the scratch table
            assert int(wh.scalar("select count(*) from raw.trades")) == before  # not visible yet
            raise RuntimeError("the feed broke off")
    assert int(wh.scalar("select count(*) from raw.trades")) == before
    with wh.trade_partition_writer(days, "test", flush_rows=500) as w:
        w.add(trades)
    assert int(wh.scalar("select count(*) from raw.trades")) == len(trades)
    left = wh.scalar("select count(*) from information_schema.tables where table_name like ?", ["%staged%"])
    assert int(left) == 0


def test_duckdb_stores_each_day_of_fills_by_wallet(tmp_path):
    # A whole build in slices of wallets reads one range of addresses at a time
    # (dbt_project/macros/fill_slices.sql); with each day's fills stored by wallet, the zone
    # maps of a day's row groups let that read skip the row groups of other ranges.
    import numpy as np
    import pandas as pd

    from polycopy.polymarket.schema import TRADE_COLUMNS
    from polycopy.warehouse import WarehouseSettings, open_warehouse
    from polycopy.warehouse.base import day_of

    wh = open_warehouse(WarehouseSettings(duckdb_path=str(tmp_path / "wh.duckdb")))
    rng = np.random.default_rng(7)
    n = 1_200_000  # two days of fills, in the order they happened (wallets at random)
    timestamps = np.sort(rng.integers(1_767_225_600, 1_767_225_600 + 2 * 86_400, n))
    # Addresses of 40 hex digits drawn uniformly, as proxy wallets' are.
    hex_digits = np.array(list("0123456789abcdef"))[rng.integers(0, 16, (4_000, 40))]
    wallets = np.array(["0x" + "".join(d) for d in hex_digits])[rng.integers(0, 4_000, n)]
    frame = pd.DataFrame({
        "trade_key": [f"k{i}" for i in range(n)], "transaction_hash": "0x" + "ab" * 32, "proxy_wallet": wallets,
        "side": "BUY", "token_id": "1", "condition_id": "0x" + "cd" * 32, "size": 1.0, "price": 0.5,
        "usdc_size": 0.5, "timestamp": timestamps, "outcome": None, "outcome_index": 0, "title": None, "slug": None,
        "event_slug": None, "name": None, "pseudonym": None, "source_shape": "v1"})[list(TRADE_COLUMNS)]
    days = sorted({day_of(int(t)) for t in timestamps[[0, -1]]})
    with wh.trade_partition_writer(days, "test", flush_rows=100_000) as w:
        for start in range(0, n, 100_000):
            w.add_frame(frame.iloc[start:start + 100_000])
    assert int(wh.scalar("select count(*) from raw.trades")) == n
    for d in days:
        stored = wh.query_df(f"select proxy_wallet from raw.trades where partition_day = '{d}' order by rowid")
        assert len(stored) > 500_000
        assert stored["proxy_wallet"].is_monotonic_increasing, d
    # Row groups (122,880 rows, about five a day) with narrow ranges: the second quarter of
    # the addresses (slice 2 of 4) lies in about two groups a day, plus the group the two
    # days share; stored in arrival order, every group would hold some of it.
    groups = wh.query_df("select stats from pragma_storage_info('raw.trades') "
                         "where column_name = 'proxy_wallet' and segment_type = 'VARCHAR'")
    ranges = [(s.split("'min': '")[1][:6], s.split("'max': '")[1][:6]) for s in groups["stats"].astype(str)]
    in_slice = [r for r in ranges if r[0] < "0x8000" and r[1] >= "0x4000"]
    assert len(ranges) >= 9 and 2 <= len(in_slice) <= len(ranges) // 2 + 1, ranges
