"""Scoring formulas on one wallet's metrics (the wallet_metrics mart's columns).

Units: returns and drawdowns are fractions; USD amounts are USD; WQS is 0–100 points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import beta

from polycopy.scoring.settings import ScoringSettings


@dataclass(frozen=True)
class WinRatePosterior:
    """Beta-Binomial posterior of a wallet's win rate, shrunk toward its category's base rate."""

    mean: float
    ci_low: float
    ci_high: float
    alpha: float
    beta: float


def bayesian_win_rate(wins: int, losses: int, base_rate: float, s: ScoringSettings = ScoringSettings()
                      ) -> WinRatePosterior:
    """Prior Beta(base·k, (1 − base)·k) with k = prior strength; posterior adds wins and losses."""
    if not 0.0 < base_rate < 1.0:
        raise ValueError(f"base rate must be in (0, 1), got {base_rate}")
    mean, lo, hi, a, b = win_rate_posteriors(np.array([wins]), np.array([losses]), np.array([base_rate]), s)
    return WinRatePosterior(float(mean[0]), float(lo[0]), float(hi[0]), float(a[0]), float(b[0]))


def win_rate_posteriors(wins: np.ndarray, losses: np.ndarray, base_rates: np.ndarray,
                        s: ScoringSettings = ScoringSettings()) -> tuple[np.ndarray, ...]:
    """Vectorized Beta-Binomial posteriors: (mean, ci_low, ci_high, alpha, beta) arrays."""
    a = np.asarray(base_rates, dtype=float) * s.prior_strength + np.asarray(wins, dtype=float)
    b = (1.0 - np.asarray(base_rates, dtype=float)) * s.prior_strength + np.asarray(losses, dtype=float)
    tail = (1.0 - s.credible_level) / 2.0
    return a / (a + b), beta.ppf(tail, a, b), beta.ppf(1.0 - tail, a, b), a, b


def _finite(x) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def ratio_points(component: str, x, s: ScoringSettings = ScoringSettings()) -> np.ndarray:
    """WQS points of a ratio (``sharpe``, ``information_ratio`` or ``calmar``), vectorized:
    the ratio × its points per unit, clipped to [0, the component's cap]; undefined (NaN)
    earns 0."""
    per_unit, cap = {
        "sharpe": (s.sharpe_points_per_unit, s.sharpe_max_points),
        "information_ratio": (s.ir_points_per_unit, s.ir_max_points),
        "calmar": (s.calmar_points_per_unit, s.calmar_max_points),
    }[component]
    return np.clip(np.nan_to_num(np.asarray(x, dtype=float) * per_unit, nan=0.0), 0.0, cap)


@dataclass(frozen=True)
class WqsBreakdown:
    """The five WQS components (points), the penalties applied and the final score."""

    sharpe: float
    information_ratio: float
    calmar: float
    consistency: float
    volume: float
    base: float
    trade_count_factor: float
    hhi_factor: float
    wqs: float


def wqs(sharpe: float | None, information_ratio: float | None, calmar: float | None,
        rolling_sharpe_std: float | None, volume_usd: float, trade_count: int, category_hhi: float | None,
        s: ScoringSettings = ScoringSettings()) -> WqsBreakdown:
    """Whale Quality Score, 0–100 (seed 002 §2.3).

    Missing inputs score 0 points: an undefined Sharpe or a consistency not yet
    measurable earns nothing rather than a guess.
    """
    sr, ir, cal = (float(ratio_points(c, np.nan if _finite(x) is None else x, s))
                   for c, x in (("sharpe", sharpe), ("information_ratio", information_ratio), ("calmar", calmar)))
    cons, vol, tc, hhi = (float(x[0]) for x in wqs_fixed_parts(
        np.array([np.nan if _finite(rolling_sharpe_std) is None else rolling_sharpe_std], dtype=float),
        np.array([volume_usd], dtype=float), np.array([trade_count], dtype=float),
        np.array([np.nan if _finite(category_hhi) is None else category_hhi], dtype=float), s))
    base = sr + ir + cal + cons + vol
    return WqsBreakdown(sr, ir, cal, cons, vol, base, tc, hhi, min(100.0, max(0.0, base * tc * hhi)))


def wqs_fixed_parts(rolling_sharpe_std: np.ndarray, volume_usd: np.ndarray, trade_count: np.ndarray,
                    category_hhi: np.ndarray, s: ScoringSettings = ScoringSettings()) -> tuple[np.ndarray, ...]:
    """The WQS parts that are not sample ratios, vectorized: consistency points, volume
    points, the low-trade-count factor and the HHI factor (NaN std: 0 points; NaN HHI: no penalty)."""
    std = np.asarray(rolling_sharpe_std, dtype=float)
    cons = np.where(np.isnan(std), 0.0, s.consistency_max_points * np.maximum(0.0, 1.0 - std / s.consistency_std_scale))
    vol = np.clip(np.log10(np.maximum(1.0, np.nan_to_num(np.asarray(volume_usd, dtype=float))) / s.volume_reference_usd)
                  * s.volume_points_per_decade, 0.0, s.volume_max_points)
    n = np.nan_to_num(np.asarray(trade_count, dtype=float))
    tc = np.where(n < s.low_trade_count, 0.5 + n / 100.0, 1.0)
    hhi = np.where(np.nan_to_num(np.asarray(category_hhi, dtype=float)) > s.hhi_penalty_threshold,
                   s.hhi_penalty_factor, 1.0)
    return cons, vol, tc, hhi


def is_market_maker(trade_count: int, avg_hold_s: float | None, win_rate: float | None,
                    profit_per_trade_usd: float | None, s: ScoringSettings = ScoringSettings()) -> bool:
    """The anti-market-maker pattern (seed 000): many trades, short holds, ~50 % wins, tiny profit."""
    hold, wr, ppt = _finite(avg_hold_s), _finite(win_rate), _finite(profit_per_trade_usd)
    return (trade_count > s.mm_min_trades and hold is not None and hold < s.mm_max_avg_hold_s
            and wr is not None and abs(wr - 0.5) < s.mm_win_rate_band
            and ppt is not None and ppt < s.mm_max_profit_per_trade_usd)


def red_flags(m: dict, s: ScoringSettings = ScoringSettings()) -> dict[str, dict]:
    """The red flags a wallet raises, each with the values that raised it.

    ``m`` holds wallet_metrics columns plus ``largest_bet_usd`` (its largest single fill).
    """
    flags: dict[str, dict] = {}
    age, bet = _finite(m.get("wallet_age_days")), _finite(m.get("largest_bet_usd"))
    if age is not None and bet is not None and age < s.new_wallet_max_age_days and bet > s.new_wallet_large_bet_usd:
        flags["NEW_WALLET_LARGE_BET"] = {"wallet_age_days": age, "largest_bet_usd": bet}
    wr, n = _finite(m.get("win_rate")), int(m.get("trade_count") or 0)
    if wr is not None and wr > s.luck_min_win_rate and n < s.luck_max_trades:
        flags["LUCK_NOT_SKILL"] = {"win_rate": wr, "trade_count": n}
    wash = _finite(m.get("wash_trade_share"))
    if wash is not None and wash > s.wash_score_threshold:
        flags["WASH_TRADING_DETECTED"] = {"wash_trade_share": wash}
    pf = _finite(m.get("profit_factor"))
    if pf is not None and pf < s.min_profit_factor:
        flags["NEGATIVE_PROFIT_FACTOR"] = {"profit_factor": pf}
    cats = m.get("category_count")
    if cats is not None and int(cats) > s.max_categories:
        flags["NO_SPECIALIZATION"] = {"category_count": int(cats)}
    dd = _finite(m.get("max_drawdown"))
    if dd is not None and dd > s.max_drawdown:
        flags["EXCESSIVE_DRAWDOWN"] = {"max_drawdown": dd}
    return flags


@dataclass(frozen=True)
class Tier:
    name: str
    max_exposure: float  # fraction of NAV copied from this wallet
    max_daily_trades: int


def tier(score: float, excluded: bool, s: ScoringSettings = ScoringSettings()) -> Tier:
    """Elite / Expert / Good / Poor on the 0–100 scale; excluded wallets are Poor."""
    if not excluded and score >= s.elite_min_wqs:
        return Tier("Elite", s.elite_max_exposure, s.elite_max_daily_trades)
    if not excluded and score >= s.expert_min_wqs:
        return Tier("Expert", s.expert_max_exposure, s.expert_max_daily_trades)
    if not excluded and score >= s.good_min_wqs:
        return Tier("Good", s.good_max_exposure, s.good_max_daily_trades)
    return Tier("Poor", 0.0, 0)
