"""Every exit rule and every kind of settlement, end to end: paper positions on real
markets of the simulated venue (its HTTP server, its books), a market's price path, end
date and resolution driven through the venue's control route, the open_positions_sensor
evaluated and the exit_position / settle_positions / copy_trade jobs run in process
(Dagster) against a real ledger. Each rule fires once, with its reason; settling twice
changes nothing; the realized P&L is the fills' and payouts' arithmetic."""

import json
import time
from datetime import datetime, timezone

import dagster as dg
import httpx
import pytest

from polycopy.execution.position_exits import open_positions, position_report, positions
from polycopy.trading.portfolio import FillRow, walk_positions
from polycopy.ledger.store import LedgerSettings, open_ledger
from polycopy.polymarket.clients import Endpoints, PolymarketClients
from polycopy.sim.server import running_venue
from polycopy.sim.world import SimConfig, generate_world
from polycopy_dagster.defs import copy_trading, position_exits
from polycopy_dagster.defs.resources import (CopyTradingResource, ExitRulesResource, LedgerResource,
                                             RiskRulesResource, SignalRulesResource, SizingRulesResource)
from tests.dagster_helpers import api_resource
from tests.position_helpers import open_paper_position, tradable_markets, whale_trade

DAY, HOUR = 86_400, 3_600
SHARES = 200.0


def wallet(name: str) -> str:
    return "0x" + name.encode().hex().ljust(40, "0")[:40]


WHALE, QUARANTINED = wallet("whale"), wallet("quarantined")
CASES = ("stop", "take_profit", "trailing", "time", "mirror", "quarantine", "won", "lost", "void", "early")


class Desk:
    """The venue, its control route, a ledger and the execution location's definitions."""

    def __init__(self, server, ledger_path):
        self.url = server.url
        self.ledger = open_ledger(LedgerSettings(backend="sqlite", sqlite_path=ledger_path))
        self.clients = PolymarketClients.connect(Endpoints.single_host(server.url))
        self.resources = {"polymarket": api_resource(server.url), "ledger": LedgerResource(sqlite_path=ledger_path),
                          "copy_trading": CopyTradingResource(), "signal_rules": SignalRulesResource(),
                          "sizing_rules": SizingRulesResource(), "risk_rules": RiskRulesResource(),
                          "exit_rules": ExitRulesResource()}
        self.defs = dg.Definitions.merge(copy_trading.defs, position_exits.defs,
                                         dg.Definitions(resources=self.resources))
        self.instance = dg.DagsterInstance.ephemeral()

    def now(self) -> int:
        return int(httpx.get(f"{self.url}/_sim/clock").json()["now"])

    def control(self, market, **body):
        r = httpx.post(f"{self.url}/_sim/market", json={"condition_id": market.condition_id, **body})
        r.raise_for_status()
        return r.json()

    def whale_trade(self, who, market, side, shares, price):
        return whale_trade(who, market, side, shares, price)

    def open_position(self, market, who=WHALE) -> str:
        return open_paper_position(self.ledger, self.clients, market, who, SHARES)

    def sensor_pass(self) -> list[dg.RunRequest]:
        with dg.build_sensor_context(instance=self.instance, resources=self.resources) as ctx:
            result = position_exits.open_positions_sensor(ctx)
        return [] if isinstance(result, dg.SkipReason) else list(result)

    def execute(self, request: dg.RunRequest):
        job = self.defs.resolve_job_def(request.job_name)
        result = job.execute_in_process(run_config=request.run_config, instance=self.instance, tags=request.tags,
                                        raise_on_error=False)
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        return result

    def pass_and_execute(self) -> list[dg.RunRequest]:
        requests = self.sensor_pass()
        for r in requests:
            self.execute(r)
        return requests


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    anchor = datetime.fromtimestamp(int(time.time()), tz=timezone.utc)
    world = generate_world(SimConfig(seed=43, n_markets=3_000, n_wallets=30, n_trades=1_000, history_days=30,
                                     live_days=2.0, history_end=anchor))
    with running_venue(world=world, speed=1.0) as server:
        d = Desk(server, str(tmp_path_factory.mktemp("exits") / "ledger.sqlite"))
        now = d.now()
        pool = tradable_markets(world, d.clients, now, SHARES)
        v2 = [r for r in pool if r.version == "v2"]
        assert len(pool) >= len(CASES) and v2, "the world has too few tradable markets for the scenario"
        early = v2[0]
        rest = [r for r in pool if r is not early]
        d.markets = dict(zip([c for c in CASES if c != "early"], rest)) | {"early": early}
        d.spare = rest[len(CASES) - 1:]
        d.positions = {}
        d.ledger.publish_wallet_profiles(
            [{"wallet_address": w, "wqs": 80.0, "wqs_lower": 70.0, "win_rate_posterior": 0.7, "tier": "Expert",
              "tier_max_exposure": 0.1, "tier_max_daily_trades": 8, "excluded": False, "state": "watching"}
             for w in (WHALE, QUARANTINED)], "2026-01-01")
        for case, market in d.markets.items():
            d.positions[case] = d.open_position(market, QUARANTINED if case == "quarantine" else WHALE)
        yield d
        d.clients.close()


def position(desk, case):
    return next(p for p in positions(desk.ledger) if p.position_id == desk.positions[case])


def sells(desk, case):
    return [e for e in desk.ledger.exit_decisions(desk.positions[case]) if e["decision"] == "sell"]


def test_each_rule_fires_once_with_its_reason_and_every_resolution_settles(desk):
    d = desk
    assert len(open_positions(d.ledger)) == len(CASES)
    now = d.now()
    cost = {c: position(d, c).avg_cost for c in CASES}
    # The trailing case's market had a quiet fortnight (daily range 1 ¢, so ATR ≈ 0.01) and
    # trades at our cost now.
    c = cost["trailing"]
    quiet = [[now - 16 * DAY + k * 12 * HOUR, round(c + 0.01 * (k % 2), 4)] for k in range(31)]
    d.control(d.markets["trailing"], path=quiet + [[now - 1, round(c, 4)]])
    # Nothing fires at the entry prices.
    assert d.pass_and_execute() == []

    # Stop-loss: 25 % under our cost. Take-profit: 40 % over it. Time exit: the end date moved to 20 h away.
    d.control(d.markets["stop"], path=[[now - 1, round(cost["stop"] * 0.75, 4)]])
    d.control(d.markets["take_profit"], path=[[now - 1, round(min(cost["take_profit"] * 1.4, 0.95), 4)]])
    d.control(d.markets["time"], end=now + 20 * HOUR)
    # Trailing stop: after the quiet fortnight, a rise to +20 %.
    d.control(d.markets["trailing"], path=quiet + [[now - 1, round(c * 1.2, 4)]])
    # The quarantined wallet's position: the scoring now says so.
    d.ledger.publish_wallet_profiles(
        [{"wallet_address": w, "wqs": 80.0, "wqs_lower": 70.0, "win_rate_posterior": 0.7, "tier": "Expert",
          "tier_max_exposure": 0.1, "tier_max_daily_trades": 8, "excluded": False,
          "state": "quarantined" if w == QUARANTINED else "watching"} for w in (WHALE, QUARANTINED)], "2026-01-02")
    requests = d.pass_and_execute()
    fired = {r.tags["polycopy/rule"] for r in requests}
    assert fired == {"stop_loss", "take_profit", "time_exit", "source_removed"}, fired
    # An exit run executed again (a retry, a relaunch) decides nothing new and sells nothing more.
    before = (len(d.ledger.orders()), len(d.ledger.fills()), len(d.ledger.exit_decisions()))
    for r in requests:
        d.execute(r)
    assert (len(d.ledger.orders()), len(d.ledger.fills()), len(d.ledger.exit_decisions())) == before
    for case, rule in (("stop", "stop_loss"), ("take_profit", "take_profit"), ("time", "time_exit"),
                       ("quarantine", "source_removed")):
        [s] = sells(d, case)
        assert s["rule"] == rule and s["reason"], s
        assert not position(d, case).is_open, (case, d.ledger.orders()[-3:])
    [stop] = sells(d, "stop")
    values = json.loads(stop["details"])
    assert values["mark"] <= values["stop_price"] and values["avg_cost"] == pytest.approx(cost["stop"])
    assert "quarantined" in sells(d, "quarantine")[0]["reason"]
    assert json.loads(sells(d, "time")[0]["details"])["hours_to_end"] <= 24

    # The trailing stop armed at the high (it ratcheted: high 1.2 × cost, stop = high − 2.5 ATR) and
    # did not fire; now the price gives back 5 ¢ from the high and it does.
    mark = d.ledger.position_mark(d.positions["trailing"])
    assert mark["trail_stop"] is not None and mark["high_water"] >= c * 1.2 - 0.01
    assert sells(d, "trailing") == []
    d.control(d.markets["trailing"], path=quiet + [[now - 1, round(c * 1.2, 4)],
                                                   [d.now() - 1, round(c * 1.2 - 0.05, 4)]])
    assert {r.tags["polycopy/rule"] for r in d.pass_and_execute()} == {"trailing_stop"}
    [trail] = sells(d, "trailing")
    tv = json.loads(trail["details"])
    assert tv["mark"] <= tv["stop_price"] == pytest.approx(mark["trail_stop"], abs=1e-9)
    assert tv["atr"] == pytest.approx(0.01, abs=0.003)

    # Mirror: the whale sells 400 of its 1,000 shares: we sell 40 % of ours, through a copy run.
    m = d.markets["mirror"]
    bid = d.clients.clob.book(str(m.token0)).best_bid
    sell = d.whale_trade(WHALE, m, "SELL", 400.0, bid)
    job = d.defs.resolve_job_def("copy_trade")
    result = job.execute_in_process(run_config=copy_trading.copy_trade_run_config(sell), instance=d.instance)
    assert result.success
    decision = d.ledger.decision_for_trade(sell.trade_key)
    dv = json.loads(decision["details"])
    assert (decision["decision"], dv["rule"]) == ("copy", "mirror") and dv["whale_sold_fraction"] == pytest.approx(0.4)
    assert position(d, "mirror").shares == pytest.approx(SHARES * 0.6)

    # Settlement: won, lost, void (closed at their end date) and an early resolution of a V2 market.
    t = d.now()
    d.control(d.markets["won"], end=t - 60, resolve={"at": t - 60, "winner": 0})
    d.control(d.markets["lost"], end=t - 60, resolve={"at": t - 60, "winner": 1})
    d.control(d.markets["void"], end=t - 60, resolve={"at": t - 60, "winner": None})
    early = d.control(d.markets["early"], resolve={"at": t - 60, "winner": 0})
    assert early["end_ts"] > t + DAY
    requests = d.pass_and_execute()
    assert [r.job_name for r in requests] == ["settle_positions"]
    payouts = {"won": 1.0, "lost": 0.0, "void": 0.5, "early": 1.0}
    for case, payout in payouts.items():
        p = position(d, case)
        assert not p.is_open, case
        [o] = [o for o in d.ledger.orders() if o["decision_key"] == f"settle-{p.position_id}"]
        assert (o["venue"], o["limit_price"], o["shares"]) == ("settlement", payout, SHARES)
        # Realized P&L = payout × shares − what the shares cost, buy fees included.
        assert p.realized_pnl_usd == pytest.approx(payout * SHARES - p.bought_usd, abs=1e-9)
    # A loss at resolution is an exit like any other for the consecutive-loss breaker.
    lost_order = f"settle-{d.positions['lost']}"
    exits = dict((oid, pnl) for _, oid, pnl in walk_positions([FillRow(**r) for r in d.ledger.fill_rows()])[2])
    assert exits[lost_order] == pytest.approx(-position(d, "lost").bought_usd)
    report = {r["position_id"]: r for r in position_report(d.ledger)}
    assert report[d.positions["won"]]["rules"] == "resolved"
    assert report[d.positions["stop"]]["rules"] == "stop_loss"

    # Settling twice, or evaluating again, changes nothing: no second sell, no double credit.
    before = (len(d.ledger.orders()), len(d.ledger.fills()))
    settle = d.defs.resolve_job_def("settle_positions")
    assert settle.execute_in_process(instance=d.instance).success
    assert d.pass_and_execute() == []
    assert (len(d.ledger.orders()), len(d.ledger.fills())) == before
    for case in CASES:
        assert len(sells(d, case)) <= 1
    # The only position left open is the mirrored one (60 % of it), in a market still trading.
    assert [p.position_id for p in open_positions(d.ledger)] == [d.positions["mirror"]]


def test_settlement_on_market_resolutions_from_the_other_code_location(desk):
    """The asset sensor: a materialization of the data plane's market_resolutions launches a
    settlement run, which settles a position in a market resolved since."""
    d = desk
    m = d.markets["mirror"]
    t = d.now()
    d.control(m, end=t - 30, resolve={"at": t - 30, "winner": 1})
    d.instance.report_runless_asset_event(dg.AssetMaterialization(position_exits.MARKET_RESOLUTIONS))
    with dg.build_sensor_context(instance=d.instance, resources=d.resources,
                                 repository_def=d.defs.get_repository_def()) as ctx:
        result = position_exits.settle_on_resolutions.evaluate_tick(ctx)
    [request] = result.run_requests
    assert request.run_key.startswith("resolutions-")
    run = d.defs.resolve_job_def("settle_positions").execute_in_process(instance=d.instance, tags=request.tags)
    assert run.success
    assert open_positions(d.ledger) == []
    p = position(d, "mirror")
    # Lost: 40 % sold at the bid before, the rest settled at 0.
    assert p.realized_pnl_usd == pytest.approx(p.proceeds_usd - p.bought_usd, abs=1e-9)
    checks = {e.check_name: e.passed for e in run.get_asset_check_evaluations()}
    assert checks == {"nothing_open_in_resolved_markets": True}


def test_polycopy_positions_lists_entries_exits_rules_and_pnl(desk, monkeypatch, capsys, tmp_path):
    from polycopy_dagster import cli

    monkeypatch.setenv("POLYCOPY_LEDGER_PATH", desk.resources["ledger"].sqlite_path)
    out_csv = tmp_path / "positions.csv"
    assert cli.main(["positions", "--csv", str(out_csv)]) == 0
    text = capsys.readouterr().out
    for rule in ("stop_loss", "take_profit", "trailing_stop", "time_exit", "source_removed", "mirror", "resolved"):
        assert rule in text, rule
    total = sum(p.realized_pnl_usd for p in positions(desk.ledger))
    assert f"{len(CASES)} positions (0 open, {len(CASES)} closed); realized P&L ${total:,.2f}" in text
    assert len(out_csv.read_text().splitlines()) == len(CASES) + 1


def test_while_trading_is_halted_exits_hold_and_sell_once_it_clears(desk):
    d = desk
    m = d.spare[0]
    pid = d.open_position(m)
    c = next(p for p in positions(d.ledger) if p.position_id == pid)
    d.ledger.record_risk_event("kill_switch_on", reason="venue incident", actor="test")
    d.control(m, path=[[d.now() - 1, round(c.avg_cost * 0.7, 4)]])
    [request] = d.pass_and_execute()
    [hold] = d.ledger.exit_decisions(pid)
    assert (hold["decision"], hold["rule"]) == ("hold", "stop_loss") and hold["reason"].startswith("trading halted")
    assert d.ledger.order_for(hold["exit_key"]) is None
    d.ledger.record_risk_event("kill_switch_off", reason="resolved", actor="test")
    [request] = d.pass_and_execute()
    sells = [e for e in d.ledger.exit_decisions(pid) if e["decision"] == "sell"]
    assert [(e["seq"], e["rule"]) for e in sells] == [(2, "stop_loss")]
    assert not next(p for p in positions(d.ledger) if p.position_id == pid).is_open
