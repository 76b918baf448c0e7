"""Live trading through the real dagster-daemon, the follow sensor and the official SDK against
the simulated venue's CLOB V2: followed BUYs copied as FOK orders (one refused by the venue
for want of pUSD, in its words), the run worker killed with an order in flight (before the venue took it, and after it did but before the answer came
back), a stop-loss exit as a FAK SELL, a resolved market redeemed — and then no order was
sent twice (counted at the venue), the ledger matches the venue (cash included), and
neither the private key nor the API secret or passphrase is anywhere: not in the Dagster
instance's storage (runs, event logs, compute logs), the ledger, or the daemon's and code
servers' output."""

import os
import signal
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from eth_account import Account

from polycopy.execution.live import LiveVenue
from polycopy.execution.live_credentials import PRIVATE_KEY_VAR, LiveCredentials
from polycopy.execution.position_exits import open_positions
from polycopy.execution.venue_reconciliation import reconcile_with_venue
from polycopy.polymarket.clients import Endpoints, PolymarketClients
from polycopy.polymarket.clob_orders import is_v2_position_id
from polycopy.polymarket.sdk import single_host_environment
from polycopy.sim import truth
from polycopy.sim.server import running_venue
from polycopy.sim.world import SimConfig, generate_world
from tests.daemon_harness import WIDE_OPEN_RULES, DaemonHarness
from tests.pg_cluster import wait_until

KEY = "0x" + "5e" * 32  # planted: the secret scan looks for it everywhere
ADDRESS = Account.from_key(KEY).address


def _stats(url) -> dict:
    return httpx.get(f"{url}/_sim/stats").json()


def _occurrences(root: Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {n[:6]!r}…" for n in needles if n in data]
    return found


@pytest.mark.daemon
def test_live_copies_survive_killed_workers_exit_and_redeem_with_nothing_sent_twice_and_no_secret_kept(tmp_path):
    anchor = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    world = generate_world(SimConfig(seed=61, n_markets=80, n_wallets=120, n_trades=6_000, history_days=3,
                                     live_days=1.0, history_end=anchor))
    start = world.config.history_end_ts
    emitted = truth.emitted_trades(world, until_ts=world.config.horizon_ts)
    live = emitted[(emitted["timestamp"] > start) & (emitted["timestamp"] <= start + 12 * 3600)]
    buys = live[live["side"] == "BUY"]
    counts = buys["proxy_wallet"].value_counts()
    follow = list(counts[counts >= 3].index[:3])
    followed_buys = sorted(set(buys[buys["proxy_wallet"].isin(follow)]["timestamp"]))
    assert len(followed_buys) >= 6
    env = {**WIDE_OPEN_RULES, "POLYCOPY_MODE": "live", "POLYCOPY_LIVE_PRIVATE_KEY": KEY,
           "POLYCOPY_RECONCILE_AFTER_S": "8", "POLYCOPY_EXIT_CHECK_INTERVAL_S": "5",
           "POLYCOPY_MAX_TRADE_USD": "200"}
    with running_venue(world=world) as server:
        url = server.url
        funded = httpx.post(f"{url}/_sim/account", json={"signer": ADDRESS, "collateral_usd": 20_000.0,
                                                         "approved": True})
        funded.raise_for_status()
        api = funded.json()  # the API secret and passphrase the SDK derives from the key
        h = DaemonHarness(tmp_path, url, follow, env)
        h.publish_elite_profiles(follow)
        ledger = h.ledger()
        clients = PolymarketClients.connect(Endpoints.single_host(url))
        venue = LiveVenue.connect(ledger, clients.clob, LiveCredentials.from_env({PRIVATE_KEY_VAR: KEY}),
                                  single_host_environment(url), 0.05)
        assert reconcile_with_venue(ledger, venue).matches  # the cash baseline: $20,000, nothing traded
        sent = []  # the venue ids of the orders the crashes left in flight
        upto = list(followed_buys)  # the followed BUYs not released yet

        def live_orders():
            return [o for o in ledger.orders() if o["venue"] == "live"]

        def release_next(done) -> bool:
            """Move the venue's clock past the next followed BUY and wait until its signal is
            decided and, when copied, ordered; True once ``done()`` holds."""
            decided = len(ledger.decisions())
            httpx.post(f"{url}/_sim/clock", json={"set": upto.pop(0) + 1})
            wait_until(lambda: done() or len(ledger.decisions()) > decided, timeout_s=60, interval_s=0.2)
            return done() or wait_until(done, timeout_s=3, interval_s=0.2)  # a copy's order follows at once

        def crash_with_an_order_in_flight(hold: str, hold_s: float) -> None:
            """Hold the next order at the venue, release followed trades until one is copied,
            then kill the run worker while its order is in flight."""
            httpx.post(f"{url}/_sim/faults", json={"order_hold_s": hold_s, "order_hold": hold,
                                                   "order_hold_count": 1}).raise_for_status()
            before = len(live_orders())
            while upto:
                if release_next(lambda: _stats(url).get("orders_held", 0) > len(sent)):
                    break
            else:
                pytest.fail("no followed BUY was copied")
            pending = [o for o in live_orders()[before:] if o["status"] == "pending" and o["venue_order_id"]]
            assert pending, "the order in flight was saved pending with its venue id first"
            for pid in h.run_worker_pids():
                os.kill(pid, signal.SIGKILL)
            sent.append(pending[0]["venue_order_id"])

        try:
            h.start_code_servers()
            h.start_sensor({w: start for w in follow})
            h.cli("sensor", "start", "open_positions_sensor", "--location", "polycopy_execution")
            h.start_daemon()
            # The venue took it; its answer never arrived.
            crash_with_an_order_in_flight("after", 8.0)
            # Killed while the order was on its way: the venue takes it a moment later.
            crash_with_an_order_in_flight("before", 2.0)
            # Both are settled from the venue's record by reconciliation, not sent again.
            assert wait_until(lambda: all(o["status"] != "pending" for o in live_orders()), timeout_s=180,
                              interval_s=1), [o for o in live_orders() if o["status"] == "pending"]
            by_vid = {o["venue_order_id"]: o for o in live_orders()}
            trades = {t.taker_order_id for t in venue.account_trades()}
            for vid in sent:  # found at the venue, and recorded as the venue has it
                assert by_vid[vid]["status"] == ("filled" if vid in trades else "rejected"), by_vid[vid]
            # pUSD withdrawn by hand: the ledger no longer matches the venue until a person
            # accepts the new balance; then the next copy is refused by the venue, in its words.
            httpx.post(f"{url}/_sim/account", json={"signer": ADDRESS, "collateral_usd": -(venue.collateral_usd() - 3.0),
                                                    "approved": True}).raise_for_status()
            moved = reconcile_with_venue(ledger, venue, in_flight_s=8)
            assert [d.kind for d in moved.differences] == ["cash"], moved.differences
            assert reconcile_with_venue(ledger, venue, accept_cash="withdrawn for the test").matches
            rejected_before = len([o for o in live_orders() if o["status"] == "rejected"])
            while upto and not release_next(
                    lambda: len([o for o in live_orders() if o["status"] == "rejected"]) > rejected_before):
                pass
            refused = [o for o in live_orders() if o["status"] == "rejected"][rejected_before:]
            assert refused and "not enough balance / allowance" in refused[0]["reason"], refused
            httpx.post(f"{url}/_sim/account", json={"signer": ADDRESS, "collateral_usd": 5_000.0,
                                                    "approved": True}).raise_for_status()
            assert reconcile_with_venue(ledger, venue, accept_cash="deposited for the test").matches
            # More followed BUYs until two positions are open.
            while len(open_positions(ledger)) < 2 and upto:
                release_next(lambda: len(open_positions(ledger)) >= 2)
            held = open_positions(ledger)
            assert len(held) >= 2
            # One falls through its stop: the exit is a live FAK SELL.
            now = int(httpx.get(f"{url}/_sim/clock").json()["now"])
            stop = held[0]
            httpx.post(f"{url}/_sim/market", json={"condition_id": stop.condition_id,
                                                   "path": [[now - 1, round(stop.avg_cost * 0.6, 2)]]})
            # Another one's market resolves: it is redeemed at the venue.
            won = held[1]
            httpx.post(f"{url}/_sim/market", json={"condition_id": won.condition_id, "end": now - 30,
                                                   "resolve": {"at": now - 30, "winner": 0}}).raise_for_status()
            closed = wait_until(lambda: {p.position_id for p in open_positions(ledger)}.isdisjoint(
                {stop.position_id, won.position_id}), timeout_s=180, interval_s=1)
            assert closed, [(p.position_id, p.shares) for p in open_positions(ledger)]
            stats = _stats(url)
            # The ledger matches the venue's own records: positions, fills, trades, cash.
            report = reconcile_with_venue(ledger, venue, in_flight_s=8)
            assert report.matches and report.expected_collateral_usd is not None, report.differences
        finally:
            h.stop()
            venue.close()
            clients.close()
    sells = [o for o in live_orders() if o["side"] == "SELL" and o["venue"] == "live"]
    assert sells and {o["order_type"] for o in sells} == {"FAK"}
    assert {o["order_type"] for o in live_orders() if o["side"] == "BUY"} == {"FOK"}
    # Most open markets of a world of today are Protocol-V2: their orders were signed for ExchangeV3.
    assert any(is_v2_position_id(o["token_id"]) for o in live_orders() if o["status"] == "filled")
    assert stats.get("clob_redemptions", 0) >= 1
    # Nothing sent twice: every order the venue received is one the ledger made, once.
    assert stats["clob_orders_received"] == len([o for o in live_orders() if o["venue_order_id"]])
    # The private key, planted, is nowhere the deployment keeps or prints anything.
    needles = [KEY.encode(), KEY.removeprefix("0x").encode(), api["secret"].encode(), api["passphrase"].encode()]
    assert _occurrences(tmp_path, needles) == []
