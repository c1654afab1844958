"""Kernel Inception Distance (Binkowski et al. 2018): an unbiased polynomial-kernel MMD^2."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["KIDResult", "kernel_inception_distance", "polynomial_mmd2"]


class KIDResult(NamedTuple):
    """KID estimate: the mean and the (population) standard deviation over the subsets."""

    mean: float
    std: float


def _kernel(a: np.ndarray, b: np.ndarray, degree: int, gamma: float, coef0: float) -> np.ndarray:
    return (gamma * (a @ b.T) + coef0) ** degree


def polynomial_mmd2(x, y, *, degree: int = 3, gamma: float | None = None, coef0: float = 1.0):
    """Unbiased MMD^2 between two equal-size samples with `k(a, b) = (gamma a.b + coef0)^degree`.

    `MMD^2 = [sum_{i!=j} k(x_i, x_j) + sum_{i!=j} k(y_i, y_j)] / (m (m - 1))
    - 2 sum_{i,j} k(x_i, y_j) / m^2`.

    Args:
        x, y: (m, D) features, m >= 2.
        gamma: defaults to 1 / D.

    Returns:
        float, unbiased (so it can be slightly negative for similar distributions).
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 2 or x.shape != y.shape or x.shape[0] < 2:
        raise ValueError(f"x and y must be equal (m, D) with m >= 2, got {x.shape}, {y.shape}")
    m = x.shape[0]
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    kxx = _kernel(x, x, degree, gamma, coef0)
    kyy = _kernel(y, y, degree, gamma, coef0)
    kxy = _kernel(x, y, degree, gamma, coef0)
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(within - 2.0 * kxy.sum() / (m * m))


def kernel_inception_distance(
    features1,
    features2,
    *,
    seed: int | np.random.Generator,
    num_subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
) -> KIDResult:
    """KID: `polynomial_mmd2` averaged over random subsets, as the reference implementations do.

    For each of `num_subsets` subsets, `m = min(subset_size, N1, N2)` rows are drawn without
    replacement from `features1`, then `m` from `features2` (in that order, from one
    `np.random.default_rng(seed)`), and the unbiased MMD^2 with the cubic kernel
    `(a.b / D + 1)^3` is taken; the result is the mean and the standard deviation over subsets
    (the numbers torch-fidelity and Binkowski et al.'s code report, usually x 1000 in papers).

    Args:
        features1: (N1, D) features of one image set (e.g. InceptionV3 pool features).
        features2: (N2, D) features of the other.
        seed: an int or a NumPy Generator (the subsets are random; required, so results repeat).
        num_subsets: number of subsets.
        subset_size: rows per subset (clipped to the smaller set, as Binkowski et al.'s code).
        degree, gamma, coef0: the polynomial kernel (gamma defaults to 1 / D).

    Returns:
        `KIDResult(mean, std)` as Python floats.
    """
    f1, f2 = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    if f1.ndim != 2 or f2.ndim != 2 or f1.shape[1] != f2.shape[1]:
        raise ValueError(f"features must be (N1, D) and (N2, D), got {f1.shape}, {f2.shape}")
    if num_subsets < 1 or subset_size < 2:
        raise ValueError(f"need num_subsets >= 1, subset_size >= 2: {num_subsets}, {subset_size}")
    m = min(subset_size, f1.shape[0], f2.shape[0])
    if m < 2:
        raise ValueError(f"need >= 2 feature rows in each set, got {f1.shape[0]}, {f2.shape[0]}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    mmds = np.empty(num_subsets)
    for i in range(num_subsets):
        x = f1[rng.choice(f1.shape[0], m, replace=False)]
        y = f2[rng.choice(f2.shape[0], m, replace=False)]
        mmds[i] = polynomial_mmd2(x, y, degree=degree, gamma=gamma, coef0=coef0)
    return KIDResult(float(mmds.mean()), float(mmds.std()))
