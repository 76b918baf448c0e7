"""Copy trading: the copy chain as assets (portfolio_risk, eligible_signals, copy_orders)
with the blocking checks that stop orders, the follow sensor, risk monitoring and
order reconciliation."""


import json
import time

import dagster as dg
from pydantic import Field

from polycopy.execution.copier import decide_trade, place_order, reconcile_pending
from polycopy.execution.paper import PaperVenue
from polycopy.execution.portfolio_state import assess_portfolio
from polycopy.feed import PollingActivityFeed
from polycopy.polymarket.schema import Trade
from polycopy.trading.limits import limit_breaches
from polycopy_dagster.defs.automation import schedule_status, sensor_status
from polycopy_dagster.defs.metadata import TRADING_OWNERS, counts_table, rounded, table, tags
from polycopy_dagster.defs.resources import (CopyTradingResource, LedgerResource, PolymarketResource,
                                             RiskRulesResource, SignalRulesResource, SizingRulesResource,
                                             trading_rules)

TRADING_GROUP = "trading"
ASSESSMENT_OP = "assess_portfolio_and_signal"
TRADING = dict(group_name=TRADING_GROUP, kinds={"python", "sqlite"}, owners=TRADING_OWNERS, tags=tags("trading"))
# Published by the data plane's followed_watchlist (another code location): declaring it by
# key joins the two locations into one lineage graph.
PUBLISHED_WATCHLIST = dg.AssetKey("followed_watchlist")


class CopyTradeConfig(dg.Config):
    trade: str = Field(default="", description="The source trade as JSON (internal Trade schema); empty to assess "
                                               "the portfolio only")


def _venue(mode: str, ledger, clients, fee_rate: float):
    if mode != "paper":
        raise dg.Failure(f"copy-trading mode {mode!r} is not available; only 'paper' is supported")
    return PaperVenue(ledger, clients.clob, fee_rate)


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


DECISION_COLUMNS = ["trade_key", "wallet", "side", "decision", "stage", "reason", "notional_usd", "shares",
                    "limit_price", "decided_by_this_run"]


@dg.multi_asset(
    name=ASSESSMENT_OP,
    specs=[
        dg.AssetSpec("portfolio_risk", **TRADING, deps=[PUBLISHED_WATCHLIST],
                     description="The copy portfolio now: NAV, cash, exposure by market, category and source wallet, "
                                 "Cornish-Fisher mVaR with its band, drawdown, every circuit breaker and the kill "
                                 "switch. A NAV snapshot per assessment is kept in the ledger."),
        dg.AssetSpec("eligible_signals", **TRADING, deps=[PUBLISHED_WATCHLIST, "portfolio_risk"],
                     description="Every source trade of a followed wallet, decided once: copied with its size, or "
                                 "rejected at the risk gate, stage 1 (whale), 2 (trade and market), 3 (portfolio) or "
                                 "sizing — with the reason and the values that decided it. Pass-through rate in the "
                                 "metadata."),
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
                          description="An independent recount: the order this run decided breaches no cap or "
                                      "exposure limit and is not sent while trading is halted."),
    ],
    can_subset=True,
)
def assess_portfolio_and_signal(context: dg.AssetExecutionContext, config: CopyTradeConfig,
                                polymarket: PolymarketResource, ledger: LedgerResource,
                                copy_trading: CopyTradingResource, signal_rules: SignalRulesResource,
                                sizing_rules: SizingRulesResource, risk_rules: RiskRulesResource):
    rules = trading_rules(copy_trading, signal_rules, sizing_rules, risk_rules)
    book = ledger.open()
    selected = {k.to_user_string() for k in context.selected_asset_keys}
    with polymarket.clients() as clients:
        state = assess_portfolio(book, clients, rules.risk, rules.signals, run_id=context.run.run_id)
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
        if not config.trade:
            raise dg.Failure("eligible_signals needs a source trade (run config: trade)")
        trade = Trade(**json.loads(config.trade))
        decision, decided_now = decide_trade(
            trade, ledger=book, clients=clients, rules=rules, state=state,
            followed_override=trade.proxy_wallet.lower() in copy_trading.wallets(), run_id=context.run.run_id)
    details = json.loads(decision["details"])
    breaches = []
    if decided_now and decision["decision"] == "copy":
        breaches = limit_breaches(
            trade.side, float(details.get("notional_usd", 0.0)), trade.condition_id, details.get("category", ""),
            trade.proxy_wallet, float(details.get("tier_max_exposure", 0.0)), state.portfolio, state.halt_reasons,
            rules.signals, rules.sizing, shares=float(details.get("shares", 0.0)),
            held_shares=float(details.get("held_shares", 0.0)))
    stats = book.signal_stats()
    context.log.info(f"{trade.side} {trade.size:.2f} @ {trade.price:.4f} by {trade.proxy_wallet}: "
                     f"{decision['decision']} ({decision['stage']}: {decision['reason']})")
    row = {"trade_key": trade.trade_key, "wallet": trade.proxy_wallet, "side": trade.side,
           "decision": decision["decision"], "stage": decision["stage"], "reason": decision["reason"],
           "notional_usd": details.get("notional_usd"), "shares": details.get("shares"),
           "limit_price": details.get("limit_price"), "decided_by_this_run": decided_now}
    yield dg.MaterializeResult(asset_key="eligible_signals", metadata={
        "trade_key": trade.trade_key, "wallet": trade.proxy_wallet, "side": trade.side,
        "decision": decision["decision"], "stage": decision["stage"], "reason": decision["reason"],
        "decided_by_this_run": decided_now,
        "decisions": table([row], DECISION_COLUMNS, digits=4, column_digits={"notional_usd": 2}),
        "values": table([{"value": k, "amount": v} for k, v in sorted(details.items())], digits=4),
        "signals_decided": stats["signals"], "signals_copied": stats["copied"],
        "pass_through_rate": rounded(stats["pass_through_rate"], 4),
        "rejected_by_stage": counts_table(stats["rejected_by_stage"], "stage", "signals"),
    })
    yield dg.AssetCheckResult(asset_key="eligible_signals", check_name="signal_within_limits", passed=not breaches,
                              metadata={"breaches": table([{"breach": b} for b in breaches], ["breach"]),
                                        "decision": decision["decision"]})


@dg.asset(
    **TRADING,
    deps=["portfolio_risk", "eligible_signals"],
    retry_policy=dg.RetryPolicy(max_retries=3, delay=1),
    description="The order a copy decision of this run calls for: saved pending, sent to the venue at most once, "
                "settled with its fills and fee. Runs only when every blocking check upstream passed.",
)
def copy_orders(context: dg.AssetExecutionContext, polymarket: PolymarketResource, ledger: LedgerResource,
                copy_trading: CopyTradingResource) -> dg.MaterializeResult:
    book = ledger.open()
    placed = []
    with polymarket.clients() as clients:
        venue = _venue(copy_trading.mode, book, clients, copy_trading.taker_fee_rate)
        reconciled = reconcile_pending(book, venue, copy_trading.reconcile_after_s)
        for d in book.decisions_of_run(context.run.run_id):
            if d["decision"] != "copy":
                continue
            trade = Trade(**json.loads(book.source_trade(d["trade_key"])["payload"]))
            outcome = place_order(trade, ledger=book, venue=venue)
            placed.append(outcome.as_dict())
            context.log.info(f"order {outcome.order_id}: {outcome.order_status}, {outcome.filled_shares:.2f} shares "
                             f"at {outcome.avg_price}, fee ${outcome.fee_usd:.4f}")
    if reconciled:
        context.log.warning(f"reconciled pending orders: {reconciled}")
    summary = book.summary()
    return dg.MaterializeResult(metadata={
        "orders": table(placed, digits=4), "reconciled": table([{"order": str(r)} for r in reconciled], ["order"]),
        **{k: (rounded(v, 4) if isinstance(v, float) else v) for k, v in summary.items()}})


copy_trade_job = dg.define_asset_job(
    name="copy_trade",
    selection=dg.AssetSelection.assets("portfolio_risk", "eligible_signals", "copy_orders"),
    executor_def=dg.in_process_executor,
    description="Copy one source trade: assess the portfolio, decide the signal (risk gate, stages 1-3, sizing), "
                "then — only if every blocking check passed — place and record the order.",
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


@dg.op(description="Settle pending orders left by a crash from the venue's own record; never re-send.")
def reconcile_orders_op(context: dg.OpExecutionContext, polymarket: PolymarketResource, ledger: LedgerResource,
                        copy_trading: CopyTradingResource) -> list:
    book = ledger.open()
    with polymarket.clients() as clients:
        venue = _venue(copy_trading.mode, book, clients, copy_trading.taker_fee_rate)
        done = reconcile_pending(book, venue, copy_trading.reconcile_after_s)
    context.log.info(f"reconciled {len(done)} pending orders")
    return done


@dg.job(name="reconcile_orders", executor_def=dg.in_process_executor)
def reconcile_orders_job():
    reconcile_orders_op()


reconcile_schedule = dg.ScheduleDefinition(job=reconcile_orders_job, cron_schedule="*/5 * * * *",
                                           default_status=schedule_status(),
                                           description="Settle orders left pending by a crash.")


def copy_trade_run_config(trade: Trade) -> dg.RunConfig:
    """Run config of a copy_trade run for one source trade."""
    return dg.RunConfig(ops={ASSESSMENT_OP: CopyTradeConfig(trade=json.dumps(trade.as_row()))})


@dg.sensor(
    job=copy_trade_job,
    minimum_interval_seconds=1,
    default_status=sensor_status(),
    description="Launches one copy_trade run per new trade of a followed wallet (run key = trade key). "
                "Follows the published whale watchlist; POLYCOPY_FOLLOW_WALLETS overrides it.",
)
def followed_wallets_sensor(context: dg.SensorEvaluationContext, polymarket: PolymarketResource,
                            ledger: LedgerResource, copy_trading: CopyTradingResource):
    # The configured follow list, when set, overrides the watchlist.
    wallets = copy_trading.wallets() or [m["wallet_address"] for m in ledger.open().watchlist()]
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
        new = ledger.open().record_feed_rejects(poll.rejects)
        if new:
            context.log.warning(f"{new} malformed feed records kept aside in the ledger's feed_rejects")
    runs = [
        dg.RunRequest(
            run_key=t.trade_key,
            run_config=copy_trade_run_config(t),
            tags={"polycopy/wallet": t.proxy_wallet, "polycopy/trade_key": t.trade_key,
                  "polycopy/trade_ts": str(t.timestamp)},
        )
        for t in poll.trades
    ]
    return dg.SensorResult(run_requests=runs, cursor=json.dumps(poll.cursor, sort_keys=True))


def copy_trade_job_for(resources: dict) -> dg.JobDefinition:
    """The copy_trade job bound to ``resources`` (rules not given take the documents' defaults),
    for in-process runs: the demo, tests and benchmarks."""
    full = {"signal_rules": SignalRulesResource(), "sizing_rules": SizingRulesResource(),
            "risk_rules": RiskRulesResource(), **resources}
    return dg.Definitions(assets=[assess_portfolio_and_signal, copy_orders], jobs=[copy_trade_job],
                          resources=full).resolve_job_def("copy_trade")


defs = dg.Definitions(
    assets=[assess_portfolio_and_signal, copy_orders],
    jobs=[copy_trade_job, risk_monitor_job, reconcile_orders_job],
    sensors=[followed_wallets_sensor],
    schedules=[reconcile_schedule, risk_monitor_schedule],
)
