"""Copy one source trade, at most once.

Order of operations (each step durable before the next):
1. the source trade is recorded as seen;
2. the decision (copy or skip, with stage, reason and the values behind it) is
   claimed in the ledger — a trade is decided once, whatever retries happen;
3. a copy order is saved as *pending* before it is sent;
4. the venue's answer (fills, fee, status) settles the order.
A pending order left by a crash is reconciled with the venue by its client order
id and never blindly re-sent.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

from polycopy.polymarket.http import ApiError
from polycopy.polymarket.schema import Trade


@dataclass(frozen=True)
class CopySettings:
    """Walking-skeleton copy rules (full sizing and risk gates come later).

    order_usd: USD notional of a copied BUY.
    max_slippage: fraction above the source trade's price a copied BUY may pay.
    max_trade_age_s: source BUYs older than this (seconds) when seen are not copied.
    reconcile_after_s: pending orders older than this (seconds) are reconciled.
    """

    order_usd: float = 100.0
    max_slippage: float = 0.01
    max_trade_age_s: float = 300.0
    reconcile_after_s: float = 60.0


@dataclass(frozen=True)
class CopyOutcome:
    trade_key: str
    decision: str  # copy | skip
    stage: str
    reason: str
    order_id: str | None = None
    order_status: str | None = None
    filled_shares: float = 0.0
    avg_price: float | None = None
    fee_usd: float = 0.0
    already_decided: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def client_order_id(trade_key: str) -> str:
    """Deterministic client order id of the copy of a source trade."""
    return f"pc-{trade_key[:24]}"


def _floor_to(x: float, step: float) -> float:
    return math.floor(x / step + 1e-9) * step


def evaluate(trade: Trade, ledger, clob, settings: CopySettings, now: float) -> tuple[str, str, str, dict]:
    """Decide what to do with a source trade: (decision, stage, reason, details)."""
    age = now - trade.timestamp
    details: dict = {"source_price": trade.price, "source_size": trade.size, "source_side": trade.side,
                     "age_s": round(age, 3)}
    if trade.side == "BUY":
        if age > settings.max_trade_age_s:
            return "skip", "freshness", f"stale: seen {age:.0f}s after the trade (max {settings.max_trade_age_s:.0f}s)", details
        try:
            book = clob.book(trade.token_id)
        except ApiError as exc:
            return "skip", "market", f"no order book: {exc}", details
        tick = book.tick_size or 0.01
        limit = round(min(1.0 - tick, _floor_to(trade.price * (1 + settings.max_slippage), tick)), 6)
        details.update(best_ask=book.best_ask, limit_price=limit, tick_size=tick)
        if book.best_ask is None:
            return "skip", "market", "no asks in the book", details
        if book.best_ask > limit + 1e-9:
            return "skip", "slippage", (f"best ask {book.best_ask:.2f} above limit {limit:.2f} "
                                        f"(source price {trade.price:.4f} + {settings.max_slippage:.1%})"), details
        shares = _floor_to(settings.order_usd / book.best_ask, 0.01)
        details.update(shares=round(shares, 2), notional_usd=round(shares * book.best_ask, 4))
        if shares < book.min_order_size:
            return "skip", "size", f"{shares:.2f} shares below the minimum order size {book.min_order_size:g}", details
        return "copy", "execution", "copy BUY", details
    held = ledger.position_shares(trade.token_id)
    details["held_shares"] = held
    if held <= 1e-9:
        return "skip", "position", "no position in this token to exit", details
    # Exits are never skipped for price: fill-and-kill at the best bid.
    try:
        book = clob.book(trade.token_id)
    except ApiError as exc:
        return "skip", "market", f"no order book to exit into: {exc}", details
    details.update(best_bid=book.best_bid)
    if book.best_bid is None:
        return "skip", "market", "no bids to exit into", details
    details.update(shares=round(_floor_to(held, 0.01), 2), limit_price=book.best_bid)
    return "copy", "execution", "mirror the source wallet's exit at the best bid", details


def copy_trade(trade: Trade, *, ledger, venue, clob, settings: CopySettings, run_id: str | None = None,
               now: float | None = None) -> CopyOutcome:
    """Decide and, if copying, place and record one order for ``trade``."""
    now = time.time() if now is None else now
    ledger.record_seen(trade.trade_key, trade.proxy_wallet, trade.condition_id, trade.token_id, trade.side,
                       trade.size, trade.price, trade.timestamp, trade.as_row(), seen_at=now)
    if ledger.decision(trade.trade_key) is None:
        decision, stage, reason, details = evaluate(trade, ledger, clob, settings, now)
        claimed = ledger.claim_decision(trade.trade_key, decision, stage, reason, details, run_id)
        if claimed and decision == "copy":
            order_id = client_order_id(trade.trade_key)
            side = trade.side
            order_type = "FOK" if side == "BUY" else "FAK"
            if ledger.create_pending_order(order_id, trade.trade_key, venue.name, trade.token_id,
                                           trade.condition_id, side, order_type, details["limit_price"],
                                           details["shares"]):
                ex = venue.place(order_id, trade.token_id, side, details["shares"], details["limit_price"])
                _settle(ledger, order_id, trade.token_id, side, ex)
        if claimed:
            return _outcome(ledger, trade.trade_key, already=False)
    return _outcome(ledger, trade.trade_key, already=True)


def _settle(ledger, order_id: str, token_id: str, side: str, ex) -> None:
    fills = []
    if ex.filled_shares > 0:
        total = ex.filled_shares
        for i, (price, shares) in enumerate(ex.levels):
            fee_share = ex.fee_usd * shares / total if total else 0.0
            fills.append((f"{order_id}-{i}", token_id, side, float(price), float(shares), fee_share))
    ledger.settle_order(order_id, ex.status, ex.reason, None, fills)


def reconcile_pending(ledger, venue, older_than_s: float, now: float | None = None) -> list[dict]:
    """Settle pending orders older than ``older_than_s`` from the venue's own record.

    An order the venue never received is cancelled, not re-sent.
    """
    now = time.time() if now is None else now
    done = []
    for order in ledger.pending_orders():
        if now - order["created_at"] < older_than_s:
            continue
        ex = venue.lookup(order["order_id"])
        if ex is None:
            ledger.settle_order(order["order_id"], "cancelled", "not found at the venue after a restart; not re-sent",
                                None, [])
            done.append({"order_id": order["order_id"], "status": "cancelled"})
        else:
            _settle(ledger, order["order_id"], order["token_id"], order["side"], ex)
            done.append({"order_id": order["order_id"], "status": ex.status})
    return done


def _outcome(ledger, trade_key: str, already: bool) -> CopyOutcome:
    d = ledger.decision(trade_key)
    o = ledger.order_for_trade(trade_key)
    fills = ledger.fills_for_order(o["order_id"]) if o else []
    shares = sum(f["shares"] for f in fills)
    avg = sum(f["price"] * f["shares"] for f in fills) / shares if shares else None
    return CopyOutcome(
        trade_key=trade_key, decision=d["decision"], stage=d["stage"], reason=d["reason"],
        order_id=o["order_id"] if o else None, order_status=o["status"] if o else None,
        filled_shares=shares, avg_price=avg, fee_usd=sum(f["fee_usd"] for f in fills), already_decided=already,
    )
