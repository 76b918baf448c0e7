"""James-Stein shrinkage of noisy per-wallet estimates (seed 001)."""

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


def shrink_toward(x, grand_mean: float, factor):
    """x̄ + (1 − B)(x − x̄): each estimate moved a fraction B of the way to the grand mean."""
    return grand_mean + (1.0 - factor) * (np.asarray(x, dtype=float) - grand_mean)
