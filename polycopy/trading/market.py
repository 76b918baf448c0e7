"""What a market's book and price history say about a copy: expected fill, slippage,
spread, EWMA volatility and co-movement with other markets.

Prices are USD per share in (0, 1); shares are outcome tokens; volatilities are in
price units (USD/share) per observation interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Fill:
    """The expected taker fill of an order walked through the book."""

    shares: float  # shares that the book can fill within the walked levels
    cost_usd: float  # USD paid for them before fees
    complete: bool  # True if the whole order fills

    @property
    def avg_price(self) -> float | None:
        return self.cost_usd / self.shares if self.shares > 0 else None


def walk_asks(asks: list[tuple[float, float]], usd: float) -> Fill:
    """Buy up to ``usd`` of shares, best ask first. ``asks``: (price, shares), best first."""
    left, shares, cost = usd, 0.0, 0.0
    for price, size in asks:
        if left <= 1e-12:
            break
        take = min(size, left / price)
        shares += take
        cost += take * price
        left -= take * price
    return Fill(shares, cost, left <= 1e-9)


def walk_asks_shares(asks: list[tuple[float, float]], shares: float) -> Fill:
    """Buy exactly ``shares`` if the book holds them, best ask first."""
    left, got, cost = shares, 0.0, 0.0
    for price, size in asks:
        if left <= 1e-12:
            break
        take = min(size, left)
        got += take
        cost += take * price
        left -= take
    return Fill(got, cost, left <= 1e-9)


def slippage(avg_fill_price: float, whale_price: float) -> float:
    """How much more per share we expect to pay than the whale did, as a fraction of its price."""
    return avg_fill_price / whale_price - 1.0


def taker_fee_per_share(price: float, rate: float) -> float:
    """Polymarket's taker fee per share in USD: rate × p × (1 − p)."""
    return rate * price * (1.0 - price)


def expected_edge(probability: float, price: float, fee_rate: float) -> float:
    """Expected return per USD spent buying a share that pays $1 with ``probability``,
    at ``price`` plus the taker fee: p / (price + fee) − 1."""
    return probability / (price + taker_fee_per_share(price, fee_rate)) - 1.0


def ewma_volatility(prices: np.ndarray, lam: float = 0.94) -> float:
    """RiskMetrics EWMA volatility of a price series' changes (002 §4, λ = 0.94).

    σ²₀ is the sample variance of the changes Δ₁…Δₙ; σ²ₜ = λ σ²ₜ₋₁ + (1 − λ) Δₜ²; the result
    is σₙ, the forecast for the next interval, in price units per observation interval. Fewer than two
    changes give 0 (no evidence of movement).
    """
    x = np.asarray(prices, dtype=float)
    x = x[np.isfinite(x)]
    d = np.diff(x)
    if len(d) < 2:
        return 0.0
    var = float(np.var(d))
    for change in d:
        var = lam * var + (1.0 - lam) * change * change
    return math.sqrt(var)


def daily_closes(history: dict) -> dict[int, float]:
    """The last price of each UTC day, keyed by day number (unix seconds // 86,400)."""
    return {int(ts) // 86_400: p for ts, p in sorted(history.items())}  # a later price of the day overwrites


def aligned_changes(a: dict[int, float], b: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
    """Price changes of two series over the timestamps both have, in time order."""
    common = sorted(set(a) & set(b))
    pa = np.array([a[t] for t in common], dtype=float)
    pb = np.array([b[t] for t in common], dtype=float)
    return np.diff(pa), np.diff(pb)


def comovement(a: dict[int, float], b: dict[int, float], shrinkage_points: float, min_points: int) -> float:
    """Correlation of two tokens' price changes over their common timestamps, shrunk toward
    0 by n / (n + k) so that a short overlap cannot claim a strong relation. Series with
    fewer than ``min_points`` common changes, or flat ones, give 0. Pass daily closes
    (:func:`daily_closes`): hourly changes of prices that trend smoothly are autocorrelated
    and make unrelated markets look correlated."""
    da, db = aligned_changes(a, b)
    n = len(da)
    if n < min_points or np.std(da) == 0 or np.std(db) == 0:
        return 0.0
    rho = float(np.corrcoef(da, db)[0, 1])
    return rho * n / (n + shrinkage_points)


def pair_correlation(price_rho: float, same_event: bool, same_category: bool, same_event_floor: float,
                     same_category_floor: float) -> float:
    """Estimated correlation of a new position with an open one: the positive part of the
    shrunk price co-movement, never below what the markets share (one event's news moves
    all its markets; a category shares its drivers). Negative co-movement is a hedge, not
    a concentration, and counts as 0."""
    floor = same_event_floor if same_event else (same_category_floor if same_category else 0.0)
    return max(floor, max(price_rho, 0.0))
