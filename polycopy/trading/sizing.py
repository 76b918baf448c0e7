"""Position sizing: adaptive Kelly (002 §4), the documents' multipliers (000, 003) and
the hard caps. Sizes are fractions of NAV or USD as named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from polycopy.trading.settings import SizingSettings


def blended_probability(whale_win_rate: float, market_price: float, whale_weight: float = 0.7) -> float:
    """Win probability blended from the whale's adjusted win rate and the market price."""
    return whale_weight * whale_win_rate + (1.0 - whale_weight) * market_price


def kelly_fraction(p: float, cost_per_share: float) -> float:
    """Full Kelly fraction for a share that costs ``cost_per_share`` USD (price + fee) and pays
    $1 with probability ``p``: b = (1 − c)/c, f = (p·b − q)/b, never negative."""
    if not 0.0 < cost_per_share < 1.0:
        return 0.0
    b = (1.0 - cost_per_share) / cost_per_share
    return max(0.0, (p * b - (1.0 - p)) / b)


def confidence_adjustment(wqs: float, floor: float = 0.4) -> float:
    """k_conf = 0.4 + 0.6 × WQS/100, in [0.4, 1]."""
    w = min(max(wqs, 0.0), 100.0)
    return floor + (1.0 - floor) * w / 100.0


def volatility_adjustment(sigma: float, sensitivity: float = 5.0, floor: float = 0.5, cap: float = 1.2) -> float:
    """k_vol = clip(1 / (1 + 5σ), 0.5, 1.2), σ the market's EWMA volatility (USD/share per day)."""
    return max(floor, min(cap, 1.0 / (1.0 + sensitivity * max(sigma, 0.0))))


def correlation_adjustment(rho: float, floor: float = 0.3) -> float:
    """k_corr = max(0.3, 1 − ρ²)."""
    return max(floor, 1.0 - rho * rho)


def drawdown_adjustment(drawdown: float, sensitivity: float = 3.0, floor: float = 0.2) -> float:
    """k_dd = max(0.2, 1 − 3 × drawdown), drawdown a fraction of the NAV peak."""
    return max(floor, 1.0 - sensitivity * max(drawdown, 0.0))


def whale_quality_multiplier(wqs: float, lo: float = 0.5, hi: float = 2.0) -> float:
    """000 Phase 4: 0.5 + 1.5 × score, the score being WQS/100."""
    w = min(max(wqs, 0.0), 100.0)
    return lo + (hi - lo) * w / 100.0


def market_quality_multiplier(liquidity_usd: float, spread: float, s: SizingSettings) -> float:
    """003 step 3 from liquidity (USD) and spread (USD/share), clipped to [0.5, 1.5]."""
    liq = max(liquidity_usd, 1.0)
    m = (s.market_quality_base
         + s.market_quality_per_decade * math.log10(liq / s.market_quality_reference_liquidity_usd)
         - s.market_quality_spread_penalty * (spread - s.market_quality_reference_spread))
    return max(s.market_quality_min, min(s.market_quality_max, m))


def conviction_multiplier(whale_trade_usd: float, reference_usd: float = 1_000.0, cap: float = 1.5) -> float:
    """000 Phase 4: min(whale trade / $1,000, 1.5)."""
    return max(0.0, min(whale_trade_usd / reference_usd, cap))


@dataclass(frozen=True)
class SizingInputs:
    """What a copy's size depends on. Prices USD/share; σ USD/share per day."""

    whale_win_rate: float  # Beta-Binomial posterior mean
    wqs: float
    market_price: float  # mid
    cost_per_share: float  # expected fill price + taker fee per share
    volatility: float
    correlation: float
    portfolio_drawdown: float
    whale_trade_usd: float
    liquidity_usd: float
    spread: float


@dataclass(frozen=True)
class Headroom:
    """USD that each hard cap still allows for this order (≥ 0)."""

    per_trade_usd: float
    per_trade_fraction_usd: float
    market_usd: float
    category_usd: float
    total_usd: float
    wallet_usd: float
    cash_usd: float

    def binding(self) -> tuple[str, float]:
        items = sorted(self.__dict__.items(), key=lambda kv: kv[1])
        return items[0]


@dataclass(frozen=True)
class Sizing:
    """The size of a copy and every factor behind it."""

    usd: float  # final order notional, USD (0 when nothing should be bought)
    fraction: float  # of NAV
    factors: dict = field(default_factory=dict)
    binding: str = ""  # what set the final size: "kelly" or the cap that clipped it


def size_position(x: SizingInputs, nav_usd: float, headroom: Headroom, s: SizingSettings) -> Sizing:
    """Kelly on the blended probability × adjustments × half-Kelly, capped at 8 % NAV; then the
    documents' multipliers (or, with ``fixed_trade_usd``, that many USD); then the hard caps
    (the smallest headroom wins)."""
    p = blended_probability(x.whale_win_rate, x.market_price, s.whale_weight)
    f_kelly = kelly_fraction(p, x.cost_per_share)
    k_conf = confidence_adjustment(x.wqs, s.confidence_floor)
    k_vol = volatility_adjustment(x.volatility, s.volatility_sensitivity, s.volatility_floor, s.volatility_cap)
    k_corr = correlation_adjustment(x.correlation, s.correlation_floor)
    k_dd = drawdown_adjustment(x.portfolio_drawdown, s.drawdown_sensitivity, s.drawdown_floor)
    f_adjusted = s.kelly_fraction * f_kelly * k_conf * k_vol * k_corr * k_dd
    f_capped = min(s.max_kelly_fraction, max(0.0, f_adjusted))
    m_whale = whale_quality_multiplier(x.wqs, s.whale_quality_min, s.whale_quality_max)
    m_market = market_quality_multiplier(x.liquidity_usd, x.spread, s)
    m_conviction = conviction_multiplier(x.whale_trade_usd, s.conviction_reference_usd, s.conviction_max)
    f_multiplied = f_capped * m_whale * m_market * m_conviction
    wanted = s.fixed_trade_usd if s.fixed_trade_usd > 0 else f_multiplied * max(nav_usd, 0.0)
    if not math.isfinite(wanted):
        wanted = 0.0  # unusable inputs buy nothing
    cap_name, cap_usd = headroom.binding()
    usd = max(0.0, min(wanted, cap_usd))
    factors = {
        "p_blended": p, "kelly_full": f_kelly, "k_conf": k_conf, "k_vol": k_vol, "k_corr": k_corr, "k_dd": k_dd,
        "kelly_adjusted": f_adjusted, "kelly_capped": f_capped, "m_whale_quality": m_whale,
        "m_market_quality": m_market, "m_conviction": m_conviction, "fraction_before_caps": f_multiplied,
        "wanted_usd": wanted, "headroom_usd": {k: round(v, 4) for k, v in headroom.__dict__.items()},
    }
    binding = ("fixed" if s.fixed_trade_usd > 0 else "kelly") if wanted <= cap_usd else cap_name
    return Sizing(usd, usd / nav_usd if nav_usd > 0 else 0.0, factors, binding)


def headroom(nav_usd: float, cash_usd: float, market_exposure: float, category_exposure: float,
             total_exposure: float, wallet_exposure: float, wallet_max_exposure: float,
             s: SizingSettings) -> Headroom:
    """What each cap leaves for one more order, in USD (exposures in USD at mark)."""
    nav = max(nav_usd, 0.0)
    return Headroom(
        per_trade_usd=s.max_trade_usd,
        per_trade_fraction_usd=s.max_trade_fraction * nav,
        market_usd=max(0.0, s.max_market_exposure * nav - market_exposure),
        category_usd=max(0.0, s.max_category_exposure * nav - category_exposure),
        total_usd=max(0.0, s.max_total_exposure * nav - total_exposure),
        wallet_usd=max(0.0, wallet_max_exposure * nav - wallet_exposure),
        cash_usd=max(0.0, cash_usd),
    )
