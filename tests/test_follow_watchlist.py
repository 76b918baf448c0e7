"""The copy sensor follows the published whale watchlist; the configured follow list
overrides it. The real sensor against the simulated venue's HTTP server."""

import time
from datetime import datetime, timezone

import dagster as dg

from polycopy.ledger.store import LedgerSettings, open_ledger
from polycopy.sim.server import running_venue
from polycopy.sim.world import SimConfig, generate_world
from polycopy_dagster.defs.copy_trading import followed_wallets_sensor
from polycopy_dagster.defs.resources import CopyTradingResource, LedgerResource
from tests.dagster_helpers import api_resource

LOOKBACK_S = 3_600


def member(wallet: str, position: int) -> dict:
    return {"wallet_address": wallet, "position": position, "wqs": 80.0, "wqs_lower": 70.0, "tier": "Expert",
            "tier_max_exposure": 0.10, "tier_max_daily_trades": 8}


def test_sensor_follows_the_watchlist_and_the_follow_list_overrides_it(tmp_path):
    anchor = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    world = generate_world(SimConfig(seed=5, n_markets=60, n_wallets=120, n_trades=6_000, history_days=2,
                                     live_days=0.5, history_end=anchor))
    t = world.trades
    recent = t[(t["ts"] > world.config.history_end_ts - LOOKBACK_S + 60) & (t["ts"] <= world.config.history_end_ts)]
    active = world.wallets["address"].to_numpy()[recent["wallet_idx"].value_counts().index.to_numpy()]
    watched, other = list(active[:3]), active[3]
    ledger_path = str(tmp_path / "ledger.sqlite")
    open_ledger(LedgerSettings(backend="sqlite", sqlite_path=ledger_path)).publish_watchlist(
        [member(w, i + 1) for i, w in enumerate(watched)], "2026-11-20")

    def evaluate(follow: str):
        resources = {"polymarket": api_resource(server.url), "ledger": LedgerResource(sqlite_path=ledger_path),
                     "copy_trading": CopyTradingResource(follow_wallets=follow, lookback_s=LOOKBACK_S, long_poll_s=0)}
        with dg.build_sensor_context(resources=resources, instance=dg.DagsterInstance.ephemeral()) as ctx:
            result = followed_wallets_sensor(ctx)
        if isinstance(result, dg.SkipReason):
            return result
        ledger = open_ledger(LedgerSettings(backend="sqlite", sqlite_path=ledger_path))
        keys = [k for r in result.run_requests
                for k in r.run_config["ops"]["assess_portfolio_and_signal"]["config"]["signal_keys"]]
        return {ledger.signal(k)["proxy_wallet"] for k in keys}

    with running_venue(world=world) as server:
        time.sleep(0.1)
        assert evaluate("") == set(watched)  # each watched wallet traded in the last hour
        assert evaluate(other) == {other}  # the follow list replaces the watchlist
        ledger = open_ledger(LedgerSettings(backend="sqlite", sqlite_path=ledger_path))
        ledger.publish_watchlist([], "2026-11-21")
        assert ledger.watchlist() == []
        skipped = evaluate("")
        assert isinstance(skipped, dg.SkipReason) and "watchlist is empty" in skipped.skip_message


def test_published_watchlist_replaces_the_previous_one_on_postgres(pg_database):
    ledger = open_ledger(LedgerSettings(backend="postgres", pg_dsn=pg_database))
    ledger.publish_watchlist([member("0xAA", 2), member("0xbb", 1)], "2026-11-19")
    assert [(m["wallet_address"], m["position"], m["tier"], m["as_of_date"]) for m in ledger.watchlist()] == [
        ("0xbb", 1, "Expert", "2026-11-19"), ("0xaa", 2, "Expert", "2026-11-19")]  # best first, lower-cased
    ledger.publish_watchlist([member("0xcc", 1)], "2026-11-20")
    assert [m["wallet_address"] for m in ledger.watchlist()] == ["0xcc"]
