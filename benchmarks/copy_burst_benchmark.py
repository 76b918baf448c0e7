"""Benchmark: bursts and sustained load through the real dagster-daemon.

1. Burst: 200 followed trades from 80 wallets land at once (the venue's clock jumps past
   them); reports when each was decided (first, median, last) and the drain rate.
2. Sustained: 1,000 followed trades a minute for 5 minutes (the clock advances every
   second by as much as releases the next ~17 trades); reports the backlog (trades
   landed but undecided) each 10 s and the decision latency per minute.

Also reports whether any code server restarted (their processes are the ones started at
the beginning) and how many copy runs carried the load. Gates wide open (every trade is
sized and risk-checked; copies are ordered), a PostgreSQL ledger (or --ledger sqlite).

    python benchmarks/copy_burst_benchmark.py [--ledger postgres] [--minutes 5] [--per-minute 1000]
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
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
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else None


def pg_database(admin_dsn: str) -> tuple[str, dict]:
    import psycopg2

    name = f"polycopy_bench_{uuid.uuid4().hex[:8]}"
    con = psycopg2.connect(admin_dsn)
    con.autocommit = True
    con.cursor().execute(f"create database {name}")
    con.close()
    return name, {"POLYCOPY_LEDGER": "postgres", "POLYCOPY_PG_HOST": "127.0.0.1", "POLYCOPY_PG_PORT": "5432",
                  "POLYCOPY_PG_USER": "postgres", "POLYCOPY_PG_DATABASE": name}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ledger", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("--wallets", type=int, default=80)
    ap.add_argument("--burst", type=int, default=200)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--per-minute", type=int, default=1000)
    ap.add_argument("--pg-admin", default="host=127.0.0.1 port=5432 user=postgres dbname=postgres")
    args = ap.parse_args()

    anchor = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    sustained_n = int(args.minutes * args.per_minute)
    world = generate_world(SimConfig(seed=7, n_markets=400, n_wallets=400, n_trades=400_000, history_days=1,
                                     live_days=3.0, history_end=anchor))
    start = world.config.history_end_ts
    emitted = truth.emitted_trades(world, until_ts=world.config.horizon_ts)
    live = emitted[emitted["timestamp"] > start + 60].sort_values(["timestamp", "trade_key"])
    # The burst: the shortest stretch after the start in which the --wallets wallets most
    # active in it made at least --burst trades; those wallets are followed, and the
    # clock jumps past the stretch at once.
    times = live["timestamp"].to_numpy()
    lo, hi = 1, len(live)
    while lo < hi:
        mid = (lo + hi) // 2
        head = live[live["timestamp"] <= times[mid - 1]]
        top = head["proxy_wallet"].value_counts()
        if len(top) >= args.wallets and top.iloc[:args.wallets].sum() >= args.burst:
            hi = mid
        else:
            lo = mid + 1
    burst_ts = int(times[lo - 1])
    head = live[live["timestamp"] <= burst_ts]
    follow = list(head["proxy_wallet"].value_counts().index[:args.wallets])
    followed = live[live["proxy_wallet"].isin(follow)]
    burst = followed[followed["timestamp"] <= burst_ts]  # everything up to that instant lands at once
    rest = followed[followed["timestamp"] > burst_ts + 60]
    if len(rest) < sustained_n:
        print(f"the world holds only {len(rest)} followed trades after the burst", file=sys.stderr)
        return 1
    rest = rest.head(sustained_n)

    env = {**WIDE_OPEN_RULES, "POLYCOPY_MAX_TRADE_AGE_S": str(10 * 86400), "POLYCOPY_STARTING_CAPITAL_USD": "1e8",
           "POLYCOPY_MAX_TRADE_USD": "1000", "POLYCOPY_RATE_LIMIT_SCALE": "20",
           "POLYCOPY_UNDECIDED_ALERT_S": "60"}
    pg_name = None
    if args.ledger == "postgres":
        pg_name, pg_env = pg_database(args.pg_admin)
        env.update(pg_env)
    with running_venue(world=world) as server, tempfile.TemporaryDirectory() as tmp:
        h = DaemonHarness(Path(tmp), server.url, follow, env)
        h.publish_elite_profiles(follow)
        try:
            h.start_code_servers()
            servers_at_start = [p.pid for p in h.code_servers]
            h.start_sensor({w: start for w in follow})
            h.start_daemon()
            ledger = h.ledger()
            time.sleep(20)  # daemon start-up and the first sensor ticks

            # 1. The burst.
            keys = set(burst["trade_key"])
            released = time.time()
            httpx.post(f"{server.url}/_sim/clock", json={"set": burst_ts})
            decided_at: dict[str, float] = {}
            deadline = time.monotonic() + 300
            while len(decided_at) < len(keys) and time.monotonic() < deadline:
                now = time.time()
                for k, d in h.decisions_by_trade(ledger).items():
                    if k in keys and k not in decided_at:
                        decided_at[k] = d["decided_at"]
                time.sleep(0.2)
            lat = sorted(t - released for t in decided_at.values())
            burst_result = {
                "trades": len(keys), "wallets": int(burst["proxy_wallet"].nunique()), "decided": len(lat),
                "first_s": round(lat[0], 2) if lat else None, "median_s": round(statistics.median(lat), 2) if lat else None,
                "last_s": round(lat[-1], 2) if lat else None,
                "trades_per_s": round(len(lat) / lat[-1], 1) if lat else None,
            }
            print("burst:", json.dumps(burst_result), flush=True)

            # 2. Sustained: the clock steps every second to release the next trades.
            per_s = args.per_minute / 60.0
            times = rest["timestamp"].to_numpy()
            tkeys = rest["trade_key"].to_numpy()
            released_at: dict[str, float] = {}
            samples, t0, i = [], time.time(), 0
            decided_at.clear()
            next_sample = t0 + 10
            while i < len(rest):
                target = int(per_s * (time.time() - t0 + 1))
                target = min(max(target, i + 1), len(rest))
                ts = int(times[target - 1])
                while target < len(rest) and int(times[target]) == ts:
                    target += 1  # trades of one instant land together
                httpx.post(f"{server.url}/_sim/clock", json={"set": ts})
                now = time.time()
                for k in tkeys[i:target]:
                    released_at[k] = now
                i = target
                if now >= next_sample:
                    got = h.decisions_by_trade(ledger)
                    for k, d in got.items():
                        if k in released_at and k not in decided_at:
                            decided_at[k] = d["decided_at"]
                    samples.append({"t_s": round(now - t0), "released": len(released_at),
                                    "undecided": len(released_at) - len(decided_at)})
                    print("  ", json.dumps(samples[-1]), flush=True)
                    next_sample += 10
                time.sleep(max(0.0, 1.0 - (time.time() - now)))
            deadline = time.monotonic() + 180
            while len(decided_at) < len(released_at) and time.monotonic() < deadline:
                for k, d in h.decisions_by_trade(ledger).items():
                    if k in released_at and k not in decided_at:
                        decided_at[k] = d["decided_at"]
                time.sleep(0.5)
            drained = time.time() - t0
            per_minute = {}
            for k, at in decided_at.items():
                minute = int((released_at[k] - t0) // 60)
                per_minute.setdefault(minute, []).append(at - released_at[k])
            restarted = [pid for pid, p in zip(servers_at_start, h.code_servers) if p.pid != pid or p.poll() is not None]
            import dagster as dg

            with dg.DagsterInstance.from_config(str(h.home)) as instance:
                runs = instance.get_runs(dg.RunsFilter(job_name="copy_trade"))
                statuses = {}
                for r in runs:
                    statuses[r.status.value] = statuses.get(r.status.value, 0) + 1
            daemon_log = (Path(tmp) / "daemon.log").read_text(errors="replace")
            sustained = {
                "trades": len(released_at), "decided": len(decided_at),
                "rate_per_minute": args.per_minute, "seconds_released_over": round(max(released_at.values()) - t0, 1),
                "all_decided_after_s": round(drained, 1),
                "backlog_max": max(s["undecided"] for s in samples) if samples else 0,
                "backlog_by_minute_end": [s["undecided"] for s in samples if s["t_s"] % 60 < 10 and s["t_s"] >= 60],
                "latency_by_minute_s": {m: {"median": round(statistics.median(v), 2), "p95": round(pct(v, 0.95), 2)}
                                        for m, v in sorted(per_minute.items())},
            }
            result = {"ledger": args.ledger, "burst": burst_result, "sustained": sustained,
                      "copy_runs": statuses, "code_servers_restarted": len(restarted),
                      "heartbeat_errors_in_daemon_log": daemon_log.count("heartbeat"),
                      "undecided_at_end": ledger.summary()["undecided"]}
            print(json.dumps(result, indent=2))
        finally:
            h.stop()
            if pg_name:
                import psycopg2

                con = psycopg2.connect(args.pg_admin)
                con.autocommit = True
                con.cursor().execute(f"drop database if exists {pg_name} with (force)")
                con.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
