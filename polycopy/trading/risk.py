"""Portfolio risk: Cornish-Fisher modified VaR (002 §5.1), circuit breakers (003),
drawdown halt (001) and the kill switch. Pure functions of recorded history.

NAV and losses are USD; VaR is a fraction of NAV (a positive number is a loss);
times are unix seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from statistics import NormalDist

import numpy as np

from polycopy.trading.settings import RiskSettings

HOUR = 3_600
DAY = 86_400


def cornish_fisher_z(z: float, skewness: float, excess_kurtosis: float) -> float:
    """The Cornish-Fisher adjusted standard quantile:
    z + (z² − 1)S/6 + (z³ − 3z)K/24 − (2z³ − 5z)S²/36."""
    return (z + (z * z - 1.0) * skewness / 6.0 + (z ** 3 - 3.0 * z) * excess_kurtosis / 24.0
            - (2.0 * z ** 3 - 5.0 * z) * skewness * skewness / 36.0)


def modified_var(returns: np.ndarray, alpha: float = 0.01) -> float:
    """Cornish-Fisher VaR of a return sample at level 1 − α, as a positive loss fraction.

    Uses the left tail: the α-quantile of returns is μ + z_cf·σ with z = Φ⁻¹(α) (negative), so
    mVaR = −(μ + z_cf·σ). Moments are the population ones (σ with ddof 0, biased skew and
    excess kurtosis), as in 002 §5.1. Fewer than 3 returns, or a flat sample, give −μ (no
    dispersion to lose from).
    """
    r = np.asarray(returns, dtype=float)
    r = r[np.isfinite(r)]
    if len(r) == 0:
        return 0.0
    mu, sigma = float(np.mean(r)), float(np.std(r))
    if len(r) < 3 or sigma == 0.0:
        return -mu
    std = (r - mu) / sigma
    skewness = float(np.mean(std ** 3))
    excess_kurtosis = float(np.mean(std ** 4)) - 3.0
    z = NormalDist().inv_cdf(alpha)
    return -(mu + cornish_fisher_z(z, skewness, excess_kurtosis) * sigma)


def mvar_band(mvar: float, s: RiskSettings) -> str:
    """green below 6 % of NAV, yellow 6–8 %, red above 8 % (new trades halt)."""
    if mvar > s.mvar_halt:
        return "red"
    if mvar >= s.mvar_yellow:
        return "yellow"
    return "green"


def scenario_returns(shares: dict[str, float], price_changes: dict[str, np.ndarray], nav_usd: float) -> np.ndarray:
    """Historical-simulation daily returns of today's holdings: Σ shares × that day's price
    change, over NAV. ``price_changes[token]`` are aligned daily changes (same length for
    every held token; the caller aligns them)."""
    if nav_usd <= 0 or not shares:
        return np.zeros(0)
    n = min((len(price_changes.get(t, ())) for t in shares), default=0)
    if n == 0:
        return np.zeros(0)
    pnl = np.zeros(n)
    for token, q in shares.items():
        pnl += q * np.asarray(price_changes[token][-n:], dtype=float)
    return pnl / nav_usd


@dataclass(frozen=True)
class NavPoint:
    ts: float
    nav_usd: float


@dataclass(frozen=True)
class RiskEvent:
    """A manual action: ``kind`` is reset (of ``breaker``), kill_switch_on or kill_switch_off."""

    ts: float
    kind: str
    breaker: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Breaker:
    name: str
    tripped: bool
    reason: str
    values: dict = field(default_factory=dict)
    manual_reset_only: bool = False


BREAKERS = ("daily_loss", "hourly_loss", "consecutive_losses", "drawdown")


def _last_reset(events: list[RiskEvent], breaker: str, now: float) -> float:
    return max((e.ts for e in events if e.kind == "reset" and e.breaker in (breaker, "all") and e.ts <= now),
               default=float("-inf"))


def _window_loss(navs: list[NavPoint], start: float, now: float) -> tuple[float, float, float]:
    """(baseline NAV, lowest NAV since, loss = baseline − lowest) over [start, now]. The
    baseline is the last NAV at or before ``start`` (or the first after it)."""
    before = [p for p in navs if p.ts <= start]
    inside = [p for p in navs if start < p.ts <= now]
    if before:
        base = before[-1].nav_usd
    elif inside:
        base = inside[0].nav_usd
    else:
        return float("nan"), float("nan"), 0.0
    low = min([base] + [p.nav_usd for p in inside])
    return base, low, max(0.0, base - low)


def evaluate_breakers(navs: list[NavPoint], exit_results_usd: list[tuple[float, float]], events: list[RiskEvent],
                      now: float, s: RiskSettings) -> list[Breaker]:
    """Every breaker's state at ``now`` from NAV history (time-ordered), realized P&L of each
    exit in time order ``(ts, pnl_usd)`` and the manual events.

    - daily_loss / hourly_loss: the NAV fell by ≥ the limit below its value at the start of the
      current UTC day / hour (or at the last reset, if later). They latch for the rest of the
      window and clear when it rolls over.
    - consecutive_losses: the last N exits (since the last reset) all lost. Manual reset only.
    - drawdown: NAV ≥ max_drawdown below its peak (since the last reset). Manual reset only.
    """
    navs = sorted(navs, key=lambda p: p.ts)
    out = []
    for name, width, limit in (("daily_loss", DAY, s.daily_loss_limit_usd), ("hourly_loss", HOUR, s.hourly_loss_limit_usd)):
        start = max(now - now % width, _last_reset(events, name, now))
        base, low, loss = _window_loss(navs, start, now)
        tripped = loss >= limit
        out.append(Breaker(name, tripped,
                           f"NAV fell ${loss:,.2f} since {'the last reset' if start > now - now % width else 'the window start'}"
                           f" (limit ${limit:,.2f})" if tripped else "",
                           {"loss_usd": round(loss, 4), "limit_usd": limit, "baseline_nav_usd": base,
                            "lowest_nav_usd": low, "window_start_ts": start, "clears_at_ts": now - now % width + width}))
    since = _last_reset(events, "consecutive_losses", now)
    streak = 0
    for ts, pnl in sorted(exit_results_usd):
        if ts <= since:
            continue
        streak = streak + 1 if pnl < 0 else 0
    tripped = streak >= s.max_consecutive_losses
    out.append(Breaker("consecutive_losses", tripped,
                       f"{streak} losing exits in a row (limit {s.max_consecutive_losses})" if tripped else "",
                       {"streak": streak, "limit": s.max_consecutive_losses}, manual_reset_only=True))
    since = _last_reset(events, "drawdown", now)
    after = [p.nav_usd for p in navs if p.ts >= since]
    peak = max(after, default=float("nan"))
    cur = navs[-1].nav_usd if navs else float("nan")
    dd = 1.0 - cur / peak if after and peak > 0 else 0.0
    tripped = dd >= s.max_drawdown
    out.append(Breaker("drawdown", tripped, f"NAV {dd:.1%} below its peak (limit {s.max_drawdown:.0%})" if tripped else "",
                       {"drawdown": dd, "peak_nav_usd": peak, "nav_usd": cur, "limit": s.max_drawdown},
                       manual_reset_only=True))
    return out


def current_drawdown(navs: list[NavPoint]) -> float:
    """1 − NAV / peak NAV over the recorded history (0 with no history)."""
    if not navs:
        return 0.0
    navs = sorted(navs, key=lambda p: p.ts)
    peak = max(p.nav_usd for p in navs)
    return max(0.0, 1.0 - navs[-1].nav_usd / peak) if peak > 0 else 0.0


def kill_switch_on(events: list[RiskEvent], env_value: str | None = None) -> tuple[bool, str]:
    """The kill switch: on if the environment says so (POLYCOPY_KILL_SWITCH) or the last
    recorded kill-switch event turned it on."""
    if env_value and env_value.strip().lower() not in ("", "0", "false", "off", "no"):
        return True, "POLYCOPY_KILL_SWITCH is set"
    switch = [e for e in sorted(events, key=lambda e: e.ts) if e.kind in ("kill_switch_on", "kill_switch_off")]
    if switch and switch[-1].kind == "kill_switch_on":
        return True, switch[-1].reason or "kill switch turned on"
    return False, ""


def halt_reasons(breakers: list[Breaker], mvar: float, kill_switch: tuple[bool, str], s: RiskSettings) -> list[str]:
    """Why no new position may be opened now (empty: trading allowed)."""
    reasons = []
    if kill_switch[0]:
        reasons.append(f"kill switch: {kill_switch[1]}")
    reasons += [f"circuit breaker {b.name}: {b.reason}" for b in breakers if b.tripped]
    if mvar > s.mvar_halt:
        reasons.append(f"mVaR {mvar:.2%} of NAV above the {s.mvar_halt:.0%} halt limit")
    return reasons
