"""Walk-forward backtest: the whole strategy replayed through a world's history with the
production decision code.

Each step (a week by default) starts at a UTC midnight. The warehouse is loaded with what
ingestion would have held at the last second before it, the dbt marts are built as of the
day before, and the wallets are scored and the watchlist carried forward from the step
before (``score_wallets``, ``update_watchlist``, ``wallet_profiles``: the scoring assets'
own functions). During the step every fill of the followed wallets goes, ``copy_delay_s``
after it landed, through the copy chain a live sensor runs (``record_seen_trades``,
``assess_portfolio``, ``decide_signal``, ``place_signal_order``: the risk gate, stages 1–3,
sizing), and every ``review_every_s`` the open positions go through the exit review
(settlement at resolution, the exit rules). Orders fill on the venue's book at that
instant (``PaperVenue`` walks the book and pays the taker fee). Each copy's assessment
records a NAV snapshot, as a live copy run's does, and the risk monitor's snapshot is taken
at every UTC midnight.

The venue answers from the world as it stood at each instant: a market's resolution only
after it resolved, prices and trades only up to then. Strategies that differ in what they
follow (the watchlist, the leaderboard), their rules or their scoring run on the same
world, the same books and the same fees, each with its own ledger.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from polycopy.dbt_project import AsOfBuilder
from polycopy.execution.copier import TradingRules, decide_signal, load_signal, place_signal_order
from polycopy.execution.paper import PaperVenue
from polycopy.execution.portfolio_state import assess_portfolio, mark_price
from polycopy.execution.position_exits import decide_position_exit, place_exit_order, review_positions
from polycopy.feed import PollingActivityFeed
from polycopy.ledger.store import LedgerSettings, open_ledger
from polycopy.polymarket.schema import Trade
from polycopy.scoring.settings import ScoringSettings, WatchlistSettings
from polycopy.scoring.wallet_scores import read_scoring_inputs, score_wallets
from polycopy.scoring.watchlist import WatchlistUpdate, update_watchlist, wallet_profiles
from polycopy.sim.loader import history_days, load_history
from polycopy.sim.server import SimVenue, in_process_clients
from polycopy.sim.world import SimWorld
from polycopy.trading.settings import ExitSettings, RiskSettings, SignalSettings, SizingSettings
from polycopy.warehouse import WarehouseSettings, open_warehouse

DAY = 86_400
# The copy latency measured through the real daemon (trade landed → decision, median 3.85 s),
# plus the order's own round trip, rounded up.
MEASURED_COPY_DELAY_S = 5.0


@dataclass(frozen=True)
class BacktestSettings:
    """The walk-forward's clock: days of history before the first traded step, the step
    (rescoring cadence, days), how long after a whale's fill we act (s), how often open
    positions are reviewed for exits (s), and the signal aggregation window (s)."""

    warmup_days: int = 30
    step_days: int = 7
    copy_delay_s: float = MEASURED_COPY_DELAY_S
    review_every_s: int = 3_600
    aggregation_window_s: float = 1.0

    def __post_init__(self):
        if self.warmup_days < 1 or self.step_days < 1:
            raise ValueError(f"warmup_days and step_days must be ≥ 1 (got {self.warmup_days}, {self.step_days})")
        if self.copy_delay_s < 0 or self.review_every_s < 60:
            raise ValueError(f"copy_delay_s must be ≥ 0 and review_every_s ≥ 60 (got {self.copy_delay_s}, "
                             f"{self.review_every_s})")


@dataclass(frozen=True)
class Strategy:
    """What one backtested strategy follows and how it trades.

    follow: ``watchlist`` (the scored watchlist) or ``leaderboard`` (the top
    ``leaderboard_size`` wallets by realized P&L as of each step, as a naive copier would
    pick them). ``knows_scores``: whether the copier reads the wallets' scores (a naive
    copier does not: its wallets carry a neutral profile and are never excluded)."""

    name: str
    rules: TradingRules = TradingRules()
    follow: str = "watchlist"
    scoring: ScoringSettings = ScoringSettings()
    watchlist: WatchlistSettings = WatchlistSettings()
    knows_scores: bool = True
    leaderboard_size: int = 20

    def __post_init__(self):
        if self.follow not in ("watchlist", "leaderboard"):
            raise ValueError(f"Strategy {self.name!r}: follow must be 'watchlist' or 'leaderboard', not {self.follow!r}")


def copy_everything_rules(trade_usd: float, base: TradingRules = TradingRules()) -> TradingRules:
    """Rules of a copier with no risk layer: every BUY of a followed wallet is copied for
    ``trade_usd`` (USD) at the market, whatever its size, price, spread or timing; no
    breaker, no mVaR halt, no stop or target: positions are held to resolution unless the
    source wallet sells (mirrored in proportion). The book, the fee and the cash still bind."""
    return replace(
        base,
        signals=SignalSettings(min_whale_trade_usd=0.0, max_slippage=1.0, max_days_to_resolution=1e6,
                               min_hours_to_resolution=0.0, min_edge=-1.0, min_market_liquidity_usd=0.0,
                               max_spread=1.0, max_trade_age_s=1e9, max_correlation=1.01, max_total_exposure=1.0,
                               max_category_exposure=1.0),
        sizing=SizingSettings(fixed_trade_usd=trade_usd, min_trade_usd=1.0, max_trade_usd=trade_usd,
                              max_trade_fraction=1.0, max_market_exposure=1.0, max_category_exposure=1.0,
                              max_total_exposure=1.0, max_open_positions=1_000_000),
        risk=RiskSettings(starting_capital_usd=base.risk.starting_capital_usd, daily_loss_limit_usd=1e15,
                          hourly_loss_limit_usd=1e15, max_consecutive_losses=1_000_000_000, max_drawdown=1.0,
                          mvar_yellow=1e9, mvar_halt=1e9),
        exits=ExitSettings(stop_loss=False, take_profit=False, trailing_stop=False, time_exit=False,
                           exit_on_source_removed=False),
    )


@dataclass
class StepInputs:
    """What scoring reads at one step: the marts as of ``as_of`` (the day before the step)."""

    start_ts: int  # the step's first second (a UTC midnight)
    end_ts: int  # its last second + 1
    as_of: date
    metrics: pd.DataFrame
    daily: pd.DataFrame
    active: pd.DataFrame
    base_rates: pd.DataFrame


def step_starts(world: SimWorld, settings: BacktestSettings, days: float | None = None) -> list[int]:
    """The steps' first seconds: from ``warmup_days`` after the first served day, every
    ``step_days``, up to the end of the history (or ``days`` of trading)."""
    start = (world.config.history_start_ts // DAY + settings.warmup_days) * DAY
    end = world.config.history_end_ts if days is None else min(world.config.history_end_ts, start + int(days * DAY))
    return list(range(start, end, settings.step_days * DAY))


def build_step_inputs(world: SimWorld, starts: list[int], settings: BacktestSettings, workdir: str | Path,
                      progress: Callable[[str], None] | None = None) -> list[StepInputs]:
    """Load the warehouse step by step with what ingestion held just before each step and
    build the dbt marts as of the day before it (each step loads only its new days)."""
    db = str(Path(workdir) / "warehouse.duckdb")
    warehouse = open_warehouse(WarehouseSettings(backend="duckdb", duckdb_path=db))
    all_days = history_days(world)
    dbt = AsOfBuilder(db, Path(workdir) / "target", limits=warehouse.limits)
    loaded: date | None = None
    out = []
    for i, start in enumerate(starts):
        as_of_ts = start - 1
        as_of = datetime.fromtimestamp(as_of_ts, tz=timezone.utc).date()
        new_days = [d for d in all_days if d <= as_of and (loaded is None or d > loaded)]
        load_history(world, warehouse, days=new_days, as_of_ts=as_of_ts)
        loaded = as_of
        dbt.build(as_of)
        out.append(StepInputs(start, min(start + settings.step_days * DAY, world.config.history_end_ts + 1), as_of,
                              *read_scoring_inputs(warehouse)))
        if progress:
            progress(f"scored as of {as_of} ({i + 1}/{len(starts)})")
    return out


@dataclass
class StrategyRun:
    """One strategy's backtest: its ledger (every decision, order, fill and NAV snapshot)
    and what it followed at each step."""

    strategy: Strategy
    ledger_path: str
    followed: list[tuple[date, list[str]]] = field(default_factory=list)
    signals: int = 0
    seconds: float = 0.0
    end_marks: dict = field(default_factory=dict)  # token id -> mid (USD/share) of what is still held at the end
    static_days: list = field(default_factory=list)  # see StaticPnl

    def ledger(self):
        return open_ledger(LedgerSettings(backend="sqlite", sqlite_path=self.ledger_path))


class StaticPnl:
    """Each close's holdings revalued at the next close with their shares unchanged: the
    "hypothetical" P&L of a bank's VaR backtest. The mVaR forecasts the loss of the
    holdings it was computed on; the day's actual P&L also carries the day's trading (the
    entry costs and moves of positions opened during it, exits), which it does not model.
    ``days``: {"ts", "mvar", "loss"} per close after the first (fractions of the previous
    close's NAV)."""

    def __init__(self):
        self.days: list[dict] = []
        self._previous: tuple[float, float, dict] | None = None

    def close(self, state, clients) -> None:
        """Record the day that ends with ``state`` (a PortfolioState assessed at a close)."""
        if self._previous is not None:
            nav, mvar, held = self._previous
            pnl = 0.0
            for token, (condition_id, shares, mark) in held.items():
                # Still held: the assessment has just marked it; sold or settled: mark it now.
                now = state.marks[token] if token in state.marks else mark_price(clients, token, condition_id)[0]
                if mark is not None and now is not None:  # unmarked either time: no change known
                    pnl += shares * (now - mark)
            self.days.append({"ts": state.ts, "mvar": mvar, "loss": -pnl / nav if nav > 0 else 0.0})
        self._previous = (state.portfolio.nav_usd, state.mvar,
                          {h.token_id: (h.condition_id, h.shares, state.marks.get(h.token_id))
                           for h in state.portfolio.holdings})


class SimClockSync:
    """The ledger's clock: the instant being replayed (moving on by a microsecond whenever
    something is stamped, so records keep their order)."""

    def __init__(self, ts: float):
        self.now = float(ts)

    def __call__(self) -> float:
        self.now += 1e-6
        return self.now


def neutral_profiles(wallets: list[str], as_of: date) -> pd.DataFrame:
    """Profiles of wallets copied without reading their scores: none excluded, a middling
    score, limits that never bind."""
    return pd.DataFrame({"wallet_address": wallets, "wqs": 50.0, "wqs_lower": 50.0, "win_rate_posterior": 0.5,
                         "tier": "followed", "tier_max_exposure": 1.0, "tier_max_daily_trades": 1_000_000,
                         "excluded": False, "as_of_date": as_of, "state": "watching"})


def followed_wallets(strategy: Strategy, scores: pd.DataFrame, update: WatchlistUpdate) -> list[str]:
    if strategy.follow == "leaderboard":
        board = scores.sort_values(["realized_pnl_usd", "wallet_address"], ascending=[False, True])
        return board["wallet_address"].head(strategy.leaderboard_size).tolist()
    return update.members["wallet_address"].tolist()


def run_strategy(world: SimWorld, steps: list[StepInputs], strategy: Strategy, settings: BacktestSettings,
                 workdir: str | Path, venue: SimVenue | None = None,
                 scores_cache: dict | None = None,
                 progress: Callable[[str], None] | None = None) -> StrategyRun:
    """Replay ``strategy`` through ``steps`` (see the module docstring)."""
    started = time.perf_counter()
    venue = venue or SimVenue(world)
    clock = SimClockSync(steps[0].start_ts)
    path = str(Path(workdir) / f"ledger-{strategy.name}.sqlite")
    ledger = open_ledger(LedgerSettings(backend="sqlite", sqlite_path=path), clock=clock)
    clients = in_process_clients(venue, remember_histories=True)
    paper = PaperVenue(ledger, clients.clob, strategy.rules.fee_rate)
    rules = strategy.rules
    out = StrategyRun(strategy, path)
    static = StaticPnl()
    states: dict = {}
    history: dict[date, pd.DataFrame] = {}
    cache = scores_cache if scores_cache is not None else {}
    try:
        for step in steps:
            key = (step.as_of, strategy.scoring)
            if key not in cache:
                cache[key] = score_wallets(step.metrics, step.daily, step.active, step.base_rates, strategy.scoring)
            scores = cache[key]
            past = history.get(step.as_of - timedelta(days=strategy.watchlist.quarantine_wqs_drop_days),
                               scores.iloc[0:0])
            losing = step.daily[step.daily["daily_return"] < 0]
            update = update_watchlist(step.as_of, scores, states, past, losing, strategy.watchlist, strategy.scoring)
            states = update.states
            history[step.as_of] = scores
            followed = followed_wallets(strategy, scores, update)
            out.followed.append((step.as_of, followed))
            clock.now = float(step.start_ts)
            if strategy.knows_scores:
                profiles = wallet_profiles(scores, {w: st.status for w, st in states.items()}, update.members)
                members = update.members if strategy.follow == "watchlist" else profiles[
                    profiles["wallet_address"].isin(followed)].assign(position=1, wqs_upper=np.nan)
            else:
                profiles = neutral_profiles(followed, step.as_of)
                members = profiles.assign(position=range(1, len(profiles) + 1))
            ledger.publish_watchlist(members.to_dict("records"), step.as_of.isoformat())
            ledger.publish_wallet_profiles(profiles.to_dict("records"), step.as_of.isoformat())
            out.signals += _replay_step(step, followed, strategy, settings, ledger, clients, paper, venue, clock,
                                        static)
            if progress:
                progress(f"{strategy.name}: {step.as_of + timedelta(days=1)} traded, following {len(followed)}")
        # The last NAV, at the end of the last step.
        _at(venue, clock, steps[-1].end_ts - 1)
        final = assess_portfolio(ledger, clients, rules.risk, rules.signals, now=clock(), record=True)
        static.close(final, clients)
        out.end_marks = dict(final.marks)
        out.static_days = static.days
    finally:
        clients.close()
    out.seconds = time.perf_counter() - started
    return out


def _at(venue: SimVenue, clock: SimClockSync, ts: float) -> None:
    venue.clock.set(int(ts))
    clock.now = max(clock.now, float(ts))


def review_interval_s(exits: ExitSettings, settings: BacktestSettings) -> int:
    """How often open positions are reviewed (s): every ``review_every_s`` when a rule reads
    the price (stop, target, trailing stop, time exit); once a day otherwise, when a review
    only settles resolved markets and exits wallets removed from the watchlist."""
    priced = exits.stop_loss or exits.take_profit or exits.trailing_stop or exits.time_exit
    return settings.review_every_s if priced else DAY


SNAPSHOT, REVIEW, COPY = 0, 1, 2  # what happens at an instant of a step, in this order at equal times


def step_events(step: StepInputs, trades: list[Trade], exits: ExitSettings,
                settings: BacktestSettings) -> list[tuple[float, int, list[Trade] | None]]:
    """What happens during a step, in time order (unix s, kind, fills): a NAV ``SNAPSHOT``
    at every UTC midnight, an exit ``REVIEW`` every ``review_interval_s``, and a ``COPY`` of
    each batch of the followed wallets' fills ``copy_delay_s`` after they landed (the fills
    of one second together, as one poll of the feed shows them)."""
    events: list[tuple[float, int, list[Trade] | None]] = []
    by_second: dict[int, list[Trade]] = {}
    for t in trades:
        by_second.setdefault(t.timestamp, []).append(t)
    for ts, batch in by_second.items():
        events.append((ts + settings.copy_delay_s, COPY, batch))
    for ts in range(step.start_ts, step.end_ts, review_interval_s(exits, settings)):
        events.append((float(ts), REVIEW, None))
    for ts in range(step.start_ts, step.end_ts, DAY):
        events.append((float(ts), SNAPSHOT, None))
    return sorted(events, key=lambda e: (e[0], e[1]))


def step_trades(venue: SimVenue, wallets: list[str], step: StepInputs) -> list[Trade]:
    """The followed wallets' fills in the step, read from the Data API once the step ended."""
    if not wallets:
        return []
    clients = in_process_clients(venue)
    venue.clock.set(step.end_ts - 1)
    poll = PollingActivityFeed(clients.data, overlap_s=0, lookback_s=0).poll(
        wallets, {w: step.start_ts for w in wallets}, now=step.end_ts - 1)
    return [t for t in poll.trades if step.start_ts <= t.timestamp < step.end_ts]


def _replay_step(step: StepInputs, followed: list[str], strategy: Strategy, settings: BacktestSettings, ledger,
                 clients, paper: PaperVenue, venue: SimVenue, clock: SimClockSync, static: StaticPnl) -> int:
    rules = strategy.rules
    signals = 0
    for ts, kind, payload in step_events(step, step_trades(venue, followed, step), rules.exits, settings):
        _at(venue, clock, ts)
        if kind == SNAPSHOT:
            static.close(assess_portfolio(ledger, clients, rules.risk, rules.signals, now=clock(), record=True),
                         clients)
        elif kind == REVIEW:
            review = review_positions(ledger, clients, rules.exits, now=ts)
            for pos, seq, _ in review.exits:
                d, _ = decide_position_exit(ledger, clients, pos.position_id, seq, rules.exits, now=ts)
                place_exit_order(ledger, paper, d["exit_key"], order_deadline_s=math.inf)
        else:
            ledger.record_seen_trades(payload, seen_at=ts, window_s=settings.aggregation_window_s)
            fresh = [s["signal_key"] for s in ledger.signals_to_launch()]
            if not fresh:
                continue
            # As a live copy run does: assess (recording a NAV snapshot), then decide each signal.
            run_id = f"backtest-{int(ts)}"
            state = assess_portfolio(ledger, clients, rules.risk, rules.signals, now=ts, run_id=run_id)
            for key in fresh:
                ledger.record_launch([key], run_id, now=ts)
                d, _, state = decide_signal(load_signal(ledger, key), ledger=ledger, clients=clients, rules=rules,
                                            state=state, followed_override=strategy.follow != "watchlist",
                                            run_id=run_id, now=ts)
                signals += 1
                if d["decision"] == "copy":
                    place_signal_order(key, ledger=ledger, venue=paper, order_deadline_s=math.inf)
    return signals
