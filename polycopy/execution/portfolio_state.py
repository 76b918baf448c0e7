"""Assess the copy portfolio now: holdings marked at the venue, NAV, exposures, the
Cornish-Fisher mVaR of today's holdings over their recent price history, every circuit
breaker and the kill switch — and whether new positions may be opened.

Reads the ledger and the venue's public market data; writes one NAV snapshot.
USD throughout; times unix seconds.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace

import numpy as np

from polycopy.polymarket.http import ApiError
from polycopy.polymarket.markets import parse_market
from polycopy.polymarket.schema import RecordError
from polycopy.trading.market import daily_closes
from polycopy.trading.portfolio import FillRow, Portfolio, build_portfolio
from polycopy.trading.risk import (DAY, Breaker, NavPoint, RiskEvent, current_drawdown, evaluate_breakers,
                                   halt_reasons, kill_switch_on, modified_var, mvar_band, scenario_returns)
from polycopy.trading.settings import RiskSettings, SignalSettings
from polycopy.trading.signals import PortfolioView

HISTORY_FIDELITY_MIN = 60


@dataclass(frozen=True)
class PortfolioState:
    ts: float
    portfolio: Portfolio
    histories: dict  # held token -> {ts: price}, hourly
    breakers: tuple[Breaker, ...]
    drawdown: float
    mvar: float
    mvar_band: str
    mvar_observations: int
    kill_switch: tuple[bool, str]
    halt_reasons: tuple[str, ...]
    marks_from: dict = field(default_factory=dict)  # token -> "midpoint" | "resolution" | "cost"
    fills: tuple[FillRow, ...] = ()  # the ledger's fills the portfolio was built from
    marks: dict = field(default_factory=dict)  # token -> USD/share
    starting_capital_usd: float = 0.0
    provisional: tuple[FillRow, ...] = ()  # orders decided in this run and not yet sent

    def with_provisional(self, fill: FillRow) -> "PortfolioState":
        """The state with a decided order counted as if filled (a conservative stand-in until it
        is sent), so later decisions of the same run size against it: a BUY at its limit, a
        SELL for its shares but without its proceeds."""
        if fill.side == "SELL":  # a fill-and-kill may fill in part or not at all: credit no cash until it does
            fill = replace(fill, price=0.0, fee_usd=0.0)
        provisional = self.provisional + (fill,)
        pf = build_portfolio(list(self.fills) + list(provisional), self.marks, self.starting_capital_usd)
        return replace(self, portfolio=pf, provisional=provisional)

    def provisional_shares(self, token_id: str) -> float:
        """Net shares of ``token_id`` that this run's decided orders will buy (sells negative)."""
        return sum(f.shares if f.side == "BUY" else -f.shares for f in self.provisional if f.token_id == token_id)

    @property
    def halted(self) -> bool:
        return bool(self.halt_reasons)

    def view(self, wallet_copies_today: int = 0) -> PortfolioView:
        return PortfolioView(self.portfolio, self.drawdown, self.halt_reasons, dict(self.histories),
                             wallet_copies_today)

    def summary(self) -> dict:
        """Plain numbers for the snapshot, asset metadata and the CLI."""
        pf = self.portfolio
        nav = pf.nav_usd
        frac = lambda d: {k: round(v / nav, 6) if nav > 0 else None for k, v in sorted(d.items())}  # noqa: E731
        return {
            "nav_usd": round(nav, 4), "cash_usd": round(pf.cash_usd, 4), "exposure_usd": round(pf.exposure_usd, 4),
            "exposure_fraction": round(pf.exposure_usd / nav, 6) if nav > 0 else None,
            "open_positions": len(pf.by("condition_id")),
            "exposure_by_market": frac(pf.by("condition_id")), "exposure_by_category": frac(pf.by("category")),
            "exposure_by_wallet": frac(pf.by_wallet()), "fees_usd": round(pf.fees_usd, 4),
            "drawdown": round(self.drawdown, 6), "mvar": round(self.mvar, 6), "mvar_band": self.mvar_band,
            "mvar_observations": self.mvar_observations,
            "breakers": {b.name: {"tripped": b.tripped, "reason": b.reason, "manual_reset_only": b.manual_reset_only,
                                  **{k: v for k, v in b.values.items()}} for b in self.breakers},
            "kill_switch": {"on": self.kill_switch[0], "reason": self.kill_switch[1]},
            "halted": self.halted, "halt_reasons": list(self.halt_reasons),
            "marks_from": dict(sorted(self.marks_from.items())),
        }


def mark_price(clients, token_id: str, condition_id: str) -> tuple[float | None, str]:
    """A held token's mark (USD/share) and where it came from: the midpoint while the book
    is open, the resolution price once the market has closed; (None, "cost") when the venue
    shows neither."""
    try:
        return clients.clob.midpoint(token_id), "midpoint"
    except (ApiError, KeyError, TypeError, ValueError):
        pass
    try:
        rec = clients.gamma.market(condition_id)
    except ApiError:
        rec = None
    if rec:
        try:
            m = parse_market(rec)
            return float(m.prices[m.tokens.index(token_id)]), "resolution"
        except (RecordError, ValueError, IndexError):
            pass
    return None, "cost"


def daily_changes(history: dict, days: list[int]) -> np.ndarray:
    """Day-over-day changes of the last price of each UTC day in ``days``. A day without a
    price repeats the one before (and days before the first price repeat it): no change."""
    last = daily_closes(history)
    known = [last[d] for d in days if d in last]
    if not known:
        return np.zeros(max(len(days) - 1, 0))
    series, cur = [], known[0]
    for d in days:
        cur = last.get(d, cur)
        series.append(cur)
    return np.diff(np.array(series, dtype=float))


def assess_portfolio(ledger, clients, risk: RiskSettings, sig: SignalSettings, now: float | None = None,
                     run_id: str | None = None, record: bool = True) -> PortfolioState:
    """Mark the holdings, evaluate mVaR, breakers and kill switch, and record a NAV snapshot."""
    now = time.time() if now is None else now
    fills = [FillRow(**r) for r in ledger.fill_rows()]
    unmarked = build_portfolio(fills, {}, risk.starting_capital_usd)
    marks, marks_from, histories = {}, {}, {}
    lookback_days = max(risk.mvar_lookback_days, sig.correlation_lookback_days)
    for h in unmarked.holdings:
        mark, source = mark_price(clients, h.token_id, h.condition_id)
        marks_from[h.token_id] = source
        if mark is not None:
            marks[h.token_id] = mark
        try:
            histories[h.token_id] = clients.clob.prices_history(
                h.token_id, int(now - lookback_days * DAY), int(now), HISTORY_FIDELITY_MIN).points
        except ApiError:
            histories[h.token_id] = {}
    pf = build_portfolio(fills, marks, risk.starting_capital_usd)
    nav = pf.nav_usd
    days = list(range(int(now - risk.mvar_lookback_days * DAY) // DAY, int(now) // DAY + 1))
    changes = {h.token_id: daily_changes(histories.get(h.token_id, {}), days) for h in pf.holdings}
    returns = scenario_returns({h.token_id: h.shares for h in pf.holdings}, changes, nav)
    mvar = modified_var(returns, risk.mvar_alpha) if len(returns) >= risk.mvar_min_observations else 0.0
    band = mvar_band(mvar, risk)
    events = [RiskEvent(float(e["ts"]), e["kind"], e["breaker"], e["reason"]) for e in ledger.risk_events()]
    navs = [NavPoint(float(r["ts"]), float(r["nav_usd"])) for r in ledger.nav_history()] + [NavPoint(now, nav)]
    breakers = tuple(evaluate_breakers(navs, list(pf.exits), events, now, risk))
    kill = kill_switch_on(events, os.environ.get("POLYCOPY_KILL_SWITCH"))
    reasons = tuple(halt_reasons(list(breakers), mvar, kill, risk))
    state = PortfolioState(now, pf, histories, breakers, current_drawdown(navs), mvar, band, len(returns), kill,
                           reasons, marks_from, tuple(fills), marks, risk.starting_capital_usd)
    if record:
        summary = state.summary()
        ledger.record_nav(now, nav, pf.cash_usd, pf.exposure_usd, mvar, band, state.halted, summary, run_id)
    return state
