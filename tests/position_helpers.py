"""Copied positions made directly in a ledger, for the exit and settlement tests: a whale's
BUY recorded as seen, a copy decision on it, and a paper fill-or-kill BUY at the venue's
asks. (Entries and their gates are tested elsewhere.)"""

import itertools
import time

from polycopy.execution.copier import client_order_id
from polycopy.execution.paper import PaperVenue, record_execution
from polycopy.polymarket.schema import Trade, trade_key

FEE_RATE = 0.05
_tx = itertools.count(1)


def whale_trade(who: str, market, side: str, shares: float, price: float, age_s: float = 3) -> Trade:
    """A fill of ``who`` on the market's first outcome, in its own transaction."""
    tx = "0x" + f"{next(_tx) + int(time.time() * 1000):064x}"
    token = str(market.token0)
    return Trade(trade_key(tx, who, token, side, shares, price), tx, who, side, token, market.condition_id,
                 shares, price, shares * price, int(time.time() - age_s), None, 0, None, None, None, None, None, "v1")


def open_paper_position(ledger, clients, market, who: str, shares: float, whale_shares: float = 1_000.0) -> str:
    """A paper position of ``shares`` shares of the market's first outcome, copied from a
    ``whale_shares`` BUY of ``who``. Returns its id (the opening order's id)."""
    token = str(market.token0)
    ask = clients.clob.book(token).best_ask
    t = whale_trade(who, market, "BUY", whale_shares, ask)
    ledger.record_seen_trades([t])
    key = ledger.signal_of_trade(t.trade_key)
    ledger.claim_decision(key, "copy", "sizing", "test entry", {"shares": shares}, None)
    order_id = client_order_id(key)
    limit = min(ask + 0.03, 0.99)
    assert ledger.create_pending_order(order_id, key, "paper", token, market.condition_id, "BUY", "FOK", limit, shares)
    ex = PaperVenue(ledger, clients.clob, FEE_RATE).place(order_id, token, "BUY", limit, usd=shares * ask)
    assert ex.status == "filled", ex
    record_execution(ledger, order_id, token, "BUY", ex)
    return order_id


def tradable_markets(world, clients, now: int, shares: float) -> list:
    """Open markets, ending in more than 5 days, whose first outcome's ask is in [0.3, 0.6]
    with a spread of at most 2 ¢ and depth for ``shares`` twice over in three levels."""
    day = 86_400
    m = world.markets
    out = []
    for row in m[(m.open_ts < now - 3 * day) & (m.closed_ts > now + 5 * day) & (m.end_ts > now + 5 * day)
                 & (m.liquidity > 20_000)].itertuples():
        book = clients.clob.book(str(row.token0))
        if book.best_ask and 0.3 <= book.best_ask <= 0.6 and book.best_ask - book.best_bid <= 0.02 \
                and sum(lv.size for lv in book.asks[:3]) > 2 * shares:
            out.append(row)
    return out
