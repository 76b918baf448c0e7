"""Sizing, market statistics and risk maths against values worked out by hand."""

import math

import numpy as np
import pytest
from scipy.stats import gamma, norm

from polycopy.trading.market import (comovement, daily_closes, ewma_volatility, expected_edge, pair_correlation, slippage,
                                     taker_fee_per_share, walk_asks)
from polycopy.trading.portfolio import FillRow, build_portfolio
from polycopy.trading.risk import (DAY, HOUR, NavPoint, RiskEvent, cornish_fisher_z, evaluate_breakers,
                                   halt_reasons, kill_switch_on, modified_var, mvar_band, scenario_returns)
from polycopy.trading.settings import RiskSettings, SizingSettings
from polycopy.trading.sizing import (SizingInputs, blended_probability, confidence_adjustment, conviction_multiplier,
                                     correlation_adjustment, drawdown_adjustment, headroom, kelly_fraction,
                                     market_quality_multiplier, size_position, volatility_adjustment,
                                     whale_quality_multiplier)


def test_kelly_and_its_blended_probability():
    # b = (1 − 0.5)/0.5 = 1: f = (0.6·1 − 0.4)/1 = 0.2
    assert kelly_fraction(0.6, 0.5) == pytest.approx(0.2)
    # b = 0.6/0.4 = 1.5: f = (0.7·1.5 − 0.3)/1.5 = 0.5
    assert kelly_fraction(0.7, 0.4) == pytest.approx(0.5)
    assert kelly_fraction(0.3, 0.5) == 0.0  # no edge, no bet
    assert kelly_fraction(0.9, 1.0) == 0.0 and kelly_fraction(0.9, 0.0) == 0.0
    # 0.7 × 0.65 + 0.3 × 0.5
    assert blended_probability(0.65, 0.5) == pytest.approx(0.605)


def test_each_adjustment_and_its_range():
    assert confidence_adjustment(80) == pytest.approx(0.88)  # 0.4 + 0.6 × 0.8
    assert confidence_adjustment(0) == pytest.approx(0.4) and confidence_adjustment(150) == pytest.approx(1.0)
    assert volatility_adjustment(0.1) == pytest.approx(1 / 1.5)
    assert volatility_adjustment(0.5) == pytest.approx(0.5)  # 1/3.5 floored
    assert volatility_adjustment(0.0) == pytest.approx(1.0)
    assert correlation_adjustment(0.5) == pytest.approx(0.75)
    assert correlation_adjustment(0.9) == pytest.approx(0.3)  # 1 − 0.81 floored
    assert drawdown_adjustment(0.1) == pytest.approx(0.7)
    assert drawdown_adjustment(0.3) == pytest.approx(0.2)  # 1 − 0.9 floored


def test_the_documents_multipliers():
    assert whale_quality_multiplier(80) == pytest.approx(1.7)  # 0.5 + 1.5 × 0.8
    assert whale_quality_multiplier(100) == pytest.approx(2.0)
    s = SizingSettings()
    # 003's examples: $100k and 1 ¢ → 1.2×; $25k and 3 ¢ → 0.7×; $5k and 8 ¢ → 0.5×
    assert market_quality_multiplier(100_000, 0.01, s) == pytest.approx(0.7 + (2 / 3) * math.log10(4) + 0.1)
    assert market_quality_multiplier(100_000, 0.01, s) == pytest.approx(1.2, abs=0.005)
    assert market_quality_multiplier(25_000, 0.03, s) == pytest.approx(0.7)
    assert market_quality_multiplier(5_000, 0.08, s) == pytest.approx(0.5)
    assert conviction_multiplier(800) == pytest.approx(0.8) and conviction_multiplier(5_000) == pytest.approx(1.5)


def _inputs(**kw):
    base = dict(whale_win_rate=0.65, wqs=80.0, market_price=0.5, cost_per_share=0.5, volatility=0.1,
                correlation=0.5, portfolio_drawdown=0.1, whale_trade_usd=5_000.0, liquidity_usd=25_000.0, spread=0.03)
    base.update(kw)
    return SizingInputs(**base)


def test_full_size_by_hand():
    s = SizingSettings()
    room = headroom(10_000, 10_000, 0, 0, 0, 0, 0.15, s)
    sized = size_position(_inputs(), 10_000, room, s)
    # p = 0.605; Kelly (0.605 − 0.5)/0.5 = 0.21; × ½ × 0.88 × ⅔ × 0.75 × 0.7 = 0.03234
    f = 0.5 * 0.21 * 0.88 * (1 / 1.5) * 0.75 * 0.7
    assert sized.factors["kelly_adjusted"] == pytest.approx(f)
    assert sized.factors["kelly_capped"] == pytest.approx(f)  # below the 8 % cap
    # × whale 1.7 × market 0.7 × conviction 1.5, × NAV
    assert sized.usd == pytest.approx(f * 1.7 * 0.7 * 1.5 * 10_000)
    assert sized.binding == "kelly"


def test_the_kelly_cap_and_the_hard_caps_clip():
    s = SizingSettings()
    strong = _inputs(whale_win_rate=0.95, volatility=0.0, correlation=0.0, portfolio_drawdown=0.0, wqs=100.0)
    room = headroom(10_000, 10_000, 0, 0, 0, 0, 0.15, s)
    sized = size_position(strong, 10_000, room, s)
    assert sized.factors["kelly_capped"] == pytest.approx(0.08)
    assert sized.usd == pytest.approx(1_000.0) and sized.binding == "per_trade_usd"
    # $1,900 already in this market: the 20 % cap leaves $100
    room = headroom(10_000, 10_000, 1_900, 1_900, 1_900, 0, 0.15, s)
    assert size_position(strong, 10_000, room, s).usd == pytest.approx(100.0)
    assert size_position(strong, 10_000, room, s).binding == "market_usd"
    # the wallet's tier allowance (7 % of NAV, $650 used)
    room = headroom(10_000, 10_000, 0, 0, 650, 650, 0.07, s)
    assert size_position(strong, 10_000, room, s).usd == pytest.approx(50.0)
    # category 40 % and total 80 %
    assert headroom(10_000, 10_000, 0, 3_900, 3_900, 0, 0.15, s).category_usd == pytest.approx(100.0)
    assert headroom(10_000, 10_000, 0, 0, 7_950, 0, 0.15, s).total_usd == pytest.approx(50.0)


def test_book_walk_slippage_fee_and_edge():
    asks = [(0.50, 100.0), (0.51, 100.0), (0.53, 1_000.0)]
    fill = walk_asks(asks, 101.0)  # 100 sh at .50 = $50, then $51 buys 100 sh at .51
    assert fill.complete and fill.shares == pytest.approx(200.0) and fill.avg_price == pytest.approx(0.505)
    assert not walk_asks([(0.5, 10.0)], 100.0).complete
    assert slippage(0.505, 0.50) == pytest.approx(0.01)
    assert taker_fee_per_share(0.5, 0.04) == pytest.approx(0.01)  # 0.04 × 0.5 × 0.5
    assert expected_edge(0.6, 0.5, 0.04) == pytest.approx(0.6 / 0.51 - 1)


def test_ewma_volatility_by_hand():
    # changes 0.02, −0.01, 0.04; σ²₀ = their variance = 4.2222e-4
    # σ²₁ = .94 σ²₀ + .06 × 4e-4 = 4.20889e-4; σ²₂ = .94 σ²₁ + .06 × 1e-4 = 4.01636e-4
    # σ²₃ = .94 σ²₂ + .06 × 1.6e-3 = 4.73538e-4
    assert ewma_volatility(np.array([0.5, 0.52, 0.51, 0.55])) == pytest.approx(math.sqrt(4.735378e-4), rel=1e-5)
    assert ewma_volatility(np.array([0.5, 0.5])) == 0.0
    assert ewma_volatility(np.array([0.4] * 10)) == 0.0


def test_correlation_estimate():
    t = range(0, 40 * 3600, 3600)
    rng = np.random.default_rng(1)
    walk = np.cumsum(rng.normal(0, 0.01, len(t))) + 0.5
    a = dict(zip(t, walk))
    b = dict(zip(t, walk * 0.5 + 0.2))  # moves with a exactly
    c = dict(zip(t, 1 - walk))  # the other side of a
    n = len(t) - 1  # changes
    assert comovement(a, b, 20, 10) == pytest.approx(n / (n + 20))
    assert comovement(a, c, 20, 10) == pytest.approx(-n / (n + 20))
    assert comovement(a, dict(list(b.items())[:5]), 20, 10) == 0.0  # too short an overlap
    assert pair_correlation(-0.9, False, False, 0.5, 0.15) == 0.0  # a hedge
    assert pair_correlation(0.1, True, True, 0.5, 0.15) == 0.5
    assert pair_correlation(0.1, False, True, 0.5, 0.15) == 0.15
    assert pair_correlation(0.7, False, True, 0.5, 0.15) == 0.7


def test_daily_closes_keep_the_last_price_of_each_utc_day():
    day = 86_400
    history = {day + 3600: 0.40, day + 7200: 0.42, 2 * day + 60: 0.50, 2 * day - 1: 0.45, 5 * day: 0.30}
    assert daily_closes(history) == {1: 0.45, 2: 0.50, 5: 0.30}
    # Closes are what the correlation compares: two daily series moving together over 12 days.
    a = {d * day + 3600 * h: 0.5 + 0.01 * d * (-1) ** d + 0.001 * h for d in range(12) for h in range(24)}
    b = {ts: 1 - p for ts, p in a.items()}
    n = 11
    assert comovement(daily_closes(a), daily_closes(b), 20, 10) == pytest.approx(-n / (n + 20))


def test_cornish_fisher_by_hand_and_against_a_known_distribution():
    z = norm.ppf(0.01)
    assert cornish_fisher_z(z, 0.0, 0.0) == pytest.approx(z)
    # S = −1, K = 3 worked out term by term: −2.326348 − 0.735315 − 0.701350 + 0.376332
    assert cornish_fisher_z(z, -1.0, 3.0) == pytest.approx(-3.386681, abs=1e-5)
    # A gamma(50) variable has skewness 2/√50 and excess kurtosis 6/50; its standardized
    # 1 % and 99 % quantiles are within 0.5 % of the Cornish-Fisher ones.
    k = 50.0
    sk, ku = 2 / math.sqrt(k), 6 / k
    for a in (0.01, 0.99):
        exact = (gamma.ppf(a, k) - k) / math.sqrt(k)
        assert cornish_fisher_z(norm.ppf(a), sk, ku) == pytest.approx(exact, rel=5e-3)
    # mVaR of returns that are a loss-skewed gamma: close to the true 1 % loss
    rng = np.random.default_rng(3)
    x = rng.gamma(4.0, 0.01, 400_000)
    returns = 0.05 - x  # mean 0.01, long left tail
    true_loss = -(0.05 - gamma.ppf(0.99, 4.0, scale=0.01))
    assert modified_var(returns, 0.01) == pytest.approx(true_loss, rel=0.02)
    # and worse than the Gaussian VaR, which ignores the skew
    assert modified_var(returns, 0.01) > -(returns.mean() + norm.ppf(0.01) * returns.std())


def test_mvar_bands_and_scenarios():
    s = RiskSettings()
    assert [mvar_band(x, s) for x in (0.05, 0.06, 0.08, 0.081)] == ["green", "yellow", "yellow", "red"]
    r = scenario_returns({"a": 100.0, "b": -0.0}, {"a": np.array([0.01, -0.02]), "b": np.array([0.5, 0.5])}, 1_000.0)
    assert r.tolist() == pytest.approx([0.001, -0.002])
    assert modified_var(np.array([]), 0.01) == 0.0


T0 = 1_700_006_400  # a UTC midnight


def test_daily_loss_breaker_latches_then_clears_next_day_or_by_reset():
    s = RiskSettings(daily_loss_limit_usd=500, hourly_loss_limit_usd=1e9)
    navs = [NavPoint(T0 + 60, 10_000), NavPoint(T0 + 3 * HOUR, 9_400), NavPoint(T0 + 5 * HOUR, 9_900)]
    daily = {b.name: b for b in evaluate_breakers(navs, [], [], T0 + 6 * HOUR, s)}["daily_loss"]
    assert daily.tripped and daily.values["loss_usd"] == pytest.approx(600)  # latched: NAV recovered, still tripped
    assert "600.00" in daily.reason
    next_day = {b.name: b for b in evaluate_breakers(navs, [], [], T0 + DAY + 60, s)}["daily_loss"]
    assert not next_day.tripped
    reset = [RiskEvent(T0 + 5 * HOUR + 1, "reset", "daily_loss", "checked")]
    after = {b.name: b for b in evaluate_breakers(navs, [], reset, T0 + 6 * HOUR, s)}["daily_loss"]
    assert not after.tripped  # baseline is the NAV at the reset
    # a $400 loss does not trip
    small = [NavPoint(T0 + 60, 10_000), NavPoint(T0 + HOUR, 9_600)]
    assert not evaluate_breakers(small, [], [], T0 + 2 * HOUR, s)[0].tripped


def test_hourly_loss_breaker():
    s = RiskSettings(hourly_loss_limit_usd=200)
    navs = [NavPoint(T0 + 10, 10_000), NavPoint(T0 + 1_800, 9_790)]
    hourly = {b.name: b for b in evaluate_breakers(navs, [], [], T0 + 1_900, s)}["hourly_loss"]
    assert hourly.tripped
    assert not {b.name: b for b in evaluate_breakers(navs, [], [], T0 + HOUR + 10, s)}["hourly_loss"].tripped


def test_consecutive_losses_need_a_manual_reset():
    s = RiskSettings(max_consecutive_losses=5)
    exits = [(T0 + i, -1.0) for i in range(4)]
    state = lambda ex, ev=(): {b.name: b for b in evaluate_breakers([], ex, list(ev), T0 + DAY * 3, s)}
    assert not state(exits)["consecutive_losses"].tripped
    five = exits + [(T0 + 10, -0.5)]
    assert state(five)["consecutive_losses"].tripped
    assert state(five)["consecutive_losses"].manual_reset_only
    assert not state(exits[:2] + [(T0 + 2, 3.0)] + exits[2:] + [(T0 + 10, -1.0)])["consecutive_losses"].tripped
    assert not state(five, [RiskEvent(T0 + 20, "reset", "consecutive_losses")])["consecutive_losses"].tripped
    assert not state(five, [RiskEvent(T0 + 20, "reset", "all")])["consecutive_losses"].tripped


def test_drawdown_breaker_and_kill_switch():
    s = RiskSettings(max_drawdown=0.2)
    navs = [NavPoint(T0, 10_000), NavPoint(T0 + DAY, 12_000), NavPoint(T0 + 5 * DAY, 9_500)]
    dd = {b.name: b for b in evaluate_breakers(navs, [], [], T0 + 6 * DAY, s)}["drawdown"]
    assert dd.tripped and dd.values["drawdown"] == pytest.approx(1 - 9_500 / 12_000)
    reset = [RiskEvent(T0 + 5 * DAY + 1, "reset", "drawdown")]
    navs2 = navs + [NavPoint(T0 + 5 * DAY + 2, 9_500)]
    assert not {b.name: b for b in evaluate_breakers(navs2, [], reset, T0 + 6 * DAY, s)}["drawdown"].tripped
    on = [RiskEvent(T0, "kill_switch_on", reason="manual emergency stop")]
    assert kill_switch_on(on) == (True, "manual emergency stop")
    assert kill_switch_on(on + [RiskEvent(T0 + 1, "kill_switch_off")]) == (False, "")
    assert kill_switch_on([], "1")[0] and not kill_switch_on([], "0")[0]
    reasons = halt_reasons([dd], 0.09, kill_switch_on(on), s)
    assert len(reasons) == 3 and reasons[0].startswith("kill switch") and "mVaR 9.00%" in reasons[2]


def test_portfolio_from_fills_at_average_cost():
    fills = [
        FillRow(1, "o1", "tA", "cA", "BUY", 0.40, 100, 0.5, "w1", "sports", "e1"),
        FillRow(2, "o2", "tA", "cA", "BUY", 0.60, 100, 0.5, "w2", "sports", "e1"),
        FillRow(3, "o3", "tA", "cA", "SELL", 0.70, 50, 0.25, "", "sports", "e1"),
        FillRow(4, "o4", "tB", "cB", "BUY", 0.20, 50, 0.1, "w1", "crypto", "e2"),
    ]
    pf = build_portfolio(fills, {"tA": 0.65}, 1_000.0)
    # cash: 1000 − 40.5 − 60.5 + 34.75 − 10.1
    assert pf.cash_usd == pytest.approx(923.65)
    a = next(h for h in pf.holdings if h.token_id == "tA")
    assert a.shares == pytest.approx(150) and a.cost_usd == pytest.approx(101 * 0.75)  # avg 0.505/share
    b = next(h for h in pf.holdings if h.token_id == "tB")
    assert b.mark == pytest.approx(10.1 / 50)  # no mark: held at cost
    assert pf.exposure_usd == pytest.approx(150 * 0.65 + 10.1)
    assert pf.nav_usd == pytest.approx(923.65 + 97.5 + 10.1)
    # exit: (0.70 − 0.505) × 50 − 0.25
    assert pf.exits == ((3.0, pytest.approx(9.5)),)
    assert pf.by("category") == {"sports": pytest.approx(97.5), "crypto": pytest.approx(10.1)}
    assert pf.by_wallet() == {"w1": pytest.approx(97.5 / 2 + 10.1), "w2": pytest.approx(97.5 / 2)}


def test_mvar_moments_are_the_population_ones():
    """Skewness and excess kurtosis as scipy computes them (biased), so the figure matches 002 §5.1."""
    from scipy.stats import kurtosis, skew

    r = np.random.default_rng(5).standard_t(4, 500) * 0.01
    z = norm.ppf(0.01)
    expected = -(r.mean() + cornish_fisher_z(z, skew(r), kurtosis(r, fisher=True)) * r.std())
    assert modified_var(r, 0.01) == pytest.approx(expected, rel=1e-9)
