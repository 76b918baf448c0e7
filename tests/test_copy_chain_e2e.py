"""The copy chain end to end: real copy_trade runs (Dagster, in process) against the
simulated venue's HTTP server, a real ledger, whale BUYs and SELLs on real markets at
the venue's own prices. Each stage rejects with its reason, breakers and the kill switch
stop orders through the blocking checks until they clear or a person resets them, and
the pass-through rate is reported."""

import dataclasses
import json
import time
from datetime import datetime, timezone

import dagster as dg
import pytest

from polycopy.ledger.store import LedgerSettings, open_ledger
from polycopy.polymarket.categories import UNKNOWN
from polycopy.polymarket.markets import parse_market
from polycopy.polymarket.clients import Endpoints, PolymarketClients, market_with_event_tags
from polycopy.polymarket.schema import Trade, trade_key
from polycopy.sim.server import running_venue
from polycopy.sim.world import SimConfig, generate_world
from polycopy_dagster import cli
from polycopy_dagster.defs.copy_trading import copy_trade_job_for, copy_trade_run_config
from polycopy_dagster.defs.resources import CopyTradingResource, LedgerResource, RiskRulesResource
from tests.dagster_helpers import api_resource

DAY = 86_400


def wallet(name: str) -> str:
    return "0x" + name.encode().hex().ljust(40, "0")[:40]


GOOD, OFF, BAD, WEAK, TINY = (wallet(n) for n in ("good", "off", "bad", "weak", "tiny"))


def profile(w, on_watchlist=True, win_rate=0.8, excluded=False, exposure=0.15):
    return {"wallet_address": w, "position": 1, "wqs": 90.0, "wqs_lower": 85.0, "win_rate_posterior": win_rate,
            "tier": "Elite", "tier_max_exposure": exposure, "tier_max_daily_trades": 50, "excluded": excluded,
            "on_watchlist": on_watchlist}


class Chain:
    """A venue, a ledger and the copy_trade job, with helpers to make whale trades."""

    def __init__(self, server, tmp_path, risk):
        self.ledger_path = str(tmp_path / "ledger.sqlite")
        self.ledger = open_ledger(LedgerSettings(backend="sqlite", sqlite_path=self.ledger_path))
        self.resources = {"polymarket": api_resource(server.url), "ledger": LedgerResource(sqlite_path=self.ledger_path),
                          "copy_trading": CopyTradingResource(), "risk_rules": risk}
        self.job = copy_trade_job_for(self.resources)
        self.instance = dg.DagsterInstance.ephemeral()
        self.clients = PolymarketClients.connect(Endpoints.single_host(server.url))
        self.n = 0
        self.used_ts: dict = {}  # (wallet, token, side) -> the times of the trades made

    def ask(self, token):
        return self.clients.clob.book(token).best_ask

    def trade(self, w, market, outcome=0, usd=6_000.0, side="BUY", price=None, age_s=5.0):
        token = str(market.token0 if outcome == 0 else market.token1)
        book = self.clients.clob.book(token)
        p = price if price is not None else (book.best_ask if side == "BUY" else book.best_bid)
        self.n += 1
        tx = "0x" + f"{self.n:064x}"
        size = round(usd / p, 2)
        # Each test trade is its own whale order: at least 2 s before the one made before it
        # (the aggregation window joins fills of one wallet, token and side within 1 s).
        ts = int(time.time() - age_s)
        used = self.used_ts.setdefault((w, token, side), set())
        while any(abs(ts - u) <= 1 for u in used):
            ts -= 2
        used.add(ts)
        return Trade(trade_key(tx, w, token, side, size, p), tx, w, side, token, market.condition_id, size, p,
                     size * p, ts, None, outcome, None, None, None, None, None, "v1")

    def run(self, t):
        result = self.job.execute_in_process(run_config=copy_trade_run_config(t), instance=self.instance,
                                             raise_on_error=False)
        d = self.ledger.decision_for_trade(t.trade_key)
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        return result, d, checks


@pytest.fixture(scope="module")
def world():
    # Anchored at the current minute: the chain's clock is the wall clock, as with the real venue.
    anchor = datetime.fromtimestamp(int(time.time()) // 60 * 60, tz=timezone.utc)
    return generate_world(SimConfig(seed=41, n_markets=3_000, n_wallets=50, n_trades=2_000, history_days=40,
                                    live_days=1.0, history_end=anchor))


def tradable(clients, world, now):
    """Open markets resolving in 2–80 days whose first outcome's ask is in [0.3, 0.65] with
    enough depth at the best ask for a $1,000 copy — where a good whale's copy can pass."""
    m = world.markets
    out = []
    for row in m[(m.open_ts <= now - 3 * DAY) & (m.closed_ts > now + 2 * DAY) & (m.end_ts < now + 80 * DAY)
                 & (m.liquidity > 40_000)].itertuples():
        book = clients.clob.book(str(row.token0))
        if book.best_ask and 0.3 <= book.best_ask <= 0.65 and book.asks[0].size * book.best_ask > 1_200 \
                and book.best_ask - book.best_bid <= 0.02:
            # The category the copier reads (from the market's and its event's tags).
            category = parse_market(*market_with_event_tags(clients.gamma, row.condition_id)).category
            if category != UNKNOWN:
                out.append(row._replace(category=category))
    return out


def pick_markets(world, now):
    """Markets for the scenario, read off a first serving of the venue: four tradable markets
    of one category in distinct events (a, c, d, e), a tradable market of another category
    whose outcome is priced where a copy passes stage 2 (to become a's sibling), the other
    categories' tradable markets, and an open market resolving beyond 100 days."""
    with running_venue(world=world) as probe:
        clients = PolymarketClients.connect(Endpoints.single_host(probe.url))
        markets = tradable(clients, world, now)
        clients.close()
    by_cat = {}
    for r in markets:
        by_cat.setdefault(r.category, []).append(r)
    cat, same_cat = max(by_cat.items(), key=lambda kv: len({r.event_slug for r in kv[1]}))
    distinct = list({r.event_slug: r for r in same_cat}.values())
    assert len(distinct) >= 4, "the world needs four tradable markets of one category in distinct events"
    others = [r for r in markets if r.category != cat]
    assert len(others) >= 3, "the world needs tradable markets of other categories"
    m = world.markets
    far = m[(m.open_ts <= now) & (m.end_ts > now + 100 * DAY) & (m.closed_ts > now)].iloc[0]
    return distinct[0], distinct[1:4], others, far


def with_sibling(world, a, candidates):
    """The world with one candidate listed under a's event (a multi-market event), so that a
    copy of it while a is held meets the same-event correlation floor; a candidate whose
    joining changes a's category (events share their tags) is passed over, so the category
    limit cannot pre-empt the correlation rule."""
    for sib in candidates:
        markets = world.markets.copy()
        markets.loc[markets.condition_id == sib.condition_id, "event_slug"] = a.event_slug
        joined = dataclasses.replace(world, markets=markets)
        with running_venue(world=joined) as probe:
            clients = PolymarketClients.connect(Endpoints.single_host(probe.url))
            cats = [parse_market(*market_with_event_tags(clients.gamma, r.condition_id)).category for r in (a, sib)]
            clients.close()
        if cats[0] == a.category and cats[1] != a.category:
            return joined, sib, [r for r in candidates if r is not sib]
    raise AssertionError("no market can join a's event without changing a category")


def test_each_stage_rejects_with_its_reason_and_halts_block_orders(world, tmp_path, monkeypatch):
    # mVaR and the loss breakers have their own checks; here they must not pre-empt the
    # category cap: four $1,000 copies in one category can carry a large one-day tail, and
    # marking them at the midpoint costs half the spread plus the fee each (≈ $200 an hour).
    risk = RiskRulesResource(max_consecutive_losses=2, mvar_halt=0.5, hourly_loss_limit_usd=1_000.0,
                             daily_loss_limit_usd=2_000.0)
    now = time.time()
    a, (c, d, e), candidates, far = pick_markets(world, now)
    # Two markets of one event move together: list sib under a's event, as a multi-market
    # event lists its markets, so that a copy of sib while a is held meets the same-event floor.
    world, sib, others = with_sibling(world, a, candidates)
    with running_venue(world=world) as server:
        chain = Chain(server, tmp_path, risk)
        led = chain.ledger
        led.publish_watchlist([profile(w) for w in (GOOD, WEAK, TINY)], "2026-01-01")
        # GOOD's tier allowance is wide so that the category limit is what stops it below.
        led.publish_wallet_profiles([profile(GOOD, win_rate=0.95, exposure=0.6), profile(OFF, on_watchlist=False),
                                     profile(BAD, excluded=True), profile(WEAK, win_rate=0.3),
                                     profile(TINY, exposure=0.004)], "2026-01-01")

        # A good whale's BUY is copied: sized, filled, recorded.
        result, dec, checks = chain.run(chain.trade(GOOD, a))
        assert result.success and dec["decision"] == "copy", dec
        values = json.loads(dec["details"])
        assert 990 <= values["notional_usd"] <= 1_000 and values["binding"].startswith("per_trade") and values["slippage"] < 0.01 and values["edge"] >= 0.03
        assert all(checks.values()) and len(led.orders()) == 1 and led.orders()[0]["status"] == "filled"

        expected = [
            (chain.trade(OFF, others[0]), "stage1_whale", "not on the watchlist"),
            (chain.trade(BAD, others[0]), "stage1_whale", "excluded"),
            (chain.trade(GOOD, others[0], usd=1_000), "stage2_trade", "below $5,000"),
            (chain.trade(GOOD, others[0], age_s=900), "stage2_trade", "stale"),
            (chain.trade(GOOD, far, outcome=0 if 0.2 < chain.ask(str(far.token0)) < 0.8 else 1), "stage2_trade",
             "resolves in"),
            (chain.trade(GOOD, others[0], price=round(chain.ask(str(others[0].token0)) - 0.05, 2)), "stage2_trade",
             "slippage"),
            (chain.trade(WEAK, others[0]), "stage2_trade", "edge"),
            (chain.trade(TINY, others[0]), "sizing", "wallet_usd cap"),
            (chain.trade(GOOD, sib), "stage3_portfolio",
             "correlation"),  # same event as the open position in a
        ]
        for t, stage, words in expected:
            result, dec, checks = chain.run(t)
            assert result.success, (stage, words)
            assert (dec["decision"], dec["stage"]) == ("skip", stage) and words in dec["reason"], dec
            assert json.loads(dec["details"])  # the values that decided it
        assert len(led.orders()) == 1

        # Category exposure: $1,000 copies in one category fill up to 30 % of the $10,000 NAV, then stop.
        stages = [chain.run(chain.trade(GOOD, r))[1] for r in (c, d, e)]
        assert [s["decision"] for s in stages[:2]] == ["copy", "copy"], stages
        assert stages[2]["stage"] == "stage3_portfolio" and "exposure after the trade" in stages[2]["reason"], stages

        # The kill switch stops every order: the blocking check fails the run before copy_orders.
        led.record_risk_event("kill_switch_on", reason="manual emergency stop", actor="test")
        result, dec, checks = chain.run(chain.trade(GOOD, others[1]))
        assert not result.success and checks["kill_switch_off"] is False
        assert (dec["decision"], dec["stage"]) == ("skip", "risk") and "manual emergency stop" in dec["reason"]
        assert not any(m.asset_key.to_user_string() == "copy_orders" for m in
                       (e.event_specific_data.materialization for e in result.get_asset_materialization_events()))
        led.record_risk_event("kill_switch_off", reason="checked", actor="test")

        # Two losing exits (we sell at the bid what we bought at the ask, and pay fees) trip the
        # consecutive-loss breaker; BUYs are blocked until a person resets it.
        orders_before = len(led.orders())
        for mk in (a, c):
            result, dec, _ = chain.run(chain.trade(GOOD, mk, side="SELL", usd=3_000))
            assert result.success and (dec["decision"], dec["stage"]) == ("copy", "exit"), dec
        assert len(led.orders()) == orders_before + 2
        result, dec, checks = chain.run(chain.trade(GOOD, others[1]))
        assert not result.success and checks["circuit_breakers_clear"] is False
        assert dec["stage"] == "risk" and "consecutive_losses" in dec["reason"]
        assert len(led.orders()) == orders_before + 2  # nothing sent
        monkeypatch.setenv("POLYCOPY_LEDGER_PATH", chain.ledger_path)
        assert cli.main(["risk", "reset", "consecutive_losses", "--reason", "reviewed the exits"]) == 0
        result, dec, checks = chain.run(chain.trade(GOOD, others[1]))
        assert result.success and all(checks.values()) and dec["decision"] == "copy", dec

        # The pass-through rate is reported by eligible_signals and the ledger.
        stats = led.signal_stats()
        meta = next(m.metadata for m in (e.event_specific_data.materialization
                                         for e in result.get_asset_materialization_events())
                    if m.asset_key.to_user_string() == "eligible_signals")
        assert meta["pass_through_rate"].value == pytest.approx(stats["pass_through_rate"])
        # BUYs: a, the rejections, c, d, e, one under the kill switch, one under the breaker, the last
        assert stats["copied"] == 4 and stats["signals"] == 1 + len(expected) + 3 + 3
        assert stats["pass_through_rate"] == pytest.approx(4 / stats["signals"])
        assert set(stats["rejected_by_stage"]) == {"stage1_whale", "stage2_trade", "stage3_portfolio", "sizing",
                                                   "risk"}
        chain.clients.close()
