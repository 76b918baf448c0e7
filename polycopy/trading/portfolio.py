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


def build_portfolio(fills: list[FillRow], marks: dict[str, float], starting_capital_usd: float) -> Portfolio:
    """Walk the fills in time order at average cost. A token without a mark is held at its
    average cost (no better evidence of its value)."""
    cash = starting_capital_usd
    fees = 0.0
    shares: dict[str, float] = defaultdict(float)
    cost: dict[str, float] = defaultdict(float)
    bought_by: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    meta: dict[str, FillRow] = {}
    exit_pnl: dict[str, list] = {}
    for f in sorted(fills, key=lambda r: (r.ts, r.order_id)):
        meta.setdefault(f.token_id, f)
        fees += f.fee_usd
        if f.side == "BUY":
            cash -= f.price * f.shares + f.fee_usd
            shares[f.token_id] += f.shares
            cost[f.token_id] += f.price * f.shares + f.fee_usd
            bought_by[f.token_id][f.wallet] += f.shares
        else:
            held = shares[f.token_id]
            q = min(f.shares, held)
            avg = cost[f.token_id] / held if held > 0 else 0.0
            cash += f.price * f.shares - f.fee_usd
            pnl = (f.price - avg) * q - f.fee_usd
            shares[f.token_id] = held - q
            cost[f.token_id] -= avg * q
            e = exit_pnl.setdefault(f.order_id, [f.ts, 0.0])
            e[0] = max(e[0], f.ts)
            e[1] += pnl
    holdings = []
    for token, q in shares.items():
        if q <= 1e-9:
            continue
        m = meta[token]
        total_bought = sum(bought_by[token].values())
        basis = cost[token]
        mark = marks.get(token)
        holdings.append(Holding(token, m.condition_id, m.category, m.event_slug, q, basis,
                                basis / q if mark is None else float(mark),
                                {w: b / total_bought for w, b in bought_by[token].items()}))
    exits = tuple(sorted((float(ts), float(p)) for ts, p in exit_pnl.values()))
    return Portfolio(cash, tuple(sorted(holdings, key=lambda h: h.token_id)), exits, fees)
