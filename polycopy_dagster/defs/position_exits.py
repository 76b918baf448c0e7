"""Exits and settlement of copied positions: the exit_position job (one run per exit
decision), the settle_positions job, the open_positions_sensor (every
``exit_check_interval_s``, and after every copy run) and the sensor that settles when the
data plane's market_resolutions materializes."""

import hashlib
import json
import os
import time

import dagster as dg
from pydantic import Field

from polycopy.configuration import ConfigurationError
from polycopy.execution.approval import propose
from polycopy.execution.portfolio_state import assess_portfolio
from polycopy.execution.position_exits import (decide_position_exit, describe, open_positions, place_exit_order,
                                               review_positions, settle_resolved)
from polycopy.ledger.store import exit_key
from polycopy_dagster.defs.automation import sensor_status
from polycopy_dagster.defs.copy_trading import TRADING, copy_trade_job, reconcile_orders_job, trading_venue
from polycopy_dagster.defs.metadata import rounded, table
from polycopy_dagster.defs.resources import (CopyTradingResource, ExitRulesResource, LedgerResource,
                                             PolymarketResource, RiskRulesResource, SignalRulesResource,
                                             SizingRulesResource, trading_rules)

EXIT_TAG = "polycopy/exit"
SETTLE_TAG = "polycopy/settle"
# Resolutions come from the data plane's ingestion (another code location).
MARKET_RESOLUTIONS = dg.AssetKey("market_resolutions")
IN_FLIGHT = {dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING, dg.DagsterRunStatus.MANAGED}


def exit_check_interval_s() -> int:
    """How often open positions are looked at (s): POLYCOPY_EXIT_CHECK_INTERVAL_S, default 60."""
    raw = os.environ.get("POLYCOPY_EXIT_CHECK_INTERVAL_S", "")
    try:
        return max(1, int(float(raw))) if raw.strip() else 60
    except ValueError:
        raise ConfigurationError(f"POLYCOPY_EXIT_CHECK_INTERVAL_S={raw!r} is not a number of seconds") from None


class ExitPassConfig(dg.Config):
    position_id: str = Field(description="The position (the id of the order that opened it)")
    seq: int = Field(description="The position's exit pass this run decides (1, 2, ...)")


EXIT_COLUMNS = ["exit_key", "position_id", "token_id", "decision", "rule", "reason", "shares", "limit_price"]


@dg.multi_asset(
    name="decide_position_exit",
    specs=[dg.AssetSpec("position_exits", **TRADING, deps=["portfolio_risk"],
                        description="Exit decisions on copied positions, one per (position, pass): sell by a rule "
                                    "(stop-loss, source removed, time exit, trailing stop, take-profit; a mirrored "
                                    "whale exit is decided with its signal) with the trigger values, or hold. "
                                    "Exits never pass the entry gates; while trading is halted they hold.")],
    check_specs=[dg.AssetCheckSpec("exit_within_holdings", asset="position_exits", blocking=True,
                                   description="An independent recount: the exit decided sells no more than is "
                                               "held less what pending sells of the token may still sell.")],
)
def decide_position_exit_op(context: dg.AssetExecutionContext, config: ExitPassConfig, polymarket: PolymarketResource,
                            ledger: LedgerResource, copy_trading: CopyTradingResource,
                            signal_rules: SignalRulesResource, sizing_rules: SizingRulesResource,
                            risk_rules: RiskRulesResource, exit_rules: ExitRulesResource):
    rules = trading_rules(copy_trading, signal_rules, sizing_rules, risk_rules, exit_rules)
    book = ledger.open()
    with polymarket.clients() as clients:
        state = assess_portfolio(book, clients, rules.risk, rules.signals, run_id=context.run.run_id)
        decision, decided_now = decide_position_exit(book, clients, config.position_id, config.seq, rules.exits,
                                                     halt_reasons=state.halt_reasons, run_id=context.run.run_id)
    context.log.info(("" if decided_now else "decided before: ") + describe(decision))
    details = json.loads(decision["details"])
    yield dg.MaterializeResult(asset_key="position_exits", metadata={
        "exit_key": decision["exit_key"], "decision": decision["decision"], "rule": decision["rule"],
        "reason": decision["reason"], "shares": rounded(decision["shares"], 2),
        "limit_price": rounded(decision["limit_price"], 4), "decided_by_this_run": decided_now,
        "trigger_values": table([{"value": k, "is": v} for k, v in sorted(details.items())
                                 if not isinstance(v, (list, dict))], ["value", "is"], digits=4)})
    sellable = book.sellable_shares(decision["token_id"]) if decision["token_id"] else 0.0
    within = decision["decision"] != "sell" or book.order_for(decision["exit_key"]) is not None \
        or float(decision["shares"]) <= sellable + 1e-6
    yield dg.AssetCheckResult(asset_key="position_exits", check_name="exit_within_holdings", passed=within,
                              metadata={"shares": rounded(decision["shares"], 2), "sellable": rounded(sellable, 2)})


@dg.asset(
    **TRADING,
    deps=["position_exits"],
    retry_policy=dg.RetryPolicy(max_retries=3, delay=1),
    description="The fill-and-kill SELL an exit decision calls for, at the best bid less the tolerance: saved "
                "pending, sent at most once, never for more than is held less pending sells. An unfilled "
                "remainder is looked at again on the next pass.",
)
def exit_orders(context: dg.AssetExecutionContext, config: ExitPassConfig, polymarket: PolymarketResource,
                ledger: LedgerResource, copy_trading: CopyTradingResource) -> dg.MaterializeResult:
    book = ledger.open()
    key = exit_key(config.position_id, config.seq)
    if copy_trading.mode == "approval" and copy_trading.approve_exits:
        d = book.exit_decision(key)
        if d is not None and d["decision"] == "sell" and book.order_for(key) is None:
            propose(book, key, "exit", copy_trading.proposal_expiry_s)
            context.log.info(f"exit {key} proposed for approval: {d['reason']}")
        return dg.MaterializeResult(metadata={"exit_key": key, "order": "proposed for approval"})
    with polymarket.clients() as clients, trading_venue(copy_trading, polymarket, book, clients) as venue:
        order = place_exit_order(book, venue, key, copy_trading.order_deadline_s)
    if order is None:
        return dg.MaterializeResult(metadata={"exit_key": key, "order": "none (hold)"})
    fills = book.fills_for_order(order["order_id"])
    shares = sum(f["shares"] for f in fills)
    context.log.info(f"exit order {order['order_id']}: {order['status']}, {shares:.2f} of {order['shares']:.2f} "
                     f"shares" + (f" ({order['reason']})" if order["reason"] else ""))
    return dg.MaterializeResult(metadata={
        "exit_key": key, "order_id": order["order_id"], "status": order["status"],
        "shares_ordered": rounded(order["shares"], 2), "shares_filled": rounded(shares, 2),
        "avg_price": rounded(sum(f["price"] * f["shares"] for f in fills) / shares if shares else None, 4),
        "fee_usd": rounded(sum(f["fee_usd"] for f in fills), 4), "reason": order["reason"] or "-"})


exit_position_job = dg.define_asset_job(
    name="exit_position",
    selection=dg.AssetSelection.assets("position_exits", "exit_orders"),
    executor_def=dg.in_process_executor,
    description="One exit pass on one position: decide sell or hold by the exit rules, then — if the recount "
                "passes — send the fill-and-kill SELL. Its run key names the (position, pass), so a re-evaluation "
                "never sells twice.",
    tags={"polycopy/kind": "exit_position"},
)


@dg.asset(
    **TRADING,
    deps=["portfolio_risk"],
    description="Positions settled at resolution: every open position in a market the venue shows resolved is "
                "closed at its payout (1 won, 0 lost, 0.5 void; early resolutions and V2 markets alike), the cash "
                "credited and the realized P&L booked. Idempotent: settling twice changes nothing.",
    check_specs=[dg.AssetCheckSpec("nothing_open_in_resolved_markets", asset="position_settlements", blocking=True,
                                   description="After settlement no open position is left in a market the venue "
                                               "shows resolved.")],
)
def position_settlements(context: dg.AssetExecutionContext, polymarket: PolymarketResource, ledger: LedgerResource,
                         exit_rules: ExitRulesResource, copy_trading: CopyTradingResource):
    book = ledger.open()
    with polymarket.clients() as clients, trading_venue(copy_trading, polymarket, book, clients) as venue:
        # Live: the tokens are redeemed at the venue before the ledger books the payout.
        settled, left = settle_resolved(book, clients, exit_rules.settings(), redeem=venue.redeem)
    for s in settled:
        context.log.info(f"settled {s['position_id']}: {s['shares']:.2f} shares at {s['payout']:g} ({s['outcome']}), "
                         f"P&L ${s['pnl_usd']:,.2f}")
    yield dg.MaterializeResult(metadata={
        "settled": len(settled), "realized_pnl_usd": rounded(sum(s["pnl_usd"] for s in settled), 2),
        "positions": table(settled, ["position_id", "condition_id", "shares", "payout", "outcome", "early", "pnl_usd"],
                           digits=4)})
    yield dg.AssetCheckResult(check_name="nothing_open_in_resolved_markets", passed=not left,
                              metadata={"open_in_resolved_markets": len(left),
                                        "positions": table(left, ["position_id", "why"])})


settle_positions_job = dg.define_asset_job(
    name="settle_positions",
    selection=dg.AssetSelection.assets(position_settlements),
    executor_def=dg.in_process_executor,
    description="Settle every open position whose market has resolved.",
    tags={"polycopy/kind": "settle_positions"},
)


def exit_requests(instance: dg.DagsterInstance, book, clients, rules, now: float, log,
                  copy_trading: CopyTradingResource) -> list[dg.RunRequest]:
    """One pass over the open positions: the runs to launch — one per exit a rule calls for
    (keyed by position and pass; a failed run's pass is launched again under a new key), a
    settlement run when a position's market has resolved, and a reconciliation when an
    order was left pending (a worker that died between sending and recording)."""
    review = review_positions(book, clients, rules.exits, now=now, settle=False)
    out = []
    stale = [o for o in book.pending_orders() if now - float(o["created_at"]) >= copy_trading.reconcile_after_s]
    if stale and not list(instance.get_runs(dg.RunsFilter(job_name=reconcile_orders_job.name,
                                                          statuses=list(IN_FLIGHT)))):
        log.info(f"{len(stale)} orders left pending: launching their reconciliation with the venue")
        out.append(dg.RunRequest(run_key=f"reconcile-{int(now) // 60}", job_name=reconcile_orders_job.name))
    for pos, seq, trigger in review.exits:
        key = exit_key(pos.position_id, seq)
        records = instance.get_run_records(dg.RunsFilter(tags={EXIT_TAG: key}))
        # A run in flight longer than run_stuck_after_s is presumed dead (a killed worker is only
        # noticed by Dagster at its max runtime): its pass is launched again. Safe: the decision
        # is claimed once per pass and its order is unique, capped at what is held.
        live = [r for r in records if r.dagster_run.status in IN_FLIGHT
                and now - r.create_timestamp.timestamp() < copy_trading.run_stuck_after_s]
        if live:
            continue
        if any(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in records) \
                and book.exit_decision(key) is not None:
            continue
        attempt = len(records)
        log.info(f"{pos.position_id}: {trigger.rule} fires — {trigger.reason}; launching pass {seq}")
        out.append(dg.RunRequest(
            run_key=f"{key}-a{attempt}", job_name=exit_position_job.name,
            run_config=dg.RunConfig(ops={"decide_position_exit": ExitPassConfig(position_id=pos.position_id, seq=seq),
                                         "exit_orders": ExitPassConfig(position_id=pos.position_id, seq=seq)}),
            tags={EXIT_TAG: key, "polycopy/rule": trigger.rule,
                  "dagster/max_runtime": str(int(copy_trading.run_max_runtime_s))}))
    if review.resolved:
        ids = sorted(p["position_id"] for p in review.resolved)
        busy = [r for r in instance.get_runs(dg.RunsFilter(job_name=settle_positions_job.name,
                                                            statuses=list(IN_FLIGHT)))]
        if not busy:
            digest = hashlib.sha1("\n".join(ids).encode()).hexdigest()[:16]
            log.info(f"{len(ids)} positions in resolved markets: launching settlement")
            out.append(dg.RunRequest(run_key=f"settle-{digest}-{int(now) // 60}", job_name=settle_positions_job.name,
                                     tags={SETTLE_TAG: digest}))
    return out


def exit_pass(context, polymarket: PolymarketResource, ledger: LedgerResource, copy_trading: CopyTradingResource,
              rules):
    """The pass both sensors make: the runs to launch, or why there are none."""
    book = ledger.open()
    if not open_positions(book):
        return dg.SkipReason("no open positions")
    with polymarket.clients() as clients:
        requests = exit_requests(context.instance, book, clients, rules, time.time(), context.log, copy_trading)
    return requests or dg.SkipReason("no exit rule fires and no market has resolved")


@dg.sensor(
    jobs=[exit_position_job, settle_positions_job, reconcile_orders_job],
    minimum_interval_seconds=exit_check_interval_s(),
    default_status=sensor_status(),
    description="Looks at every open copied position (every POLYCOPY_EXIT_CHECK_INTERVAL_S, default 60 s): raises "
                "trailing stops, launches one exit_position run per exit a rule calls for (stop-loss, source removed, "
                "time exit, trailing stop, take-profit) and a settle_positions run when a market has resolved.",
)
def open_positions_sensor(context: dg.SensorEvaluationContext, polymarket: PolymarketResource,
                          ledger: LedgerResource, copy_trading: CopyTradingResource,
                          signal_rules: SignalRulesResource, sizing_rules: SizingRulesResource,
                          risk_rules: RiskRulesResource, exit_rules: ExitRulesResource):
    return exit_pass(context, polymarket, ledger, copy_trading,
                     trading_rules(copy_trading, signal_rules, sizing_rules, risk_rules, exit_rules))


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[copy_trade_job],
    request_jobs=[exit_position_job, settle_positions_job, reconcile_orders_job],
    default_status=sensor_status(),
    description="After every successful copy run, the same pass as open_positions_sensor: a new position's "
                "rules are looked at without waiting for the next interval.",
)
def exits_after_copy_run(context: dg.RunStatusSensorContext, polymarket: PolymarketResource,
                         ledger: LedgerResource, copy_trading: CopyTradingResource,
                         signal_rules: SignalRulesResource, sizing_rules: SizingRulesResource,
                         risk_rules: RiskRulesResource, exit_rules: ExitRulesResource):
    return exit_pass(context, polymarket, ledger, copy_trading,
                     trading_rules(copy_trading, signal_rules, sizing_rules, risk_rules, exit_rules))


@dg.asset_sensor(
    asset_key=MARKET_RESOLUTIONS,
    job=settle_positions_job,
    default_status=sensor_status(),
    description="When the data plane's market_resolutions materializes (another code location), settle every open "
                "position whose market has resolved.",
)
def settle_on_resolutions(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry, ledger: LedgerResource):
    if not open_positions(ledger.open()):
        return dg.SkipReason("market_resolutions materialized; no open positions to settle")
    return dg.RunRequest(run_key=f"resolutions-{asset_event.run_id or 'reported'}-{int(asset_event.timestamp * 1000)}",
                         tags={SETTLE_TAG: "market_resolutions"})


defs = dg.Definitions(
    assets=[decide_position_exit_op, exit_orders, position_settlements],
    jobs=[exit_position_job, settle_positions_job],
    sensors=[open_positions_sensor, exits_after_copy_run, settle_on_resolutions],
)
