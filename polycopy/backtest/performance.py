"""Performance of a daily NAV series: returns, risk-adjusted ratios, drawdowns, the
Probabilistic and Deflated Sharpe Ratio, and a stationary block bootstrap.

Returns are simple daily returns of NAV (fractions); ratios are annualized with
``periods_per_year`` (365 by default: Polymarket trades every day of the year). Pure
numpy/scipy; the bootstrap is arch's ``StationaryBootstrap``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

PERIODS_PER_YEAR = 365
EULER_GAMMA = 0.5772156649015329
MIN_AUTOMATIC_BLOCK_OBS = 30


def daily_returns(nav: np.ndarray) -> np.ndarray:
    """Simple returns r_t = NAV_t / NAV_{t−1} − 1 of a NAV series (USD), one per period after the first."""
    nav = np.asarray(nav, dtype=float)
    if len(nav) < 2:
        return np.zeros(0)
    return nav[1:] / nav[:-1] - 1.0


def sharpe_ratio(returns: np.ndarray, periods_per_year: int | None = PERIODS_PER_YEAR) -> float:
    """Mean over standard deviation (ddof 1) of per-period returns, annualized by √periods
    (None: per period). NaN when there are fewer than two returns or no variation."""
    r = np.asarray(returns, dtype=float)
    if len(r) < 2:
        return float("nan")
    sd = r.std(ddof=1)
    if not sd > 1e-15:
        return float("nan")
    sr = r.mean() / sd
    return float(sr * math.sqrt(periods_per_year)) if periods_per_year else float(sr)


def sortino_ratio(returns: np.ndarray, periods_per_year: int = PERIODS_PER_YEAR, target: float = 0.0) -> float:
    """Mean excess return over the downside deviation √(mean(min(r − target, 0)²)), annualized."""
    r = np.asarray(returns, dtype=float)
    if len(r) < 2:
        return float("nan")
    downside = math.sqrt(float(np.mean(np.minimum(r - target, 0.0) ** 2)))
    if downside <= 1e-15:
        return float("nan")
    return float((r.mean() - target) / downside * math.sqrt(periods_per_year))


def total_return(nav: np.ndarray) -> float:
    """NAV_end / NAV_start − 1 (fraction)."""
    nav = np.asarray(nav, dtype=float)
    return float(nav[-1] / nav[0] - 1.0) if len(nav) >= 2 else 0.0


def annualized_return(nav: np.ndarray, periods_per_year: int = PERIODS_PER_YEAR) -> float:
    """Compound annual growth rate of a NAV series of one value per period (fraction). A NAV
    that reached zero annualizes to −1."""
    nav = np.asarray(nav, dtype=float)
    n = len(nav) - 1
    if n < 1:
        return 0.0
    growth = nav[-1] / nav[0]
    if growth <= 0:
        return -1.0
    return float(growth ** (periods_per_year / n) - 1.0)


def underwater(nav: np.ndarray) -> np.ndarray:
    """Drawdown at each period: 1 − NAV_t / max_{s≤t} NAV_s (fraction, 0 at a new high)."""
    nav = np.asarray(nav, dtype=float)
    if len(nav) == 0:
        return np.zeros(0)
    return 1.0 - nav / np.maximum.accumulate(nav)


def max_drawdown(nav: np.ndarray) -> float:
    """The deepest drawdown of a NAV series (fraction of the peak, 0..1)."""
    uw = underwater(nav)
    return float(uw.max()) if len(uw) else 0.0


def longest_underwater(nav: np.ndarray) -> int:
    """The longest run of consecutive periods spent below an earlier peak (periods; a run
    still open at the end counts)."""
    longest = run = 0
    for dd in underwater(nav):
        run = run + 1 if dd > 1e-12 else 0
        longest = max(longest, run)
    return longest


def calmar_ratio(nav: np.ndarray, periods_per_year: int = PERIODS_PER_YEAR) -> float:
    """Annualized return over the maximum drawdown; NaN without a drawdown."""
    mdd = max_drawdown(nav)
    return float(annualized_return(nav, periods_per_year) / mdd) if mdd > 1e-12 else float("nan")


@dataclass(frozen=True)
class LogTrend:
    """The least-squares line of ln(NAV) on the period index: slope (log return per period)
    and its standard error."""

    slope: float
    slope_se: float
    n: int


def log_trend(nav: np.ndarray) -> LogTrend:
    y = np.log(np.asarray(nav, dtype=float))
    n = len(y)
    x = np.arange(n, dtype=float)
    xc = x - x.mean()
    sxx = float(xc @ xc)
    slope = float(xc @ (y - y.mean()) / sxx)
    resid = y - y.mean() - slope * xc
    se = math.sqrt(float(resid @ resid) / (n - 2) / sxx) if n > 2 else float("nan")
    return LogTrend(slope, se, n)


def k_ratio(nav: np.ndarray, periods_per_year: int = PERIODS_PER_YEAR) -> float:
    """Kestner's K-ratio, 2013 revision: (slope / its standard error) of the least-squares
    line through ln(NAV), × √periods_per_year / n. Normalized for the series' length and
    annualized, so series of different lengths compare. NaN under three points or a
    perfectly straight line."""
    nav = np.asarray(nav, dtype=float)
    if len(nav) < 3 or (nav <= 0).any():
        return float("nan")
    t = log_trend(nav)
    if not t.slope_se > 1e-15:
        return float("nan")
    return float(t.slope / t.slope_se * math.sqrt(periods_per_year) / t.n)


def probabilistic_sharpe_ratio(sharpe: float, n: int, skew: float, kurtosis: float, benchmark: float = 0.0) -> float:
    """Bailey & López de Prado (2012): the probability that the true Sharpe ratio exceeds
    ``benchmark``, given an observed per-period ``sharpe`` over ``n`` returns with sample
    ``skew`` and (non-excess) ``kurtosis``:
    Φ((SR − SR*)·√(n − 1) / √(1 − γ₃·SR + (γ₄ − 1)/4·SR²)). Sharpe ratios are per period,
    not annualized."""
    if n < 2 or not math.isfinite(sharpe):
        return float("nan")
    var = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe ** 2
    if var <= 0:
        return float("nan")
    return float(stats.norm.cdf((sharpe - benchmark) * math.sqrt(n - 1) / math.sqrt(var)))


def expected_max_sharpe(n_trials: int, trial_sharpe_variance: float) -> float:
    """Bailey & López de Prado (2014): the expected largest of ``n_trials`` per-period Sharpe
    ratios when every true Sharpe is zero, √V·((1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e))),
    γ the Euler–Mascheroni constant. 0 for a single trial."""
    if n_trials <= 1 or trial_sharpe_variance <= 0:
        return 0.0
    z = ((1.0 - EULER_GAMMA) * stats.norm.ppf(1.0 - 1.0 / n_trials)
         + EULER_GAMMA * stats.norm.ppf(1.0 - 1.0 / (n_trials * math.e)))
    return float(math.sqrt(trial_sharpe_variance) * z)


def deflated_sharpe_ratio(sharpe: float, n: int, skew: float, kurtosis: float, n_trials: int,
                          trial_sharpe_variance: float) -> float:
    """The Deflated Sharpe Ratio: the PSR against the Sharpe ratio the best of ``n_trials``
    configurations would show by luck alone (``expected_max_sharpe``). Per-period Sharpe
    ratios; ``trial_sharpe_variance`` is the variance of the trials' per-period Sharpe ratios."""
    return probabilistic_sharpe_ratio(sharpe, n, skew, kurtosis,
                                      expected_max_sharpe(n_trials, trial_sharpe_variance))


def return_moments(returns: np.ndarray) -> tuple[float, float]:
    """Sample skewness and non-excess kurtosis (the PSR's γ₃ and γ₄; 0 and 3 for a normal)."""
    r = np.asarray(returns, dtype=float)
    if len(r) < 3 or not r.std() > 1e-15:
        return 0.0, 3.0
    return float(stats.skew(r)), float(stats.kurtosis(r, fisher=False))


@dataclass(frozen=True)
class BootstrapResult:
    """Distributions over resampled return paths: annualized Sharpe ratios and maximum
    drawdowns (fractions), and the mean block length used (periods)."""

    sharpe: np.ndarray
    max_drawdown: np.ndarray
    block_length: float
    seed: int

    def quantiles(self, q=(0.05, 0.5, 0.95)) -> dict:
        return {"sharpe": [float(np.nanquantile(self.sharpe, x)) for x in q],
                "max_drawdown": [float(np.nanquantile(self.max_drawdown, x)) for x in q]}


def stationary_bootstrap(returns: np.ndarray, paths: int = 1_000, seed: int = 0,
                         block_length: float | None = None,
                         periods_per_year: int = PERIODS_PER_YEAR) -> BootstrapResult:
    """Politis & Romano's stationary bootstrap of a daily return series (arch's
    ``StationaryBootstrap``): ``paths`` resampled series of the same length, each giving a
    Sharpe ratio and a maximum drawdown. The mean block length is Politis & White's
    automatic choice (arch's ``optimal_block_length``; n^(1/3) under 30 returns) unless
    given. Reproducible for a seed."""
    from arch.bootstrap import StationaryBootstrap, optimal_block_length

    r = np.asarray(returns, dtype=float)
    if len(r) < 3:
        nan = np.full(paths, np.nan)
        return BootstrapResult(nan, nan.copy(), float("nan"), seed)
    if block_length is None:
        # Politis & White need a few dozen observations; shorter series take n^(1/3).
        if len(r) >= MIN_AUTOMATIC_BLOCK_OBS and r.std() > 0:
            block_length = float(optimal_block_length(r)["stationary"].iloc[0])
        else:
            block_length = len(r) ** (1 / 3)
        block_length = max(1.0, block_length) if math.isfinite(block_length) else 1.0
    bs = StationaryBootstrap(block_length, r, seed=seed)
    sharpes = np.empty(paths)
    mdds = np.empty(paths)
    for i, (data, _) in enumerate(bs.bootstrap(paths)):
        path = data[0]
        sharpes[i] = sharpe_ratio(path, periods_per_year)
        mdds[i] = max_drawdown(np.concatenate([[1.0], np.cumprod(1.0 + path)]))
    return BootstrapResult(sharpes, mdds, block_length, seed)
