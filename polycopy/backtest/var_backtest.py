"""Backtests of a Value-at-Risk model: Kupiec's proportion-of-failures test and
Christoffersen's independence and conditional-coverage tests.

An *exception* is a day whose loss exceeded that day's VaR forecast. At coverage level
``p`` (the chance of an exception, 0.01 for a 99 % VaR) a correct model's exceptions are
Bernoulli(p) and independent from day to day. Likelihood ratios, χ²-distributed under the
null; ``0 · ln 0`` is taken as 0 (``scipy.special.xlogy``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import xlogy


@dataclass(frozen=True)
class VarBacktest:
    days: int
    exceptions: int
    expected_rate: float  # p
    observed_rate: float
    kupiec_lr: float
    kupiec_p: float
    independence_lr: float
    independence_p: float
    conditional_coverage_lr: float
    conditional_coverage_p: float

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _bernoulli_loglik(x: float, n: float, p: float) -> float:
    """ln of p^x (1 − p)^(n − x)."""
    return float(xlogy(x, p) + xlogy(n - x, 1.0 - p))


def kupiec_pof(exceptions: int, days: int, p: float) -> tuple[float, float]:
    """Kupiec (1995) proportion of failures: LR = −2 ln[(1 − p)^(T − x) p^x]
    + 2 ln[(1 − x/T)^(T − x) (x/T)^x], χ²(1). Returns (LR, p-value)."""
    if days <= 0:
        return float("nan"), float("nan")
    lr = -2.0 * _bernoulli_loglik(exceptions, days, p) + 2.0 * _bernoulli_loglik(exceptions, days, exceptions / days)
    lr = max(lr, 0.0)
    return lr, float(stats.chi2.sf(lr, 1))


def christoffersen_independence(hits: np.ndarray) -> tuple[float, float]:
    """Christoffersen (1998) independence: a first-order Markov chain of exceptions against
    independence. Counts n_ij of day-to-day transitions from state i to j; LR =
    −2 ln L(π) + 2 ln L(π₀₁, π₁₁), χ²(1). Returns (LR, p-value); (0, 1) when the chain never
    leaves one state (no evidence either way)."""
    h = np.asarray(hits, dtype=int)
    if len(h) < 2:
        return float("nan"), float("nan")
    prev, cur = h[:-1], h[1:]
    n00 = int(((prev == 0) & (cur == 0)).sum())
    n01 = int(((prev == 0) & (cur == 1)).sum())
    n10 = int(((prev == 1) & (cur == 0)).sum())
    n11 = int(((prev == 1) & (cur == 1)).sum())
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    pi0 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi1 = n11 / (n10 + n11) if n10 + n11 else 0.0
    restricted = _bernoulli_loglik(n01 + n11, n00 + n01 + n10 + n11, pi)
    unrestricted = _bernoulli_loglik(n01, n00 + n01, pi0) + _bernoulli_loglik(n11, n10 + n11, pi1)
    lr = max(-2.0 * restricted + 2.0 * unrestricted, 0.0)
    return lr, float(stats.chi2.sf(lr, 1))


def backtest_var(losses: np.ndarray, var_forecasts: np.ndarray, p: float) -> VarBacktest:
    """Test a VaR model on realized daily losses (USD, or fractions of NAV: the same unit as
    the forecasts; a gain is a negative loss) against each day's forecast made before it."""
    losses = np.asarray(losses, dtype=float)
    var_forecasts = np.asarray(var_forecasts, dtype=float)
    ok = np.isfinite(losses) & np.isfinite(var_forecasts)
    hits = (losses[ok] > var_forecasts[ok]).astype(int)
    days, x = len(hits), int(hits.sum())
    k_lr, k_p = kupiec_pof(x, days, p)
    i_lr, i_p = christoffersen_independence(hits)
    cc = k_lr + i_lr
    return VarBacktest(days, x, p, x / days if days else float("nan"), k_lr, k_p, i_lr, i_p, cc,
                       float(stats.chi2.sf(cc, 2)) if np.isfinite(cc) else float("nan"))
