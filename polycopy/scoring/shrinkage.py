"""Shrinkage of noisy per-wallet estimates, and bootstrapped confidence bounds (seed 001)."""

from __future__ import annotations

import numpy as np


def james_stein_factors(estimates: np.ndarray, sampling_var: np.ndarray) -> tuple[float, np.ndarray]:
    """The grand mean x̄ and each estimate's positive-part James-Stein shrinkage factor B_i.

    B_i = min(1, (k − 3)·σ_i² / Σ(x_j − x̄)²); the shrunk estimate is x̄ + (1 − B_i)(x_i − x̄).
    Noisy estimates (large σ_i²) and a population that barely varies (small Σ) shrink
    the most. With fewer than 4 estimates nothing is shrunk (B = 0).
    """
    x = np.asarray(estimates, dtype=float)
    v = np.broadcast_to(np.asarray(sampling_var, dtype=float), x.shape)
    k = len(x)
    if k < 4:
        return (float(x.mean()) if k else 0.0), np.zeros(k)
    mean = float(x.mean())
    spread = float(((x - mean) ** 2).sum())
    if spread <= 0:
        return mean, np.ones(k)
    return mean, np.minimum(1.0, (k - 3) * v / spread)


def james_stein(estimates: np.ndarray, sampling_var: np.ndarray) -> np.ndarray:
    """Positive-part James-Stein shrinkage of ``estimates`` toward their grand mean."""
    x = np.asarray(estimates, dtype=float)
    mean, b = james_stein_factors(x, sampling_var)
    return mean + (1.0 - b) * (x - mean)


def sharpe_sampling_var(sharpe_per_period: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """Sampling variance of a per-period Sharpe ratio over T periods: (1 + SR²/2) / T (Lo, 2002)."""
    sr = np.asarray(sharpe_per_period, dtype=float)
    t = np.maximum(np.asarray(periods, dtype=float), 1.0)
    return (1.0 + sr ** 2 / 2.0) / t


def bootstrap_bounds(samples, statistic=np.mean, n_boot: int = 2000, level: float = 0.95,
                     seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over ``samples`` (fixed seed: reproducible)."""
    x = np.asarray(samples, dtype=float)
    if len(x) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))
    stats = np.apply_along_axis(statistic, 1, x[idx]) if statistic is not np.mean else x[idx].mean(axis=1)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(stats, [tail, 1.0 - tail], method="inverted_cdf")
    return float(lo), float(hi)
