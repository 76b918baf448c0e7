"""Paper venue: fills orders against the venue's real order book, taker fee included.

It fills the way Polymarket's CLOB fills the orders a live copy sends, so that paper and
live keep the same ledger: a BUY is a fill-or-kill market order that spends an amount of
USD (whole cents) at prices up to its limit, each level's shares floored to the
exchange's 10⁻⁶ precision; a SELL is a fill-and-kill market order for a number of
shares at prices down to its limit (the unfilled rest is left for a retry).
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
    return _executed(order_id, "filled" if left <= eps else "partially_filled", taken, fee_rate)


def _executed(order_id: str, status: str, taken: list[tuple[float, float]], fee_rate: float) -> Execution:
    """An order that took ``taken`` (price USD/share, shares) from the book, as a taker."""
    filled = sum(q for _, q in taken)
    avg = sum(p * q for p, q in taken) / filled
    fee = sum(taker_fee_usd(q, p, fee_rate) for p, q in taken)
    return Execution(order_id, status, filled, avg, fee, tuple(taken), None)


MIN_MARKET_ORDER_USD = 1.0  # Polymarket's minimum for a marketable order
SHARE_STEP = 1e-6  # outcome tokens have 6 decimals


def spend_amount(usd: float) -> float:
    """What a market BUY of ``usd`` spends: whole cents, rounded down (the SDK drops the rest)."""
    return math.floor(usd * 100 + 1e-6) / 100


def match_spend_against_book(order_id: str, book: OrderBook, usd: float, limit_price: float,
                             fee_rate: float) -> Execution:
    """A fill-or-kill market BUY: spend ``usd`` (USD, whole cents) on the asks at prices up to
    ``limit_price`` (USD/share), best first; killed unless all but a cent of it is spent.
    Pure function of the book."""
    eps = 1e-9
    budget = spend_amount(usd)
    if budget < MIN_MARKET_ORDER_USD:
        return Execution(order_id, "rejected", 0.0, None, 0.0, (),
                         f"invalid amount for a marketable order ({budget:g}), min size: $1")
    acceptable = [l for l in book.asks if l.price <= limit_price + eps]
    taken: list[tuple[float, float]] = []
    left = budget
    for lvl in acceptable:
        q = min(lvl.size, math.floor(left / lvl.price / SHARE_STEP + 1e-6) * SHARE_STEP)
        if q <= 0:
            break
        taken.append((lvl.price, round(q, 6)))
        left -= lvl.price * q
        if left < SHARE_STEP:
            break
    if left >= 0.01 - eps:
        best = book.asks[0].price if book.asks else None
        why = ("empty book side" if best is None else f"best ask {best:.2f} beyond limit {limit_price:.4f}"
               if not acceptable else f"only ${budget - left:,.2f} of ${budget:,.2f} fills within limit "
               f"{limit_price:.4f}")
        return Execution(order_id, "rejected", 0.0, None, 0.0, (), f"fill-or-kill not filled: {why}")
    return _executed(order_id, "filled", taken, fee_rate)


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

    def place(self, order_id: str, token_id: str, side: str, limit_price: float, *, usd: float = 0.0,
              shares: float = 0.0) -> Execution:
        """A BUY spends ``usd`` (fill-or-kill), a SELL sells ``shares`` (fill-and-kill), no
        worse than ``limit_price`` (USD/share)."""
        book = self.clob.book(token_id)
        if side == "BUY":
            ex = match_spend_against_book(order_id, book, usd, limit_price, self.fee_rate)
        else:
            ex = match_against_book(order_id, book, side, shares, limit_price, self.fee_rate, fill_or_kill=False)
        self.ledger.record_paper_execution(order_id, ex.status, ex.filled_shares, ex.avg_price, ex.fee_usd,
                                           json.dumps(ex.levels), ex.reason)
        return self.lookup(order_id)

    def redeem(self, condition_id: str) -> None:
        """Paper positions are settled in the ledger alone."""

    def lookup(self, order_id: str) -> Execution | None:
        r = self.ledger.paper_execution(order_id)
        if r is None:
            return None
        levels = tuple(tuple(x) for x in json.loads(r["levels"]))
        avg = r["avg_price"]
        return Execution(order_id, r["status"], float(r["filled_shares"]),
                         None if avg is None or (isinstance(avg, float) and math.isnan(avg)) else float(avg),
                         float(r["fee_usd"]), levels, r["reason"])
