"""Approval mode: a person confirms each order before it goes to the venue.

A copy decision (and, by setting, an exit) becomes a *proposal*: the market, side, amount
(USD for a BUY, shares for a SELL), limit price, the decision's confidence and the
values and reasons behind its size, with an expiry (default 120 s). Then, exactly one of:

- **approve**: the decision is checked again now — trading not halted, the book still
  fills the amount within the limit, the slippage against the whale's price and the edge
  after the fee still within the signal rules — and only then sent; a proposal that fails
  the re-check is rejected with what moved;
- **reject**, by a person, with a reason;
- **expire**, unanswered past its expiry.

Every action is recorded with its actor, time and reason. A proposal that does not go
out closes its decision with an order row of the same status, so that nothing sends it
later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from polycopy.execution.copier import client_order_id, place_signal_order
from polycopy.execution.paper import match_spend_against_book, spend_amount
from polycopy.execution.position_exits import exit_order_id, place_exit_order
from polycopy.trading.market import expected_edge, slippage
from polycopy.trading.settings import SignalSettings

EXPIRED_BY = "expiry"
RECHECK_BY = "re-check on approval"


@dataclass(frozen=True)
class ProposalOutcome:
    """What an approval action did: the proposal's new status and why."""

    proposal_id: str
    status: str  # approved | rejected | expired | unchanged
    reason: str
    order_id: str | None = None


def propose(ledger, decision_key: str, kind: str, expiry_s: float, now: float | None = None) -> bool:
    """Turn a decision's order into a proposal (``kind`` entry or exit), expiring after
    ``expiry_s`` seconds. False if it was proposed before."""
    now = ledger.clock() if now is None else now
    if kind == "entry":
        d = ledger.decision(decision_key)
        sig = ledger.signal(decision_key)
        details = json.loads(d["details"])
        token, condition, side = sig["token_id"], sig["condition_id"], sig["side"]
        shares = float(details.get("shares") or 0.0)
        limit = float(details["limit_price"])
        usd = float(details.get("notional_usd") or shares * limit) if side == "BUY" else 0.0
        confidence = details.get("p_blended")
        details = dict(details, reason=d["reason"], stage=d["stage"])
    else:
        d = ledger.exit_decision(decision_key)
        details = dict(json.loads(d["details"]), reason=d["reason"], rule=d["rule"])
        token, condition, side = d["token_id"], d["condition_id"], "SELL"
        shares, limit, usd, confidence = float(d["shares"]), float(d["limit_price"]), 0.0, None
    return ledger.create_proposal(f"prop-{decision_key}"[:64], decision_key, kind, token, condition, side, shares,
                                  usd, limit, None if confidence is None else float(confidence), details,
                                  now, now + expiry_s)


def expire_proposals(ledger, now: float | None = None) -> list[str]:
    """Mark every pending proposal past its expiry as expired (its decision closed with an
    expired order). Returns their ids."""
    now = ledger.clock() if now is None else now
    done = []
    for p in ledger.proposals(status="pending"):
        if float(p["expires_at"]) <= now:
            why = f"not approved within {float(p['expires_at']) - float(p['created_at']):.0f} s"
            if _close(ledger, p, "expired", EXPIRED_BY, why, {}):
                done.append(p["proposal_id"])
    return done


def reject(ledger, proposal_id: str, actor: str, reason: str) -> ProposalOutcome:
    """A person turns a proposal down (``reason`` is required)."""
    if not reason.strip():
        raise ValueError("a rejection needs a reason")
    p = _pending(ledger, proposal_id)
    if isinstance(p, ProposalOutcome):
        return p
    _close(ledger, p, "rejected", actor, reason, {})
    return ProposalOutcome(proposal_id, "rejected", reason)


def recheck(proposal: dict, book, halt_reasons, signals: SignalSettings, fee_rate: float) -> tuple[list[str], dict]:
    """What would stop a proposal going out now: a halt, and for a BUY a book that no longer
    fills its amount within the limit, or slippage or edge past the signal rules at the fill
    it would get now. Returns (problems, the values compared)."""
    problems = [f"trading halted: {'; '.join(halt_reasons)}"] if halt_reasons else []
    details = json.loads(proposal["details"])
    limit = float(proposal["limit_price"])
    v: dict = {"limit_price": limit}
    if proposal["side"] == "SELL":
        bids = [lv for lv in book.bids if lv.price >= limit - 1e-9]
        v["bid_shares_within_limit"] = sum(lv.size for lv in bids)
        if not bids:
            problems.append(f"no bid at or above the limit {limit:.4f} now")
        return problems, v
    # The fill it would get now: the market BUY the venue would execute, walked on this book.
    ex = match_spend_against_book(proposal["proposal_id"], book, float(proposal["usd"]), limit, fee_rate)
    v.update(usd=spend_amount(float(proposal["usd"])))
    if ex.status != "filled":
        problems.append(f"the book does not fill ${v['usd']:,.2f} within the limit {limit:.4f} now ({ex.reason})")
        return problems, v
    fill = ex.avg_price
    whale = details.get("whale_price") or details.get("signal_price")
    p_blend = details.get("p_blended")
    v.update(expected_fill_price=fill)
    if whale:
        slip = slippage(fill, float(whale))
        v.update(whale_price=float(whale), slippage=slip)
        if slip >= signals.max_slippage:
            problems.append(f"the price moved: slippage {slip:.2%} against the whale's {float(whale):.4f} "
                            f"(max {signals.max_slippage:.0%})")
    if p_blend is not None:
        edge = expected_edge(float(p_blend), fill, fee_rate)
        v.update(edge=edge)
        if edge < signals.min_edge:
            problems.append(f"the edge at {fill:.4f} is {edge:.2%} after the fee (min {signals.min_edge:.0%})")
    return problems, v


def approve(ledger, proposal_id: str, actor: str, *, book_of, halt_reasons, signals: SignalSettings,
            fee_rate: float, send, reason: str = "") -> ProposalOutcome:
    """A person approves a proposal: re-checked against ``book_of(token_id)`` and the halt
    reasons now, then sent with ``send(proposal)`` (which returns the order id) — or
    rejected by the re-check with what moved."""
    p = _pending(ledger, proposal_id)
    if isinstance(p, ProposalOutcome):
        return p
    problems, values = recheck(p, book_of(p["token_id"]), halt_reasons, signals, fee_rate)
    if problems:
        why = "; ".join(problems)
        _close(ledger, p, "rejected", RECHECK_BY, f"approved by {actor}, refused by the re-check: {why}", values)
        return ProposalOutcome(proposal_id, "rejected", why)
    if not ledger.resolve_proposal(proposal_id, "approved", actor, reason or "approved", values):
        return ProposalOutcome(proposal_id, "unchanged", "another action settled it first")
    return ProposalOutcome(proposal_id, "approved", reason or "approved", send(p))


def _pending(ledger, proposal_id: str) -> dict | ProposalOutcome:
    """The proposal if it can still be acted on (expiries applied first), else the outcome
    that says why not. KeyError for an unknown id."""
    expire_proposals(ledger)
    p = ledger.proposal(proposal_id)
    if p is None:
        raise KeyError(f"no proposal {proposal_id!r}")
    if p["status"] != "pending":
        return ProposalOutcome(proposal_id, "unchanged", f"the proposal is already {p['status']}")
    return p


def _close(ledger, p: dict, status: str, actor: str, reason: str, values: dict) -> bool:
    """Settle a proposal that does not go out, and close its decision with an order row of
    the same status (so that nothing sends it later)."""
    if not ledger.resolve_proposal(p["proposal_id"], status, actor, reason, values):
        return False
    key = p["decision_key"]
    order_id = exit_order_id(key) if p["kind"] == "exit" else client_order_id(key)
    ledger.create_pending_order(order_id, p["decision_key"], "none", p["token_id"], p["condition_id"], p["side"],
                                "none", float(p["limit_price"]), float(p["shares"]), status=status,
                                reason=f"proposal {status}: {reason}")
    return True


def send_proposal(ledger, venue, proposal: dict, order_deadline_s: float) -> str | None:
    """Send the order an approved proposal carries (saved pending first, at most once).
    Returns its client order id."""
    if proposal["kind"] == "entry":
        return place_signal_order(proposal["decision_key"], ledger=ledger, venue=venue,
                                  order_deadline_s=order_deadline_s).order_id
    order = place_exit_order(ledger, venue, proposal["decision_key"], order_deadline_s)
    return None if order is None else order["order_id"]
