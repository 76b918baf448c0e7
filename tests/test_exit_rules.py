"""The exit rules by hand: each rule at its edge, the ATR against the reference
implementation and a hand-made range, the trailing ratchet, the precedence, and the
proportional mirror with its arithmetic written out."""

from dataclasses import replace

import pandas as pd
import pytest

from polycopy.trading.exit_rules import (DAY, HOUR, PRECEDENCE, PositionView, SourceExit, average_true_range,
                                         choose_exit, daily_ranges, shares_to_sell, trailing_stop_level, triggers)
from polycopy.trading.settings import ExitSettings

NOW = 1_800_000_000.0
ONLY = {rule: ExitSettings(**{r: (r == rule) for r in ("stop_loss", "take_profit", "trailing_stop", "time_exit",
                                                       "exit_on_source_removed", "mirror_exits")})
        for rule in ("stop_loss", "take_profit", "trailing_stop", "time_exit", "exit_on_source_removed",
                     "mirror_exits")}


def position(**kw) -> PositionView:
    base = dict(position_id="p1", token_id="t1", condition_id="c1", shares=250.0, avg_cost=0.40,
                opened_at=NOW - 3 * DAY, mark=0.40, end_ts=NOW + 30 * DAY, source_wallets={"0xa": 1.0})
    base.update(kw)
    return PositionView(**base)


def rules(pos, settings=ExitSettings(), source_exit=None):
    return [t.rule for t in triggers(pos, NOW, settings, source_exit)]


def test_stop_loss_fires_at_exactly_minus_15_percent_and_not_at_minus_14_9():
    s = ONLY["stop_loss"]
    assert rules(position(mark=0.34), s) == ["stop_loss"]  # 0.34 / 0.40 − 1 = −15.0 %
    assert rules(position(mark=0.3404), s) == []  # −14.9 %
    t = triggers(position(mark=0.30), NOW, s)[0]
    assert t.fraction == 1.0 and t.values["stop_price"] == pytest.approx(0.34)
    assert t.values["return_fraction"] == pytest.approx(-0.25)


def test_take_profit_fires_at_plus_30_percent():
    s = ONLY["take_profit"]
    assert rules(position(mark=0.52), s) == ["take_profit"]  # 0.52 / 0.40 = 1.30
    assert rules(position(mark=0.5196), s) == []  # +29.9 %


def test_atr_from_a_hand_made_daily_range():
    # Three days: TR1 = 0.50 − 0.40 = 0.10; TR2 = max(0.55 − 0.50, |0.55 − 0.45|, |0.50 − 0.45|) = 0.10;
    # TR3 = max(0.46 − 0.38, |0.46 − 0.52|, |0.38 − 0.52|) = 0.14. Fewer days than the window: the mean.
    days = [(0.50, 0.40, 0.45), (0.55, 0.50, 0.52), (0.46, 0.38, 0.40)]
    assert average_true_range(days, window=14) == pytest.approx((0.10 + 0.10 + 0.14) / 3)
    # Window 2: seeded with mean(TR1, TR2) = 0.10, then (0.10 × 1 + 0.14) / 2 = 0.12.
    assert average_true_range(days, window=2) == pytest.approx(0.12)
    assert average_true_range(days, window=14, min_days=5) is None


def test_atr_matches_the_reference_wilder_implementation():
    import numpy as np
    import ta  # the reference implementation, a test dependency (pyproject [test])

    rng = np.random.default_rng(7)
    close = np.clip(0.5 + np.cumsum(rng.normal(0, 0.02, 40)), 0.05, 0.95)
    high = close + rng.uniform(0, 0.03, 40)
    low = close - rng.uniform(0, 0.03, 40)
    ref = ta.volatility.AverageTrueRange(pd.Series(high), pd.Series(low), pd.Series(close), window=14).average_true_range()
    ours = average_true_range(list(zip(high, low, close)), window=14)
    assert ours == pytest.approx(float(ref.iloc[-1]), rel=1e-12)


def test_daily_ranges_keep_only_days_that_ended():
    day0 = (int(NOW) // DAY - 2) * DAY
    history = {day0 + 3600: 0.40, day0 + 7200: 0.50, day0 + DAY + 3600: 0.45, day0 + DAY + 7200: 0.42,
               day0 + 2 * DAY + 60: 0.9}
    assert daily_ranges(history, before_ts=day0 + 2 * DAY + 120) == [(0.50, 0.40, 0.50), (0.45, 0.42, 0.42)]


def test_trailing_stop_ratchets_up_and_never_loosens():
    # Armed once the high is above our cost: 0.60 − 2.5 × 0.04 = 0.50.
    assert trailing_stop_level(None, 0.38, 0.04, 0.40, 2.5) is None  # never a winner: not armed
    first = trailing_stop_level(None, 0.60, 0.04, 0.40, 2.5)
    assert first == pytest.approx(0.50)
    # A higher high raises it: 0.70 − 0.10 = 0.60.
    second = trailing_stop_level(first, 0.70, 0.04, 0.40, 2.5)
    assert second == pytest.approx(0.60)
    # A wider ATR would lower the candidate (0.70 − 0.20 = 0.50): the stop stays at 0.60.
    assert trailing_stop_level(second, 0.70, 0.08, 0.40, 2.5) == pytest.approx(0.60)
    # No ATR this pass (no history): the stop keeps its level.
    assert trailing_stop_level(second, 0.70, None, 0.40, 2.5) == pytest.approx(0.60)
    s = ONLY["trailing_stop"]
    pos = position(avg_cost=0.40, high_water=0.70, atr=0.08, trail_stop=0.60)
    assert rules(replace(pos, mark=0.61), s) == []
    assert rules(replace(pos, mark=0.60), s) == ["trailing_stop"]


def test_time_exit_at_24_hours_before_the_end():
    s = ONLY["time_exit"]
    assert rules(position(end_ts=NOW + 24 * HOUR), s) == ["time_exit"]
    assert rules(position(end_ts=NOW + 24 * HOUR + 60), s) == []
    assert rules(position(end_ts=NOW + 2 * HOUR), ExitSettings(time_exit_hours=3, stop_loss=False,
                                                                take_profit=False)) == ["time_exit"]
    assert rules(position(end_ts=None), s) == []


def test_source_removed_when_the_wallets_behind_half_the_position_are_gone():
    s = ONLY["exit_on_source_removed"]
    assert rules(position(source_wallets={"0xa": 0.5, "0xb": 0.5}, removed_wallets={"0xa": "quarantined"}),
                 s) == ["source_removed"]
    assert rules(position(source_wallets={"0xa": 0.4, "0xb": 0.6}, removed_wallets={"0xa": "excluded"}), s) == []
    off = ExitSettings(exit_on_source_removed=False, stop_loss=False, take_profit=False, trailing_stop=False,
                       time_exit=False)
    assert rules(position(removed_wallets={"0xa": "excluded"}), off) == []


def test_proportional_mirror_with_the_arithmetic_written_out():
    s = ONLY["mirror_exits"]
    # The whale held 1,000 shares and sold 400: 400 / (400 + 600) = 40 % of its position.
    # It bought 60 % of our 250 shares, so we sell 0.40 × 0.60 = 24 % of them: 60 shares.
    sold = SourceExit("0xa", sold_shares=400, remaining_shares=600)
    pos = position(source_wallets={"0xa": 0.6, "0xb": 0.4})
    t = choose_exit(triggers(pos, NOW, s, sold))
    assert t.rule == "mirror" and t.fraction == pytest.approx(0.24)
    assert shares_to_sell(pos.shares, t.fraction, min_order_shares=5) == pytest.approx(60.0)
    # It sold all it held (nothing remains, or we cannot see what remains): we sell all it bought us.
    assert SourceExit("0xa", 400, 0).fraction == 1.0 and SourceExit("0xa", 400, None).fraction == 1.0
    all_ours = choose_exit(triggers(position(), NOW, s, SourceExit("0xa", 400, 0)))
    assert all_ours.fraction == 1.0
    # 97 % of the position would leave a sliver: sold whole (mirror_sell_all_below 5 %).
    assert choose_exit(triggers(position(), NOW, s, SourceExit("0xa", 970, 30))).fraction == 1.0
    # A wallet that bought none of it: nothing to mirror.
    assert rules(position(), s, SourceExit("0xc", 100, 100)) == []


def test_precedence_decides_when_several_rules_fire():
    # Everything fires at once: below the stop, source removed, at the end, under the trail, mirrored.
    pos = position(mark=0.30, end_ts=NOW + HOUR, high_water=0.60, atr=0.02, trail_stop=0.55,
                   removed_wallets={"0xa": "quarantined"})
    fired = triggers(pos, NOW, ExitSettings(), SourceExit("0xa", 100, 100))
    assert [t.rule for t in fired] == ["stop_loss", "source_removed", "time_exit", "trailing_stop", "mirror"]
    chosen = choose_exit(fired)
    assert chosen.rule == "stop_loss" and chosen.fraction == 1.0
    assert chosen.values["also_fired"] == ["source_removed", "time_exit", "trailing_stop", "mirror"]
    # Without the stop, the next in line decides; a full exit always beats the partial mirror.
    assert choose_exit(triggers(pos, NOW, ExitSettings(stop_loss=False), SourceExit("0xa", 100, 100))).rule \
        == "source_removed"
    winner = position(mark=0.60, high_water=0.60, atr=0.01)
    assert choose_exit(triggers(winner, NOW, ExitSettings(), SourceExit("0xa", 100, 900))).rule == "take_profit"
    assert PRECEDENCE[-1] == "mirror"


def test_every_rule_can_be_switched_off():
    pos = position(mark=0.30, end_ts=NOW + HOUR, high_water=0.60, atr=0.02, removed_wallets={"0xa": "excluded"})
    off = ExitSettings(stop_loss=False, take_profit=False, trailing_stop=False, time_exit=False,
                       exit_on_source_removed=False, mirror_exits=False)
    assert triggers(pos, NOW, off, SourceExit("0xa", 10, 0)) == []


def test_shares_to_sell_respects_the_step_and_the_minimum_order():
    assert shares_to_sell(123.456, 1.0, 5) == pytest.approx(123.45)
    assert shares_to_sell(100, 0.5, 5) == pytest.approx(50.0)
    assert shares_to_sell(100, 0.97, 5) == pytest.approx(100.0)  # 3 left would be unsellable: all of it
    assert shares_to_sell(100, 0.03, 5) == 0.0  # 3 shares: below the minimum order
    assert shares_to_sell(4.0, 1.0, 5) == 0.0  # the whole holding is below the minimum: held to settlement

