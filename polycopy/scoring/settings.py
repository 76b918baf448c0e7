"""Scoring thresholds with their documented defaults (seeds 000, 001, 002), and the
measurements each behaviour detector reads (marts.wallet_metrics, built from the
per-wallet models in dbt_project/models/intermediate/wallet/).

WQS weights come from a named preset: ``"documents"`` is seed 002's five-factor score;
``"edge"`` (the default) adds the pricing-edge factor and is the preset that won out of
sample in the scoring evaluation (README, "How well it finds skill"). ``"custom"`` uses
the weight fields as given.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

# Each WQS component's weight (its maximum points) and its points per unit of the measure.
# The ratio components keep the documents' saturation point under any weight (Sharpe 2.5,
# IR 1.25, Calmar 3.0; volume 4 decades above the reference); the edge earns full points at
# a per-dollar return of 0.25.
WQS_PRESETS: dict[str, dict[str, float]] = {
    "documents": dict(sharpe_points_per_unit=12.0, sharpe_max_points=30.0, ir_points_per_unit=20.0,
                      ir_max_points=25.0, calmar_points_per_unit=6.67, calmar_max_points=20.0,
                      consistency_max_points=15.0, volume_points_per_decade=2.5, volume_max_points=10.0,
                      edge_points_per_unit=0.0, edge_max_points=0.0),
    # Chosen on the tuning seeds (benchmarks/scoring_tuning.py): the edge takes 80 points and
    # the documents' five share the other 20 in their own proportions.
    "edge": dict(sharpe_points_per_unit=2.4, sharpe_max_points=6.0, ir_points_per_unit=4.0,
                 ir_max_points=5.0, calmar_points_per_unit=1.334, calmar_max_points=4.0,
                 consistency_max_points=3.0, volume_points_per_decade=0.5, volume_max_points=2.0,
                 edge_points_per_unit=320.0, edge_max_points=80.0),
}
WEIGHT_FIELDS = tuple(WQS_PRESETS["documents"])


@dataclass(frozen=True)
class ScoringSettings:
    # WQS preset: "edge" (default), "documents" (seed 002's five factors) or "custom"
    # (the weight fields below as given, from the documents' values). A preset other than
    # "custom" sets those fields, and setting one beside it is an error.
    wqs_preset: str = "edge"
    # Bayesian win rate (002 §2.1)
    prior_strength: float = 20.0
    credible_level: float = 0.95
    # WQS (002 §2.3): points per unit and caps of each component (the documents' values;
    # the preset replaces them)
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
    # Pricing edge: points per unit of per-dollar return (P&L / cost of realized shares)
    edge_points_per_unit: float = 0.0
    edge_max_points: float = 0.0
    # Days over which a day's P&L and capital lose half their weight in the edge (0: no decay)
    edge_half_life_days: float = 0.0
    # Below this many priced positions, the edge's sampling variance is at least a no-skill
    # bettor's at the prices the wallet paid (a few days' bootstrap understates a few bets)
    edge_min_bootstrap_positions: int = 30
    low_trade_count: int = 50
    # Shrinkage and confidence intervals (001): days of returns behind the ratios, bootstrap
    # replicates per wallet, two-sided interval level, and the seed that makes them reproducible
    return_window_days: int = 90
    bootstrap_samples: int = 500
    bootstrap_level: float = 0.90
    bootstrap_seed: int = 0
    hhi_penalty_threshold: float = 1800.0
    hhi_penalty_factor: float = 0.9
    # Market making (000 Phase 2, by behaviour): enough fills, flow that goes both ways in
    # each market, inventory cycled more than once, and ending flat
    mm_min_trades: int = 100
    mm_min_flow_balance: float = 0.8
    mm_min_inventory_turnover: float = 1.4
    mm_max_net_position_ratio: float = 0.15
    # Wash trading (000 Phase 3): crossings with repeated partners (or itself) this large a
    # share of its volume, bought and sold about evenly; or the documents' single-wallet
    # score (self-crossing and rapid round trips) above its threshold
    wash_min_volume_share: float = 0.3
    wash_min_circularity: float = 0.5
    wash_score_threshold: float = 0.7
    # New wallets and insiders (000 Phase 3), at the time of each bet: a bet larger than
    # this, placed while the wallet was new (NEW_WALLET_LARGE_BET) or late and on a thin
    # history (INSIDER_PATTERN), when such bets are at least this share of what it bought
    new_wallet_large_bet_usd: float = 1000.0
    insider_min_volume_share: float = 0.5
    # Luck (000 Phase 3): fewer trades than this and a P&L within this many standard
    # deviations of a no-skill wallet's (price = chance)
    luck_max_trades: int = 20
    luck_max_null_z: float = 2.33
    # Specialization (000 Phase 3, relative to the categories the data has): spread over
    # more than this share of them with no category where it beats luck by this z
    max_category_breadth: float = 0.5
    specialist_min_category_edge_z: float = 0.5
    min_profit_factor: float = 1.0
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

    def __post_init__(self) -> None:
        if self.wqs_preset != "custom":
            if self.wqs_preset not in WQS_PRESETS:
                raise ValueError(f"wqs_preset must be one of {sorted(WQS_PRESETS) + ['custom']}, "
                                 f"got {self.wqs_preset!r}")
            # A weight set beside a named preset would be silently replaced: refuse it.
            changed = [f.name for f in fields(self) if f.name in WEIGHT_FIELDS
                       and getattr(self, f.name) not in (f.default, WQS_PRESETS[self.wqs_preset][f.name])]
            if changed:
                raise ValueError(f"WQS weights {', '.join(changed)} are set by wqs_preset={self.wqs_preset!r}: "
                                 "set wqs_preset='custom' to give your own")
            for name, value in WQS_PRESETS[self.wqs_preset].items():
                object.__setattr__(self, name, value)
        bad = [f.name for f in fields(self) if f.name in WEIGHT_FIELDS and getattr(self, f.name) < 0]
        if bad:
            raise ValueError(f"WQS weights must not be negative: {', '.join(bad)}")


GATES = ("relative", "absolute")


@dataclass(frozen=True)
class WatchlistSettings:
    # Stage-1 gate (002 §3). "relative" (default): the WQS lower bound must reach the
    # gate_percentile of the lower bounds of the wallets with enough trades to judge, and
    # the wallet's P&L must beat a no-skill wallet's by gate_min_edge_z standard
    # deviations. "absolute" (the documents'): WQS ≥ min_wqs and, if required, a 30-day
    # Sharpe above the 90-day one. Both: drawdown below the limit, not excluded.
    gate: str = "relative"
    gate_percentile: float = 0.90
    gate_min_trades: int = 50
    gate_min_edge_z: float = 1.645
    min_wqs: float = 75.0
    require_improving_sharpe: bool = True  # absolute gate: 30-day Sharpe > 90-day Sharpe
    max_current_drawdown: float = 0.25
    max_wallets: int = 25
    # Quarantine (002 §5.2): triggers, and release conditions. On the relative gate every
    # WQS level here (and in rotation) is scaled by the day's gate threshold / min_wqs.
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

    def __post_init__(self) -> None:
        if self.gate not in GATES:
            raise ValueError(f"gate must be one of {list(GATES)}, got {self.gate!r}")
        if not 0.0 <= self.gate_percentile < 1.0:
            raise ValueError(f"gate_percentile must be within [0, 1), got {self.gate_percentile}")
