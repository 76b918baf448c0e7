"""The whale watchlist: the stage-1 gate on wallet scores, and the state each wallet is in.

Gate (002 §3 stage 1), in one of two forms (WatchlistSettings.gate):
- "relative" (default): the WQS lower bound reaches the gate_percentile of the lower
  bounds of the wallets with enough trades to judge (so the gate adapts to how scores
  run in this market), and the wallet's P&L beats a no-skill wallet's by
  gate_min_edge_z standard deviations (so a market with no skill admits no one);
- "absolute" (the documents'): WQS ≥ 75 and the 30-day Sharpe above the 90-day Sharpe.
Both: current drawdown < 25 %, no red flag or market-maker verdict, not quarantined.
Members are ordered by the lower bound of their WQS interval. ``gate_report`` says how
many wallets each condition removed, so a short list explains itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd

from polycopy.scoring.formulas import Tier, tier
from polycopy.scoring.settings import ScoringSettings, WatchlistSettings


def gate_threshold(scores: pd.DataFrame, s: WatchlistSettings = WatchlistSettings()) -> float:
    """The WQS level the gate asks for today: min_wqs on the absolute gate; on the relative
    gate the gate_percentile of the WQS lower bounds of the wallets with at least
    gate_min_trades trades (NaN when there are none)."""
    if s.gate == "absolute":
        return float(s.min_wqs)
    judged = scores.loc[scores["trade_count"].astype(float) >= s.gate_min_trades, "wqs_lower"].astype(float)
    return float(np.quantile(judged, s.gate_percentile)) if len(judged) else float("nan")


def gate_conditions(scores: pd.DataFrame, s: WatchlistSettings = WatchlistSettings(),
                    threshold: float | None = None) -> pd.DataFrame:
    """One boolean column per stage-1 condition (True: the wallet meets it), in the order
    the gate applies them; quarantine is not among them (it is a state)."""
    t = gate_threshold(scores, s) if threshold is None else threshold
    dd = scores["current_drawdown"].astype(float).fillna(0.0)
    out = {}
    if s.gate == "relative":
        lower = scores["wqs_lower"].astype(float)
        out["enough_trades"] = scores["trade_count"].astype(float) >= s.gate_min_trades
        out["wqs_lower_at_percentile"] = (lower >= t) & (lower > 0)
        out["beats_no_skill"] = scores["edge_null_z"].astype(float) >= s.gate_min_edge_z
    else:
        out["wqs_at_least_min"] = scores["wqs"].astype(float) >= s.min_wqs
        if s.require_improving_sharpe:
            out["improving_sharpe"] = scores["sharpe_30d"].astype(float) > scores["sharpe_90d"].astype(float)
    out["drawdown_below_limit"] = dd < s.max_current_drawdown
    out["not_excluded"] = ~scores["excluded"].astype(bool)
    return pd.DataFrame(out, index=scores.index)


def stage_one_eligible(scores: pd.DataFrame, s: WatchlistSettings = WatchlistSettings(),
                       threshold: float | None = None) -> pd.Series:
    """Boolean per score row: passes every stage-1 condition except quarantine."""
    return gate_conditions(scores, s, threshold).all(axis=1)


# Each gate condition in words, for the UI and the demo.
GATE_CONDITION_WORDS = {
    "enough_trades": "too few trades to judge", "wqs_lower_at_percentile": "WQS lower bound below the percentile",
    "beats_no_skill": "P&L within luck", "wqs_at_least_min": "WQS below the minimum",
    "improving_sharpe": "30-day Sharpe not above 90-day", "drawdown_below_limit": "current drawdown too deep",
    "not_excluded": "red flag or market maker",
}


def gate_report(scores: pd.DataFrame, s: WatchlistSettings = WatchlistSettings(),
                threshold: float | None = None) -> dict:
    """Why the gate admits whom it admits: the threshold, how many wallets fail each
    condition, and how many each removed of those the earlier conditions let through."""
    t = gate_threshold(scores, s) if threshold is None else threshold
    cond = gate_conditions(scores, s, t)
    alive = pd.Series(True, index=scores.index)
    removed = {}
    for c in cond.columns:
        removed[c] = int((alive & ~cond[c]).sum())
        alive &= cond[c]
    return {"gate": s.gate, "threshold_wqs": None if np.isnan(t) else round(t, 3), "scored": len(scores),
            "failing": {c: int((~cond[c]).sum()) for c in cond.columns}, "removed_in_order": removed,
            "eligible": int(alive.sum())}


def gate_scale(s: WatchlistSettings, threshold: float) -> float:
    """threshold / min_wqs on the relative gate (1 on the absolute gate, or without a
    usable threshold): how the documents' WQS levels map onto today's gate."""
    if s.gate == "absolute" or not np.isfinite(threshold) or threshold <= 0:
        return 1.0
    return threshold / s.min_wqs


def effective_rules(s: WatchlistSettings, threshold: float) -> WatchlistSettings:
    """The day's rules: on the relative gate every WQS level and point change of
    quarantine, release and rotation scales by threshold / min_wqs, so they keep the
    documents' proportions to the gate (quarantine at 50 / 75 of it, release at 60 / 75)."""
    f = gate_scale(s, threshold)
    if f == 1.0:
        return s
    return replace(s, **{k: getattr(s, k) * f for k in (
        "quarantine_below_wqs", "quarantine_wqs_drop_points", "release_min_wqs", "rotation_decline_points",
        "rotation_remove_below_wqs", "rotation_readd_improvement_points", "rotation_readd_min_wqs")})


def member_tiers(wqs: pd.Series, threshold: float, s: WatchlistSettings = WatchlistSettings(),
                 scoring: ScoringSettings = ScoringSettings()) -> list[Tier]:
    """The tier (exposure and daily-trade limits) of each watched wallet: the documents'
    tiers (Elite ≥ 90, Expert ≥ 70, Good ≥ 50) on the absolute gate; on the relative gate
    the same tiers with their levels scaled by threshold / min_wqs, so that a wallet the
    gate admits is at least Expert, as one at 75 is under the documents' rules."""
    f = gate_scale(s, threshold)
    return [tier(float(x) / f, False, scoring) for x in wqs]


def by_lower_bound(scores: pd.DataFrame) -> pd.DataFrame:
    """Score rows in watchlist order: best WQS lower bound first, then best WQS."""
    return scores.sort_values(["wqs_lower", "wqs"], ascending=False)


def watchlist_members(scores: pd.DataFrame, states: dict[str, "WalletState"]) -> pd.DataFrame:
    """The score rows of the wallets being watched, in watchlist order."""
    watching = {w for w, st in states.items() if st.status == WATCHING}
    return by_lower_bound(scores[scores["wallet_address"].isin(watching)])


# A wallet that never had a losing day has been quiet for as long as anyone can tell.
NEVER_LOST_DAYS = 10**6


def days_since_last_loss(daily: pd.DataFrame, as_of: date, wallets) -> dict[str, int]:
    """Days from each wallet's last losing day (daily_return < 0, on or before ``as_of``)
    to ``as_of``; wallets of ``wallets`` that never lost get NEVER_LOST_DAYS.
    ``daily``: rows with wallet_address, activity_date, daily_return."""
    dates = pd.to_datetime(daily["activity_date"])
    losing = daily[(daily["daily_return"] < 0) & (dates <= pd.Timestamp(as_of))]
    last = pd.to_datetime(losing["activity_date"]).groupby(losing["wallet_address"]).max()
    out = {w: NEVER_LOST_DAYS for w in wallets}
    out.update({w: (pd.Timestamp(as_of) - d).days for w, d in last.items()})
    return out


# ---- wallet states: watchlist membership, quarantine, rotation ------------------------
WATCHING, QUARANTINED, COOLDOWN = "watching", "quarantined", "cooldown"


@dataclass
class WalletState:
    """Where a wallet stands on a given day. ``since``: day it entered the status;
    ``cooldown_until``: first day a rotated-out wallet may return; ``wqs_at_change``:
    its WQS when the status last changed (re-adding needs an improvement over it)."""

    wallet_address: str
    status: str
    since: date
    wqs_at_change: float
    cooldown_until: date | None = None


@dataclass(frozen=True)
class StateEvent:
    """One change of a wallet's standing, with the values that decided it."""

    wallet_address: str
    as_of_date: date
    event: str  # added, quarantined, released, rotated_out, readded, alert_*
    reason: str
    values: dict


def update_states(as_of: date, scores: pd.DataFrame, states: dict[str, WalletState],
                  wqs_week_ago: dict[str, float], days_since_loss: dict[str, int],
                  s: WatchlistSettings = WatchlistSettings()) -> tuple[dict[str, WalletState], list[StateEvent]]:
    """Advance every wallet's state to ``as_of`` from that day's scores.

    - Watched wallets that become excluded (a red flag, the market-maker verdict) lose
      their place at once.
    - Watched wallets are quarantined (002 §5.2) when WQS < 50, current drawdown > 10 %
      or WQS fell more than 25 points since a week ago.
    - Quarantined wallets are released when WQS > 60 and they have gone more than 7 days
      without a losing day.
    - Watched wallets that fail the stage-1 gate after a decline of ``rotation_decline_points``
      over the week (with at least ``rotation_min_trades`` trades) are rotated out for a
      ``rotation_cooldown_days`` cooldown (000 Phase 5); after it they return only on an
      improvement of ``rotation_readd_improvement_points`` and WQS ≥ ``rotation_readd_min_wqs``.
    - Free places (up to ``max_wallets``) go to eligible wallets, best WQS lower bound first.
    On the relative gate the WQS levels above scale with the day's gate threshold
    (``effective_rules``). Returns the new states (wallets with no standing are absent) and the events.
    """
    new = {w: WalletState(**vars(st)) for w, st in states.items()}
    events: list[StateEvent] = []
    rows = scores.set_index("wallet_address")
    threshold = gate_threshold(scores, s)
    eligible = stage_one_eligible(scores, s, threshold).to_numpy()
    s = effective_rules(s, threshold)
    eligible = dict(zip(scores["wallet_address"], eligible))

    def emit(w, event, reason, values):
        events.append(StateEvent(w, as_of, event, reason, values))

    for w, st in list(new.items()):
        if w not in rows.index:
            continue
        r = rows.loc[w]
        wqs_now = float(r["wqs"])
        before = wqs_week_ago.get(w)
        dd = 0.0 if pd.isna(r["current_drawdown"]) else float(r["current_drawdown"])
        if st.status == WATCHING and bool(r["excluded"]):
            # A red flag or the market-maker verdict ends copying at once; the wallet may
            # come back through the gate once nothing excludes it.
            del new[w]
            emit(w, "excluded", "red flag or market-maker verdict",
                 {"red_flags": json.loads(r["red_flags"]) if "red_flags" in r else {},
                  "is_market_maker": bool(r.get("is_market_maker", False))})
        elif st.status == WATCHING:
            reasons, values = [], {"wqs": wqs_now, "current_drawdown": dd, "wqs_week_ago": before}
            if wqs_now < s.quarantine_below_wqs:
                reasons.append("WQS below minimum threshold")
            if dd > s.quarantine_drawdown:
                reasons.append("Excessive drawdown")
            if before is not None and wqs_now - before < -s.quarantine_wqs_drop_points:
                reasons.append("Rapid WQS deterioration")
            if reasons:
                new[w] = WalletState(w, QUARANTINED, as_of, wqs_now)
                emit(w, "quarantined", "; ".join(reasons), values)
            elif (not eligible[w] and before is not None and before - wqs_now >= s.rotation_decline_points
                  and int(r["trade_count"]) >= s.rotation_min_trades):
                new[w] = WalletState(w, COOLDOWN, as_of, wqs_now,
                                     cooldown_until=as_of + timedelta(days=s.rotation_cooldown_days))
                emit(w, "rotated_out", "WQS declined over the rotation window and fails the stage-1 gate",
                     {"wqs": wqs_now, "wqs_week_ago": before})
        elif st.status == QUARANTINED:
            quiet = days_since_loss.get(w, 0)
            if wqs_now > s.release_min_wqs and quiet > s.release_days_without_loss:
                new[w] = WalletState(w, WATCHING, as_of, wqs_now)
                emit(w, "released", "WQS recovered and no losing day for the release window",
                     {"wqs": wqs_now, "days_since_loss": quiet})
        elif st.status == COOLDOWN and st.cooldown_until and as_of >= st.cooldown_until:
            if (eligible[w] and wqs_now >= s.rotation_readd_min_wqs
                    and wqs_now - st.wqs_at_change >= s.rotation_readd_improvement_points):
                new[w] = WalletState(w, WATCHING, as_of, wqs_now)
                emit(w, "readded", "cooldown over and WQS improved since removal",
                     {"wqs": wqs_now, "wqs_at_removal": st.wqs_at_change})

    watching = sum(st.status == WATCHING for st in new.values())
    free = max(0, s.max_wallets - watching)
    if free:
        ranked = by_lower_bound(scores)
        for w, lower, wqs_now in zip(ranked["wallet_address"], ranked["wqs_lower"], ranked["wqs"]):
            if free == 0:
                break
            if not eligible[w] or w in new:
                continue
            new[w] = WalletState(w, WATCHING, as_of, float(wqs_now))
            emit(w, "added", "passes the stage-1 gate", {"wqs": float(wqs_now), "wqs_lower": float(lower)})
            free -= 1
    return new, events


def behaviour_alerts(as_of: date, current: pd.DataFrame, previous: pd.DataFrame, watched: set[str],
                     s: WatchlistSettings = WatchlistSettings()) -> list[StateEvent]:
    """Behaviour-change alerts for watched wallets (000 Phase 5), comparing today's score
    rows with those of ``rotation_window_days`` ago: win rate down more than 15 points,
    mean bet more than 2× larger, new categories traded, return volatility up more than 20 %."""
    prev = previous.set_index("wallet_address")
    events = []
    for r in current[current["wallet_address"].isin(watched)].itertuples(index=False):
        if r.wallet_address not in prev.index:
            continue
        p = prev.loc[r.wallet_address]
        checks = [
            ("alert_win_rate_drop", p.win_rate_posterior - r.win_rate_posterior > s.alert_win_rate_drop,
             {"win_rate": r.win_rate_posterior, "win_rate_before": p.win_rate_posterior}),
            ("alert_position_size", _ratio(r.mean_bet_usd, p.mean_bet_usd) > s.alert_position_size_ratio,
             {"mean_bet_usd": r.mean_bet_usd, "mean_bet_usd_before": p.mean_bet_usd}),
            ("alert_new_categories", (r.category_count or 0) > (p.category_count or 0),
             {"category_count": r.category_count, "category_count_before": p.category_count}),
            ("alert_volatility", _ratio(r.return_volatility, p.return_volatility) > 1.0 + s.alert_volatility_rise,
             {"return_volatility": r.return_volatility, "return_volatility_before": p.return_volatility}),
        ]
        for name, hit, values in checks:
            if hit:
                events.append(StateEvent(r.wallet_address, as_of, name, "behaviour change", values))
    return events


def _ratio(a, b) -> float:
    if a is None or b is None or pd.isna(a) or pd.isna(b) or b <= 0:
        return 0.0
    return float(a) / float(b)


@dataclass
class WatchlistUpdate:
    """One day's watchlist: every wallet's new standing, the changes and alerts of the day,
    and the members in order with their tier limits (position, wallet_address, wqs,
    wqs_lower, wqs_upper, tier, tier_max_exposure (fraction of NAV), tier_max_daily_trades,
    since)."""

    states: dict[str, WalletState]
    events: list[StateEvent]
    members: pd.DataFrame
    threshold: float


def update_watchlist(as_of: date, scores: pd.DataFrame, states: dict[str, WalletState], past: pd.DataFrame,
                     losing_days: pd.DataFrame, rules: WatchlistSettings = WatchlistSettings(),
                     scoring: ScoringSettings = ScoringSettings()) -> WatchlistUpdate:
    """Carry the watchlist to ``as_of``: ``scores`` are the day's wallet scores, ``states``
    the standings before it, ``past`` the scores of ``quarantine_wqs_drop_days`` earlier
    (empty if none), ``losing_days`` the wallets' losing days (wallet_address,
    activity_date, daily_return < 0) up to ``as_of``."""
    days_since_loss = days_since_last_loss(losing_days, as_of, scores["wallet_address"])
    new_states, events = update_states(as_of, scores, states, dict(zip(past.get("wallet_address", []),
                                                                         past.get("wqs", []))),
                                       days_since_loss, rules)
    watched = {w for w, st in new_states.items() if st.status == WATCHING}
    if len(past):
        events += behaviour_alerts(as_of, scores, past, watched, rules)
    since = {w: st.since for w, st in new_states.items()}
    watch = watchlist_members(scores, new_states)
    threshold = gate_threshold(scores, rules)
    tiers = member_tiers(watch["wqs"], threshold, rules, scoring)
    watch = watch.assign(tier=[t.name for t in tiers], tier_max_exposure=[t.max_exposure for t in tiers],
                         tier_max_daily_trades=[t.max_daily_trades for t in tiers],
                         since=[since[w] for w in watch["wallet_address"]])
    watch = watch[["wallet_address", "wqs", "wqs_lower", "wqs_upper", "tier", "tier_max_exposure",
                   "tier_max_daily_trades", "since"]].reset_index(drop=True)
    watch.insert(0, "position", range(1, len(watch) + 1))
    return WatchlistUpdate(new_states, events, watch, threshold)


PROFILE_LIMITS = ("tier", "tier_max_exposure", "tier_max_daily_trades")


def wallet_profiles(scores: pd.DataFrame, status: dict[str, str], members: pd.DataFrame) -> pd.DataFrame:
    """Every scored wallet's profile as the copy chain reads it (wallet_address, wqs,
    wqs_lower, win_rate_posterior, tier, tier_max_exposure, tier_max_daily_trades, excluded,
    as_of_date, state). A watched wallet's limits are the watchlist's (its tier relative to
    the gate); ``status`` is each wallet's standing (watching, quarantined, cooldown)."""
    profiles = scores[["wallet_address", "wqs", "wqs_lower", "win_rate_posterior", *PROFILE_LIMITS, "excluded",
                       "as_of_date"]].copy()
    profiles["state"] = [status.get(w, "") for w in profiles["wallet_address"]]
    on_list = members.set_index("wallet_address")[list(PROFILE_LIMITS)]
    watched = profiles["wallet_address"].isin(on_list.index)
    if watched.any():
        for c in PROFILE_LIMITS:
            profiles.loc[watched, c] = on_list.loc[profiles.loc[watched, "wallet_address"], c].to_numpy()
    return profiles.reset_index(drop=True)
