"""Frechet distance between Gaussians fitted to features (FID), and feature statistics files.

All of this runs on the host in float64 NumPy: the statistics of thousands of 2048-d features and
the matrix square root need the precision, and they are computed once per evaluation.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable

import numpy as np

__all__ = [
    "compute_statistics",
    "feature_statistics",
    "frechet_distance",
    "load_statistics",
    "save_statistics",
]


def _check_stats(mu, sigma, name: str) -> tuple[np.ndarray, np.ndarray]:
    mu = np.asarray(mu, np.float64)
    sigma = np.asarray(sigma, np.float64)
    if mu.ndim != 1:
        raise ValueError(f"mu{name} must be (D,), got {mu.shape}")
    if sigma.shape != (mu.size, mu.size):
        raise ValueError(f"sigma{name} must be ({mu.size}, {mu.size}), got {sigma.shape}")
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
        raise ValueError(f"mu{name}/sigma{name} contain NaN or inf")
    scale = max(np.abs(sigma).max(initial=0.0), 1e-300)
    if np.abs(sigma - sigma.T).max(initial=0.0) > 1e-6 * scale:
        raise ValueError(f"sigma{name} is not symmetric")
    return mu, 0.5 * (sigma + sigma.T)


def _psd_sqrt(sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric square root of a (clipped) PSD matrix, and its eigenvalues (ascending)."""
    w, v = np.linalg.eigh(sigma)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T, w


def _singular(eigenvalues: np.ndarray) -> bool:
    return eigenvalues.size > 0 and eigenvalues[0] <= 1e-10 * max(eigenvalues[-1], 1e-300)


def frechet_distance(mu1, sigma1, mu2, sigma2, *, eps: float = 0.0) -> float:
    """Frechet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2).

    `d^2 = |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2))`, the FID when
    the statistics are InceptionV3 pool features. The trace of the square root is computed as
    `sum_i sqrt(lambda_i)` over the eigenvalues of the symmetric PSD matrix
    `sigma1^(1/2) sigma2 sigma1^(1/2)` (similar to `sigma1 sigma2`, so it has the same
    eigenvalues), with `eigh` in float64 and negative rounding noise clipped: no complex parts to
    discard, and singular covariances need no special case.

    Singular covariances (e.g. fewer images than feature dimensions, N <= D) give a
    RuntimeWarning: the value is exact for these statistics, but such FID estimates are strongly
    biased. With `eps > 0` the warning also says that `eps * I` is added to both covariances:
    pytorch-fid's and TTUR's fallback when their `scipy.linalg.sqrtm` fails (it shifts the value
    by about `2 sqrt(eps)` per missing dimension, so it is off by default).

    Args:
        mu1, mu2: (D,) means.
        sigma1, sigma2: (D, D) symmetric positive semi-definite covariances.
        eps: diagonal offset added when a covariance is singular (0: none).

    Returns:
        The squared distance `d^2` as a Python float (>= 0 up to rounding), as FID reports it.
    """
    mu1, sigma1 = _check_stats(mu1, sigma1, "1")
    mu2, sigma2 = _check_stats(mu2, sigma2, "2")
    if mu1.shape != mu2.shape:
        raise ValueError(f"mu1 and mu2 differ in dimension: {mu1.shape} vs {mu2.shape}")
    root1, w1 = _psd_sqrt(sigma1)
    w2 = np.linalg.eigvalsh(sigma2)
    if _singular(w1) or _singular(w2):
        action = f"; adding {eps:g} * I to both" if eps > 0 else ""
        warnings.warn(
            f"frechet_distance: singular covariance (smallest/largest eigenvalues "
            f"{w1[0]:.3g}/{w1[-1]:.3g}, {w2[0]:.3g}/{w2[-1]:.3g}): fewer samples than feature "
            f"dimensions? Such estimates are strongly biased{action}",
            RuntimeWarning,
            stacklevel=2,
        )
        if eps > 0:
            offset = eps * np.eye(mu1.size)
            sigma1, sigma2 = sigma1 + offset, sigma2 + offset
            root1, _ = _psd_sqrt(sigma1)
    product = root1 @ sigma2 @ root1
    lam = np.linalg.eigvalsh(0.5 * (product + product.T))
    tr_sqrt = float(np.sum(np.sqrt(np.clip(lam, 0.0, None))))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_sqrt)


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of features: `(mu (D,), sigma (D, D))` in float64.

    Args:
        features: (N, D) array, N >= 2 (one feature vector per image).
    """
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"features must be (N, D) with N >= 2, got {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False).reshape(features.shape[1], -1)


class _Moments:
    """Running mean and covariance, accumulated about the first batch's mean (stable)."""

    def __init__(self):
        self.n, self.shift, self.s1, self.s2 = 0, None, None, None

    def add(self, feats: np.ndarray) -> None:
        if self.shift is None:
            self.shift = feats.mean(axis=0)
            self.s1 = np.zeros_like(self.shift)
            self.s2 = np.zeros((feats.shape[1],) * 2)
        elif feats.shape[1] != self.shift.size:
            raise ValueError(
                f"feature dimension changed from {self.shift.size} to {feats.shape[1]}"
            )
        centred = feats - self.shift
        self.n += feats.shape[0]
        self.s1 += centred.sum(axis=0)
        self.s2 += centred.T @ centred

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        if self.n < 2:
            raise ValueError(f"need at least 2 images for a covariance, got {self.n}")
        mean_c = self.s1 / self.n
        sigma = (self.s2 - self.n * np.outer(mean_c, mean_c)) / (self.n - 1)
        return self.shift + mean_c, 0.5 * (sigma + sigma.T)


def _batches(images, batch_size: int):
    """(array, number of real rows) batches; an array's last batch is padded to `batch_size`."""
    if hasattr(images, "shape") and hasattr(images, "__array__"):  # NumPy or JAX array
        images = np.asarray(images)
        if images.ndim != 4:
            raise ValueError(f"images must be (N, H, W, C), got {images.shape}")
        for start in range(0, images.shape[0], batch_size):
            batch = images[start : start + batch_size]
            real = batch.shape[0]
            if real < batch_size:  # same shape as the others: no recompilation of feature_fn
                pad = np.repeat(batch[-1:], batch_size - real, axis=0)
                batch = np.concatenate([batch, pad], axis=0)
            yield batch, real
    else:
        for batch in images:
            batch = np.asarray(batch)
            if batch.ndim != 4:
                raise ValueError(f"each batch must be (B, H, W, C), got {batch.shape}")
            yield batch, batch.shape[0]


def compute_statistics(
    images: np.ndarray | Iterable, feature_fn: Callable, batch_size: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of `feature_fn` over a set of images, one batch at a time.

    Args:
        images: (N, H, W, C) array, split into batches of `batch_size` (the last one padded by
            repeating its last image, so a jitted `feature_fn` sees one shape; the padding rows
            are dropped), or an iterable of (B, H, W, C) batches used as given.
        feature_fn: maps a (B, H, W, C) batch to (B, D) features (e.g. a jitted InceptionV3).
        batch_size: the batch size for an array input.

    Returns:
        `(mu (D,), sigma (D, D))` float64, as `feature_statistics` of all features (the moments
        are accumulated in float64 about the first batch's mean, so memory is O(D^2), not O(N D)).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    moments = _Moments()
    for batch, real in _batches(images, batch_size):
        feats = np.asarray(feature_fn(batch), np.float64)
        if feats.ndim != 2 or feats.shape[0] != batch.shape[0]:
            raise ValueError(
                f"feature_fn must map (B, ...) to (B, D), got {feats.shape} for {batch.shape}"
            )
        moments.add(feats[:real])
    return moments.result()


def save_statistics(path, mu, sigma) -> None:
    """Write `mu (D,)` and `sigma (D, D)` to an ``.npz`` file (keys ``mu``, ``sigma``).

    The format of pytorch-fid's and TTUR's precomputed statistics.
    """
    mu, sigma = _check_stats(mu, sigma, "")
    np.savez(path, mu=mu, sigma=sigma)


def load_statistics(path) -> tuple[np.ndarray, np.ndarray]:
    """Read feature statistics from an ``.npz`` file: `(mu (D,), sigma (D, D))` float64.

    Accepts the keys ``mu``/``sigma`` (pytorch-fid, TTUR, `save_statistics`) or ``m``/``s``
    (GIRAFFE's ``precalc_fid.py`` output, which its configs' ``fid_file`` names). Read with
    ``allow_pickle=False``; shapes and finiteness are checked (ValueError naming the file).
    """
    path = os.fspath(path)
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError) as err:
        raise ValueError(f"{path}: not a readable .npz file: {err}") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: not an .npz archive (a single array)")
    with data:
        keys = set(data.files)
        for mu_key, sigma_key in (("mu", "sigma"), ("m", "s")):
            if {mu_key, sigma_key} <= keys:
                try:
                    return _check_stats(data[mu_key], data[sigma_key], "")
                except ValueError as err:
                    raise ValueError(f"{path}: {err}") from None
    raise ValueError(f"{path}: expected arrays 'mu' and 'sigma' (or 'm' and 's'), found {keys}")
