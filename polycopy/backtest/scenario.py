"""A backtest scenario: one world, the strategy and its baselines on the same steps, books
and fees, every figure, and the report.

The standard grid, each on the same world:
- ``strategy``: the production rules and scoring (the "edge" WQS preset);
- ``strategy_documents``: the same with seed 002's five-factor WQS preset;
- ``copy_watchlist``: every BUY of the same watchlist copied for a fixed amount, with no
  risk layer and positions held to resolution unless the wallet sells;
- ``naive_top20``: the leaderboard's top 20 by realized P&L copied the same way, without
  reading their scores.
Attribution compares ``strategy`` with ``naive_top20``.
"""

from __future__ import annotations

import functools
import time
from datetime import datetime, timezone
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from polycopy.backtest.attribution import Attribution
from polycopy.backtest.report import render_report
from polycopy.backtest.results import (AnalysisSettings, StrategyResult, analyse, attribution_against, deflate,
                                       summary_table)
from polycopy.backtest.walk_forward import (BacktestSettings, Strategy, StrategyRun, build_step_inputs,
                                            copy_everything_rules, run_strategy, step_starts)
from polycopy.execution.copier import TradingRules
from polycopy.execution.portfolio_state import mark_price
from polycopy.scoring.settings import ScoringSettings
from polycopy.sim.server import SimVenue, in_process_clients
from polycopy.sim.world import SimConfig, SimWorld, generate_world

BENCHMARK = "naive_top20"


@dataclass(frozen=True)
class WorldSpec:
    """A simulated world to backtest on: its seed, the crowd (an archetype mix of the
    scoring evaluation), its size and its days of history (warm-up included)."""

    seed: int = 11
    mix: str = "default"
    n_wallets: int = 2_000
    n_markets: int = 800
    n_trades: int = 160_000
    history_days: int = 100

    @classmethod
    def for_seed(cls, seed: int, mix: str = "", **size) -> "WorldSpec":
        """The world of ``seed`` with the crowd the scoring evaluation pairs with it (the
        i-th held-out seed with mix i; any other seed with mix seed mod 5), unless ``mix``
        names one."""
        from polycopy.evaluation.scoring_harness import HELDOUT_SEEDS, mix_for

        return cls(seed, mix or mix_for(HELDOUT_SEEDS.index(seed) if seed in HELDOUT_SEEDS else seed), **size)

    def build(self) -> SimWorld:
        from polycopy.evaluation.scoring_harness import ARCHETYPE_MIXES

        if self.mix not in ARCHETYPE_MIXES:
            raise ValueError(f"unknown archetype mix {self.mix!r}: choose from {sorted(ARCHETYPE_MIXES)}")
        return generate_world(SimConfig(seed=self.seed, n_wallets=self.n_wallets, n_markets=self.n_markets,
                                        n_trades=self.n_trades, history_days=self.history_days, live_days=0.0,
                                        history_end=datetime(2026, 11, 20, tzinfo=timezone.utc),
                                        archetype_mix=ARCHETYPE_MIXES[self.mix]))

    def describe(self) -> str:
        return (f"seed {self.seed} ({self.mix} crowd): {self.n_trades:,} trades, {self.n_wallets:,} wallets, "
                f"{self.n_markets:,} markets over {self.history_days} days")


def standard_strategies(rules: TradingRules = TradingRules(), baseline_trade_usd: float = 100.0,
                        include: tuple[str, ...] | None = None) -> list[Strategy]:
    """The grid in the module docstring (``include``: their names, to run fewer)."""
    grid = [
        Strategy("strategy", rules=rules),
        Strategy("strategy_documents", rules=rules, scoring=ScoringSettings(wqs_preset="documents")),
        Strategy("copy_watchlist", rules=copy_everything_rules(baseline_trade_usd, rules)),
        Strategy(BENCHMARK, rules=copy_everything_rules(baseline_trade_usd, rules), follow="leaderboard",
                 knows_scores=False),
    ]
    if include is not None:
        unknown = sorted(set(include) - {s.name for s in grid})
        if unknown:
            raise ValueError(f"unknown strategies {unknown}: choose from {[s.name for s in grid]}")
        grid = [s for s in grid if s.name in include]
    return grid


def prices_at(venue: SimVenue, at_ts: int) -> Callable[[str, str], float | None]:
    """A token's price at ``at_ts`` (USD/share; None if the venue shows none), by token and
    condition id: the resolution payout once its market resolved, else its midpoint (the
    production mark). Each token is looked up once."""
    venue.clock.set(int(at_ts))
    clients = in_process_clients(venue)

    @functools.cache
    def price(token_id: str, condition_id: str) -> float | None:
        return mark_price(clients, token_id, condition_id)[0]

    return price


@dataclass
class BacktestOutcome:
    results: list[StrategyResult]
    runs: list[StrategyRun]
    attribution: Attribution | None
    benchmark: str
    html: str
    seconds: dict = field(default_factory=dict)  # scoring, each strategy, analysis

    def result(self, name: str) -> StrategyResult:
        return next(r for r in self.results if r.name == name)

    def summary(self) -> str:
        return summary_table(self.results)

    def exits_summary(self) -> str:
        """Per strategy, each exit rule's sells, proceeds and what holding on would have made
        instead (USD)."""
        lines = []
        for r in self.results:
            for e in r.exits.itertuples():
                lines.append(f"{r.name:<20} {e.rule:<14} {e.sells:>5} sells  proceeds ${e.proceeds_usd:>10,.0f}  "
                             f"end value ${e.end_value_usd:>10,.0f}  given up ${e.given_up_usd:>+10,.0f}")
        return "\n".join(lines)


def run_backtest(world: SimWorld, strategies: list[Strategy], workdir: str | Path,
                 settings: BacktestSettings = BacktestSettings(), analysis: AnalysisSettings = AnalysisSettings(),
                 days: float | None = None, title: str = "polycopy backtest", description: str = "",
                 progress: Callable[[str], None] | None = None, render: bool = True) -> BacktestOutcome:
    """Score the world step by step once, replay every strategy, analyse and (with
    ``render``) write the report's HTML."""
    if not strategies:
        raise ValueError("no strategy to backtest")
    timings = {}
    t0 = time.perf_counter()
    starts = step_starts(world, settings, days)
    if not starts:
        raise ValueError(f"the world's history ({world.config.history_days} days) leaves no day to trade after "
                         f"{settings.warmup_days} warm-up days")
    steps = build_step_inputs(world, starts, settings, workdir, progress)
    timings["scoring_s"] = time.perf_counter() - t0
    venue = SimVenue(world)
    cache: dict = {}
    runs = []
    for s in strategies:
        runs.append(run_strategy(world, steps, s, settings, workdir, venue=venue, scores_cache=cache,
                                 progress=progress))
        timings[f"{s.name}_s"] = runs[-1].seconds
    t1 = time.perf_counter()
    end_price = prices_at(venue, steps[-1].end_ts - 1)
    results = [analyse(r, end_price, analysis) for r in runs]
    deflate(results, analysis)
    names = [r.name for r in results]
    benchmark = BENCHMARK if BENCHMARK in names else names[-1]
    attribution = attribution_against(results[0], results[names.index(benchmark)]) if len(results) > 1 else None
    if attribution is not None:
        results[0].metrics["selection_share"] = attribution.selection_share()
        results[0].metrics["excess_return_on_capital"] = attribution.excess
    html = render_report(results, attribution, benchmark, title, description, analysis.cusum_h) if render else ""
    timings["analysis_s"] = time.perf_counter() - t1
    timings["total_s"] = time.perf_counter() - t0
    return BacktestOutcome(results, runs, attribution, benchmark, html, timings)
