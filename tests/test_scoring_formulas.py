"""Scoring formulas against hand-computed values."""

import math

import numpy as np
import pytest

from polycopy.scoring.formulas import bayesian_win_rate, is_market_maker, red_flags, tier, wqs
from polycopy.scoring.settings import ScoringSettings


def test_beta_binomial_posterior_and_credible_interval():
    # 30 wins, 10 losses, category base rate 0.5, prior strength 20:
    # prior Beta(10, 10) → posterior Beta(40, 20), mean 40 / 60.
    p = bayesian_win_rate(30, 10, 0.5)
    assert (p.alpha, p.beta) == (40.0, 20.0)
    assert p.mean == pytest.approx(2 / 3)
    # The interval holds 95 % of the posterior, 2.5 % in each tail — checked by integrating
    # the density x^39 (1 − x)^19 / B(40, 20) numerically, independently of the quantile code.
    x = np.linspace(0.0, 1.0, 400_001)
    log_b = math.lgamma(40) + math.lgamma(20) - math.lgamma(60)
    pdf = np.exp(39 * np.log(np.clip(x, 1e-300, 1)) + 19 * np.log(np.clip(1 - x, 1e-300, 1)) - log_b)
    cdf = np.concatenate([[0.0], np.cumsum((pdf[1:] + pdf[:-1]) / 2 * np.diff(x))])
    assert np.interp(p.ci_low, x, cdf) == pytest.approx(0.025, abs=1e-6)
    assert np.interp(p.ci_high, x, cdf) == pytest.approx(0.975, abs=1e-6)
    # Few trades shrink hard toward the base rate: 3 wins of 3 → (0.52·20 + 3) / 23.
    q = bayesian_win_rate(3, 0, 0.521)
    assert q.mean == pytest.approx((0.521 * 20 + 3) / 23)
    with pytest.raises(ValueError):
        bayesian_win_rate(1, 1, 0.0)


def test_wqs_components_and_penalties():
    b = wqs(sharpe=2.0, information_ratio=1.0, calmar=2.0, rolling_sharpe_std=0.3, volume_usd=1_000_000,
            trade_count=40, category_hhi=2500)
    assert b.sharpe == pytest.approx(24.0)  # 2.0 × 12
    assert b.information_ratio == pytest.approx(20.0)  # 1.0 × 20
    assert b.calmar == pytest.approx(13.34)  # 2.0 × 6.67
    assert b.consistency == pytest.approx(9.0)  # 15 × (1 − 0.3 / 0.75)
    assert b.volume == pytest.approx(5.0)  # log10(1e6 / 1e4) × 2.5
    assert b.base == pytest.approx(71.34)
    assert b.trade_count_factor == pytest.approx(0.9)  # 40 < 50: 0.5 + 40 / 100
    assert b.hhi_factor == pytest.approx(0.9)  # HHI 2500 > 1800
    assert b.wqs == pytest.approx(71.34 * 0.9 * 0.9)


def test_wqs_caps_floors_and_missing_inputs():
    b = wqs(sharpe=5.0, information_ratio=-1.0, calmar=10.0, rolling_sharpe_std=1.0, volume_usd=1e9,
            trade_count=60, category_hhi=1000)
    assert (b.sharpe, b.information_ratio, b.calmar, b.consistency, b.volume) == (30.0, 0.0, 20.0, 0.0, 10.0)
    assert (b.trade_count_factor, b.hhi_factor, b.wqs) == (1.0, 1.0, 60.0)
    none = wqs(None, float("nan"), None, None, volume_usd=0.0, trade_count=0, category_hhi=None)
    assert none.wqs == 0.0 and none.trade_count_factor == 0.5
    top = wqs(10, 10, 10, 0.0, 1e12, 1000, 0)
    assert top.wqs == 100.0  # 30 + 25 + 20 + 15 + 10


def test_anti_market_maker_filter():
    assert is_market_maker(600, 600.0, 0.52, 0.005)
    assert not is_market_maker(400, 600.0, 0.52, 0.005)  # not enough trades
    assert not is_market_maker(600, 7200.0, 0.52, 0.005)  # holds too long
    assert not is_market_maker(600, 600.0, 0.65, 0.005)  # wins too often for a market maker
    assert not is_market_maker(600, 600.0, 0.52, 5.0)  # earns real money per trade
    assert not is_market_maker(600, None, 0.52, 0.005)


CLEAN = {"wallet_age_days": 120, "largest_bet_usd": 5000, "win_rate": 0.62, "trade_count": 150,
         "wash_trade_share": 0.01, "profit_factor": 1.8, "category_count": 2, "max_drawdown": 0.12}


@pytest.mark.parametrize("flag, change, values", [
    ("NEW_WALLET_LARGE_BET", {"wallet_age_days": 3, "largest_bet_usd": 20_000},
     {"wallet_age_days": 3.0, "largest_bet_usd": 20_000.0}),
    ("LUCK_NOT_SKILL", {"win_rate": 0.95, "trade_count": 12}, {"win_rate": 0.95, "trade_count": 12}),
    ("WASH_TRADING_DETECTED", {"wash_trade_share": 0.8}, {"wash_trade_share": 0.8}),
    ("NEGATIVE_PROFIT_FACTOR", {"profit_factor": 0.7}, {"profit_factor": 0.7}),
    ("NO_SPECIALIZATION", {"category_count": 7}, {"category_count": 7}),
    ("EXCESSIVE_DRAWDOWN", {"max_drawdown": 0.5}, {"max_drawdown": 0.5}),
])
def test_each_red_flag_trips_on_its_wallet_and_not_on_a_clean_one(flag, change, values):
    assert red_flags(CLEAN) == {}
    flags = red_flags({**CLEAN, **change})
    assert flags == {flag: values}


def test_red_flag_thresholds_are_strict_and_configurable():
    edge = {**CLEAN, "wallet_age_days": 7, "largest_bet_usd": 1000, "win_rate": 0.9, "trade_count": 19,
            "wash_trade_share": 0.7, "profit_factor": 1.0, "category_count": 5, "max_drawdown": 0.35}
    assert red_flags(edge) == {}  # each document threshold is a strict bound
    strict = ScoringSettings(max_drawdown=0.10)
    assert "EXCESSIVE_DRAWDOWN" in red_flags(CLEAN | {"max_drawdown": 0.12}, strict)


def test_tiers_with_limits():
    assert (tier(95, False).name, tier(95, False).max_exposure, tier(95, False).max_daily_trades) == ("Elite", 0.15, 10)
    assert (tier(75, False).name, tier(75, False).max_exposure, tier(75, False).max_daily_trades) == ("Expert", 0.10, 8)
    assert (tier(55, False).name, tier(55, False).max_exposure, tier(55, False).max_daily_trades) == ("Good", 0.07, 5)
    assert (tier(45, False).name, tier(45, False).max_exposure) == ("Poor", 0.0)
    assert tier(95, True).name == "Poor"  # an excluded wallet is never copied


def test_james_stein_shrinkage():
    from polycopy.scoring.shrinkage import james_stein_factors, shrink_toward

    def james_stein(x, v):
        mean, factor = james_stein_factors(x, v)
        return shrink_toward(x, mean, factor)

    # k = 5 estimates, mean 1.0, Σ(x − x̄)² = 1 + 0.25 + 0 + 0.25 + 1 = 2.5.
    x = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    # Equal variance 0.5: B = (5 − 3) × 0.5 / 2.5 = 0.4 → each moves 40 % of the way to 1.0.
    assert james_stein(x, 0.5) == pytest.approx(1.0 + 0.6 * (x - 1.0))
    # Per-wallet variances: the noisier the estimate, the harder it shrinks; B caps at 1.
    v = np.array([0.1, 0.1, 0.1, 0.1, 5.0])
    out = james_stein(x, v)
    assert out[0] == pytest.approx(1.0 + (1 - 2 * 0.1 / 2.5) * (0.0 - 1.0))  # B = 0.08
    assert out[4] == pytest.approx(1.0)  # B = min(1, 4.0) → all the way to the mean
    assert list(james_stein(np.array([1.0, 3.0]), 1.0)) == [1.0, 3.0]  # k < 4: unchanged


def test_bootstrap_replicates_by_hand():
    """One wallet, 4 days: returns 0, 0.1, 0.1, 0.1 (one empty day, three realizations).

    A replicate draws 4 days with replacement. All-0.1 (0.75⁴ = 0.3164) or all-0
    (0.25⁴ = 0.0039) has no variance: Sharpe undefined, 0 points. Any mix has a positive
    mean and a daily Sharpe ≥ 0.577 (×√365 > 11), so the capped 30 points. Expected points:
    30 × (1 − 0.3203) = 20.39; the 5 % quantile is 0 and the 95 % quantile 30.
    """
    from polycopy.scoring.settings import ScoringSettings
    from polycopy.scoring.wallet_scores import bootstrap_component_points

    ret = np.array([[0.0, 0.1, 0.1, 0.1]])
    act = np.full((1, 4), np.nan)
    s = ScoringSettings(bootstrap_samples=40_000, bootstrap_seed=7)
    pts = bootstrap_component_points(ret, act, np.array([4]), s)["sharpe"][0]
    assert set(np.unique(pts)) == {0.0, 30.0}
    assert (pts == 0).mean() == pytest.approx(0.75 ** 4 + 0.25 ** 4, abs=0.006)
    assert np.quantile(pts, [0.05, 0.95]).tolist() == [0.0, 30.0]
    # Same seed, same replicates; another seed, other replicates.
    again = bootstrap_component_points(ret, act, np.array([4]), s)["sharpe"][0]
    other = bootstrap_component_points(ret, act, np.array([4]), ScoringSettings(bootstrap_samples=40_000,
                                                                                 bootstrap_seed=8))["sharpe"][0]
    assert np.array_equal(pts, again) and not np.array_equal(pts, other)


def test_bootstrap_draws_the_same_distribution_as_resampling_every_day():
    """Drawing K ~ Binomial(n, k/n) informative days is the plain bootstrap of all n days:
    the replicate ratios match a brute-force resampling of the whole 90-day vector."""
    from polycopy.scoring.settings import ScoringSettings
    from polycopy.scoring.formulas import ratio_points
    from polycopy.scoring.wallet_scores import _ratios, bootstrap_component_points

    rng = np.random.default_rng(0)
    ret = np.zeros((1, 90))
    days = rng.choice(90, size=15, replace=False)
    ret[0, days] = rng.normal(0.004, 0.03, size=15)
    act = np.full((1, 90), np.nan)
    act[0, days] = ret[0, days] - 0.002
    s = ScoringSettings(bootstrap_samples=20_000, bootstrap_seed=1)
    ours = bootstrap_component_points(ret, act, np.array([90]), s)
    idx = rng.integers(0, 90, size=(20_000, 90))
    brute = _ratios(ret[0][idx], act[0][idx], np.ones((20_000, 90), dtype=bool))
    for c in ("sharpe", "information_ratio", "calmar"):
        theirs = ratio_points(c, brute[c], s)
        assert ours[c][0].mean() == pytest.approx(theirs.mean(), abs=0.35), c
        for q in (0.05, 0.25, 0.5, 0.75, 0.95):
            assert np.quantile(ours[c][0], q) == pytest.approx(np.quantile(theirs, q), abs=0.8), (c, q)
