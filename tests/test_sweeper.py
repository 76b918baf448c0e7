"""Nothing seen is dropped: the follow sensor records every fill before launching anything;
a copy run that fails (here: its ledger unreachable), a launch that never became a run and
a copy decided but never ordered are found by the sweeper, which records the failure's
cause against each signal and relaunches it with backoff under a new run key — each signal
still decided once. Signals undecided too long fail no_undecided_trades and are logged.
Real sensors, real copy_trade runs (in process) on a real Dagster instance, the simulated
venue over HTTP."""

import json
import time
from datetime import datetime, timezone

import dagster as dg
import pytest

from polycopy.ledger.store import LedgerSettings, open_ledger
from polycopy.sim import truth
from polycopy.sim.server import running_venue
from polycopy.sim.world import SimConfig, generate_world
from polycopy_dagster.defs.copy_trading import (LAUNCH_TAG, copy_trade_job_for, followed_wallets_sensor,
                                                launch_requests, undecided_signals_sweeper)
from polycopy_dagster.defs.resources import CopyTradingResource, LedgerResource
from tests.daemon_harness import WIDE_OPEN_RULES
from tests.dagster_helpers import api_resource


def rules_from(env: dict) -> dict:
    from polycopy_dagster.defs.resources import (RiskRulesResource, SignalRulesResource, SizingRulesResource,
                                                 settings_from_env)
    import os

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return {"signal_rules": settings_from_env(SignalRulesResource),
                "sizing_rules": settings_from_env(SizingRulesResource),
                "risk_rules": settings_from_env(RiskRulesResource)}
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def live_world():
    anchor = datetime.fromtimestamp(int(time.time()) // 60 * 60 - 3600, tz=timezone.utc)
    return generate_world(SimConfig(seed=21, n_markets=60, n_wallets=120, n_trades=6_000, history_days=3,
                                    live_days=1.0, history_end=anchor))


def test_failed_lost_and_unordered_signals_are_relaunched_until_decided_once(live_world, tmp_path):
    world = live_world
    start = world.config.history_end_ts
    emitted = truth.emitted_trades(world, until_ts=start)
    recent = emitted[emitted["timestamp"] > start - 3000]
    follow = list(recent["proxy_wallet"].value_counts().index[:3])
    expected = set(recent[recent["proxy_wallet"].isin(follow)]["trade_key"])
    assert len(expected) >= 3
    ledger_path = str(tmp_path / "ledger.sqlite")
    ledger = open_ledger(LedgerSettings(backend="sqlite", sqlite_path=ledger_path))
    ledger.publish_wallet_profiles(
        [{"wallet_address": w, "wqs": 90.0, "wqs_lower": 85.0, "win_rate_posterior": 0.9, "tier": "Elite",
          "tier_max_exposure": 0.5, "tier_max_daily_trades": 1000, "excluded": False} for w in follow], "2026-01-01")
    # The venue's clock stands at the end of the history: look back to 3,000 s before it.
    copy = CopyTradingResource(follow_wallets=",".join(follow), lookback_s=time.time() - (start - 3000), long_poll_s=0,
                               relaunch_backoff_s=0.5, relaunch_backoff_max_s=1.0, launch_grace_s=0.5,
                               undecided_alert_s=0.0, aggregation_window_s=1.0)
    good_ledger = LedgerResource(sqlite_path=ledger_path)
    # A ledger that cannot be reached (nothing listens on the port) and gives up fast.
    dead_ledger = LedgerResource(backend="postgres", pg_host="127.0.0.1", pg_port=1, db_retry_give_up_s=0.3)
    wide_open = rules_from({**WIDE_OPEN_RULES, "POLYCOPY_MAX_TRADE_AGE_S": str(7 * 86400)})
    with running_venue(world=world) as server, dg.instance_for_test() as instance:
        api = api_resource(server.url)
        base = {"polymarket": api, "copy_trading": copy, **wide_open}
        broken_job = copy_trade_job_for({**base, "ledger": dead_ledger})
        job = copy_trade_job_for({**base, "ledger": good_ledger})

        def execute(job_def, requests):
            return [job_def.execute_in_process(run_config=r.run_config, tags=r.tags, instance=instance,
                                               raise_on_error=False) for r in requests]

        def sweep(cursor=None):
            with dg.build_sensor_context(instance=instance, resources={"ledger": good_ledger, "copy_trading": copy},
                                         cursor=cursor) as ctx:
                return undecided_signals_sweeper(ctx)

        # The sensor records every fill it sees, then launches the new signals in one run.
        with dg.build_sensor_context(instance=instance, resources={**base, "ledger": good_ledger}) as ctx:
            tick = followed_wallets_sensor(ctx)
        assert len(tick.run_requests) == 1
        assert {t["trade_key"] for t in ledger._rows("select trade_key from source_trades")} == expected
        signals = tick.run_requests[0].run_config["ops"]["assess_portfolio_and_signal"]["config"]["signal_keys"]
        assert ledger.summary()["undecided"] == len(signals) >= 3
        # That run fails: its ledger is unreachable. Nothing is decided; the alert fires.
        [failed] = execute(broken_job, tick.run_requests)
        assert not failed.success
        first = sweep()
        assert first.run_requests == []  # the backoff has not passed yet
        [alert] = first.asset_events
        assert alert.check_name == "no_undecided_trades" and not alert.passed
        assert alert.metadata["overdue"].value == len(signals)
        attempt = ledger.attempts(signals[0])[0]
        assert attempt["outcome"] == "failure" and attempt["run_id"] == failed.run_id
        assert "OperationalError" in attempt["error"] and "Connection refused" in attempt["error"], attempt["error"]
        assert all(ledger.signal(k)["alerted_at"] is not None for k in signals)
        # After the backoff: relaunched under a new run key, and this time decided.
        time.sleep(0.6)
        second = sweep(first.cursor)
        [relaunch] = second.run_requests
        assert relaunch.run_key != tick.run_requests[0].run_key
        assert sorted(relaunch.run_config["ops"]["assess_portfolio_and_signal"]["config"]["signal_keys"]) == sorted(
            signals)
        assert all(r.success for r in execute(job, [relaunch]))
        assert ledger.summary()["undecided"] == 0
        assert {d["signal_key"] for d in ledger.decisions()} == set(signals)
        assert all(o["status"] in ("filled", "rejected", "partially_filled") for o in ledger.orders())
        cleared = sweep(second.cursor)
        assert cleared.run_requests == [] and cleared.asset_events[0].passed
        # A launch that never became a run (the daemon died before creating it) is relaunched
        # after the grace period; a copy decided but never ordered gets its order from the relaunch.
        # The sensor reads an earlier stretch; the daemon "dies" before creating the run.
        with dg.build_sensor_context(instance=instance, resources={**base, "ledger": good_ledger},
                                     cursor=json.dumps({w: start - 3600 for w in follow})) as ctx:
            dropped = followed_wallets_sensor(ctx)
        [never_run] = dropped.run_requests
        lost = never_run.run_config["ops"]["assess_portfolio_and_signal"]["config"]["signal_keys"]
        assert lost and all(ledger.decision(k) is None for k in lost)
        time.sleep(0.6)
        third = sweep(cleared.cursor)
        assert [a["outcome"] for a in ledger.attempts(lost[0])] == ["lost", None]
        # That relaunch decides but stops before ordering (its order step never ran).
        [partial] = [job.execute_in_process(run_config=r.run_config, tags=r.tags, instance=instance,
                                            asset_selection=[dg.AssetKey("portfolio_risk"),
                                                             dg.AssetKey("eligible_signals")])
                     for r in third.run_requests]
        assert partial.success and all(ledger.decision(k) is not None for k in lost)
        unordered = [k for k in lost if ledger.decision(k)["decision"] == "copy"]
        assert unordered and all(ledger.order_for(k) is None for k in unordered)
        waiting = sweep(third.cursor)
        assert waiting.run_requests == [] and ledger.attempts(unordered[0])[-1]["outcome"] == "incomplete"
        time.sleep(1.1)  # the backoff of a second attempt (0.5 s doubled, at most 1 s)
        fourth = sweep(waiting.cursor)
        assert fourth.run_requests and all(r.success for r in execute(job, fourth.run_requests))
        assert all(ledger.order_for(k) is not None for k in unordered)
        assert sweep(fourth.cursor).run_requests == []
        # Every fill seen has exactly one decision (its signal's) and at most one order.
        decided = {d["signal_key"] for d in ledger.decisions()}
        assert len(decided) == len(ledger.decisions())
        keys = [o["decision_key"] for o in ledger.orders()]
        assert len(keys) == len(set(keys))
        runs = instance.get_runs(dg.RunsFilter(tags={LAUNCH_TAG: [tick.run_requests[0].run_key]}))
        assert [r.status for r in runs] == [dg.DagsterRunStatus.FAILURE]
