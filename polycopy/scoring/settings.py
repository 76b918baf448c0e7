"""Scoring thresholds with the documents' defaults (seeds 000, 001, 002)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScoringSettings:
    # Bayesian win rate (002 §2.1)
    prior_strength: float = 20.0
    credible_level: float = 0.95
    # WQS (002 §2.3): points per unit and caps of each component
    sharpe_points_per_unit: float = 12.0
    sharpe_max_points: float = 30.0
    ir_points_per_unit: float = 20.0
    ir_max_points: float = 25.0
    calmar_points_per_unit: float = 6.67
    calmar_max_points: float = 20.0
    consistency_max_points: float = 15.0
    consistency_std_scale: float = 0.75
    volume_points_per_decade: float = 2.5
    volume_reference_usd: float = 10_000.0
    volume_max_points: float = 10.0
    low_trade_count: int = 50
    # Shrinkage and confidence intervals (001): days of returns behind the ratios, bootstrap
    # replicates per wallet, two-sided interval level, and the seed that makes them reproducible
    return_window_days: int = 90
    bootstrap_samples: int = 500
    bootstrap_level: float = 0.90
    bootstrap_seed: int = 0
    hhi_penalty_threshold: float = 1800.0
    hhi_penalty_factor: float = 0.9
    # Anti-market-maker filter (000 Phase 2)
    mm_min_trades: int = 500
    mm_max_avg_hold_s: float = 3600.0
    mm_win_rate_band: float = 0.1
    mm_max_profit_per_trade_usd: float = 0.01
    # Red flags (000 Phase 3)
    new_wallet_max_age_days: float = 7.0
    new_wallet_large_bet_usd: float = 1000.0
    luck_min_win_rate: float = 0.9
    luck_max_trades: int = 20
    wash_score_threshold: float = 0.7
    min_profit_factor: float = 1.0
    max_categories: int = 5
    max_drawdown: float = 0.35
    # Tiers on the 0–100 scale (000's 0–10 score × 10): lower bounds, exposure, daily trades
    elite_min_wqs: float = 90.0
    expert_min_wqs: float = 70.0
    good_min_wqs: float = 50.0
    elite_max_exposure: float = 0.15
    expert_max_exposure: float = 0.10
    good_max_exposure: float = 0.07
    elite_max_daily_trades: int = 10
    expert_max_daily_trades: int = 8
    good_max_daily_trades: int = 5


@dataclass(frozen=True)
class WatchlistSettings:
    # Stage-1 gate (002 §3)
    min_wqs: float = 75.0
    require_improving_sharpe: bool = True  # 30-day Sharpe > 90-day Sharpe
    max_current_drawdown: float = 0.25
    max_wallets: int = 25
    # Quarantine (002 §5.2): triggers, and release conditions
    quarantine_below_wqs: float = 50.0
    quarantine_drawdown: float = 0.10
    quarantine_wqs_drop_points: float = 25.0
    quarantine_wqs_drop_days: int = 7
    release_min_wqs: float = 60.0
    release_days_without_loss: int = 7
    # Rotation (000 Phase 5, on the 0–100 scale): remove after a decline over the
    # window, re-add only after the cooldown and an improvement
    rotation_window_days: int = 7
    rotation_decline_points: float = 10.0
    rotation_remove_below_wqs: float = 50.0
    rotation_min_trades: int = 10
    rotation_cooldown_days: int = 7
    rotation_readd_improvement_points: float = 10.0
    rotation_readd_min_wqs: float = 60.0
    # Behaviour-change alerts (000 Phase 5)
    alert_win_rate_drop: float = 0.15
    alert_position_size_ratio: float = 2.0
    alert_volatility_rise: float = 0.20
