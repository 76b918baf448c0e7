"""Benchmark: simulated-history generation and ingestion throughput at 1M trades.

Generates a 1M-trade / 20k-wallet / 5k-market world, serves it from a separate
venue process on localhost, and ingests the whole history through the real
Dagster assets (raw_markets, then raw_trades + market_resolutions over every day
as one run) into DuckDB — once through the keyset routes the official SDK reads
(/v2/trades, /markets/keyset, 1000 records a page) and once through the v1 offset
routes (/trades, /markets, 10000 a page), in the same run. Prints, for each, ingest
throughput (trades/s), requests made, and what the published rate limits would bound
the same ingest to.

    python benchmarks/ingest_benchmark.py [--trades 1000000 --wallets 20000 --markets 5000]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from polycopy.sim.world import SimConfig, generate_world  # noqa: E402

ANCHOR = "2026-11-20T00:00:00+00:00"


def wait_up(url: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/_sim/clock", timeout=1).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("venue did not start")


def generate(cfg: SimConfig) -> tuple[float, int, int, int]:
    """(seconds, trades generated, trades in the history, first market opening)."""
    t = time.perf_counter()
    world = generate_world(cfg)
    gen_s = time.perf_counter() - t
    emitted = int((world.trades["ts"] <= cfg.history_end_ts).sum())
    return gen_s, len(world.trades), emitted, int(world.markets["open_ts"].min())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trades", type=int, default=1_000_000)
    ap.add_argument("--wallets", type=int, default=20_000)
    ap.add_argument("--markets", type=int, default=5_000)
    ap.add_argument("--history-days", type=int, default=60)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--port", type=int, default=8799)
    args = ap.parse_args()

    cfg = SimConfig(seed=args.seed, n_markets=args.markets, n_wallets=args.wallets, n_trades=args.trades,
                    history_days=args.history_days, history_end=datetime.fromisoformat(ANCHOR), live_days=0.0)
    # Generate in a child process: this process's peak memory is then the ingestion's own.
    with ProcessPoolExecutor(1) as pool:
        gen_s, n_trades, emitted, first_open_ts = pool.submit(generate, cfg).result()
    print(f"generation: {n_trades:,} trades, {args.wallets:,} wallets, {args.markets:,} markets in {gen_s:.2f} s")

    venue = subprocess.Popen(
        [sys.executable, "-m", "polycopy.sim", "serve", "--port", str(args.port), "--speed", "0",
         "--seed", str(args.seed), "--markets", str(args.markets), "--wallets", str(args.wallets),
         "--trades", str(args.trades), "--history-days", str(args.history_days), "--history-end", ANCHOR,
         "--live-days", "0"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{args.port}"
    results = {}
    try:
        wait_up(url)
        for routes, page_size in (("v2", 1_000), ("v1", 10_000)):
            results[routes] = ingest(url, routes, page_size, first_open_ts, cfg)
    finally:
        venue.terminate()
        venue.wait(timeout=30)

    out = {"generation_s": round(gen_s, 2), "trades_emitted": emitted}
    for routes, r in results.items():
        published_bound = r["requests"] / 20.0  # /trades and /v2/trades: 200 requests per 10 s
        out[routes] = {
            "trades_ingested": r["ingested"],
            "exact": r["ingested"] == emitted,
            "markets_ingest_s": round(r["markets_s"], 2),
            "trades_ingest_s": round(r["trades_s"], 2),
            "ingest_trades_per_s": round(r["ingested"] / r["trades_s"]),
            "trade_requests": r["requests"],
            "published_limit_floor_s": round(published_bound, 1),
        }
    out["ingest_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out, indent=2))
    for routes, r in out.items():
        if isinstance(r, dict):
            print(f"{routes} routes: {r['trades_ingested']:,} trades in {r['trades_ingest_s']:.1f} s = "
                  f"{r['ingest_trades_per_s']:,} trades/s ({r['trade_requests']:,} trade requests; at the published "
                  f"200 per 10 s they alone take >= {r['published_limit_floor_s']:.0f} s)")
    return 0 if all(r["exact"] for r in out.values() if isinstance(r, dict)) else 1


def ingest(url: str, routes: str, page_size: int, first_open_ts: int, cfg: SimConfig) -> dict:
    """Ingest the whole history through the Dagster assets on one family of routes."""
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["POLYCOPY_HISTORY_START"] = "2026-08-01"
        import dagster as dg

        from polycopy_dagster.defs.ingestion import market_resolutions, raw_markets, raw_trades
        from polycopy_dagster.defs.resources import PolymarketResource, WarehouseResource

        api = PolymarketResource(data_api_url=url, gamma_url=url, clob_url=url, page_size=page_size,
                                 rate_limit_scale=1000.0, routes=routes)
        wh = WarehouseResource(backend="duckdb", duckdb_path=f"{tmp}/warehouse.duckdb")
        resources = {"polymarket": api, "warehouse": wh}
        instance = dg.DagsterInstance.ephemeral()
        quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        first = datetime.fromtimestamp(first_open_ts, tz=timezone.utc).date().isoformat()
        last = datetime.fromtimestamp(cfg.history_end_ts, tz=timezone.utc).date().isoformat()
        t = time.perf_counter()
        dg.materialize([raw_markets], instance=instance, resources=resources, run_config=quiet)
        markets_s = time.perf_counter() - t
        t = time.perf_counter()
        res = dg.materialize([raw_trades, market_resolutions], instance=instance, resources=resources,
                             run_config=quiet,
                             tags={"dagster/asset_partition_range_start": first,
                                   "dagster/asset_partition_range_end": last})
        trades_s = time.perf_counter() - t
        meta = res.asset_materializations_for_node("raw_trades")[0].metadata
        return {"ingested": int(wh.open().scalar("select count(*) from raw.trades")), "markets_s": markets_s,
                "trades_s": trades_s, "requests": meta["http_requests"].value}


if __name__ == "__main__":
    sys.exit(main())
