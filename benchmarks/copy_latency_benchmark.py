"""Benchmark: trade landed → paper order recorded, through the real dagster-daemon.

The venue clock is frozen; each followed trade is released on its own (the clock
jumps to its timestamp) and the wall time until the ledger records the outcome is
measured: to the decision, and for copied trades to the settled paper order.
Prints median and p95 over at least 20 trades.

    python benchmarks/copy_latency_benchmark.py [--trades 25]
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from polycopy.sim import truth  # noqa: E402
from polycopy.sim.server import running_venue  # noqa: E402
from polycopy.sim.world import SimConfig, generate_world  # noqa: E402
from tests.daemon_harness import WIDE_OPEN_RULES, DaemonHarness  # noqa: E402


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trades", type=int, default=25)
    args = ap.parse_args()
    anchor = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    world = generate_world(SimConfig(seed=5, n_markets=80, n_wallets=150, n_trades=8_000, history_days=3,
                                     live_days=2.0, history_end=anchor))
    start = world.config.history_end_ts
    emitted = truth.emitted_trades(world, until_ts=world.config.horizon_ts)
    live = emitted[emitted["timestamp"] > start + 60].sort_values("timestamp")
    follow = list(live["proxy_wallet"].value_counts().index[:6])
    queue = live[live["proxy_wallet"].isin(follow)]
    queue = queue.drop_duplicates("timestamp").head(args.trades)

    with running_venue(world=world) as server, tempfile.TemporaryDirectory() as tmp:
        # Gates wide open so that every trade is sized, risk-checked and ordered: the latency
        # of the whole chain, not of an early rejection.
        h = DaemonHarness(Path(tmp), server.url, follow, {**WIDE_OPEN_RULES, "POLYCOPY_MAX_TRADE_AGE_S": str(3 * 86400)})
        h.publish_elite_profiles(follow)
        try:
            h.start_sensor({w: start for w in follow})
            h.start_daemon()
            ledger = h.ledger()
            time.sleep(15)  # daemon start-up and the first sensor ticks
            decision_lat, order_lat, skipped = [], [], {}
            for row in queue.itertuples():
                # Trades sharing the timestamp land together; measure the first.
                released = time.time()
                httpx.post(f"{server.url}/_sim/clock", json={"set": int(row.timestamp)})
                got = h.wait_for_decisions({row.trade_key}, timeout_s=60)
                if row.trade_key not in got:
                    print(f"trade {row.trade_key} not decided within 60 s", file=sys.stderr)
                    return 1
                decision_lat.append(got[row.trade_key]["decided_at"] - released)
                if got[row.trade_key]["decision"] == "skip":
                    d = got[row.trade_key]
                    why = d["reason"] if d["stage"] == "exit" else d["stage"]  # exit reasons carry no figures
                    skipped[why] = skipped.get(why, 0) + 1
                if got[row.trade_key]["decision"] == "copy":
                    # The order is sent by copy_orders, the step after the decision.
                    deadline = time.monotonic() + 30
                    order = ledger.order_for(row.trade_key)
                    while (order is None or order["status"] == "pending") and time.monotonic() < deadline:
                        time.sleep(0.05)
                        order = ledger.order_for(row.trade_key)
                    if order is None:
                        print(f"copy of {row.trade_key} not ordered within 30 s", file=sys.stderr)
                        return 1
                    order_lat.append(order["updated_at"] - released)
                # Let this run finish before the next trade lands: unloaded latency.
                time.sleep(1.0)
        finally:
            h.stop()

    result = {
        "trades": len(decision_lat),
        "decision_latency_s": {"median": round(statistics.median(decision_lat), 3),
                               "p95": round(pct(decision_lat, 0.95), 3), "max": round(max(decision_lat), 3)},
        "orders": len(order_lat),
        "skipped": skipped,
        "order_recorded_latency_s": ({"median": round(statistics.median(order_lat), 3),
                                      "p95": round(pct(order_lat, 0.95), 3)} if order_lat else None),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
