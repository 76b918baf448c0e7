"""The scoring evaluation: score each simulated world on its earlier history and measure,
on the later part, how well the scores found real skill — against ranking by raw P&L
(the leaderboard).

For every seed: generate the world (its archetype parameters drawn from the seed),
load into a scratch DuckDB warehouse exactly what ingestion would have held at the
split instant, build the dbt marts as of the split day, score every wallet, build the
watchlist, and compare with the ground truth after the split.

The protocol keeps tuning apart from reporting: presets, weights and thresholds are
chosen on TUNING_SEEDS only; HELDOUT_SEEDS are scored once the choice is made, and
their table is the one reported.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from polycopy.dbt_project import AsOfBuilder
from polycopy.evaluation.metrics import (BAD_ARCHETYPES, detector_false_positive_rates, detector_recall,
                                         exclusion_recall, information_coefficient, insiders_before_their_bet,
                                         next_period_returns, pooled_return, precision_at_k)
from polycopy.scoring.settings import ScoringSettings, WatchlistSettings
from polycopy.scoring.wallet_scores import read_scoring_inputs, score_wallets
from polycopy.scoring.watchlist import days_since_last_loss, gate_report, update_states, watchlist_members
from polycopy.sim.archetypes import DEFAULT_MIX
from polycopy.sim.loader import load_history
from polycopy.sim.truth import wallet_labels
from polycopy.sim.world import DAY, SimConfig, SimWorld, generate_world
from polycopy.warehouse import WarehouseSettings, open_warehouse

# Different worlds, different crowds: the scoring must hold up on each.
ARCHETYPE_MIXES: dict[str, dict[str, float]] = {
    "default": dict(DEFAULT_MIX),
    "more_skill": {**DEFAULT_MIX, "noise": 0.44, "skilled_specialist": 0.07, "skilled_generalist": 0.05,
                   "market_maker": 0.05},
    "adversarial": {**DEFAULT_MIX, "noise": 0.39, "wash_trader": 0.08, "insider": 0.18, "market_maker": 0.06},
    "gamblers": {**DEFAULT_MIX, "noise": 0.31, "active_noise": 0.14, "lucky_gambler": 0.30},
    "scarce_skill": {**DEFAULT_MIX, "noise": 0.60, "skilled_specialist": 0.02, "skilled_generalist": 0.015,
                     "decaying_skill": 0.03},
}
# Settings are chosen on these seeds only; the held-out seeds are reported. Seeds 6–10 were
# the held-out set of the first version of the edge factor; once they had been seen, a
# correction to its shrinkage was judged on fresh seeds.
TUNING_SEEDS: tuple[int, ...] = (1, 2, 3, 4, 5)
HELDOUT_SEEDS: tuple[int, ...] = (11, 12, 13, 14, 15)
DEFAULT_SEEDS = HELDOUT_SEEDS
# Archetypes whose edge carries on into their trades (the behaviour-shift wallets lose theirs
# at mid-history; insiders' "edge" is inside information on one bet).
SKILL_ARCHETYPES = ("skilled_specialist", "skilled_generalist", "decaying_skill")


@dataclass(frozen=True)
class EvaluationConfig:
    """Size of each evaluation world and where its history is split (days)."""

    n_wallets: int = 2_000
    n_markets: int = 800
    n_trades: int = 160_000
    scoring_days: int = 100
    next_days: int = 30
    top_k: int = 20
    # IC over the wallets WQS is meant to rank: at least the score's own low-trade-count
    # threshold of trades before the split (ScoringSettings.low_trade_count), and at least
    # this many buys after it — with fewer, the next-period return is mostly noise (a
    # binary bet's return has a std near 1).
    min_next_buys: int = 10
    # Weeks of watchlist history replayed before the split (0: the watchlist is built once,
    # at the split). With history, quarantine and rotation act as they would in production:
    # each week the warehouse holds what ingestion had by then, and the states carry over.
    replay_weeks: int = 0
    scoring: ScoringSettings = field(default_factory=ScoringSettings)
    watchlist: WatchlistSettings = field(default_factory=WatchlistSettings)


REMOVALS = ("quarantined", "rotated_out", "excluded")


@dataclass
class PreparedWorld:
    """A world built and its marts read, week by week up to the split: everything the
    scoring needs, so that settings can be compared without rebuilding the marts."""

    seed: int
    mix: str
    world: SimWorld
    split_ts: int
    weeks: list  # [(day, metrics, daily, active, base_rates)], oldest first; the last is the split
    next_period: pd.DataFrame


def prepare_world(seed: int, mix_name: str, cfg: EvaluationConfig = EvaluationConfig(),
                  workdir: str | Path | None = None) -> PreparedWorld:
    """Generate the world, and build its marts as of each replayed week and the split."""
    end = datetime(2026, 11, 20, tzinfo=timezone.utc)
    world = generate_world(SimConfig(
        seed=seed, n_markets=cfg.n_markets, n_wallets=cfg.n_wallets, n_trades=cfg.n_trades,
        history_end=end, history_days=cfg.scoring_days + cfg.next_days, live_days=0.0,
        archetype_mix=ARCHETYPE_MIXES[mix_name]))
    split_ts = world.config.history_end_ts - cfg.next_days * DAY - 1  # last second of the scoring period
    weeks = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        db = str(Path(tmp) / "warehouse.duckdb")
        warehouse = open_warehouse(WarehouseSettings(backend="duckdb", duckdb_path=db))
        dbt = AsOfBuilder(db, Path(tmp) / "target", limits=warehouse.limits)
        # Week by week up to the split: the warehouse holds what ingestion had by then.
        for weeks_before in range(cfg.replay_weeks, -1, -1):
            ts = split_ts - weeks_before * 7 * DAY
            day = datetime.fromtimestamp(ts, tz=timezone.utc).date()
            load_history(world, warehouse, as_of_ts=ts)
            dbt.build(day)
            weeks.append((day, *read_scoring_inputs(warehouse)))
    nxt = next_period_returns(world, split_ts, split_ts + cfg.next_days * DAY)
    return PreparedWorld(seed, mix_name, world, split_ts, weeks, nxt)


def measure_world(p: PreparedWorld, cfg: EvaluationConfig = EvaluationConfig()) -> dict:
    """Score a prepared world with ``cfg``'s settings and measure against its truth."""
    states: dict = {}
    events: list = []
    previous: dict[str, float] = {}
    for day, metrics, daily, active, base_rates in p.weeks:
        scores = score_wallets(metrics, daily, active, base_rates, cfg.scoring)
        states, new_events = update_states(day, scores, states, previous,
                                           days_since_last_loss(daily, day, scores["wallet_address"]), cfg.watchlist)
        events += new_events
        previous = dict(zip(scores["wallet_address"], scores["wqs"]))
    watch = watchlist_members(scores, states)["wallet_address"].tolist()
    leaderboard = scores.sort_values("realized_pnl_usd", ascending=False)["wallet_address"].tolist()

    labels = wallet_labels(p.world)
    skilled = set(labels.loc[labels["skilled"], "address"])
    panel = scores.merge(p.next_period, on="wallet_address", how="inner")
    panel = panel[(panel["next_buys"] >= cfg.min_next_buys) & (panel["trade_count"] >= cfg.scoring.low_trade_count)]
    # The ceiling: the same IC for the wallets' true current edge (known only to the simulation).
    frac = cfg.scoring_days / (cfg.scoring_days + cfg.next_days)
    edge = labels.assign(edge_now=labels["edge_start"] + (labels["edge_end"] - labels["edge_start"]) * frac)
    edge.loc[~edge["archetype"].isin(SKILL_ARCHETYPES), "edge_now"] = 0.0
    panel = panel.merge(edge[["address", "edge_now"]].rename(columns={"address": "wallet_address"}),
                        on="wallet_address", how="left")
    board_top = leaderboard[:max(cfg.top_k, len(watch))]
    flagged = scores[["wallet_address", "red_flags", "is_market_maker"]]
    ic_wqs = information_coefficient(panel["wqs"], panel["next_return"])
    ic_pnl = information_coefficient(panel["realized_pnl_usd"], panel["next_return"])
    return {
        "seed": p.seed,
        "mix": p.mix,
        "categories": int(p.world.markets["category"].nunique()),
        "wallets_scored": len(scores),
        "ic_wallets": len(panel),
        "skilled_wallets": len(skilled),
        "watchlist_size": len(watch),
        "replay_weeks": cfg.replay_weeks,
        "quarantined_or_rotated": sum(e.event in REMOVALS for e in events),
        "watchlist": watch,
        "gate": gate_report(scores, cfg.watchlist),
        "removed": sorted({e.wallet_address for e in events if e.event in REMOVALS}),
        "ic_wqs": ic_wqs,
        "ic_wqs_lower": information_coefficient(panel["wqs_lower"], panel["next_return"]),
        "ic_pnl": ic_pnl,
        "ic_margin": ic_wqs - ic_pnl,
        "ic_true_edge": information_coefficient(panel["edge_now"], panel["next_return"]),
        "precision_at_k": precision_at_k(watch, skilled, cfg.top_k),
        "precision_at_k_pnl": precision_at_k(leaderboard, skilled, cfg.top_k),
        **{f"excl_{k}": v for k, v in exclusion_recall(watch, labels).items()},
        **{f"excl_{k}_pnl": v for k, v in exclusion_recall(board_top, labels).items()},
        **{f"recall_{k}": v for k, v in detector_recall(
            flagged, labels, insiders_before_their_bet(p.world, p.split_ts, cfg.scoring.new_wallet_large_bet_usd)).items()},
        **{f"fp_{k}": v for k, v in detector_false_positive_rates(flagged, labels).items()},
        "next_return_watchlist": pooled_return(watch, p.next_period),
        "next_return_pnl": pooled_return(leaderboard[:cfg.top_k], p.next_period),
    }


def evaluate_world(seed: int, mix_name: str, cfg: EvaluationConfig = EvaluationConfig(),
                   workdir: str | Path | None = None) -> dict:
    """Score one world on its first ``scoring_days`` and measure on the next ``next_days``."""
    return measure_world(prepare_world(seed, mix_name, cfg, workdir), cfg)


def mix_for(i: int, mixes: list[str] | None = None) -> str:
    names = mixes or list(ARCHETYPE_MIXES)
    return names[i % len(names)]


def evaluate(seeds=DEFAULT_SEEDS, mixes: list[str] | None = None, cfg: EvaluationConfig = EvaluationConfig(),
             progress=None) -> pd.DataFrame:
    """One row per seed — the i-th seed is paired with mix i (cycling) — plus a mean row."""
    rows = []
    for i, seed in enumerate(seeds):
        row = evaluate_world(seed, mix_for(i, mixes), cfg)
        rows.append(row)
        if progress:
            progress(row)
    return with_mean(pd.DataFrame(rows))


def with_mean(table: pd.DataFrame) -> pd.DataFrame:
    mean = table.drop(columns=["seed", "mix"]).mean(numeric_only=True)
    return pd.concat([table, pd.DataFrame([{"seed": "mean", "mix": "", **mean.to_dict()}])], ignore_index=True)


REPORT_COLUMNS = [
    ("seed", "seed"), ("mix", "mix"), ("categories", "cats"), ("ic_wqs", "IC WQS"), ("ic_pnl", "IC P&L"),
    ("ic_margin", "margin"), ("ic_true_edge", "IC edge"), ("watchlist_size", "watch"),
    ("precision_at_k", "prec@20"), ("precision_at_k_pnl", "P&L prec@20"),
    *[(f"recall_{a}", f"recall {a}") for a in BAD_ARCHETYPES],
    ("fp_max", "max FP skilled"),
    ("next_return_watchlist", "next ret watch"), ("next_return_pnl", "next ret P&L"),
]


def format_table(table: pd.DataFrame) -> str:
    """The evaluation as a plain-text table (ours beside the raw-P&L leaderboard)."""
    out = table[[c for c, _ in REPORT_COLUMNS]].copy()
    out.columns = [h for _, h in REPORT_COLUMNS]
    return out.to_string(index=False, float_format=lambda v: f"{v:.3f}")


def gate_summary(table: pd.DataFrame) -> str:
    """Per seed, how many wallets each gate condition removed (in the gate's order)."""
    lines = []
    for r in table[table["seed"] != "mean"].itertuples(index=False):
        g = r.gate
        lines.append(f"seed {r.seed}: threshold {g['threshold_wqs']}, eligible {g['eligible']}, removed "
                     + json.dumps(g["removed_in_order"]))
    return "\n".join(lines)


# Targets on the mean row, and per seed where stated (the held-out protocol).
TARGETS = {"ic_wqs": 0.40, "precision_at_k": 0.85, **{f"recall_{a}": 0.9 for a in BAD_ARCHETYPES}}
PER_SEED_TARGETS = {"ic_margin": 0.05, "watchlist_size": 10}
MAX_FALSE_POSITIVE_RATE = 0.05


def meets_targets(table: pd.DataFrame) -> dict[str, bool]:
    """Whether the evaluation meets each target: the mean row for TARGETS, every seed for
    PER_SEED_TARGETS, and no detector above MAX_FALSE_POSITIVE_RATE on skilled wallets."""
    mean = table[table["seed"] == "mean"].iloc[0]
    seeds = table[table["seed"] != "mean"]
    out = {k: bool(mean[k] >= v) for k, v in TARGETS.items()}
    out.update({f"{k} (every seed)": bool((seeds[k] >= v).all()) for k, v in PER_SEED_TARGETS.items()})
    out["fp_max (every seed)"] = bool((seeds["fp_max"] <= MAX_FALSE_POSITIVE_RATE).all())
    return out

