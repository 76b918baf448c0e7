"""The wallet-state rules on hand-made score rows: the gate (the documents' absolute one and
the relative default), quarantine and release (002 §5.2), rotation with cooldown (000
Phase 5), behaviour alerts."""

from datetime import date, timedelta

import pandas as pd
import pytest

from polycopy.scoring.settings import WatchlistSettings
from polycopy.scoring.watchlist import (COOLDOWN, QUARANTINED, WATCHING, WalletState, behaviour_alerts,
                                        effective_rules, gate_report, gate_threshold, update_states)

D = date(2026, 11, 20)


def row(w, wqs, lower=None, s30=2.0, s90=1.0, dd=0.05, excluded=False, trades=100, z=3.0, **extra):
    return {"wallet_address": w, "wqs": wqs, "wqs_lower": wqs - 10 if lower is None else lower,
            "sharpe_30d": s30, "sharpe_90d": s90, "current_drawdown": dd, "excluded": excluded,
            "trade_count": trades, "edge_null_z": z, **extra}


def test_the_relative_gate_admits_where_the_absolute_75_admits_no_one():
    """100 judged wallets whose scores never reach 75 (lower bounds 0.5, 1.0, …, 50.0; WQS 10
    above), plus 20 with too few trades. The documents' gate admits no one. The relative
    gate asks for the 90th percentile of the judged lower bounds — position 0.9 × 99 = 89.1,
    so 45.0 + 0.1 × 0.5 = 45.05 — and a P&L beating luck by 1.645 σ: the ten wallets from
    45.5 up pass the first, and one of them (z = 1.0) fails the second."""
    judged = [row(f"w{i:03d}", wqs=10 + 0.5 * (i + 1), lower=0.5 * (i + 1), z=3.0 if i % 10 else 1.0)
              for i in range(100)]
    few = [row(f"n{i:02d}", wqs=60, lower=55, trades=20) for i in range(20)]
    scores = pd.DataFrame(judged + few)
    absolute = WatchlistSettings(gate="absolute")
    assert gate_report(scores, absolute)["eligible"] == 0
    assert gate_report(scores, absolute)["removed_in_order"]["wqs_at_least_min"] == 120
    relative = WatchlistSettings()
    lowers = [0.5 * (i + 1) for i in range(100)]
    t = pd.Series(lowers).quantile(0.90)
    assert gate_threshold(scores, relative) == pytest.approx(t) == pytest.approx(45.05)
    report = gate_report(scores, relative)
    passing = [i for i in range(100) if 0.5 * (i + 1) >= t]
    assert passing == list(range(90, 100))  # i = 90 has z = 1.0
    assert report["removed_in_order"] == {"enough_trades": 20, "wqs_lower_at_percentile": 100 - len(passing),
                                          "beats_no_skill": sum(1 for i in passing if i % 10 == 0),
                                          "drawdown_below_limit": 0, "not_excluded": 0}
    assert report["eligible"] == len([i for i in passing if i % 10]) and report["threshold_wqs"] == pytest.approx(t)
    _, events = update_states(D, scores, {}, {}, {}, relative)
    added = [e.wallet_address for e in events if e.event == "added"]
    assert added == [f"w{i:03d}" for i in sorted(passing, reverse=True) if i % 10]  # best lower bound first
    # A world with no skill: the percentile still points somewhere, but no one beats luck.
    no_skill = scores.assign(edge_null_z=0.5)
    assert gate_report(no_skill, relative)["eligible"] == 0
    assert gate_report(no_skill, relative)["removed_in_order"]["beats_no_skill"] == len(passing)


def test_relative_rules_keep_the_documents_proportions_to_the_gate():
    s = WatchlistSettings()
    day = effective_rules(s, 30.0)  # the gate asks for 30 instead of 75: every level × 0.4
    assert (day.quarantine_below_wqs, day.release_min_wqs, day.rotation_readd_min_wqs) == pytest.approx((20, 24, 24))
    assert (day.quarantine_wqs_drop_points, day.rotation_decline_points) == pytest.approx((10, 4))
    assert effective_rules(WatchlistSettings(gate="absolute"), 30.0) == WatchlistSettings(gate="absolute")
    # A watched wallet at WQS 25 stays (above 20); on the documents' rules it would be quarantined.
    scores = pd.DataFrame([row("a", 25, lower=20)] + [row(f"b{i}", 5, lower=i / 10) for i in range(40)])
    states = {"a": WalletState("a", WATCHING, D - timedelta(days=3), 30.0)}
    assert gate_threshold(scores, s) < 30
    new, events = update_states(D, scores, states, {}, {}, s)
    assert new["a"].status == WATCHING and not [e for e in events if e.event == "quarantined"]


def test_gate_orders_by_lower_bound_and_caps_the_list():
    scores = pd.DataFrame([
        row("a", 80, lower=60), row("b", 90, lower=50), row("c", 74.9),  # c: WQS under 75
        row("d", 85, s30=0.5, s90=1.0),  # Sharpe not improving
        row("e", 85, dd=0.25),  # drawdown not under 25 %
        row("f", 95, excluded=True), row("g", 78, lower=70),
    ])
    def added(settings=WatchlistSettings(gate="absolute"), states=None):
        _, events = update_states(D, scores, states or {}, {}, {}, settings)
        return [e.wallet_address for e in events if e.event == "added"]

    assert added() == ["g", "a", "b"]  # best lower bound first
    assert added(WatchlistSettings(gate="absolute", max_wallets=2)) == ["g", "a"]
    # A quarantined wallet is not re-added by the gate (it waits for release).
    assert added(states={"g": WalletState("g", QUARANTINED, D, 40.0)}) == ["a", "b"]


def test_quarantine_triggers_each_with_its_reason():
    states = {w: WalletState(w, WATCHING, D - timedelta(days=30), 80.0) for w in "abcd"}
    scores = pd.DataFrame([row("a", 49.9), row("b", 80, dd=0.11), row("c", 76), row("d", 80)])
    new, events = update_states(D, scores, states, {"c": 101.5, "d": 90.0}, {}, WatchlistSettings(gate="absolute"))
    reasons = {e.wallet_address: e.reason for e in events if e.event == "quarantined"}
    assert reasons == {"a": "WQS below minimum threshold", "b": "Excessive drawdown",
                       "c": "Rapid WQS deterioration"}  # c fell 25.5 points in a week; d only 10
    assert [new[w].status for w in "abcd"] == [QUARANTINED, QUARANTINED, QUARANTINED, WATCHING]
    assert next(e for e in events if e.wallet_address == "b").values["current_drawdown"] == 0.11


def test_release_needs_recovery_and_a_quiet_week():
    states = {w: WalletState(w, QUARANTINED, D - timedelta(days=10), 40.0) for w in "abc"}
    scores = pd.DataFrame([row("a", 61), row("b", 61), row("c", 60)])
    new, events = update_states(D, scores, states, {}, {"a": 8, "b": 7, "c": 30},
                                WatchlistSettings(gate="absolute", max_wallets=0))
    assert [new[w].status for w in "abc"] == [WATCHING, QUARANTINED, QUARANTINED]
    assert [(e.wallet_address, e.event) for e in events] == [("a", "released")]


def test_rotation_out_cooldown_and_readd():
    s = WatchlistSettings(gate="absolute")
    states = {"a": WalletState("a", WATCHING, D - timedelta(days=20), 85.0)}
    # Fails the gate (Sharpe no longer improving) after falling 12 points in the week: out.
    new, events = update_states(D, pd.DataFrame([row("a", 73, s30=0.5)]), states, {"a": 85.0}, {}, s)
    assert new["a"].status == COOLDOWN and new["a"].cooldown_until == D + timedelta(days=7)
    assert events[0].event == "rotated_out"
    # During the cooldown it does not come back, even passing the gate.
    later, ev = update_states(D + timedelta(days=3), pd.DataFrame([row("a", 90)]), new, {}, {}, s)
    assert later["a"].status == COOLDOWN and ev == []
    # After it, only with an improvement of 10 points over its WQS at removal (73).
    almost, _ = update_states(D + timedelta(days=7), pd.DataFrame([row("a", 82)]), new, {}, {}, s)
    assert almost["a"].status == COOLDOWN
    back, ev = update_states(D + timedelta(days=7), pd.DataFrame([row("a", 83)]), new, {}, {}, s)
    assert back["a"].status == WATCHING and ev[0].event == "readded"


def test_free_places_fill_by_lower_bound():
    s = WatchlistSettings(gate="absolute", max_wallets=2)
    states = {"a": WalletState("a", WATCHING, D, 80.0)}
    scores = pd.DataFrame([row("a", 80), row("b", 90, lower=60), row("c", 88, lower=70)])
    new, events = update_states(D, scores, states, {}, {}, s)
    assert sorted(w for w, st in new.items() if st.status == WATCHING) == ["a", "c"]
    assert [(e.wallet_address, e.event) for e in events] == [("c", "added")]


def test_behaviour_alerts():
    base = dict(win_rate_posterior=0.70, mean_bet_usd=1000.0, category_count=2, return_volatility=0.05)
    prev = pd.DataFrame([row("a", 80, **base), row("b", 80, **base)])
    cur = pd.DataFrame([
        row("a", 80, win_rate_posterior=0.54, mean_bet_usd=2100.0, category_count=3, return_volatility=0.061),
        row("b", 80, win_rate_posterior=0.56, mean_bet_usd=2000.0, category_count=2, return_volatility=0.06),
    ])
    events = behaviour_alerts(D, cur, prev, {"a", "b"})
    assert sorted(e.event for e in events if e.wallet_address == "a") == [
        "alert_new_categories", "alert_position_size", "alert_volatility", "alert_win_rate_drop"]
    assert [e for e in events if e.wallet_address == "b"] == []  # each exactly at its limit


def test_a_watched_wallet_that_becomes_excluded_leaves_at_once():
    states = {"a": WalletState("a", WATCHING, D - timedelta(days=9), 85.0)}
    flags = '{"NO_SPECIALIZATION": {"category_count": 6}}'
    scores = pd.DataFrame([row("a", 85, excluded=True, red_flags=flags, is_market_maker=False)])
    new, events = update_states(D, scores, states, {"a": 85.0}, {}, WatchlistSettings(gate="absolute"))
    assert "a" not in new
    assert [(e.event, e.values["red_flags"]) for e in events] == [("excluded", {"NO_SPECIALIZATION": {"category_count": 6}})]
    # Once nothing excludes it, the gate can take it back.
    back, events = update_states(D + timedelta(days=1), pd.DataFrame([row("a", 85)]), new, {}, {}, WatchlistSettings(gate="absolute"))
    assert back["a"].status == WATCHING and events[0].event == "added"


def test_days_since_last_loss():
    from polycopy.scoring.watchlist import NEVER_LOST_DAYS, days_since_last_loss

    daily = pd.DataFrame({"wallet_address": ["a", "a", "b", "b"],
                          "activity_date": [date(2026, 11, 1), date(2026, 11, 12), date(2026, 11, 5), date(2026, 11, 25)],
                          "daily_return": [-0.1, -0.02, -0.3, -0.5]})
    # a's last loss 11-12; b's loss on 11-25 is after the as-of day, so 11-05 counts; c never lost.
    assert days_since_last_loss(daily, D, ["a", "b", "c"]) == {"a": 8, "b": 15, "c": NEVER_LOST_DAYS}
