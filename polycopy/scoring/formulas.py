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
    """WQS points of a measure (``sharpe``, ``information_ratio``, ``calmar`` or
    ``pricing_edge``), vectorized: the measure × its points per unit, clipped to [0, the
    component's cap]; undefined (NaN) earns 0."""
    per_unit, cap = {
        "sharpe": (s.sharpe_points_per_unit, s.sharpe_max_points),
        "information_ratio": (s.ir_points_per_unit, s.ir_max_points),
        "calmar": (s.calmar_points_per_unit, s.calmar_max_points),
        "pricing_edge": (s.edge_points_per_unit, s.edge_max_points),
    }[component]
    return np.clip(np.nan_to_num(np.asarray(x, dtype=float) * per_unit, nan=0.0), 0.0, cap)


@dataclass(frozen=True)
class WqsBreakdown:
    """The WQS components (points), the penalties applied and the final score."""

    sharpe: float
    information_ratio: float
    calmar: float
    consistency: float
    volume: float
    pricing_edge: float
    base: float
    trade_count_factor: float
    hhi_factor: float
    wqs: float


def wqs(sharpe: float | None, information_ratio: float | None, calmar: float | None,
        rolling_sharpe_std: float | None, volume_usd: float, trade_count: int, category_hhi: float | None,
        pricing_edge: float | None = None, s: ScoringSettings = ScoringSettings()) -> WqsBreakdown:
    """Whale Quality Score, 0–100 (seed 002 §2.3, plus the pricing edge under the "edge"
    preset). ``pricing_edge``: P&L / cost of realized shares (USD / USD).

    Missing inputs score 0 points: an undefined Sharpe or a consistency not yet
    measurable earns nothing rather than a guess.
    """
    sr, ir, cal, edge = (float(ratio_points(c, np.nan if _finite(x) is None else x, s))
                         for c, x in (("sharpe", sharpe), ("information_ratio", information_ratio),
                                      ("calmar", calmar), ("pricing_edge", pricing_edge)))
    cons, vol, tc, hhi = (float(x[0]) for x in wqs_fixed_parts(
        np.array([np.nan if _finite(rolling_sharpe_std) is None else rolling_sharpe_std], dtype=float),
        np.array([volume_usd], dtype=float), np.array([trade_count], dtype=float),
        np.array([np.nan if _finite(category_hhi) is None else category_hhi], dtype=float), s))
    base = sr + ir + cal + cons + vol + edge
    return WqsBreakdown(sr, ir, cal, cons, vol, edge, base, tc, hhi, min(100.0, max(0.0, base * tc * hhi)))


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


# The wallet_metrics columns each detector reads (stored beside the scores).
MARKET_MAKER_MEASURES = ("trade_count", "flow_balance", "inventory_turnover", "net_position_ratio")


def market_maker_evidence(m: dict, s: ScoringSettings = ScoringSettings()) -> dict | None:
    """The market-making verdict by behaviour (seed 000's filter, restated): enough fills,
    flow that goes both ways in the markets it trades (flow_balance), its peak inventory
    cycled more than once (inventory_turnover) and ending flat (net_position_ratio). Hold
    time alone does not decide: makers may hold inventory for days. Returns the
    measurements when the wallet is a market maker, else None.
    ``m``: wallet_metrics columns."""
    n = int(m.get("trade_count") or 0)
    flow, turn, net = (_finite(m.get(k)) for k in MARKET_MAKER_MEASURES[1:])
    if (n >= s.mm_min_trades and flow is not None and flow >= s.mm_min_flow_balance
            and turn is not None and turn >= s.mm_min_inventory_turnover
            and net is not None and net <= s.mm_max_net_position_ratio):
        return {"trade_count": n, "flow_balance": flow, "inventory_turnover": turn, "net_position_ratio": net}
    return None


def is_market_maker(m: dict, s: ScoringSettings = ScoringSettings()) -> bool:
    """Whether the wallet's flow is a market maker's (see ``market_maker_evidence``)."""
    return market_maker_evidence(m, s) is not None


def red_flags(m: dict, s: ScoringSettings = ScoringSettings()) -> dict[str, dict]:
    """The red flags a wallet raises, each with the measurements that raised it.

    ``m`` holds wallet_metrics columns. Each flag is a behaviour an analyst would name:
    - NEW_WALLET_LARGE_BET: a bet over new_wallet_large_bet_usd placed while the wallet
      was new (younger than the dbt var new_wallet_max_age_days at the time of the bet),
      such bets being at least insider_min_volume_share of what it bought;
    - INSIDER_PATTERN: the same for bets placed late (near the market's close) on a thin
      history that won or are pending;
    - LUCK_NOT_SKILL: fewer than luck_max_trades trades and a P&L within luck_max_null_z
      standard deviations of a no-skill wallet's;
    - WASH_TRADING_DETECTED: crossings with repeated partners (or itself) make at least
      wash_min_volume_share of its volume, bought and sold evenly; or the single-wallet
      score (self-crossing and rapid round trips) above wash_score_threshold;
    - NEGATIVE_PROFIT_FACTOR, EXCESSIVE_DRAWDOWN: the documents' thresholds;
    - NO_SPECIALIZATION: spread over more than max_category_breadth of the categories the
      data has, with no category where it beats luck by specialist_min_category_edge_z.
    """
    flags: dict[str, dict] = {}
    bet, share = _finite(m.get("new_wallet_bet_usd")), _finite(m.get("new_wallet_volume_share"))
    if bet is not None and bet > s.new_wallet_large_bet_usd and share is not None and share >= s.insider_min_volume_share:
        flags["NEW_WALLET_LARGE_BET"] = {"new_wallet_bet_usd": bet, "new_wallet_volume_share": share}
    bet, share = _finite(m.get("insider_like_bet_usd")), _finite(m.get("insider_like_volume_share"))
    if bet is not None and bet > s.new_wallet_large_bet_usd and share is not None and share >= s.insider_min_volume_share:
        flags["INSIDER_PATTERN"] = {"insider_like_bet_usd": bet, "insider_like_volume_share": share,
                                    "hours_before_close": _finite(m.get("insider_like_hours_before_close")),
                                    "prior_fills": _finite(m.get("insider_like_prior_fills"))}
    n, z = int(m.get("trade_count") or 0), _finite(m.get("edge_null_z"))
    if n < s.luck_max_trades and (z is None or z < s.luck_max_null_z):
        flags["LUCK_NOT_SKILL"] = {"trade_count": n, "edge_null_z": z}
    share, circ = _finite(m.get("wash_volume_share")), _finite(m.get("wash_circularity"))
    solo = _finite(m.get("wash_trade_share"))
    if ((share is not None and share >= s.wash_min_volume_share and circ is not None and circ >= s.wash_min_circularity)
            or (solo is not None and solo > s.wash_score_threshold)):
        flags["WASH_TRADING_DETECTED"] = {"wash_volume_share": share, "wash_circularity": circ,
                                          "wash_partners": _finite(m.get("wash_partners")), "wash_trade_share": solo}
    pf = _finite(m.get("profit_factor"))
    if pf is not None and pf < s.min_profit_factor:
        flags["NEGATIVE_PROFIT_FACTOR"] = {"profit_factor": pf}
    breadth, best = _finite(m.get("category_breadth")), _finite(m.get("best_category_edge_z"))
    if breadth is not None and breadth > s.max_category_breadth and (best is None or best < s.specialist_min_category_edge_z):
        flags["NO_SPECIALIZATION"] = {"category_breadth": breadth, "best_category_edge_z": best,
                                      "effective_categories": _finite(m.get("effective_categories")),
                                      "categories_available": _finite(m.get("categories_available"))}
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
