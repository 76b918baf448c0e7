"""Exits and settlement through the real dagster-daemon, crashed mid-exit: the
open_positions_sensor launches exit_position and settle_positions runs; the run workers
are killed as they start and the daemon with them (SIGKILL), then the daemon comes back.
Every position still closes — sold by its stop or settled at resolution — with no share sold
twice and no settlement credited twice."""

import json
import os
import signal
import time
from collections import defaultdict
from datetime import datetime, timezone

import httpx
import pytest

from polycopy.execution.position_exits import open_positions, positions
from polycopy.polymarket.clients import Endpoints, PolymarketClients
from polycopy.sim.server import running_venue
from polycopy.sim.world import SimConfig, generate_world
from tests.daemon_harness import DaemonHarness
from tests.pg_cluster import wait_until
from tests.position_helpers import open_paper_position, tradable_markets

SHARES = 150.0
WHALE = "0x" + b"whale".hex().ljust(40, "0")
CLOSE_LIMIT_S = 240


@pytest.mark.daemon
def test_exits_and_settlement_survive_killed_workers_and_a_killed_daemon(tmp_path):
    anchor = datetime.fromtimestamp(int(time.time()), tz=timezone.utc)
    world = generate_world(SimConfig(seed=43, n_markets=3_000, n_wallets=30, n_trades=1_000, history_days=30,
                                     live_days=2.0, history_end=anchor))
    with running_venue(world=world, speed=1.0) as server:
        clients = PolymarketClients.connect(Endpoints.single_host(server.url))
        now = int(httpx.get(f"{server.url}/_sim/clock").json()["now"])
        markets = tradable_markets(world, clients, now, SHARES)[:6]
        assert len(markets) == 6
        h = DaemonHarness(tmp_path, server.url, [], {"POLYCOPY_EXIT_CHECK_INTERVAL_S": "5",
                                                     "POLYCOPY_RECONCILE_AFTER_S": "10"})
        ledger = h.ledger()
        ids = [open_paper_position(ledger, clients, m, WHALE, SHARES) for m in markets]
        cost = {p.position_id: p.avg_cost for p in positions(ledger)}
        try:
            h.start_code_servers()
            h.cli("sensor", "start", "open_positions_sensor", "--location", "polycopy_execution")
            # Five positions fall through their stop; the sixth's market resolves (won).
            t = int(httpx.get(f"{server.url}/_sim/clock").json()["now"])
            for m, pid in zip(markets[:5], ids[:5]):
                httpx.post(f"{server.url}/_sim/market", json={
                    "condition_id": m.condition_id, "path": [[t - 1, round(cost[pid] * 0.7, 4)]]}).raise_for_status()
            httpx.post(f"{server.url}/_sim/market", json={
                "condition_id": markets[5].condition_id, "end": t - 30,
                "resolve": {"at": t - 30, "winner": 0}}).raise_for_status()
            h.start_daemon()
            # Mid-exit: as soon as run workers start, kill them and the daemon, twice.
            for _ in range(2):
                assert wait_until(lambda: bool(h.run_worker_pids()), timeout_s=90, interval_s=0.02)
                for pid in h.run_worker_pids():
                    os.kill(pid, signal.SIGKILL)
                h.kill_daemon()
                time.sleep(2)
                h.start_daemon()
            began = time.monotonic()
            closed = wait_until(lambda: not open_positions(ledger), timeout_s=CLOSE_LIMIT_S, interval_s=1)
            print(f"every position closed {time.monotonic() - began:.1f} s after the last crash")
        finally:
            h.stop()
            clients.close()
        assert closed, [(p.position_id, p.shares) for p in open_positions(ledger)]

    orders = ledger.orders()
    by_position = {p.position_id: p for p in positions(ledger)}
    # No share sold twice: each position sold what it bought (all but the unsellable rest
    # under a hundredth of a share), never more at any point.
    for pid in ids:
        p = by_position[pid]
        assert 0 <= p.bought_shares - p.sold_shares < 0.01 and p.shares == 0
    held = defaultdict(float)
    for f in ledger.fills():
        held[f["token_id"]] += f["shares"] if f["side"] == "BUY" else -f["shares"]
        assert held[f["token_id"]] >= -1e-9
    # At most one order per decision (an exit pass, a settlement); one settlement, at 1.
    per_key = defaultdict(int)
    for o in orders:
        per_key[o["decision_key"]] += 1
    assert max(per_key.values()) == 1
    settled = [o for o in orders if o["venue"] == "settlement"]
    assert [(o["decision_key"], o["limit_price"]) for o in settled] == [(f"settle-{ids[5]}", 1.0)]
    assert by_position[ids[5]].realized_pnl_usd == pytest.approx(SHARES - by_position[ids[5]].bought_usd)
    # The stops: every sell decided by stop_loss, each with its trigger values.
    for pid in ids[:5]:
        sells = [e for e in ledger.exit_decisions(pid) if e["decision"] == "sell"]
        assert sells and {e["rule"] for e in sells} == {"stop_loss"}
        assert json.loads(sells[0]["details"])["mark"] <= cost[pid] * 0.85
    assert ledger.summary()["pending"] == 0
