"""The backtest's results table on the scoring evaluation's held-out seeds.

Each seed's world (with the crowd the evaluation pairs with it) is walked forward with the
whole standard grid: the strategy, the strategy with the documents' WQS preset, copying
the same watchlist without a risk layer, and naively copying the leaderboard's top 20.
Prints, per seed and on average, each strategy's Sharpe, maximum drawdown, Deflated
Sharpe Ratio, Kupiec p-values (on the day's actual P&L and on the closing holdings' static
P&L), trade count, days halted and what the exit rules gave up, the strategy's selection
share, and the targets met or missed; ``--csv`` keeps the rows.

    .venv/bin/python benchmarks/backtest_heldout.py [--seeds 11,12,13,14,15] [--csv out.csv]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from polycopy.backtest.scenario import BENCHMARK, WorldSpec, run_backtest, standard_strategies  # noqa: E402
from polycopy.backtest.walk_forward import BacktestSettings  # noqa: E402
from polycopy.evaluation.scoring_harness import HELDOUT_SEEDS  # noqa: E402

COLUMNS = ["total_return", "sharpe", "max_drawdown", "dsr", "kupiec_p", "kupiec_p_static", "trades", "halted_days",
           "exit_given_up_usd"]


def run_seed(seed: int, settings: BacktestSettings) -> list[dict]:
    spec = WorldSpec.for_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        out = run_backtest(spec.build(), standard_strategies(), tmp, settings, render=False)
    rows = []
    for r in out.results:
        rows.append({"seed": seed, "mix": spec.mix, "strategy": r.name, **{k: r.metrics.get(k) for k in COLUMNS},
                     "selection_share": r.metrics.get("selection_share"), "seconds": out.seconds[f"{r.name}_s"]})
    print(f"seed {seed} exits by rule:\n{out.exits_summary()}", flush=True)
    return rows


def targets(df: pd.DataFrame) -> dict[str, str]:
    """The issue's targets on the mean of the seeds."""
    mean = df.groupby("strategy")[COLUMNS].mean()
    s, naive = mean.loc["strategy"], mean.loc[BENCHMARK]
    return {"Sharpe ≥ 2 × naive copy": f"{s.sharpe:.2f} vs {naive.sharpe:.2f}",
            "MDD ≤ 15 %": f"{s.max_drawdown:.1%}", "DSR ≥ 0.95": f"{s.dsr:.2f}",
            "Kupiec p > 0.05": f"{s.kupiec_p:.2f} (static {s.kupiec_p_static:.2f})",
            "≥ 200 trades": f"{s.trades:.0f}"}


def markdown(df: pd.DataFrame) -> str:
    shown = df.copy()
    mean = shown.groupby("strategy", sort=False)[[*COLUMNS, "selection_share"]].mean().reset_index()
    mean["seed"], mean["mix"] = "mean", ""
    shown = pd.concat([shown, mean], ignore_index=True)
    lines = ["| seed | crowd | strategy | return | Sharpe | MDD | DSR | Kupiec p (actual / static) | trades | "
             "halted d | exits gave up | selection share |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in shown.itertuples():
        share = "" if r.strategy != "strategy" or pd.isna(r.selection_share) else f"{r.selection_share:.0%}"
        lines.append(f"| {r.seed} | {r.mix} | {r.strategy} | {r.total_return:+.1%} | {r.sharpe:.2f} | "
                     f"{r.max_drawdown:.1%} | {r.dsr:.2f} | {r.kupiec_p:.2f} / {r.kupiec_p_static:.2f} | "
                     f"{r.trades:.0f} | {r.halted_days:.0f} | ${r.exit_given_up_usd:,.0f} | {share} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default=",".join(map(str, HELDOUT_SEEDS)))
    ap.add_argument("--warmup-days", type=int, default=42)
    ap.add_argument("--csv", default="")
    args = ap.parse_args()
    settings = BacktestSettings(warmup_days=args.warmup_days)
    rows = []
    for seed in (int(x) for x in args.seeds.split(",") if x):
        t0 = time.perf_counter()
        rows += run_seed(seed, settings)
        print(f"seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    df = pd.DataFrame(rows)
    if args.csv:
        df.to_csv(args.csv, index=False)
    print(markdown(df))
    for target, value in targets(df).items():
        print(f"{target}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
