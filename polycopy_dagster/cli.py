"""``polycopy`` command line.

    polycopy demo              # simulated venue + every asset + paper copying through the daemon, then a summary
    polycopy ui-demo           # the Dagster UI on the demo's own instance
    polycopy dev               # the Dagster UI with a live simulated venue
    polycopy evaluate-scoring  # the scoring measured out of sample on simulated worlds
    polycopy risk status       # NAV, mVaR, breakers, kill switch
"""

import argparse
import sys
import warnings
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = REPO_ROOT / ".data" / "demo"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="polycopy")
    sub = parser.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="run everything on the simulated venue and print a summary")
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--markets", type=int, default=300)
    d.add_argument("--wallets", type=int, default=800)
    d.add_argument("--trades", type=int, default=60_000)
    d.add_argument("--history-days", type=int, default=100)
    d.add_argument("--live-hours", type=int, default=48, help="simulated hours of live copying")
    d.add_argument("--step-hours", type=int, default=2, help="the venue clock's step through the live window: a "
                                                            "trade can be this old when the sensor sees it")
    d.add_argument("--min-whale-trade-usd", type=float, default=1_000.0,
                   help="smallest whale trade copied (USD; the product's default is 5,000, above most trades of "
                        "the demo's small world)")
    d.add_argument("--follow", type=int, default=8, help="wallets followed when the watchlist is empty: the most "
                                                          "active")
    d.add_argument("--also-follow", type=int, default=0, help="also follow this many of the most active wallets "
                                                             "(explicitly followed: they pass stage 1's watchlist "
                                                             "test, not its exclusions)")
    d.add_argument("--anchor", default=None,
                   help="UTC time (ISO 8601) where the served history ends and the live window starts; default "
                        "now, to the minute. The same anchor and seed give the same history and scores")
    d.add_argument("--data-dir", default=str(DEMO_DIR))
    u = sub.add_parser("ui-demo", help="the Dagster UI on the demo's instance, data dir and venue")
    u.add_argument("--data-dir", default=str(DEMO_DIR))
    u.add_argument("--port", type=int, default=3000, help="Dagster UI port")
    u.add_argument("--sim-port", type=int, default=8765, help="simulated venue port")
    v = sub.add_parser("dev", help="the Dagster UI with a live simulated venue (sensors on the moving clock)")
    v.add_argument("--port", type=int, default=3000, help="Dagster UI port")
    v.add_argument("--sim-port", type=int, default=8765, help="simulated venue port")
    v.add_argument("--speed", type=float, default=60.0, help="simulated seconds per wall second")
    v.add_argument("--seed", type=int, default=7)
    v.add_argument("--markets", type=int, default=400)
    v.add_argument("--wallets", type=int, default=1500)
    v.add_argument("--trades", type=int, default=60_000)
    v.add_argument("--history-days", type=int, default=30)
    e = sub.add_parser("evaluate-scoring", help="score simulated worlds on their earlier history and measure "
                                                "out of sample against the truth and the raw-P&L leaderboard")
    e.add_argument("--seeds", default="11,12,13,14,15",
                   help="comma-separated; seed i uses archetype mix i (default: the held-out seeds; settings are "
                        "chosen on 1–5 with benchmarks/scoring_tuning.py)")
    e.add_argument("--wallets", type=int, default=2_000)
    e.add_argument("--trades", type=int, default=160_000)
    e.add_argument("--replay-weeks", type=int, default=0,
                   help="weeks of watchlist history (quarantine, rotation) replayed before the split")
    e.add_argument("--wqs-preset", default="", help="score with this WQS preset (documents, edge) instead of the default")
    e.add_argument("--gate", default="", help="watchlist gate (relative, absolute) instead of the default")
    e.add_argument("--csv", default="", help="also write the table to this CSV file")
    b = sub.add_parser("backtest", help="walk-forward backtest of the strategy and its baselines on a simulated "
                                        "world: a summary table and a self-contained HTML report")
    b.add_argument("--seed", type=int, default=11, help="the world's seed (held-out seeds: 11–15)")
    b.add_argument("--mix", default="", help="archetype mix (default: the one the scoring evaluation pairs with "
                                             "the seed)")
    b.add_argument("--wallets", type=int, default=2_000)
    b.add_argument("--markets", type=int, default=800)
    b.add_argument("--trades", type=int, default=160_000)
    b.add_argument("--history-days", type=int, default=100, help="days of history, warm-up included")
    b.add_argument("--warmup-days", type=int, default=42, help="days scored before the first traded step")
    b.add_argument("--step-days", type=int, default=7, help="rescoring cadence, days")
    b.add_argument("--days", type=float, default=None, help="trade only this many days (default: to the end)")
    b.add_argument("--copy-delay-s", type=float, default=None, help="seconds after the whale's fill we act "
                                                                    "(default: the measured copy latency)")
    b.add_argument("--baseline-usd", type=float, default=100.0, help="fixed size of the baselines' copies, USD")
    b.add_argument("--strategies", default="", help="comma-separated subset of strategy, strategy_documents, "
                                                    "copy_watchlist, naive_top20 (default: all)")
    b.add_argument("--out", default="backtest-report.html", help="where to write the HTML report")
    r = sub.add_parser("risk", help="portfolio risk: status, reset a circuit breaker, the kill switch")
    rsub = r.add_subparsers(dest="risk_cmd", required=True)
    rsub.add_parser("status", help="the last portfolio_risk assessment: NAV, mVaR, breakers, kill switch")
    rr = rsub.add_parser("reset", help="reset a tripped circuit breaker (after a person has looked)")
    rr.add_argument("breaker", choices=["daily_loss", "hourly_loss", "consecutive_losses", "drawdown", "all"])
    rr.add_argument("--reason", required=True)
    rk = rsub.add_parser("kill-switch", help="stop (on) or allow (off) every order")
    rk.add_argument("state", choices=["on", "off"])
    rk.add_argument("--reason", required=True)
    ps = sub.add_parser("positions", help="copied positions, open and closed: entry, exits, the rule or resolution "
                                          "that closed each, realized P&L")
    ps.add_argument("--state", choices=["all", "open", "closed"], default="all")
    ps.add_argument("--csv", default="", help="also write the table to this CSV file")
    o = sub.add_parser("orders", help="approval mode: the proposed orders; approve or reject one")
    osub = o.add_subparsers(dest="orders_cmd", required=True)
    osub.add_parser("pending", help="proposed orders waiting for a person, with what decided them")
    oa = osub.add_parser("approve", help="re-check a proposal against the book and the risk gate now, then send it")
    oa.add_argument("proposal_id")
    oa.add_argument("--reason", default="", help="why (kept in the audit trail)")
    orj = osub.add_parser("reject", help="turn a proposal down")
    orj.add_argument("proposal_id")
    orj.add_argument("--reason", required=True, help="why (kept in the audit trail)")
    rc = sub.add_parser("reconcile", help="live: the ledger's positions, fills, open orders and cash against the "
                                          "venue's own records; exits 1 when they differ")
    rc.add_argument("--accept-cash", default="", metavar="REASON",
                    help="take the wallet's pUSD now as the cash baseline (after a deposit or withdrawal)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*is currently in (beta|preview).*")
    from polycopy.configuration import ConfigurationError

    try:
        return _dispatch(args)
    except ConfigurationError as e:
        print(f"polycopy: configuration error: {e}", file=sys.stderr)
        return 2


def _dispatch(args) -> int:
    if args.cmd == "demo":
        from polycopy_dagster.demo import run_demo

        return run_demo(args)
    if args.cmd == "ui-demo":
        from polycopy_dagster.dev_server import ui_demo

        return ui_demo(args)
    if args.cmd == "dev":
        from polycopy_dagster.dev_server import dev

        return dev(args)
    if args.cmd == "evaluate-scoring":
        return evaluate_scoring(args)
    if args.cmd == "backtest":
        return backtest(args)
    if args.cmd == "risk":
        return risk(args)
    if args.cmd == "positions":
        return positions(args)
    if args.cmd == "orders":
        return orders(args)
    if args.cmd == "reconcile":
        return reconcile(args)
    return 2


def _open_ledger(must_exist: bool):
    """The configured ledger (POLYCOPY_* environment), or None with a message when it was
    never created here."""
    from polycopy_dagster.defs.resources import check_environment, data_dir, initialized, ledger_resource

    check_environment(warehouse=False, ledger=True)
    resource = initialized(ledger_resource())
    path = Path(resource.sqlite_path or data_dir() / "ledger.sqlite")
    if must_exist and resource.backend == "sqlite" and not path.exists():
        print(f"no ledger at {path}: nothing has traded here yet (the demo's: POLYCOPY_DATA_DIR={DEMO_DIR})")
        return None
    return resource.open()


def positions(args) -> int:
    """Every copied position from the ledger: when it opened and closed, shares and average
    prices in and out, the rules (or resolution) that sold it, realized P&L in USD."""
    import csv
    from datetime import datetime, timezone

    from polycopy.execution.position_exits import position_report

    ledger = _open_ledger(must_exist=True)
    if ledger is None:
        return 1
    rows = [r for r in position_report(ledger) if args.state == "all" or r["state"] == args.state]
    when = lambda ts: "-" if ts is None else datetime.fromtimestamp(ts, timezone.utc).strftime("%m-%d %H:%M")  # noqa: E731
    price = lambda p: "-" if p is None else f"{p:.4f}"  # noqa: E731
    print(f"{'position':<26} {'state':<6} {'opened':<11} {'closed':<11} {'bought':>10} {'entry':>7} {'sold':>10} "
          f"{'exit':>7} {'P&L USD':>10}  rules")
    for r in rows:
        print(f"{r['position_id'][:26]:<26} {r['state']:<6} {when(r['opened_at']):<11} {when(r['closed_at']):<11} "
              f"{r['bought_shares']:>10,.2f} {price(r['entry_price']):>7} {r['sold_shares']:>10,.2f} "
              f"{price(r['exit_price']):>7} {r['realized_pnl_usd']:>10,.2f}  {r['rules'] or '-'}")
    closed = [r for r in rows if r["state"] == "closed"]
    print(f"{len(rows)} positions ({len(rows) - len(closed)} open, {len(closed)} closed); realized P&L "
          f"${sum(r['realized_pnl_usd'] for r in rows):,.2f}; fees ${sum(r['fees_usd'] for r in rows):,.2f}")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["position_id"])
            w.writeheader()
            w.writerows(rows)
        print(f"written to {args.csv}")
    return 0


def _execution_resources() -> dict:
    """The execution location's resources as a run sees them (environment read now)."""
    from polycopy_dagster.defs.resources import build_execution_resources, initialized

    return {k: initialized(v) for k, v in build_execution_resources().items()}


def orders(args) -> int:
    """Approval mode from the shell: list the proposals, approve or reject one (recorded with
    the user's name, the time and the reason)."""
    import getpass
    import json as _json
    import time as _time

    from polycopy.execution.approval import expire_proposals

    ledger = _open_ledger(must_exist=True)
    if ledger is None:
        return 1
    if args.orders_cmd == "pending":
        expire_proposals(ledger)
        pending = ledger.proposals(status="pending")
        print(f"{'proposal':<34} {'side':<4} {'USD':>9} {'shares':>9} {'limit':>6} {'conf.':>5} {'expires':>7}  why")
        for p in pending:
            d = _json.loads(p["details"])
            conf = "-" if p["confidence"] is None else f"{p['confidence']:.2f}"
            print(f"{p['proposal_id'][:34]:<34} {p['side']:<4} {p['usd']:>9,.2f} {p['shares']:>9,.2f} "
                  f"{p['limit_price']:>6.3f} {conf:>5} {p['expires_at'] - _time.time():>6.0f}s  "
                  f"{d.get('reason', '')} [sized by {d.get('binding', '-')}]")
        print(f"{len(pending)} proposals pending")
        return 0
    from polycopy_dagster.defs.approvals import act_on_proposal

    res = _execution_resources()
    try:
        out = act_on_proposal(args.orders_cmd, args.proposal_id, getpass.getuser(), args.reason,
                              polymarket=res["polymarket"], book=ledger, copy_trading=res["copy_trading"],
                              signal_rules=res["signal_rules"], risk_rules=res["risk_rules"])
    except KeyError:
        print(f"no proposal {args.proposal_id!r} (polycopy orders pending lists them)", file=sys.stderr)
        return 1
    order = ledger.order(out.order_id) if out.order_id else None
    print(f"proposal {out.proposal_id}: {out.status} — {out.reason}"
          + (f"; order {order['order_id']} {order['status']}" if order else ""))
    return 0 if out.status in ("approved", "rejected") else 1


def reconcile(args) -> int:
    """Live and approval modes: settle orders left pending, then compare the ledger with the
    venue and print every difference with both sides."""
    import dagster as dg

    from polycopy.execution.copier import reconcile_pending
    from polycopy.execution.venue_reconciliation import reconcile_with_venue
    from polycopy_dagster.defs.copy_trading import trading_venue

    ledger = _open_ledger(must_exist=True)
    if ledger is None:
        return 1
    res = _execution_resources()
    copy_trading, polymarket = res["copy_trading"], res["polymarket"]
    if copy_trading.mode == "paper":
        print("paper mode: the ledger is the only book; nothing to reconcile (POLYCOPY_MODE=live or approval)")
        return 0
    try:
        with polymarket.clients() as clients, trading_venue(copy_trading, polymarket, ledger, clients) as venue:
            settled = reconcile_pending(ledger, venue, copy_trading.reconcile_after_s)
            report = reconcile_with_venue(ledger, venue, in_flight_s=copy_trading.reconcile_after_s,
                                          accept_cash=args.accept_cash)
    except dg.Failure as exc:
        print(f"polycopy: {exc.description}", file=sys.stderr)
        return 2
    for s in settled:
        print(f"pending order {s['order_id']} settled from the venue's record: {s['status']}")
    expected = "-" if report.expected_collateral_usd is None else f"{report.expected_collateral_usd:,.2f}"
    print(f"wallet {report.wallet}: {report.tokens_compared} tokens, {report.trades_at_venue} trades and "
          f"{report.open_orders_at_venue} open orders at the venue; pUSD {report.collateral_usd:,.2f} "
          f"(expected {expected}); {len(report.in_flight)} orders in flight")
    for d in report.differences:
        print(f"  {d.kind:<10} {d.key[:42]:<42} ledger {d.ledger:<24} venue {d.venue:<24} {d.note}")
    print("the ledger matches the venue" if report.matches else f"{len(report.differences)} differences")
    return 0 if report.matches else 1


def risk(args) -> int:
    """Manual risk actions are recorded in the ledger (who, when, why); the next
    portfolio_risk assessment applies them."""
    import getpass
    import json as _json

    ledger = _open_ledger(must_exist=args.risk_cmd == "status")
    if ledger is None:
        return 1
    actor = getpass.getuser()
    if args.risk_cmd == "reset":
        ledger.record_risk_event("reset", args.breaker, args.reason, actor)
        print(f"reset {args.breaker} recorded; it takes effect at the next portfolio_risk assessment")
    elif args.risk_cmd == "kill-switch":
        ledger.record_risk_event(f"kill_switch_{args.state}", "", args.reason, actor)
        print(f"kill switch {args.state} recorded")
    snap = ledger.latest_nav_snapshot()
    if snap is None:
        print("no portfolio_risk assessment yet")
        return 0
    d = _json.loads(snap["details"])
    print(f"last assessment: NAV ${d['nav_usd']:,.2f}, exposure {d['exposure_fraction'] or 0:.1%} of NAV, "
          f"mVaR {d['mvar']:.2%} ({d['mvar_band']}), drawdown {d['drawdown']:.1%}")
    for name, b in d["breakers"].items():
        print(f"  {name:<20} {'TRIPPED: ' + b['reason'] if b['tripped'] else 'clear'}")
    print(f"  {'kill switch':<20} {'ON: ' + d['kill_switch']['reason'] if d['kill_switch']['on'] else 'off'}")
    return 0




def gate_explanation(scores, rules) -> str:
    """One paragraph on what the watchlist gate did today: its threshold, and how many
    wallets each condition removed, in the order the gate applies them."""
    from polycopy.scoring.watchlist import GATE_CONDITION_WORDS, gate_report

    g = gate_report(scores, rules)
    removed = "; ".join(f"{GATE_CONDITION_WORDS.get(k, k)} {v}" for k, v in g["removed_in_order"].items())
    level = (f"lower bound at the {rules.gate_percentile:.0%} percentile = WQS {g['threshold_wqs']}"
             if rules.gate == "relative" else f"WQS ≥ {rules.min_wqs:g}")
    return (f"watchlist gate ({rules.gate}: {level}): {g['scored']} wallets scored; removed: {removed}; "
            f"{g['eligible']} eligible (at most {rules.max_wallets} watched)")


def evaluate_scoring(args) -> int:
    from polycopy.evaluation.scoring_harness import (EvaluationConfig, evaluate, format_table, gate_summary,
                                                     meets_targets)

    from polycopy.scoring.settings import ScoringSettings, WatchlistSettings

    cfg = EvaluationConfig(n_wallets=args.wallets, n_trades=args.trades, replay_weeks=args.replay_weeks,
                           scoring=ScoringSettings(**({"wqs_preset": args.wqs_preset} if args.wqs_preset else {})),
                           watchlist=WatchlistSettings(**({"gate": args.gate} if args.gate else {})))
    seeds = [int(x) for x in args.seeds.split(",") if x]
    table = evaluate(seeds, cfg=cfg, progress=lambda r: print(f"scored seed {r['seed']} ({r['mix']})", flush=True))
    print(format_table(table))
    print("\nwallets each watchlist gate condition removed, in order:")
    print(gate_summary(table))
    for target, ok in meets_targets(table).items():
        print(f"{target}: {'met' if ok else 'NOT met'}")
    if args.csv:
        table.drop(columns=["watchlist", "removed", "gate"]).to_csv(args.csv, index=False)
    return 0


def backtest(args) -> int:
    import tempfile

    from tqdm import tqdm

    from polycopy.backtest.scenario import WorldSpec, run_backtest, standard_strategies
    from polycopy.backtest.walk_forward import MEASURED_COPY_DELAY_S, BacktestSettings, step_starts
    from polycopy_dagster.defs.resources import env_trading_rules

    try:
        spec = WorldSpec.for_seed(args.seed, args.mix, n_wallets=args.wallets, n_markets=args.markets,
                                  n_trades=args.trades, history_days=args.history_days)
        settings = BacktestSettings(warmup_days=args.warmup_days, step_days=args.step_days,
                                    copy_delay_s=MEASURED_COPY_DELAY_S if args.copy_delay_s is None
                                    else args.copy_delay_s)
        strategies = standard_strategies(env_trading_rules(), args.baseline_usd,
                                         tuple(x for x in args.strategies.split(",") if x) or None)
        world = spec.build()
    except ValueError as e:
        print(f"polycopy backtest: {e}", file=sys.stderr)
        return 2
    n_steps = len(step_starts(world, settings, args.days))
    print(f"backtesting {', '.join(s.name for s in strategies)} on {spec.describe()}: {args.warmup_days} warm-up "
          f"days, {n_steps} steps of {args.step_days} days")
    with tqdm(total=n_steps * (1 + len(strategies)), unit="step", file=sys.stderr) as bar, \
            tempfile.TemporaryDirectory(prefix="polycopy-backtest-") as tmp:
        def progress(message: str) -> None:
            bar.set_postfix_str(message[:60])
            bar.update(1)

        out = run_backtest(world, strategies, tmp, settings, days=args.days,
                           title=f"polycopy backtest — seed {args.seed}", description=spec.describe(),
                           progress=progress)
    Path(args.out).write_text(out.html)
    print(out.summary())
    print("exits by rule (given up: what the same shares were worth at the end, less the proceeds):")
    print(out.exits_summary())
    main_result = out.results[0].metrics
    share = main_result.get("selection_share", float("nan"))
    if share == share:  # not NaN: the strategy beat the benchmark
        print(f"selection share of the excess over {out.benchmark}: {share:.0%}")
    elif out.attribution is not None:
        print(f"{out.results[0].name} did not beat {out.benchmark}: no selection share to report")
    print("timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in out.seconds.items()))
    print(f"report: {Path(args.out).resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
