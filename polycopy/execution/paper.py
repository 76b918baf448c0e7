"""Paper venue: fills orders against the venue's real order book, taker fee included.

BUY is fill-or-kill for an exact number of shares at prices up to the limit; SELL is
fill-and-kill at prices down to the limit (the unfilled rest is left for a retry).
Executions are stored by client order id so that a crash between sending and
recording can be reconciled instead of re-sent.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from polycopy.polymarket.clients import OrderBook
from polycopy.trading.market import taker_fee_per_share


def taker_fee_usd(shares: float, price: float, rate: float) -> float:
    """Polymarket taker fee in USD: shares × rate × p × (1 − p)."""
    return shares * taker_fee_per_share(price, rate)


@dataclass(frozen=True)
class Execution:
    """What the venue did with an order. Prices in USD/share, shares, fee in USD."""

    order_id: str
    status: str  # filled | partially_filled | rejected
    filled_shares: float
    avg_price: float | None
    fee_usd: float
    levels: tuple[tuple[float, float], ...]  # (price, shares) taken per level
    reason: str | None


def match_against_book(order_id: str, book: OrderBook, side: str, shares: float, limit_price: float,
                       fee_rate: float, fill_or_kill: bool) -> Execution:
    """Walk the book like a taker order would. Pure function of the book."""
    eps = 1e-9
    if shares < book.min_order_size - eps:
        return Execution(order_id, "rejected", 0.0, None, 0.0, (),
                         f"size {shares:.2f} below minimum order size {book.min_order_size:g}")
    levels = book.asks if side == "BUY" else book.bids
    acceptable = [l for l in levels if (l.price <= limit_price + eps if side == "BUY" else l.price >= limit_price - eps)]
    taken: list[tuple[float, float]] = []
    left = shares
    for lvl in acceptable:
        if left <= eps:
            break
        q = min(left, lvl.size)
        taken.append((lvl.price, q))
        left -= q
    filled = shares - max(left, 0.0)
    if fill_or_kill and left > eps:
        best = levels[0].price if levels else None
        why = ("empty book side" if best is None else
               f"best {'ask' if side == 'BUY' else 'bid'} {best:.2f} beyond limit {limit_price:.4f}"
               if not acceptable else f"only {filled:.2f} of {shares:.2f} shares within limit {limit_price:.4f}")
        return Execution(order_id, "rejected", 0.0, None, 0.0, (), f"fill-or-kill not filled: {why}")
    if filled <= eps:
        return Execution(order_id, "rejected", 0.0, None, 0.0, (), "no liquidity within limit")
    avg = sum(p * q for p, q in taken) / filled
    fee = sum(taker_fee_usd(q, p, fee_rate) for p, q in taken)
    status = "filled" if left <= eps else "partially_filled"
    return Execution(order_id, status, filled, avg, fee, tuple(taken), None)


def record_execution(ledger, order_id: str, token_id: str, side: str, ex: Execution) -> None:
    """Record a venue's answer to an order in the ledger: its status and one fill per book
    level taken, the fee shared out by shares."""
    fills = []
    if ex.filled_shares > 0:
        total = ex.filled_shares
        for i, (price, shares) in enumerate(ex.levels):
            fee_share = ex.fee_usd * shares / total if total else 0.0
            fills.append((f"{order_id}-{i}", token_id, side, float(price), float(shares), fee_share))
    ledger.settle_order(order_id, ex.status, ex.reason, None, fills)


class PaperVenue:
    """Paper trading against live books; executions are kept in the ledger database."""

    name = "paper"

    def __init__(self, ledger, clob, fee_rate: float):
        self.ledger = ledger
        self.clob = clob
        self.fee_rate = fee_rate

    def place(self, order_id: str, token_id: str, side: str, shares: float, limit_price: float) -> Execution:
        book = self.clob.book(token_id)
        ex = match_against_book(order_id, book, side, shares, limit_price, self.fee_rate,
                                fill_or_kill=(side == "BUY"))
        self.ledger.record_paper_execution(order_id, ex.status, ex.filled_shares, ex.avg_price, ex.fee_usd,
                                           json.dumps(ex.levels), ex.reason)
        return self.lookup(order_id)

    def lookup(self, order_id: str) -> Execution | None:
        r = self.ledger.paper_execution(order_id)
        if r is None:
            return None
        levels = tuple(tuple(x) for x in json.loads(r["levels"]))
        avg = r["avg_price"]
        return Execution(order_id, r["status"], float(r["filled_shares"]),
                         None if avg is None or (isinstance(avg, float) and math.isnan(avg)) else float(avg),
                         float(r["fee_usd"]), levels, r["reason"])
