"""Which layer of the strategy costs what: the strategy walked forward with one of its
layers switched off at a time, on tuning seeds, beside copying its watchlist with no risk
layer at all.

    .venv/bin/python benchmarks/backtest_ablation.py [--seeds 1,2] [--trades 160000]
"""

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from polycopy.backtest.scenario import WorldSpec, run_backtest  # noqa: E402
from polycopy.backtest.walk_forward import BacktestSettings, Strategy, copy_everything_rules  # noqa: E402
from polycopy.evaluation.scoring_harness import TUNING_SEEDS  # noqa: E402
from polycopy.execution.copier import TradingRules  # noqa: E402

RULES = TradingRules()
R = dataclasses.replace


def variants() -> list[Strategy]:
    exits, sizing, risk = RULES.exits, RULES.sizing, RULES.risk
    return [
        Strategy("strategy", rules=RULES),
        Strategy("no_take_profit", rules=R(RULES, exits=R(exits, take_profit=False))),
        Strategy("no_stop_or_target", rules=R(RULES, exits=R(exits, take_profit=False, stop_loss=False))),
        Strategy("fixed_100_usd", rules=R(RULES, sizing=R(sizing, fixed_trade_usd=100.0))),
        Strategy("no_breakers", rules=R(RULES, risk=R(risk, daily_loss_limit_usd=1e15, hourly_loss_limit_usd=1e15,
                                                      max_consecutive_losses=10**9, max_drawdown=1.0))),
        Strategy("copy_watchlist", rules=copy_everything_rules(100.0, RULES)),
    ]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default=",".join(map(str, TUNING_SEEDS[:2])))
    ap.add_argument("--trades", type=int, default=160_000)
    ap.add_argument("--history-days", type=int, default=100)
    ap.add_argument("--warmup-days", type=int, default=42)
    args = ap.parse_args()
    for seed in (int(x) for x in args.seeds.split(",") if x):
        spec = WorldSpec.for_seed(seed, n_trades=args.trades, history_days=args.history_days)
        with tempfile.TemporaryDirectory() as tmp:
            out = run_backtest(spec.build(), variants(), tmp, BacktestSettings(args.warmup_days), render=False)
        print(f"\n{spec.describe()}")
        print(out.summary())
        print(out.exits_summary(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
