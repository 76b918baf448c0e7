"""Same code as live: over a stretch of history, the backtest decides every copy exactly as
the real copy_trade job does when it is run at the same instants, over HTTP, against the
simulated venue's server, with the same published watchlist and profiles."""

import dataclasses
import json
import time

import dagster as dg
import pytest

from polycopy.backtest.walk_forward import (COPY, SNAPSHOT, BacktestSettings, Strategy,
                                            build_step_inputs, run_strategy, step_events, step_starts, step_trades)
from polycopy.execution.copier import TradingRules
from polycopy.ledger.store import LedgerSettings, open_ledger
from polycopy.sim.server import SimVenue, running_venue
from polycopy.sim.world import SimConfig, generate_world
from polycopy.trading.settings import ExitSettings, SignalSettings, SizingSettings
from polycopy_dagster.defs.copy_trading import assess_portfolio_and_signal, copy_trade_job_for
from polycopy_dagster.defs.resources import (CopyTradingResource, ExitRulesResource, LedgerResource,
                                             RiskRulesResource, SignalRulesResource, SizingRulesResource)
from tests.dagster_helpers import api_resource

SETTINGS = BacktestSettings(warmup_days=28, step_days=2)
# The production rules with a fixed size and a lower bar for the whale's trade and the edge
# (so that a neutral profile, without a track record, gets copies as well as rejections),
# and no exits (the exit chain is a job of its own); following the leaderboard without
# reading scores.
RULES = dataclasses.replace(TradingRules(), sizing=dataclasses.replace(SizingSettings(), fixed_trade_usd=60.0),
                            signals=dataclasses.replace(SignalSettings(), min_whale_trade_usd=1_500.0, min_edge=-1.0),
                            exits=ExitSettings(stop_loss=False, take_profit=False, trailing_stop=False,
                                               time_exit=False, exit_on_source_removed=False))
STRATEGY = Strategy("probe", rules=RULES, follow="leaderboard", knows_scores=False, leaderboard_size=40)


def world():
    return generate_world(SimConfig(seed=5, n_markets=120, n_wallets=300, n_trades=14_000, history_days=40,
                                    live_days=0.0))


def resources_for(rules: TradingRules, ledger_path: str, url: str, followed: list[str]) -> dict:
    fields = lambda x: dataclasses.asdict(x)  # noqa: E731
    return {"polymarket": api_resource(url), "ledger": LedgerResource(sqlite_path=ledger_path),
            "copy_trading": CopyTradingResource(follow_wallets=",".join(followed), taker_fee_rate=rules.fee_rate),
            "signal_rules": SignalRulesResource(**fields(rules.signals)),
            "sizing_rules": SizingRulesResource(**fields(rules.sizing)),
            "risk_rules": RiskRulesResource(**fields(rules.risk)),
            "exit_rules": ExitRulesResource(**fields(rules.exits))}


def record(ledger, upto: float) -> dict:
    """What was decided and done up to ``upto``, without run ids and stamps."""
    return {
        "decisions": [(d["signal_key"], d["decision"], d["stage"], d["reason"], json.loads(d["details"]))
                      for d in ledger._rows("select * from decisions where decided_at <= ? order by signal_key",
                                            (upto,))],
        "orders": [(o["order_id"], o["side"], o["limit_price"], o["shares"], o["status"])
                   for o in ledger._rows("select * from orders where created_at <= ? order by order_id", (upto,))],
        "fills": [(f["order_id"], f["price"], f["shares"], f["fee_usd"])
                  for f in ledger._rows("select * from fills where filled_at <= ? order by order_id, fill_id",
                                        (upto,))],
        "nav": [(round(n["nav_usd"], 9), round(n["mvar"], 12), n["halted"])
                for n in ledger._rows("select * from nav_snapshots where ts <= ? order by ts", (upto,))],
    }


def test_the_backtest_decides_as_the_copy_trade_job(tmp_path, monkeypatch):
    w = world()
    starts = step_starts(w, SETTINGS, days=2)
    step = build_step_inputs(w, starts, SETTINGS, tmp_path / "scoring")[0]
    run = run_strategy(w, [step], STRATEGY, SETTINGS, tmp_path, venue=SimVenue(w))
    followed = run.followed[0][1]
    upto = step.end_ts
    backtest = record(run.ledger(), upto)

    # The live side: a ledger of its own with the same publications, the venue over HTTP.
    published = run.ledger()
    live_path = str(tmp_path / "live.sqlite")
    instant = [float(step.start_ts)]
    monkeypatch.setattr(time, "time", lambda: instant[0])  # every part of the chain reads the replayed instant
    live = open_ledger(LedgerSettings(backend="sqlite", sqlite_path=live_path))
    live.publish_watchlist(published.watchlist(), step.as_of.isoformat())
    live.publish_wallet_profiles([{**p, "win_rate_posterior": p["win_rate"]}
                                  for p in published._rows("select * from wallet_profiles")], step.as_of.isoformat())
    instance = dg.DagsterInstance.ephemeral()
    runs = copies = 0
    with running_venue(world=w) as server:
        resources = resources_for(RULES, live_path, server.url, followed)
        job = copy_trade_job_for(resources)
        trades = step_trades(SimVenue(w), followed, step)
        for ts, kind, batch in step_events(step, trades, RULES.exits, SETTINGS):
            server.venue.clock.set(int(ts))
            instant[0] = ts
            if kind == SNAPSHOT:  # the risk monitor's run
                result = dg.materialize([assess_portfolio_and_signal], selection=["portfolio_risk"],
                                        resources=resources, instance=instance)
            elif kind == COPY:  # the follow sensor's work, then the run it launches
                live.record_seen_trades(batch, seen_at=ts, window_s=SETTINGS.aggregation_window_s)
                keys = [s["signal_key"] for s in live.signals_to_launch()]
                if not keys:
                    continue
                live.record_launch(keys, f"live-{int(ts)}", now=ts)
                result = job.execute_in_process(
                    run_config={"ops": {"assess_portfolio_and_signal": {"config": {"signal_keys": keys}}}},
                    instance=instance, raise_on_error=False)
                copies += len(keys)
            else:
                continue
            assert result.success
            runs += 1
        # The backtest's closing snapshot, at the step's last second.
        server.venue.clock.set(step.end_ts - 1)
        instant[0] = float(step.end_ts - 1)
        assert dg.materialize([assess_portfolio_and_signal], selection=["portfolio_risk"], resources=resources,
                              instance=instance).success
    live_record = record(live, upto)
    assert runs >= 20 and copies >= 20
    assert sum(d[1] == "copy" for d in backtest["decisions"]) >= 20
    assert len({d[2] for d in backtest["decisions"]}) >= 2  # copies and rejections at some stage
    assert live_record["decisions"] == backtest["decisions"]
    assert live_record["orders"] == backtest["orders"]
    assert live_record["fills"] == backtest["fills"] and backtest["fills"]
    assert live_record["nav"] == backtest["nav"]
