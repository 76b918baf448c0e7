"""The backtest's statistics against worked numbers: the papers' examples, hand-made
series and reference libraries."""

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from polycopy.backtest.attribution import attribute, brinson_fachler
from polycopy.backtest.edge_decay import lower_cusum
from polycopy.backtest.performance import (annualized_return, calmar_ratio, daily_returns, deflated_sharpe_ratio,
                                           expected_max_sharpe, k_ratio, log_trend, longest_underwater,
                                           max_drawdown, probabilistic_sharpe_ratio, return_moments,
                                           sharpe_ratio, sortino_ratio, stationary_bootstrap, underwater)
from polycopy.backtest.var_backtest import backtest_var, christoffersen_independence, kupiec_pof


def test_deflated_sharpe_ratio_matches_bailey_and_lopez_de_prado_worked_example():
    # Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", numerical example: the best
    # of N = 100 trials with annualized SR 2.5 over T = 1,250 daily returns, skewness −3,
    # kurtosis 10, and an annualized variance of the trials' Sharpe ratios of 0.5 (250 days
    # a year): the expected maximum SR₀ is 0.1132 a day and the DSR 0.9004.
    sr, var = 2.5 / math.sqrt(250), 0.5 / 250
    assert expected_max_sharpe(100, var) == pytest.approx(0.1132, abs=5e-5)
    assert deflated_sharpe_ratio(sr, 1250, -3.0, 10.0, 100, var) == pytest.approx(0.9004, abs=5e-5)
    # The PSR is the DSR against a given benchmark; at the benchmark itself it is one half,
    # and a single trial deflates nothing.
    assert probabilistic_sharpe_ratio(0.1132, 1250, -3.0, 10.0, benchmark=0.1132) == pytest.approx(0.5)
    assert deflated_sharpe_ratio(sr, 1250, -3.0, 10.0, 1, var) == probabilistic_sharpe_ratio(sr, 1250, -3.0, 10.0)
    # Normal returns: PSR(0) = Φ(SR·√(T−1)/√(1 + SR²/2)).
    expect = 0.5 * (1 + math.erf(0.1 * math.sqrt(99) / math.sqrt(1 + 0.01 / 2) / math.sqrt(2)))
    assert probabilistic_sharpe_ratio(0.1, 100, 0.0, 3.0) == pytest.approx(expect, rel=1e-12)


def test_kupiec_pof_on_a_hand_made_exception_series():
    # 250 days of a 99 % VaR with 8 exceptions (2.5 expected):
    # LR = −2[242 ln 0.99 + 8 ln 0.01] + 2[242 ln(242/250) + 8 ln(8/250)] = 7.7336, p = 0.0054.
    hits = np.zeros(250)
    hits[[3, 40, 41, 90, 130, 170, 200, 249]] = 1
    losses = np.where(hits == 1, 2.0, 0.5)
    t = backtest_var(losses, np.ones(250), p=0.01)
    assert (t.days, t.exceptions) == (250, 8)
    assert t.kupiec_lr == pytest.approx(7.7336, abs=5e-4) and t.kupiec_p == pytest.approx(0.00542, abs=5e-5)
    # Exactly the expected rate: no evidence against the model; none at all: LR = −2·250·ln 0.99.
    assert kupiec_pof(5, 500, 0.01)[0] == pytest.approx(0.0, abs=1e-9)
    assert kupiec_pof(0, 250, 0.01)[0] == pytest.approx(-2 * 250 * math.log(0.99))


def test_christoffersen_independence_on_clustered_exceptions():
    # 0000001110: n00 = 5, n01 = 1, n11 = 2, n10 = 1; π = 1/3, π₀ = 1/6, π₁ = 2/3.
    # LR = −2[3 ln(1/3) + 6 ln(2/3)] + 2[ln(1/6) + 5 ln(5/6) + 2 ln(2/3) + ln(1/3)] = 2.2314.
    lr, p = christoffersen_independence(np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 0]))
    assert lr == pytest.approx(2.2314, abs=5e-4) and p == pytest.approx(0.1352, abs=5e-4)
    # Exceptions that do not cluster: π₀ = π₁, nothing to reject.
    assert christoffersen_independence(np.array([0, 0, 1, 1, 0, 0, 0, 1, 0, 0]))[0] == pytest.approx(0.0, abs=1e-12)
    assert christoffersen_independence(np.zeros(30))[0] == 0.0


def test_brinson_fachler_on_a_two_category_example():
    # Politics: ours 70 % at +10 %, the benchmark's 50 % at +6 %; sports: ours 30 % at +2 %,
    # the benchmark's 50 % at +4 %. R_p = 7.6 %, R_b = 5 %: 2.6 points of excess.
    a = brinson_fachler(pd.DataFrame({"segment": ["politics", "sports"], "w_p": [0.7, 0.3], "w_b": [0.5, 0.5],
                                      "r_p": [0.10, 0.02], "r_b": [0.06, 0.04]}))
    rows = a.by_segment.set_index("segment")
    # allocation (w_p − w_b)(R_b,i − R_b): 0.2 × 0.01 and −0.2 × −0.01
    assert rows["allocation"].tolist() == pytest.approx([0.002, 0.002])
    # selection w_b (R_p,i − R_b,i): 0.5 × 0.04 and 0.5 × −0.02
    assert rows["selection"].tolist() == pytest.approx([0.02, -0.01])
    # interaction (w_p − w_b)(R_p,i − R_b,i): 0.2 × 0.04 and −0.2 × −0.02
    assert rows["interaction"].tolist() == pytest.approx([0.008, 0.004])
    assert a.portfolio_return == pytest.approx(0.076) and a.benchmark_return == pytest.approx(0.05)
    assert sum(a.totals().values()) == pytest.approx(a.excess) == pytest.approx(0.026)
    assert a.selection_share() == pytest.approx(0.01 / 0.026)


def test_attribution_from_positions_sums_to_the_excess_return():
    ours = pd.DataFrame({"category": ["politics", "politics", "crypto"], "cost_usd": [100.0, 300.0, 100.0],
                         "pnl_usd": [20.0, 10.0, -10.0]})
    naive = pd.DataFrame({"category": ["politics", "sports", "sports"], "cost_usd": [200.0, 100.0, 100.0],
                          "pnl_usd": [-10.0, 5.0, 5.0]})
    a = attribute(ours, naive)
    assert a.portfolio_return == pytest.approx(20.0 / 500.0) and a.benchmark_return == pytest.approx(0.0)
    assert sum(a.totals().values()) == pytest.approx(a.excess)
    # A category only one side traded: no selection credited there.
    rows = a.by_segment.set_index("segment")
    assert rows.loc["crypto", "selection"] == 0.0 and rows.loc["sports", "selection"] == 0.0


def test_k_ratio_is_the_regression_of_log_nav_as_statsmodels_fits_it():
    rng = np.random.default_rng(5)
    nav = 1_000 * np.cumprod(1 + rng.normal(0.002, 0.01, 200))
    fit = sm.OLS(np.log(nav), sm.add_constant(np.arange(200.0))).fit()
    t = log_trend(nav)
    assert t.slope == pytest.approx(fit.params[1], rel=1e-10) and t.slope_se == pytest.approx(fit.bse[1], rel=1e-10)
    assert k_ratio(nav, 365) == pytest.approx(fit.params[1] / fit.bse[1] * math.sqrt(365) / 200, rel=1e-10)
    # Steadier growth at the same rate has the higher K-ratio.
    steady = 1_000 * np.cumprod(1 + rng.normal(0.002, 0.002, 200))
    assert k_ratio(steady) > k_ratio(nav) > 0


def test_drawdown_ratios_on_a_hand_made_nav_series():
    nav = np.array([100, 110, 99, 104.5, 121, 121, 96.8, 100])
    r = daily_returns(nav)
    assert r[:2] == pytest.approx([0.10, -0.10])
    assert underwater(nav)[2] == pytest.approx(0.10) and underwater(nav)[4] == 0.0
    assert max_drawdown(nav) == pytest.approx(0.20)  # 121 → 96.8
    assert longest_underwater(nav) == 2  # days 2–3 and days 6–7 under water; 5 equals its peak
    assert annualized_return(nav, 7) == pytest.approx(0.0)  # 100 → 100 over 7 periods
    assert calmar_ratio(np.array([100, 90, 120.0]), 2) == pytest.approx(0.2 / 0.1)
    assert sharpe_ratio(r, None) == pytest.approx(r.mean() / r.std(ddof=1))
    down = math.sqrt(np.mean(np.minimum(r, 0) ** 2))
    assert sortino_ratio(r, 365) == pytest.approx(r.mean() / down * math.sqrt(365))
    skew, kurt = return_moments(np.random.default_rng(1).normal(size=200_000))
    assert abs(skew) < 0.02 and kurt == pytest.approx(3.0, abs=0.05)


def test_stationary_bootstrap_is_reproducible_on_a_fixed_seed():
    r = np.random.default_rng(9).normal(0.001, 0.02, 120)
    a = stationary_bootstrap(r, paths=1_000, seed=7)
    b = stationary_bootstrap(r, paths=1_000, seed=7)
    c = stationary_bootstrap(r, paths=1_000, seed=8)
    assert np.array_equal(a.sharpe, b.sharpe) and np.array_equal(a.max_drawdown, b.max_drawdown)
    assert not np.array_equal(a.sharpe, c.sharpe)
    assert len(a.sharpe) == 1_000 and a.block_length >= 1.0
    # Resampling blocks of the same returns centres the distribution on the observed Sharpe.
    lo, mid, hi = a.quantiles()["sharpe"]
    assert lo < sharpe_ratio(r) < hi and abs(mid - sharpe_ratio(r)) < 0.5 * (hi - lo)
    assert (a.max_drawdown >= 0).all() and (a.max_drawdown <= 1).all()


def test_cusum_detects_a_built_in_break_and_rarely_alarms_without_one():
    delays, false_alarms, n = [], 0, 400
    for seed in range(n):
        rng = np.random.default_rng(seed)
        before = rng.normal(0.25, 0.8, 50)  # 20 warm-up copies, then 30 more unchanged
        after = rng.normal(0.25 - 0.8, 0.8, 40)  # the mean drops by one σ after copy 50
        r = lower_cusum(np.concatenate([before, after]), warmup=20, k=0.5, h=5.0)
        if r.alarm_index is not None and r.alarm_index < 50:
            false_alarms += 1
        elif r.alarm_index is not None:
            delays.append(r.alarm_index - 50 + 1)
    # Montgomery's ARL for k = 0.5, h = 5 with known parameters: 10.4 copies after a one-σ
    # shift, 465 without one; estimating them from 20 copies adds spread.
    assert len(delays) >= 0.85 * n and np.median(delays) <= 12
    assert false_alarms / n < 0.15
    flat = lower_cusum(np.full(40, 0.1), warmup=20)
    assert flat.alarm_index is None and np.nanmax(flat.path) == 0.0
