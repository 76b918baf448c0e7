"""Signal, sizing and risk thresholds with the documents' defaults (seeds 000–003).

Fractions are of NAV unless named otherwise; USD amounts are pUSD; times are seconds
or days as named.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SignalSettings:
    # Stage 2: the trade and its market (002 §3)
    min_whale_trade_usd: float = 5_000.0
    max_slippage: float = 0.01  # our expected average fill above the whale's price, fraction
    max_days_to_resolution: float = 90.0
    min_hours_to_resolution: float = 24.0  # 002 §5.3 exits 24 h before resolution: don't enter inside that
    min_edge: float = 0.03  # expected return per USD after the taker fee
    min_market_liquidity_usd: float = 5_000.0  # 003: "$5k liquidity" is the poorest market it sizes
    max_spread: float = 0.05  # best ask − best bid, USD/share (003: 3 ¢ average, 8 ¢ poor)
    max_trade_age_s: float = 300.0  # older source BUYs when seen are not copied
    # Stage 3: the portfolio (002 §3)
    max_correlation: float = 0.4
    max_total_exposure: float = 0.95
    max_category_exposure: float = 0.30
    # Correlation estimate: co-movement of daily price changes over the lookback, shrunk toward
    # 0 by n/(n + k), floored by what the markets share (same event, same category)
    correlation_lookback_days: float = 30.0
    correlation_min_points: int = 10
    correlation_shrinkage_points: float = 20.0
    same_event_correlation: float = 0.5
    same_category_correlation: float = 0.15


@dataclass(frozen=True)
class SizingSettings:
    # Kelly (002 §4): blend, fraction and cap
    whale_weight: float = 0.7  # p = 0.7 × whale's adjusted win rate + 0.3 × market price
    kelly_fraction: float = 0.5
    max_kelly_fraction: float = 0.08
    # Adjustment ranges (002 §4)
    confidence_floor: float = 0.4
    volatility_sensitivity: float = 5.0
    volatility_floor: float = 0.5
    volatility_cap: float = 1.2
    correlation_floor: float = 0.3
    drawdown_sensitivity: float = 3.0
    drawdown_floor: float = 0.2
    ewma_lambda: float = 0.94
    # The documents' multipliers (000 Phase 4, 003 steps 2–3); set a range to (1, 1) to disable
    whale_quality_min: float = 0.5  # 0.5 + 1.5 × WQS/100: 0.5× … 2.0×
    whale_quality_max: float = 2.0
    # Market quality (003 step 3) from liquidity and spread, clipped to 0.5× … 1.5×:
    # base + per_decade × log10(liquidity / reference) − spread_penalty × (spread − reference spread),
    # which gives 003's examples: $100k and 1 ¢ → 1.2×, $25k and 3 ¢ → 0.7×, $5k and 8 ¢ → 0.5×
    market_quality_min: float = 0.5
    market_quality_max: float = 1.5
    market_quality_base: float = 0.7
    market_quality_reference_liquidity_usd: float = 25_000.0
    market_quality_per_decade: float = 2.0 / 3.0
    market_quality_reference_spread: float = 0.03
    market_quality_spread_penalty: float = 5.0
    conviction_reference_usd: float = 1_000.0  # 000: min(whale trade / $1,000, 1.5)
    conviction_max: float = 1.5
    # Fixed-size copying: > 0 spends this many USD on every copy instead of the Kelly size
    # (the hard caps still apply); 0 sizes by Kelly
    fixed_trade_usd: float = 0.0
    # Hard caps (000, 003)
    min_trade_usd: float = 50.0
    max_trade_usd: float = 1_000.0
    max_trade_fraction: float = 0.10  # 003 max_position_pct
    max_market_exposure: float = 0.20
    max_category_exposure: float = 0.40
    max_total_exposure: float = 0.80
    max_open_positions: int = 15


@dataclass(frozen=True)
class RiskSettings:
    starting_capital_usd: float = 10_000.0  # 003's example account; NAV starts here
    # Circuit breakers (003): the daily and hourly ones clear when their window rolls over,
    # the consecutive-loss one only by a manual reset; any can be reset by hand
    daily_loss_limit_usd: float = 500.0
    hourly_loss_limit_usd: float = 200.0
    max_consecutive_losses: int = 5
    # Portfolio drawdown (001: max drawdown < 20 %): halt until a manual reset
    max_drawdown: float = 0.20
    # Cornish-Fisher modified VaR (002 §5.1): 99 % one-day, as a fraction of NAV
    mvar_alpha: float = 0.01
    mvar_yellow: float = 0.06
    mvar_halt: float = 0.08
    mvar_lookback_days: float = 30.0
    mvar_min_observations: int = 10


@dataclass(frozen=True)
class ExitSettings:
    """When a copied position is sold (001, 002 §5.3, 004 item 10). Each rule can be switched
    off; prices are USD/share, fractions of our average cost, times hours."""

    # Mirror the source wallet's exit in proportion to the fraction of its position it sold.
    mirror_exits: bool = True
    # A mirrored sale that would leave less than this fraction of the position sells it all
    # (a remainder too small to matter, or below the venue's minimum order).
    mirror_sell_all_below: float = 0.05
    # 001: hard stop 15 % below our average cost; take profit at +30 % (3:1 reward to risk).
    stop_loss: bool = True
    stop_loss_fraction: float = 0.15
    take_profit: bool = True
    take_profit_fraction: float = 0.30
    # 002 §5.3: 2.5 × ATR(14) of the token's daily range below the high since entry, for
    # positions that have been winners (high since entry above our cost); it only ratchets up.
    trailing_stop: bool = True
    trailing_atr_multiple: float = 2.5
    atr_days: int = 14
    atr_min_days: int = 5  # fewer days of range than this: no ATR, no trailing stop
    # 002 §5.3: sell 24 h before the market's end date. 001/004's alternative, 2–3 h before
    # (the UMA oracle's window), is time_exit_hours = 3.
    time_exit: bool = True
    time_exit_hours: float = 24.0
    # Sell when a source wallet that bought at least half of the position is quarantined or
    # excluded by the scoring.
    exit_on_source_removed: bool = True
    # An exit is a fill-and-kill SELL limited to the best bid minus this (USD/share).
    exit_limit_tolerance: float = 0.02
