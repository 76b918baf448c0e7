"""Thirty simulated days of copying with the position lifecycle, audited.

Two runs on one world (``tests/whole_run.py``): the documents' exit rules looked at every
simulated hour, and positions held to resolution unless the source wallet sells. Prints
the positions opened and how they closed (by rule, by settlement), the realized P&L, and
the audit: each position's realized P&L, every NAV snapshot's cash and NAV recomputed from
the venue's own executions and the ground truth's payouts.

    .venv/bin/python benchmarks/position_lifecycle_benchmark.py [--days 30] [--followed 10]
"""

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from polycopy.trading.settings import ExitSettings  # noqa: E402
from tests.whole_run import HOUR, RUN_RULES, run_copying  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=float, default=30.0)
    ap.add_argument("--followed", type=int, default=10)
    ap.add_argument("--trades", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    configs = {
        "exit rules (documents' defaults), hourly": (RUN_RULES, HOUR),
        "held to resolution (mirror only), every 2 h": (dataclasses.replace(RUN_RULES, exits=ExitSettings(
            stop_loss=False, take_profit=False, trailing_stop=False, time_exit=False)), 2 * HOUR),
    }
    for name, (rules, step) in configs.items():
        with tempfile.TemporaryDirectory() as tmp:
            r = run_copying(f"{tmp}/ledger.sqlite", seed=args.seed, days=args.days, step_s=step,
                            n_followed=args.followed, n_trades=args.trades, rules=rules)
        a = r.audit
        print(f"{name}: {args.days:g} simulated days in {r.seconds:.0f} s; {r.signals} signals, {r.copies} copies, "
              f"{a['positions']} positions ({a['closed']} closed, {a['open']} open in unresolved markets, "
              f"{len(a['open_in_resolved_markets'])} open in resolved ones)")
        print(f"  exits by rule: {', '.join(f'{k} {v}' for k, v in r.exits_by_rule.most_common())}")
        print(f"  realized P&L ${a['realized_pnl_usd']:,.2f}; lowest cash ${a['min_cash_usd']:,.2f}; "
              f"negative holdings {len(a['negative_holdings'])}")
        print(f"  audit: realized P&L per position off by at most ${a['max_realized_pnl_diff_usd']:.2e}; "
              f"{r.snapshots} NAV snapshots, cash off by at most ${a['max_snapshot_cash_diff_usd']:.2e}, "
              f"NAV − (cash + marked positions) at most ${a['max_nav_identity_diff_usd']:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
