"""Copy trading: the copy chain as assets (portfolio_risk, eligible_signals, copy_orders)
with the blocking checks that stop orders; the follow sensor, which records every fill
it sees and launches one run per tick for the new signals; the sweeper, which relaunches
what a failed run left undecided and raises the alert; risk monitoring and order
reconciliation."""


import hashlib
import json
import os
import time
from contextlib import ExitStack, contextmanager

import dagster as dg
from pydantic import Field

from polycopy.execution.approval import expire_proposals, propose
from polycopy.execution.copier import (SourceSignal, client_order_id, decide_signal, expire_unsent_copies,
                                       load_signal, place_signal_order, recount_limits, reconcile_pending)
from polycopy.configuration import ConfigurationError
from polycopy.execution.live import LiveVenue, LiveVenueError
from polycopy.execution.live_credentials import LiveCredentials
from polycopy.execution.paper import PaperVenue
from polycopy.execution.portfolio_state import assess_portfolio
from polycopy.execution.venue_reconciliation import reconcile_with_venue
from polycopy.feed import PollingActivityFeed
from polycopy.polymarket.schema import Trade
from polycopy_dagster.defs.automation import schedule_status, sensor_status
from polycopy_dagster.defs.metadata import TRADING_OWNERS, counts_table, rounded, table, tags
from polycopy_dagster.defs.resources import (CopyTradingResource, LedgerResource, PolymarketResource,
                                             ExitRulesResource, RiskRulesResource, SignalRulesResource,
                                             SizingRulesResource,
                                             trading_rules)

TRADING_GROUP = "trading"
ASSESSMENT_OP = "assess_portfolio_and_signal"
TRADING = dict(group_name=TRADING_GROUP, kinds={"python", "sqlite"}, owners=TRADING_OWNERS, tags=tags("trading"))
# Published by the data plane's followed_watchlist (another code location): declaring it by
# key joins the two locations into one lineage graph.
PUBLISHED_WATCHLIST = dg.AssetKey("followed_watchlist")


class CopyTradeConfig(dg.Config):
    signal_keys: list[str] = Field(default_factory=list, description="The source signals this run decides (keys "
                                                                      "from the ledger's signals table)")
    trades: list[str] = Field(default_factory=list, description="Source fills as JSON (internal Trade schema) "
                                                                "to record first; their signals are decided too")
    collect_late_fills: bool = Field(default=False, description="Before deciding, wait out the aggregation window "
                                                                "and read the signals' wallets once more, so fills "
                                                                "of the same order published late join them")


def run_signals(run: dg.DagsterRun, ledger) -> list[str]:
    """The signals a copy_trade run carries: its config's signal keys and the signals its
    trades joined, without repeats."""
    cfg = (run.run_config or {}).get("ops", {}).get(ASSESSMENT_OP, {}).get("config", {})
    keys = list(cfg.get("signal_keys", []))
    for raw in cfg.get("trades", []):
        key = ledger.signal_of_trade(json.loads(raw)["trade_key"])
        if key is not None:
            keys.append(key)
    return list(dict.fromkeys(keys))


@contextmanager
def trading_venue(copy_trading: "CopyTradingResource", polymarket: PolymarketResource, ledger, clients):
    """Where this run's orders go: the paper venue, or — in ``live`` and ``approval`` mode —
    the CLOB through the official SDK, signed in with the credentials of the environment
    and checked (address, pUSD balance, approvals) before the first order. A check that
    fails stops the run with what is missing, before anything is sent."""
    if copy_trading.mode == "paper":
        yield PaperVenue(ledger, clients.clob, copy_trading.taker_fee_rate)
        return
    if copy_trading.mode not in ("live", "approval"):
        raise dg.Failure(f"copy-trading mode {copy_trading.mode!r} is not one of paper, approval, live")
    try:
        creds = LiveCredentials.from_env(os.environ)
        venue = LiveVenue.connect(ledger, clients.clob, creds, polymarket.sdk_environment(),
                                  copy_trading.taker_fee_rate)
    except (ConfigurationError, LiveVenueError) as exc:
        raise dg.Failure(str(exc)) from None
    try:
        report = venue.preflight(creds, copy_trading.live_min_collateral_usd)
        paper = ledger.count_orders("paper")
        if paper:  # one ledger, one book: paper fills would be taken for the wallet's
            raise dg.Failure(f"live trading cannot start: this ledger holds {paper} paper orders; live trading "
                             "keeps a ledger of its own (set POLYCOPY_LEDGER_PATH, or another PostgreSQL database)")
        if report.problems:
            raise dg.Failure("live trading cannot start: " + "; ".join(report.problems),
                             metadata={"signer": report.signer, "wallet": report.wallet,
                                       "collateral_usd": rounded(report.collateral_usd, 2)})
        yield venue
    finally:
        venue.close()


def breakers_table(breakers: dict) -> dg.TableMetadataValue:
    """Each circuit breaker: tripped or clear, why, and the values it compared."""
    return table([{"breaker": name, "tripped": b["tripped"], "reason": b["reason"],
                   "manual_reset_only": b["manual_reset_only"],
                   "values": {k: v for k, v in b.items() if k not in ("tripped", "reason", "manual_reset_only")}}
                  for name, b in breakers.items()], digits=2)


def exposure_table(fractions: dict, key: str) -> dg.TableMetadataValue:
    """Exposure as a fraction of NAV by market, category or source wallet, largest first."""
    rows = sorted(fractions.items(), key=lambda kv: -(kv[1] or 0.0))
    return table([{key: k, "fraction_of_nav": v} for k, v in rows], digits=4)


DECISION_COLUMNS = ["signal_key", "wallet", "side", "fills", "whale_usd", "decision", "stage", "reason",
                    "notional_usd", "shares", "limit_price", "decided_by_this_run"]


def _decision_row(signal: SourceSignal, decision: dict, decided_now: bool) -> dict:
    details = json.loads(decision["details"])
    return {"signal_key": signal.signal_key, "wallet": signal.first.proxy_wallet, "side": signal.first.side,
            "fills": len(signal.fills), "whale_usd": signal.shares * signal.price,
            "decision": decision["decision"], "stage": decision["stage"], "reason": decision["reason"],
            "notional_usd": details.get("notional_usd"), "shares": details.get("shares"),
            "limit_price": details.get("limit_price"), "decided_by_this_run": decided_now}


def collect_late_fills(ledger, clients, signals: list[dict], copy_trading: "CopyTradingResource", log) -> int:
    """Wait out the aggregation window of the run's signals, then read their wallets' fills
    once more: fills of the same order that the feed published after the sensor's poll join
    their signal before it is decided. Returns how many fills this added."""
    if not signals:
        return 0
    wait = max(float(s["first_seen_at"]) for s in signals) + copy_trading.aggregation_window_s - time.time()
    if wait > 0:
        time.sleep(wait)
    feed = PollingActivityFeed(clients.data, overlap_s=copy_trading.aggregation_window_s + 1, lookback_s=0)
    cursor = {}
    for s in signals:  # from the first fill of each wallet's earliest signal
        cursor[s["proxy_wallet"]] = min(cursor.get(s["proxy_wallet"], int(s["first_ts"])), int(s["first_ts"]))
    poll = feed.poll(sorted(cursor), cursor, now=time.time())
    if poll.rejects:
        ledger.record_feed_rejects(poll.rejects)
    added = ledger.record_seen_trades(poll.trades, window_s=copy_trading.aggregation_window_s)
    if added:
        log.info(f"{len(added)} more fills seen while the signals' window closed")
    return len(added)


@dg.multi_asset(
    name=ASSESSMENT_OP,
    specs=[
        dg.AssetSpec("portfolio_risk", **TRADING, deps=[PUBLISHED_WATCHLIST],
                     description="The copy portfolio now: NAV, cash, exposure by market, category and source wallet, "
                                 "Cornish-Fisher mVaR with its band, drawdown, every circuit breaker and the kill "
                                 "switch. A NAV snapshot per assessment is kept in the ledger."),
        dg.AssetSpec("eligible_signals", **TRADING, deps=[PUBLISHED_WATCHLIST, "portfolio_risk"],
                     description="Every source signal of a followed wallet (one whale order: its fills in one "
                                 "transaction or within the aggregation window), decided once: copied with its "
                                 "size, or rejected at the risk gate, stage 1 (whale), 2 (trade and market), 3 "
                                 "(portfolio) or sizing — with the reason, the values that decided it and the "
                                 "fills. Pass-through rate in the metadata."),
    ],
    check_specs=[
        dg.AssetCheckSpec("kill_switch_off", asset="portfolio_risk", blocking=True,
                          description="The kill switch is off (ledger flag and POLYCOPY_KILL_SWITCH)."),
        dg.AssetCheckSpec("circuit_breakers_clear", asset="portfolio_risk", blocking=True,
                          description="No circuit breaker is tripped: daily loss, hourly loss, consecutive losses, "
                                      "drawdown."),
        dg.AssetCheckSpec("mvar_below_halt_limit", asset="portfolio_risk", blocking=True,
                          description="Cornish-Fisher mVaR of today's holdings is at most the halt limit (8 % NAV)."),
        dg.AssetCheckSpec("signal_within_limits", asset="eligible_signals", blocking=True,
                          description="An independent recount: no order this run is about to send breaches a cap "
                                      "or exposure limit (each counted with the ones before it), and none goes out "
                                      "while trading is halted. An order that would is closed as blocked (never "
                                      "sent) and the check fails with WARN severity; the others go out."),
    ],
    can_subset=True,
)
def assess_portfolio_and_signal(context: dg.AssetExecutionContext, config: CopyTradeConfig,
                                polymarket: PolymarketResource, ledger: LedgerResource,
                                copy_trading: CopyTradingResource, signal_rules: SignalRulesResource,
                                sizing_rules: SizingRulesResource, risk_rules: RiskRulesResource,
                                exit_rules: ExitRulesResource):
    rules = trading_rules(copy_trading, signal_rules, sizing_rules, risk_rules, exit_rules)
    book = ledger.open()
    selected = {k.to_user_string() for k in context.selected_asset_keys}
    run_id = context.run.run_id
    with polymarket.clients() as clients:
        if config.trades:
            book.record_seen_trades([Trade(**json.loads(t)) for t in config.trades],
                                    window_s=copy_trading.aggregation_window_s)
        keys = run_signals(context.run, book)
        if "eligible_signals" in selected and not keys:
            raise dg.Failure("eligible_signals needs source signals (run config: signal_keys or trades)")
        if config.collect_late_fills:
            pending = [book.signal(k) for k in keys if book.decision(k) is None]
            pending = [s for s in pending if s is not None]
            collect_late_fills(book, clients, pending, copy_trading, context.log)
        state = assess_portfolio(book, clients, rules.risk, rules.signals, run_id=run_id)
        summary = state.summary()
        yield dg.MaterializeResult(asset_key="portfolio_risk", metadata={
            "nav_usd": rounded(summary["nav_usd"], 2), "cash_usd": rounded(summary["cash_usd"], 2),
            "exposure_usd": rounded(summary["exposure_usd"], 2),
            "exposure_fraction": rounded(summary["exposure_fraction"], 4),
            "open_positions": summary["open_positions"],
            "mvar": rounded(summary["mvar"], 4), "mvar_band": summary["mvar_band"],
            "drawdown": rounded(summary["drawdown"], 4),
            "halted": summary["halted"], "halt_reasons": ", ".join(summary["halt_reasons"]) or "none",
            "breakers": breakers_table(summary["breakers"]),
            "exposure_by_category": exposure_table(summary["exposure_by_category"], "category"),
            "exposure_by_market": exposure_table(summary["exposure_by_market"], "condition_id"),
            "exposure_by_wallet": exposure_table(summary["exposure_by_wallet"], "wallet"),
        })
        tripped = [b for b in state.breakers if b.tripped]
        yield dg.AssetCheckResult(asset_key="portfolio_risk", check_name="kill_switch_off",
                                  passed=not state.kill_switch[0], metadata={"reason": state.kill_switch[1] or "-"})
        yield dg.AssetCheckResult(asset_key="portfolio_risk", check_name="circuit_breakers_clear",
                                  passed=not tripped,
                                  metadata={"tripped": table([{"breaker": b.name, "reason": b.reason} for b in tripped],
                                                             ["breaker", "reason"]),
                                            "reset_with": "polycopy risk reset <breaker>"})
        yield dg.AssetCheckResult(asset_key="portfolio_risk", check_name="mvar_below_halt_limit",
                                  passed=state.mvar <= rules.risk.mvar_halt,
                                  metadata={"mvar": rounded(state.mvar, 4), "band": state.mvar_band,
                                            "halt_limit": rules.risk.mvar_halt,
                                            "observations": state.mvar_observations})
        if "eligible_signals" not in selected:
            return
        followed = set(copy_trading.wallets())
        assessed = state
        signals = sorted((load_signal(book, k) for k in keys), key=lambda s: (s.first.timestamp, s.signal_key))
        rows, to_send = [], []
        for signal in signals:
            decision, decided_now, state = decide_signal(
                signal, ledger=book, clients=clients, rules=rules, state=state,
                followed_override=signal.first.proxy_wallet.lower() in followed, run_id=run_id)
            rows.append(_decision_row(signal, decision, decided_now))
            context.log.info(f"{signal.first.side} {signal.shares:.2f} @ {signal.price:.4f} ({len(signal.fills)} "
                             f"fills) by {signal.first.proxy_wallet}: {decision['decision']} "
                             f"({decision['stage']}: {decision['reason']})")
            if decision["decision"] == "copy" and book.order_for(signal.signal_key) is None:
                to_send.append((signal, decision))
    breaches = recount_limits(to_send, assessed, rules)
    for key, found in breaches.items():  # closed, so that no later run sends it either
        sig = book.signal(key)
        d = json.loads(book.decision(key)["details"])
        book.create_pending_order(client_order_id(key), key, "none", sig["token_id"], sig["condition_id"],
                                  sig["side"], "none", float(d.get("limit_price", 0.0)), float(d.get("shares", 0.0)),
                                  status="blocked", reason="; ".join(found))
    stats = book.signal_stats()
    decided_now = [r for r in rows if r["decided_by_this_run"]]
    yield dg.MaterializeResult(asset_key="eligible_signals", metadata={
        "signals": len(rows), "decided_by_this_run": len(decided_now),
        "copied_by_this_run": sum(r["decision"] == "copy" for r in decided_now),
        "fills": sum(r["fills"] for r in rows),
        "decisions": table(rows, DECISION_COLUMNS, digits=4, column_digits={"notional_usd": 2, "whale_usd": 2}),
        "signals_decided": stats["signals"], "signals_copied": stats["copied"],
        "pass_through_rate": rounded(stats["pass_through_rate"], 4),
        "rejected_by_stage": counts_table(stats["rejected_by_stage"], "stage", "signals"),
    })
    # A breaching order is closed as blocked above, so it can never be sent; the check fails
    # visibly (WARN) without holding back the batch's other orders. Anything short of that
    # (an error before the orders were closed) fails the step and sends nothing.
    yield dg.AssetCheckResult(
        asset_key="eligible_signals", check_name="signal_within_limits", passed=not breaches,
        severity=dg.AssetCheckSeverity.WARN,
        description=(f"{len(breaches)} orders would breach a limit and were closed as blocked" if breaches else None),
        metadata={"orders_recounted": len(to_send), "orders_blocked": len(breaches),
                  "breaches": table([{"signal_key": k, "breach": b} for k, found in breaches.items() for b in found],
                                    ["signal_key", "breach"])})


@dg.asset(
    **TRADING,
    deps=["portfolio_risk", "eligible_signals"],
    retry_policy=dg.RetryPolicy(max_retries=3, delay=1),
    description="The orders the copy decisions of this run's signals call for: each saved pending, sent to the venue "
                "at most once, settled with its fills and fee. Runs only when every blocking check upstream passed.",
)
def copy_orders(context: dg.AssetExecutionContext, polymarket: PolymarketResource, ledger: LedgerResource,
                copy_trading: CopyTradingResource) -> dg.MaterializeResult:
    book = ledger.open()
    placed = []
    decisions = [d for d in book.decisions_of(run_signals(context.run, book)) if d["decision"] == "copy"]
    if copy_trading.mode == "approval":  # each order waits for a person: `polycopy orders approve`
        for d in decisions:
            if book.order_for(d["signal_key"]) is None and propose(book, d["signal_key"], "entry",
                                                                    copy_trading.proposal_expiry_s):
                context.log.info(f"proposed {d['signal_key']} for approval ({d['reason']}); it expires in "
                                 f"{copy_trading.proposal_expiry_s:.0f} s")
        pending = book.proposals(status="pending")
        return dg.MaterializeResult(metadata={
            "mode": "approval", "proposals_pending": len(pending),
            "proposals": table([{"proposal_id": p["proposal_id"], "side": p["side"], "usd": p["usd"],
                                 "shares": p["shares"], "limit_price": p["limit_price"],
                                 "expires_in_s": p["expires_at"] - time.time()} for p in pending], digits=2)})
    with polymarket.clients() as clients, ExitStack() as stack:
        venue = stack.enter_context(trading_venue(copy_trading, polymarket, book, clients))
        reconciled = reconcile_pending(book, venue, copy_trading.reconcile_after_s)
        for d in decisions:
            outcome = place_signal_order(d["signal_key"], ledger=book, venue=venue,
                                         order_deadline_s=copy_trading.order_deadline_s)
            placed.append(outcome.as_dict())
            context.log.info(f"order {outcome.order_id}: {outcome.order_status}, {outcome.filled_shares:.2f} shares "
                             f"at {outcome.avg_price}, fee ${outcome.fee_usd:.4f}"
                             + (f" ({outcome.order_reason})" if outcome.order_reason else ""))
    if reconciled:
        context.log.warning(f"reconciled pending orders: {reconciled}")
    summary = book.summary()
    return dg.MaterializeResult(metadata={
        "orders": table(placed, digits=4), "reconciled": table([{"order": str(r)} for r in reconciled], ["order"]),
        **{k: (rounded(v, 4) if isinstance(v, float) else v) for k, v in summary.items()}})


@dg.asset_check(asset="eligible_signals", name="no_undecided_trades", blocking=False,
                description="No followed trade stays undecided longer than the alert limit (undecided_alert_s): "
                            "every signal the feed showed was decided, or is still being retried within the limit.")
def no_undecided_trades(ledger: LedgerResource, copy_trading: CopyTradingResource) -> dg.AssetCheckResult:
    return undecided_check_result(ledger.open(), copy_trading.undecided_alert_s)


def undecided_check_result(book, alert_s: float) -> dg.AssetCheckResult:
    overdue = book.undecided_signals(older_than_s=alert_s)
    return dg.AssetCheckResult(
        asset_key="eligible_signals", check_name="no_undecided_trades", passed=not overdue,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"overdue": len(overdue), "alert_after_s": alert_s,
                  "signals": table([{"signal_key": s["signal_key"], "wallet": s["proxy_wallet"], "side": s["side"],
                                     "seen_s_ago": time.time() - float(s["first_seen_at"]),
                                     "attempts": s["attempts"], "last_error": (s["last_error"] or "")[:200]}
                                    for s in overdue[:50]],
                                   ["signal_key", "wallet", "side", "seen_s_ago", "attempts", "last_error"],
                                   digits=0)})


copy_trade_job = dg.define_asset_job(
    name="copy_trade",
    # no_undecided_trades is the sweeper's to report (on every change); in each copy run it
    # would only add a step before the orders.
    selection=dg.AssetSelection.assets("portfolio_risk", "eligible_signals", "copy_orders")
    - dg.AssetSelection.checks(no_undecided_trades),
    executor_def=dg.in_process_executor,
    description="Copy the source signals of one sensor tick: assess the portfolio, decide each signal (risk gate, "
                "stages 1-3, sizing), then — only if every blocking check passed — place and record the orders.",
    tags={"polycopy/kind": "copy_trade"},
)

risk_monitor_job = dg.define_asset_job(
    name="risk_monitor",
    selection=dg.AssetSelection.assets("portfolio_risk"),
    executor_def=dg.in_process_executor,
    description="Re-assess the portfolio (marks, mVaR, breakers) without a trade.",
)

risk_monitor_schedule = dg.ScheduleDefinition(job=risk_monitor_job, cron_schedule="*/5 * * * *",
                                              default_status=schedule_status(),
                                              description="Keep portfolio_risk current between trades.")


@dg.asset_check(asset="portfolio_risk", name="ledger_matches_venue", blocking=True,
                description="Live and approval modes: the ledger's positions, fills, open orders and cash agree with "
                            "the venue's own records (balances, account trades, open orders). Blocks new orders "
                            "until a person has looked. Paper mode: the ledger is the only book; passes.")
def ledger_matches_venue(polymarket: PolymarketResource, ledger: LedgerResource,
                         copy_trading: CopyTradingResource) -> dg.AssetCheckResult:
    if copy_trading.mode == "paper":
        return dg.AssetCheckResult(passed=True, metadata={"mode": "paper", "compared": "nothing: paper has one book"})
    book = ledger.open()
    with polymarket.clients() as clients, trading_venue(copy_trading, polymarket, book, clients) as venue:
        report = reconcile_with_venue(book, venue, in_flight_s=copy_trading.reconcile_after_s)
    return dg.AssetCheckResult(
        passed=report.matches,
        description=None if report.matches else f"{len(report.differences)} differences with the venue",
        metadata={"mode": copy_trading.mode, "wallet": report.wallet, "differences": len(report.differences),
                  "diff": table([d.as_dict() for d in report.differences], ["kind", "key", "ledger", "venue", "note"]),
                  "tokens_compared": report.tokens_compared, "trades_at_venue": report.trades_at_venue,
                  "open_orders_at_venue": report.open_orders_at_venue, "in_flight": len(report.in_flight),
                  "collateral_usd": rounded(report.collateral_usd, 2),
                  "expected_collateral_usd": rounded(report.expected_collateral_usd, 2)})


venue_reconciliation_job = dg.define_asset_job(
    name="reconcile_with_venue",
    selection=dg.AssetSelection.checks(ledger_matches_venue),
    executor_def=dg.in_process_executor,
    description="Compare the ledger with the venue's own records (live and approval modes).",
)

venue_reconciliation_schedule = dg.ScheduleDefinition(
    job=venue_reconciliation_job, cron_schedule="*/10 * * * *", default_status=schedule_status(),
    description="Keep ledger_matches_venue current between copy runs.")


@dg.op(description="Settle pending orders left by a crash from the venue's own record; never re-send.")
def reconcile_orders_op(context: dg.OpExecutionContext, polymarket: PolymarketResource, ledger: LedgerResource,
                        copy_trading: CopyTradingResource) -> list:
    book = ledger.open()
    with polymarket.clients() as clients, trading_venue(copy_trading, polymarket, book, clients) as venue:
        done = reconcile_pending(book, venue, copy_trading.reconcile_after_s)
    context.log.info(f"reconciled {len(done)} pending orders")
    return done


@dg.job(name="reconcile_orders", executor_def=dg.in_process_executor)
def reconcile_orders_job():
    reconcile_orders_op()


reconcile_schedule = dg.ScheduleDefinition(job=reconcile_orders_job, cron_schedule="*/5 * * * *",
                                           default_status=schedule_status(),
                                           description="Settle orders left pending by a crash.")


def copy_trade_run_config(*trades: Trade) -> dg.RunConfig:
    """Run config of a copy_trade run for source fills given directly (recorded by the run)."""
    return dg.RunConfig(ops={ASSESSMENT_OP: CopyTradeConfig(trades=[json.dumps(t.as_row()) for t in trades])})


LAUNCH_TAG = "polycopy/launch"


def copy_run_request(signal_keys: list[str], run_key: str, max_runtime_s: float) -> dg.RunRequest:
    """A copy_trade run for these signals. Its run key names this launch (a relaunch gets a
    new one; the decisions stay keyed by signal); Dagster's run monitoring ends it after
    ``max_runtime_s`` if its worker died."""
    return dg.RunRequest(
        run_key=run_key,
        run_config=dg.RunConfig(ops={ASSESSMENT_OP: CopyTradeConfig(signal_keys=signal_keys,
                                                                    collect_late_fills=True)}),
        tags={LAUNCH_TAG: run_key, "polycopy/signals": str(len(signal_keys)),
              "dagster/max_runtime": str(int(max_runtime_s))})


def launch_key(signal_keys: list[str], attempt: int) -> str:
    """Run key of one launch of a set of signals."""
    digest = hashlib.sha1("\n".join(sorted(signal_keys)).encode()).hexdigest()[:20]
    return f"copy-{digest}-{attempt}"


def launch_requests(book, signal_keys: list[str], attempt: int, copy_trading: "CopyTradingResource"
                    ) -> list[dg.RunRequest]:
    """Record the launch of these signals in the ledger and return the runs that carry
    them, at most ``max_signals_per_run`` each."""
    out = []
    step = max(1, copy_trading.max_signals_per_run)
    for i in range(0, len(signal_keys), step):
        chunk = signal_keys[i:i + step]
        key = launch_key(chunk, attempt)
        book.record_launch(chunk, key)
        out.append(copy_run_request(chunk, key, copy_trading.run_max_runtime_s))
    return out


@dg.sensor(
    job=copy_trade_job,
    minimum_interval_seconds=1,
    default_status=sensor_status(),
    description="Records every new fill of a followed wallet in the ledger (joined to its signal: one whale order), "
                "then launches one copy_trade run carrying every signal not launched yet. Follows the published "
                "whale watchlist; POLYCOPY_FOLLOW_WALLETS overrides it.",
)
def followed_wallets_sensor(context: dg.SensorEvaluationContext, polymarket: PolymarketResource,
                            ledger: LedgerResource, copy_trading: CopyTradingResource):
    book = ledger.open()
    # The configured follow list, when set, overrides the watchlist.
    wallets = copy_trading.wallets() or [m["wallet_address"] for m in book.watchlist()]
    if not wallets:
        return dg.SkipReason("no wallets to follow: the watchlist is empty (materialize whale_watchlist) "
                             "and POLYCOPY_FOLLOW_WALLETS is not set")
    cursor = json.loads(context.cursor) if context.cursor else {}
    # Long-poll: the daemon evaluates sensors at most every 5 s, so within one evaluation
    # keep polling the feed and return as soon as a trade lands (bounded by long_poll_s,
    # well inside the evaluation timeout).
    deadline = time.monotonic() + copy_trading.long_poll_s
    with polymarket.clients() as clients:
        feed = PollingActivityFeed(clients.data, copy_trading.overlap_s, copy_trading.lookback_s)
        while True:
            poll = feed.poll(wallets, cursor, now=time.time())
            # Re-read trades inside the overlap window are not news; only a newer one ends the wait.
            news = any(t.timestamp > cursor.get(t.proxy_wallet, -1) for t in poll.trades)
            if news or time.monotonic() + copy_trading.poll_interval_s >= deadline:
                break
            cursor = poll.cursor
            time.sleep(copy_trading.poll_interval_s)
    if poll.rejects:
        new = book.record_feed_rejects(poll.rejects)
        if new:
            context.log.warning(f"{new} malformed feed records kept aside in the ledger's feed_rejects")
    # Recorded before anything is launched: from here on the sweeper sees them until decided.
    book.record_seen_trades(poll.trades, window_s=copy_trading.aggregation_window_s)
    fresh = [s["signal_key"] for s in book.signals_to_launch()]
    runs = launch_requests(book, fresh, 1, copy_trading) if fresh else []
    return dg.SensorResult(run_requests=runs, cursor=json.dumps(poll.cursor, sort_keys=True))


def retry_delay_s(attempts: int, copy_trading: "CopyTradingResource") -> float:
    """Backoff before relaunching a signal whose run failed ``attempts`` times (s)."""
    return min(copy_trading.relaunch_backoff_s * 2 ** max(attempts - 1, 0), copy_trading.relaunch_backoff_max_s)


def _root_cause(error) -> str:
    while error.cause is not None:  # the root cause, not the wrappers
        error = error.cause
    return f"{error.cls_name}: {error.message.strip()}"


def _run_error(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    """Why a run failed, as its cause: the failed step's error; else an engine event's error
    (the code that would not load, e.g. an unreachable database) or its word on the worker
    (killed by a signal); else the run's own failure message."""
    engine_words = ""
    for record in reversed(instance.get_records_for_run(run.run_id, of_type={
            dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.ENGINE_EVENT, dg.DagsterEventType.RUN_FAILURE,
            dg.DagsterEventType.RUN_CANCELED}).records):
        entry = record.event_log_entry
        event = entry.dagster_event
        error = getattr(getattr(event, "event_specific_data", None), "error", None)
        if event.event_type == dg.DagsterEventType.STEP_FAILURE and error is not None:
            return _root_cause(error)[:1000]
        if event.event_type == dg.DagsterEventType.ENGINE_EVENT:
            if error is not None:
                return f"{entry.message} {_root_cause(error)}"[:1000]
            if not engine_words and any(w in (entry.message or "") for w in ("terminated", "exited", "Could not")):
                engine_words = entry.message
    if engine_words:
        return engine_words[:1000]
    for record in instance.get_records_for_run(run.run_id, of_type={dg.DagsterEventType.RUN_FAILURE,
                                                                    dg.DagsterEventType.RUN_CANCELED}).records:
        return (record.event_log_entry.message or "")[:1000]
    return f"run {run.status.value.lower()}"


def launch_outcome(instance: dg.DagsterInstance, runs: list[dg.DagsterRun], run_key: str, launched_at: float,
                   now: float, copy_trading: "CopyTradingResource") -> tuple[str | None, str | None, str | None]:
    """(outcome, error, run id) of one launch from its runs, newest first (a Dagster retry
    follows its parent); outcome None while it is still in flight or may yet appear.
    ``success`` keeps the error of a failed run that a retry recovered from."""
    if not runs:
        if now - launched_at > copy_trading.launch_grace_s:
            return "lost", f"no run was created for {run_key} within {copy_trading.launch_grace_s:.0f} s", None
        return None, None, None
    newest = runs[0]
    if newest.status in IN_FLIGHT:
        if now - launched_at > copy_trading.run_stuck_after_s:
            return "stuck", f"run {newest.run_id} still {newest.status.value.lower()} after {now - launched_at:.0f} s", \
                newest.run_id
        return None, None, None
    failed = [r for r in runs if r.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)]
    error = _run_error(instance, failed[0]) if failed else None
    if newest.status == dg.DagsterRunStatus.SUCCESS:
        return "success", (f"recovered by a retry after run {failed[0].run_id} failed: {error}" if failed else None), \
            newest.run_id
    return "failure", error, newest.run_id


IN_FLIGHT = {dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING, dg.DagsterRunStatus.MANAGED}


@dg.sensor(
    job=copy_trade_job,
    minimum_interval_seconds=5,
    default_status=sensor_status(),
    description="Nothing seen is dropped: finds the signals whose copy run failed, was lost or is stuck, records "
                "each failure against them, and relaunches them with backoff under a new run key (each signal is "
                "still decided once). Raises the no_undecided_trades alert for signals undecided too long.",
)
def undecided_signals_sweeper(context: dg.SensorEvaluationContext, ledger: LedgerResource,
                              copy_trading: CopyTradingResource):
    book = ledger.open()
    now = time.time()
    lapsed = expire_proposals(book, now=now)
    if lapsed:
        context.log.warning(f"{len(lapsed)} proposed orders expired unapproved: {', '.join(lapsed)}")
    expired = expire_unsent_copies(book, copy_trading.order_deadline_s, now=now)
    if expired:
        context.log.warning(f"{len(expired)} copy decisions closed as expired: their order was never sent within "
                            f"{copy_trading.order_deadline_s:.0f} s")
    # 1. How did each launch end? Recorded against every signal it carried, decided or not.
    by_run: dict[str, list[dict]] = {}
    for a in book.open_attempts():
        by_run.setdefault(a["run_key"], []).append(a)
    runs: dict[str, list[dg.DagsterRun]] = {}
    if by_run:
        for r in context.instance.get_runs(dg.RunsFilter(tags={LAUNCH_TAG: sorted(by_run)})):
            runs.setdefault(r.tags[LAUNCH_TAG], []).append(r)  # newest first (a Dagster retry after its parent)
    for run_key, rows in by_run.items():
        outcome, error, run_id = launch_outcome(context.instance, runs.get(run_key, []), run_key,
                                                float(rows[0]["launched_at"]), now, copy_trading)
        if outcome is None:
            continue
        unfinished = [a for a in rows if not a["finished"]]
        if outcome == "success" and unfinished:
            outcome, error = "incomplete", error or "the run succeeded without deciding or ordering these signals"
        # A launch that never became a run, or a run presumed dead, is relaunched now; a run
        # that failed (an outage, a bug) waits out a growing backoff.
        delay = 0.0 if outcome in ("lost", "stuck") else retry_delay_s(int(rows[0]["attempts"]), copy_trading)
        book.record_attempt_outcome([a["signal_key"] for a in rows], run_key, outcome, error, run_id, now + delay,
                                    now=now)
        if outcome != "success":
            context.log.warning(f"copy run {run_key} ({len(rows)} signals, {len(unfinished)} unfinished): {outcome}"
                                f" — {error}" + (f"; relaunch in {delay:.0f} s" if unfinished else ""))
    # 2. Relaunch the unfinished signals whose last launch ended and whose backoff has passed.
    due = [s for s in book.unfinished_signals(copy_trading.order_deadline_s, now=now)
           if s["outcome"] is not None and s["next_attempt_at"] is not None and float(s["next_attempt_at"]) <= now]
    requests = []
    by_attempt: dict[int, list[str]] = {}
    for s in due:
        by_attempt.setdefault(int(s["attempts"]) + 1, []).append(s["signal_key"])
    for attempt, keys in sorted(by_attempt.items()):
        requests += launch_requests(book, keys, attempt, copy_trading)
        context.log.info(f"relaunching {len(keys)} signals (attempt {attempt})")
    # The alert: signals undecided past the limit, each logged once; the check's state is
    # reported whenever it changes.
    overdue = book.undecided_signals(older_than_s=copy_trading.undecided_alert_s, now=now)
    newly = [s for s in overdue if s["alerted_at"] is None]
    if newly:
        context.log.error(f"{len(newly)} followed signals undecided for more than {copy_trading.undecided_alert_s:.0f} "
                          f"s (no_undecided_trades): " + ", ".join(
                              f"{s['signal_key'][:16]} ({s['attempts']} attempts, last error: "
                              f"{(s['last_error'] or '-')[:120]})" for s in newly[:10]))
        book.mark_alerted([s["signal_key"] for s in newly], now=now)
    state = json.loads(context.cursor) if context.cursor else {}
    events = []
    if state.get("overdue") != len(overdue):
        result = undecided_check_result(book, copy_trading.undecided_alert_s)
        events.append(dg.AssetCheckEvaluation(asset_key=dg.AssetKey("eligible_signals"),
                                              check_name="no_undecided_trades", passed=result.passed,
                                              metadata=result.metadata, severity=result.severity))
    return dg.SensorResult(run_requests=requests, asset_events=events,
                           cursor=json.dumps({"overdue": len(overdue)}))


def copy_trade_job_for(resources: dict) -> dg.JobDefinition:
    """The copy_trade job bound to ``resources`` (rules not given take the documents' defaults),
    for in-process runs: the demo, tests and benchmarks."""
    full = {"signal_rules": SignalRulesResource(), "sizing_rules": SizingRulesResource(),
            "risk_rules": RiskRulesResource(), "exit_rules": ExitRulesResource(), **resources}
    return dg.Definitions(assets=[assess_portfolio_and_signal, copy_orders],
                          asset_checks=[no_undecided_trades, ledger_matches_venue],
                          jobs=[copy_trade_job], resources=full).resolve_job_def("copy_trade")


defs = dg.Definitions(
    assets=[assess_portfolio_and_signal, copy_orders],
    asset_checks=[no_undecided_trades, ledger_matches_venue],
    jobs=[copy_trade_job, risk_monitor_job, reconcile_orders_job, venue_reconciliation_job],
    sensors=[followed_wallets_sensor, undecided_signals_sweeper],
    schedules=[reconcile_schedule, risk_monitor_schedule, venue_reconciliation_schedule],
)
