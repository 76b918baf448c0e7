"""Approval mode: the review_order job, launchable from the UI with config, which approves
or rejects a proposed order (the same action as ``polycopy orders approve|reject``), and
``act_on_proposal``, the one place both go through."""

import dagster as dg
from pydantic import Field

from polycopy.execution.approval import ProposalOutcome, approve, reject, send_proposal
from polycopy.execution.portfolio_state import assess_portfolio
from polycopy_dagster.defs.copy_trading import trading_venue
from polycopy_dagster.defs.resources import (CopyTradingResource, LedgerResource, PolymarketResource,
                                             RiskRulesResource, SignalRulesResource)


def act_on_proposal(action: str, proposal_id: str, actor: str, reason: str, *, polymarket: PolymarketResource,
                    book, copy_trading: CopyTradingResource, signal_rules: SignalRulesResource,
                    risk_rules: RiskRulesResource) -> ProposalOutcome:
    """Approve (re-checked against the book and the risk gate now, then sent) or reject a
    proposal, recorded with ``actor`` and ``reason``."""
    if action == "reject":
        return reject(book, proposal_id, actor, reason)
    if action != "approve":
        raise ValueError(f"unknown action {action!r}: approve or reject")
    signals = signal_rules.settings()
    with polymarket.clients() as clients, trading_venue(copy_trading, polymarket, book, clients) as venue:
        state = assess_portfolio(book, clients, risk_rules.settings(), signals)
        return approve(book, proposal_id, actor, book_of=clients.clob.book, halt_reasons=state.halt_reasons,
                       signals=signals, fee_rate=copy_trading.taker_fee_rate, reason=reason,
                       send=lambda p: send_proposal(book, venue, p, copy_trading.order_deadline_s))


class ReviewOrderConfig(dg.Config):
    proposal_id: str = Field(description="The proposal (polycopy orders pending lists them)")
    action: str = Field(description="approve or reject")
    reason: str = Field(default="", description="Why (required to reject)")
    actor: str = Field(default="", description="Who acts (default: the run's launcher, else 'dagster')")


@dg.op(description="Approve (re-checked against the current book and the risk gate, then sent) or reject a proposed "
                   "order; the action is recorded with its actor, time and reason.")
def review_order_op(context: dg.OpExecutionContext, config: ReviewOrderConfig, polymarket: PolymarketResource,
                    ledger: LedgerResource, copy_trading: CopyTradingResource, signal_rules: SignalRulesResource,
                    risk_rules: RiskRulesResource) -> dict:
    actor = config.actor or context.run.tags.get("dagster/user") or "dagster"
    book = ledger.open()
    out = act_on_proposal(config.action, config.proposal_id, actor, config.reason, polymarket=polymarket, book=book,
                          copy_trading=copy_trading, signal_rules=signal_rules, risk_rules=risk_rules)
    context.log.info(f"proposal {out.proposal_id}: {out.status} ({out.reason})")
    order = book.order(out.order_id) if out.order_id else None
    context.add_output_metadata({"proposal_id": out.proposal_id, "status": out.status, "reason": out.reason,
                                 "actor": actor, "order_status": order["status"] if order else "-",
                                 "order_reason": (order["reason"] or "-") if order else "-"})
    if out.status == "unchanged":
        raise dg.Failure(f"proposal {out.proposal_id} not changed: {out.reason}")
    return {"proposal_id": out.proposal_id, "status": out.status, "reason": out.reason, "order_id": out.order_id}


@dg.job(name="review_order", executor_def=dg.in_process_executor,
        description="Approval mode: approve or reject one proposed order (launch with config: proposal_id, action, "
                    "reason).", tags={"polycopy/kind": "review_order"})
def review_order_job():
    review_order_op()


defs = dg.Definitions(jobs=[review_order_job])
