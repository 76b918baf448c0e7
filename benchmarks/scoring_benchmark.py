"""Benchmark: score every wallet of a 1M-trade / 20k-wallet world (bootstrap included).

The world is loaded into a scratch DuckDB warehouse and the dbt marts are built (not
timed); then `score_wallets` — panel, bootstrap, James-Stein, WQS, win-rate posterior,
red flags, tiers — is timed on the marts, with the process's peak memory.

    python benchmarks/scoring_benchmark.py [--trades 1000000] [--wallets 20000]
"""

import argparse
import json
import resource
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from polycopy.dbt_project import run_dbt  # noqa: E402
from polycopy.scoring.settings import ScoringSettings  # noqa: E402
from polycopy.scoring.wallet_scores import read_scoring_inputs, score_wallets  # noqa: E402
from polycopy.sim.loader import load_history  # noqa: E402
from polycopy.sim.world import SimConfig, generate_world  # noqa: E402
from polycopy.warehouse import WarehouseSettings, open_warehouse  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trades", type=int, default=1_000_000)
    ap.add_argument("--wallets", type=int, default=20_000)
    ap.add_argument("--markets", type=int, default=5_000)
    args = ap.parse_args()
    world = generate_world(SimConfig(seed=7, n_markets=args.markets, n_wallets=args.wallets, n_trades=args.trades,
                                     history_days=90, live_days=0.0,
                                     history_end=datetime(2026, 11, 20, tzinfo=timezone.utc)))
    with tempfile.TemporaryDirectory() as tmp:
        db = f"{tmp}/wh.duckdb"
        warehouse = open_warehouse(WarehouseSettings(backend="duckdb", duckdb_path=db))
        load_history(world, warehouse)
        run_dbt(["build", "--exclude", "resource_type:test"], {"POLYCOPY_WAREHOUSE": "duckdb", "POLYCOPY_DUCKDB_PATH": db}, f"{tmp}/target")
        metrics, daily, active, base = read_scoring_inputs(warehouse)
    settings = ScoringSettings()
    t = time.perf_counter()
    scores = score_wallets(metrics, daily, active, base, settings)
    elapsed = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"scored {len(scores)} wallets ({len(world.trades)} trades, {settings.bootstrap_samples} bootstrap "
          f"replicates each) in {elapsed:.1f} s; process peak RSS {peak_mb:.0f} MB")
    print(json.dumps({"wallets": len(scores), "trades": len(world.trades), "score_s": round(elapsed, 1),
                      "bootstrap_samples": settings.bootstrap_samples, "peak_rss_mb": round(peak_mb)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
