"""Through the real dagster-daemon with a PostgreSQL ledger: no followed trade is lost to
a 30-second database outage, to a run worker killed mid-run, or to the copy code server
killed (and restarted by its supervisor). Each time, every followed fill is decided exactly
once (by its signal) within two minutes of recovery, with at most one order each."""

import os
import re
import signal
import time
from collections import Counter
from datetime import datetime, timezone

import httpx
import pytest

from polycopy.sim import truth
from polycopy.sim.server import running_venue
from polycopy.sim.world import SimConfig, generate_world
from tests.daemon_harness import WIDE_OPEN_RULES, DaemonHarness
from tests.pg_cluster import PrivateCluster, wait_until

OUTAGE_S = 30
RECOVERY_LIMIT_S = 120


@pytest.mark.daemon
@pytest.mark.postgres
def test_no_followed_trade_is_lost_to_an_outage_a_dead_worker_or_a_dead_code_server(tmp_path):
    anchor = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    world = generate_world(SimConfig(seed=23, n_markets=80, n_wallets=150, n_trades=12_000, history_days=2,
                                     live_days=1.0, history_end=anchor))
    start = world.config.history_end_ts
    emitted = truth.emitted_trades(world, until_ts=world.config.horizon_ts)
    live = emitted[emitted["timestamp"] > start]
    follow = list(live[live["timestamp"] <= start + 8 * 3600]["proxy_wallet"].value_counts().index[:8])
    followed = emitted[emitted["proxy_wallet"].isin(follow)]

    def until(ts):
        return set(followed[(followed["timestamp"] > start) & (followed["timestamp"] <= ts)]["trade_key"])

    with PrivateCluster() as pg, running_venue(world=world) as server:
        pg.create_database("polycopy")
        env = {**WIDE_OPEN_RULES, "POLYCOPY_LEDGER": "postgres", "POLYCOPY_PG_HOST": "127.0.0.1",
               "POLYCOPY_PG_PORT": str(pg.port), "POLYCOPY_PG_DATABASE": "polycopy",
               "POLYCOPY_MAX_TRADE_AGE_S": str(3 * 86400),
               # Transactions give up retrying after 10 s, so that runs fail inside the 30-s outage
               # and the sweeper's relaunch is what recovers them (30 s would ride most of it out).
               "POLYCOPY_DB_RETRY_GIVE_UP_S": "10"}
        h = DaemonHarness(tmp_path, server.url, follow, env)
        h.publish_elite_profiles(follow)
        try:
            h.start_code_servers()
            h.start_sensor({w: start for w in follow})
            h.start_daemon()
            ledger = h.ledger()

            def release(hours):
                ts = start + int(hours * 3600)
                httpx.post(f"{server.url}/_sim/clock", json={"set": ts})
                return ts

            def all_decided(keys, timeout_s):
                began = time.monotonic()
                got = h.wait_for_decisions(keys, timeout_s=timeout_s)
                return set(got) == keys, time.monotonic() - began

            # Warm up: the first trades are decided while everything is up.
            first = until(release(1))
            ok, _ = all_decided(first, 180)
            assert ok and first

            # 1. PostgreSQL stops for 30 s just as copy runs are launched: they start into the outage.
            ts = release(2)
            landed = until(ts) - first

            def launched():
                rows = ledger._rows("select t.trade_key from source_trades t join signals s"
                                    " on s.signal_key = t.signal_key where s.attempts > 0")
                return landed <= {r["trade_key"] for r in rows}

            assert wait_until(launched, timeout_s=30, interval_s=0.05)
            pg.stop()
            time.sleep(OUTAGE_S / 2)
            ts = release(3)  # more trades land while the ledger is down
            time.sleep(OUTAGE_S / 2)
            pg.start()
            outage = until(ts)
            ok, took = all_decided(outage, RECOVERY_LIMIT_S)
            assert ok, f"{len(outage - set(h.decisions_by_trade()))} trades undecided {RECOVERY_LIMIT_S} s after recovery"
            print(f"database outage: every trade decided {took:.1f} s after recovery")

            # 2. The worker of the run that copies the next trades is killed mid-run.
            before = set(h.run_worker_pids())
            ts = release(4)
            assert wait_until(lambda: bool(set(h.run_worker_pids()) - before), timeout_s=30, interval_s=0.02)
            killed_at = time.monotonic()
            for pid in set(h.run_worker_pids()) - before:
                os.kill(pid, signal.SIGKILL)
            worker = until(ts)
            ok, took = all_decided(worker, RECOVERY_LIMIT_S)
            assert ok, f"{len(worker - set(h.decisions_by_trade()))} trades undecided after the worker was killed"
            print(f"run worker killed: every trade decided {time.monotonic() - killed_at:.1f} s after")

            # 3. The copy code server is killed as trades land, and its supervisor restarts it 15 s later.
            ts = release(5)
            h.restart_code_server("polycopy_execution", down_s=15)
            ts = release(6)
            server_back = until(ts)
            ok, took = all_decided(server_back, RECOVERY_LIMIT_S)
            assert ok, f"{len(server_back - set(h.decisions_by_trade()))} trades undecided after the code server died"
            print(f"code server killed: every trade decided {took:.1f} s after it was back")
        finally:
            h.stop()

        decisions = ledger.decisions()
        by_trade = h.decisions_by_trade(ledger)
        assert set(by_trade) >= server_back
        assert max(Counter(d["signal_key"] for d in decisions).values()) == 1
        per_signal = Counter(o["decision_key"] for o in ledger.orders())
        assert max(per_signal.values()) == 1
        copies = {d["signal_key"] for d in decisions if d["decision"] == "copy"}
        assert set(per_signal) <= copies and ledger.summary()["pending"] == 0
        # The failures were recorded against their signals, and relaunched ones were decided once.
        attempts = ledger._rows("select outcome, error from signal_attempts")
        outcomes = Counter(r["outcome"] for r in attempts)
        print("launch outcomes:", dict(outcomes))
        for error in sorted({r["error"] for r in attempts if r["error"]}):
            print("  recorded error:", error[:300])
        errors = " | ".join(sorted({r["error"] for r in attempts if r["error"]}))
        assert outcomes["failure"] + outcomes["success"] >= 1, outcomes
        # Each cause, recorded against the signals of the runs it failed (a run that Dagster's
        # retry recovered keeps its parent's failure): the ledger unreachable during the
        # outage, the worker killed by a signal.
        assert "not reachable" in errors or "OperationalError" in errors, errors[:3000]
        # The killed worker's cause is whichever part noticed first: run monitoring (the worker
        # "terminated unexpectedly", exit code -9) or the launcher finding no code server reply.
        assert re.search(r"SIGKILL|signal 9|exit code -9|terminated unexpectedly|Could not reach user code server",
                         errors), errors[:3000]
