"""Through the real dagster-daemon: each followed trade → exactly one decision and at most one
paper order, despite duplicate feed records, sensor re-evaluation, a run retry and a daemon
killed and restarted mid-stream."""

import json
import time
from collections import Counter
from datetime import datetime, timezone

import httpx
import pytest

from polycopy.sim import truth
from polycopy.sim.server import FaultConfig, running_venue
from polycopy.sim.world import SimConfig, generate_world
from tests.daemon_harness import WIDE_OPEN_RULES, DaemonHarness

OVERLAP_S = 30


@pytest.mark.daemon
def test_followed_trades_copied_exactly_once_through_the_daemon(tmp_path, monkeypatch):
    anchor = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    world = generate_world(SimConfig(seed=21, n_markets=60, n_wallets=120, n_trades=6_000, history_days=3,
                                     live_days=1.0, history_end=anchor))
    start = world.config.history_end_ts
    emitted = truth.emitted_trades(world, until_ts=world.config.horizon_ts)
    live = emitted[emitted["timestamp"] > start]
    # Follow wallets with a handful of trades each in the first live hours (the test knows
    # the truth): about twenty trades, several of them in the window the daemon is down.
    window = live[live["timestamp"] <= start + 6 * 3600]
    counts = window["proxy_wallet"].value_counts()
    follow = list(counts[(counts >= 3) & (counts <= 8)].index[:4])
    followed = emitted[emitted["proxy_wallet"].isin(follow)]
    steps = [start + h * 3600 for h in (1, 2, 4, 6)]

    faults = FaultConfig(rate=0.1, weights={"429": 0.5, "5xx": 0.5}, retry_after_s=0, duplicate_rate=0.3,
                         shuffle=True, seed=3)
    with running_venue(world=world, faults=faults) as server:
        # A copy run on a loaded two-core runner can take over a minute to start; this test is
        # about launches lost to a killed daemon, so a slow start must not count as stuck.
        h = DaemonHarness(tmp_path, server.url, follow, {**WIDE_OPEN_RULES, "POLYCOPY_RUN_STUCK_AFTER_S": "600"})
        h.publish_elite_profiles(follow)  # the chain sizes from a published score
        try:
            h.start_sensor({w: start for w in follow})
            h.start_daemon()

            def release(ts):
                httpx.post(f"{server.url}/_sim/clock", json={"set": ts})

            def expected_until(ts):
                sel = followed[(followed["timestamp"] >= start - OVERLAP_S) & (followed["timestamp"] <= ts)]
                return set(sel["trade_key"])

            release(steps[0])
            release(steps[1])
            first = expected_until(steps[1])
            got = h.wait_for_decisions(first, timeout_s=180)
            assert set(got) == first, f"{len(got)}/{len(first)} decided before the crash"

            # Crash mid-stream: trades land while the daemon is down.
            release(steps[2])
            time.sleep(1.5)
            h.kill_daemon()
            release(steps[3])
            h.start_daemon()
            expected = expected_until(steps[3])
            assert len(expected) >= 12, len(expected)
            got = h.wait_for_decisions(expected, timeout_s=240)
            assert set(got) == expected, f"lost {len(expected - set(got))} trades"

            # Keep the sensor re-evaluating the same (overlapping, duplicated) feed for a while.
            time.sleep(6)
            h.kill_daemon()
        finally:
            h.stop()

        ledger = h.ledger()
        decisions = ledger.decisions()
        orders = ledger.orders()
        by_trade = h.decisions_by_trade(ledger)
        assert set(by_trade) >= expected  # every followed fill's signal was decided
        keys = Counter(d["signal_key"] for d in decisions)
        assert max(keys.values()) == 1
        per_signal = Counter(o["decision_key"] for o in orders)
        assert not per_signal or max(per_signal.values()) == 1
        copies = {d["signal_key"] for d in decisions if d["decision"] == "copy"}
        assert set(per_signal) == copies and len(orders) >= 4

        # Each launch is one run: Dagster's run keys de-duplicated every sensor re-evaluation. No
        # run failed, so the sweeper relaunched a signal only when its launch was lost: the
        # sensor recorded it just before the daemon was killed, and no run was ever created.
        import dagster as dg

        with dg.DagsterInstance.from_config(str(h.home)) as instance:
            runs = instance.get_runs(dg.RunsFilter(job_name="copy_trade"))
            by_key = Counter(r.tags.get("dagster/run_key") for r in runs if "dagster/retry_number" not in r.tags)
            assert max(by_key.values()) == 1
            lost = set()
            for s in ledger._rows("select signal_key, attempts from signals"):
                launches = ledger.attempts(s["signal_key"])
                assert len(launches) == s["attempts"] >= 1
                assert all(a["outcome"] == "lost" and a["run_id"] is None for a in launches[:-1]), launches
                assert launches[-1]["outcome"] in (None, "success"), launches
                lost |= {a["run_key"] for a in launches[:-1]}
            assert len(lost) <= 1, lost  # at most the one tick the kill cut short
            done = [r for r in runs if r.status == dg.DagsterRunStatus.SUCCESS]

            # A retry of a finished run (same trade, same config) places nothing new.
            from polycopy_dagster.defs.copy_trading import copy_trade_job_for
            from polycopy_dagster.defs.resources import (CopyTradingResource, LedgerResource, PolymarketResource,
                                                         RiskRulesResource, SignalRulesResource,
                                                         SizingRulesResource, settings_from_env)

            run = next(r for r in done if set(r.run_config["ops"]["assess_portfolio_and_signal"]["config"][
                "signal_keys"]) & copies)
            for k, v in WIDE_OPEN_RULES.items():
                monkeypatch.setenv(k, v)
            result = copy_trade_job_for(
                {"polymarket": PolymarketResource(data_api_url=server.url, gamma_url=server.url, clob_url=server.url),
                 "ledger": LedgerResource(sqlite_path=str(h.data / "ledger.sqlite")),
                 "copy_trading": CopyTradingResource(follow_wallets=",".join(follow)),
                 "signal_rules": settings_from_env(SignalRulesResource),
                 "sizing_rules": settings_from_env(SizingRulesResource),
                 "risk_rules": settings_from_env(RiskRulesResource)},
            ).execute_in_process(run_config=run.run_config, instance=instance)
            signal = next(m.metadata for m in (e.event_specific_data.materialization
                                               for e in result.get_asset_materialization_events())
                          if m.asset_key.to_user_string() == "eligible_signals")
            assert signal["decided_by_this_run"].value == 0 and signal["signals"].value >= 1
        assert len(h.ledger().orders()) == len(orders)
        assert json.loads(json.dumps(ledger.summary()))["pending"] == 0
