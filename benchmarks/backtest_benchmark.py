"""Benchmark: a walk-forward backtest of one simulated world, timed stage by stage.

A world of ``--trades`` fills over ``--history-days`` (warm-up included) is scored every
``--step-days`` from the end of the warm-up, and each strategy is replayed through the
production copy chain. Prints the stages' seconds (the weekly scoring with its dbt builds,
each strategy's replay, the analysis), the process's peak memory and the summary table.

    .venv/bin/python benchmarks/backtest_benchmark.py [--trades 160000] [--history-days 100]
        [--strategies strategy,naive_top20]
"""

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from polycopy.backtest.scenario import WorldSpec, run_backtest, standard_strategies  # noqa: E402
from polycopy.backtest.walk_forward import BacktestSettings  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--trades", type=int, default=160_000)
    ap.add_argument("--wallets", type=int, default=2_000)
    ap.add_argument("--markets", type=int, default=800)
    ap.add_argument("--history-days", type=int, default=100)
    ap.add_argument("--warmup-days", type=int, default=42)
    ap.add_argument("--step-days", type=int, default=7)
    ap.add_argument("--strategies", default="", help="comma-separated (default: the whole grid)")
    args = ap.parse_args()
    spec = WorldSpec(args.seed, "default", args.wallets, args.markets, args.trades, args.history_days)
    t0 = time.perf_counter()
    world = spec.build()
    built = time.perf_counter() - t0
    strategies = standard_strategies(include=tuple(x for x in args.strategies.split(",") if x) or None)
    with tempfile.TemporaryDirectory() as tmp:
        out = run_backtest(world, strategies, tmp, BacktestSettings(args.warmup_days, args.step_days),
                           progress=lambda m: print(f"  {time.perf_counter() - t0:6.1f} s  {m}", flush=True))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n{spec.describe()}; {args.warmup_days} warm-up days, steps of {args.step_days} days")
    print(f"world generated in {built:.1f} s; " + ", ".join(f"{k} {v:.1f} s" for k, v in out.seconds.items()))
    print(f"peak RSS {peak_mb:,.0f} MB")
    print(out.summary())
    print("\nexits by rule:")
    print(out.exits_summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
