"""The copy portfolio as the ledger's fills describe it: cash, holdings at mark, NAV,
exposure by market, event, category and source wallet, and each exit's realized P&L.

USD throughout; shares are outcome tokens; marks are USD/share.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FillRow:
    """One fill of one of our orders, with what we know of its market and source wallet."""

    ts: float
    order_id: str
    token_id: str
    condition_id: str
    side: str  # BUY | SELL
    price: float
    shares: float
    fee_usd: float
    wallet: str = ""
    category: str = ""
    event_slug: str = ""


@dataclass(frozen=True)
class Holding:
    token_id: str
    condition_id: str
    category: str
    event_slug: str
    shares: float
    cost_usd: float  # average-cost basis of the shares still held
    mark: float
    wallets: dict = field(default_factory=dict)  # source wallet -> fraction of the shares bought on its signals

    @property
    def value_usd(self) -> float:
        return self.shares * self.mark


@dataclass(frozen=True)
class Portfolio:
    cash_usd: float
    holdings: tuple[Holding, ...]
    exits: tuple[tuple[float, float], ...]  # (ts, realized P&L USD incl. fees) per exit order
    fees_usd: float

    @property
    def exposure_usd(self) -> float:
        return sum(h.value_usd for h in self.holdings)

    @property
    def nav_usd(self) -> float:
        return self.cash_usd + self.exposure_usd

    def by(self, key: str) -> dict[str, float]:
        """Exposure (USD at mark) grouped by condition_id, event_slug or category."""
        out: dict[str, float] = defaultdict(float)
        for h in self.holdings:
            out[getattr(h, key)] += h.value_usd
        return dict(out)

    def by_wallet(self) -> dict[str, float]:
        """Exposure (USD at mark) attributed to the source wallets whose trades built it."""
        out: dict[str, float] = defaultdict(float)
        for h in self.holdings:
            for w, share in h.wallets.items():
                out[w] += h.value_usd * share
        return dict(out)


@dataclass(frozen=True)
class Position:
    """One position: from the BUY that took a token from flat to held, until it is flat
    again (sold, or settled at resolution). Its id is that opening order's id.

    Average cost: each BUY adds its price × shares and its fee to the basis; each SELL
    (a settlement is a SELL at the payout, without a fee) realizes
    (price − average cost) × shares − its fee. USD throughout.
    """

    position_id: str
    token_id: str
    condition_id: str
    category: str
    event_slug: str
    opened_at: float
    closed_at: float | None
    shares: float  # held now
    cost_usd: float  # basis of the shares held
    bought_shares: float
    bought_usd: float  # paid, buy fees included
    sold_shares: float
    proceeds_usd: float  # received, sell fees deducted
    fees_usd: float
    realized_pnl_usd: float
    wallets: dict = field(default_factory=dict)  # source wallet -> fraction of the shares bought on its signals
    exit_orders: tuple[str, ...] = ()  # the orders that sold from it, in order

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def avg_cost(self) -> float | None:
        """USD/share of what is held (None when flat)."""
        return self.cost_usd / self.shares if self.shares > DUST_SHARES else None

    @property
    def entry_price(self) -> float | None:
        """Average price paid per share bought, fees included."""
        return self.bought_usd / self.bought_shares if self.bought_shares > 0 else None


DUST_SHARES = 1e-6  # less than this is flat: float residue of selling everything
# A market BUY's shares have 6 decimals, a SELL's 2: what a sale of everything sellable
# leaves (under a hundredth of a share, worth under a cent) cannot be sold, and is
# written off at its cost when the position closes.
UNSELLABLE_SHARES = 0.01


def walk_positions(fills: list[FillRow]) -> tuple[list[Position], float, list[tuple[float, str, float]]]:
    """Every position the fills describe, oldest first; the net cash flow (USD, negative when
    more was paid than received); and each exit order's (last fill ts, order id, realized P&L
    USD incl. fees). A SELL beyond what is held realizes nothing on the excess."""
    cash = 0.0
    open_pos: dict[str, dict] = {}
    done: list[dict] = []
    exits: dict[str, list] = {}
    for f in sorted(fills, key=lambda r: r.ts):  # stable: fills at one instant keep the ledger's order
        p = open_pos.get(f.token_id)
        if f.side == "BUY":
            cash -= f.price * f.shares + f.fee_usd
            if p is None:
                p = open_pos[f.token_id] = dict(
                    position_id=f.order_id, token_id=f.token_id, condition_id=f.condition_id,
                    category=f.category, event_slug=f.event_slug, opened_at=f.ts, closed_at=None, shares=0.0,
                    cost_usd=0.0, bought_shares=0.0, bought_usd=0.0, sold_shares=0.0, proceeds_usd=0.0,
                    fees_usd=0.0, realized_pnl_usd=0.0, bought_by=defaultdict(float), exit_orders=[])
            p["shares"] += f.shares
            p["cost_usd"] += f.price * f.shares + f.fee_usd
            p["bought_shares"] += f.shares
            p["bought_usd"] += f.price * f.shares + f.fee_usd
            p["fees_usd"] += f.fee_usd
            p["bought_by"][f.wallet] += f.shares
            continue
        cash += f.price * f.shares - f.fee_usd
        if p is None:
            continue
        q = min(f.shares, p["shares"])
        avg = p["cost_usd"] / p["shares"] if p["shares"] > 0 else 0.0
        pnl = (f.price - avg) * q - f.fee_usd
        p["shares"] -= q
        p["cost_usd"] -= avg * q
        p["sold_shares"] += q
        p["proceeds_usd"] += f.price * q - f.fee_usd
        p["fees_usd"] += f.fee_usd
        p["realized_pnl_usd"] += pnl
        if f.order_id not in p["exit_orders"]:
            p["exit_orders"].append(f.order_id)
        e = exits.setdefault(f.order_id, [f.ts, 0.0])
        e[0] = max(e[0], f.ts)
        e[1] += pnl
        if p["shares"] < UNSELLABLE_SHARES - 1e-9:
            if p["shares"] > DUST_SHARES:  # the unsellable rest is a loss at its cost
                p["realized_pnl_usd"] -= p["cost_usd"]
                e[1] -= p["cost_usd"]
            p.update(shares=0.0, cost_usd=0.0, closed_at=f.ts)
            done.append(open_pos.pop(f.token_id))
    out = []
    for p in done + list(open_pos.values()):
        bought = p.pop("bought_by")
        total = sum(bought.values())
        out.append(Position(**{**p, "exit_orders": tuple(p["exit_orders"]),
                               "wallets": {w: b / total for w, b in bought.items()} if total > 0 else {}}))
    out.sort(key=lambda p: (p.opened_at, p.position_id))
    exit_list = sorted((float(ts), oid, float(pnl)) for oid, (ts, pnl) in exits.items())
    return out, cash, exit_list


def build_portfolio(fills: list[FillRow], marks: dict[str, float], starting_capital_usd: float) -> Portfolio:
    """The portfolio the fills describe at average cost. A token without a mark is held at
    its average cost (no better evidence of its value)."""
    positions, cash_flow, exits = walk_positions(fills)
    holdings = []
    for p in positions:
        if not p.is_open:
            continue
        mark = marks.get(p.token_id)
        holdings.append(Holding(p.token_id, p.condition_id, p.category, p.event_slug, p.shares, p.cost_usd,
                                p.cost_usd / p.shares if mark is None else float(mark), dict(p.wallets)))
    fees = sum(f.fee_usd for f in fills)
    return Portfolio(starting_capital_usd + cash_flow, tuple(sorted(holdings, key=lambda h: h.token_id)),
                     tuple((ts, pnl) for ts, _, pnl in exits), fees)
