"""Structural similarity (SSIM) of Wang, Bovik, Sheikh and Simoncelli (2004)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.metrics.psnr import _check_images

__all__ = ["ssim"]


def _gaussian_kernel(filter_size: int, filter_sigma: float) -> np.ndarray:
    """(filter_size,) normalised 1-D Gaussian centred on the middle tap."""
    x = np.arange(filter_size, dtype=np.float64) - (filter_size - 1) / 2.0
    k = np.exp(-0.5 * (x / filter_sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def _filter_valid(images, kernel):
    """Separable 'valid' filtering of (N, H, W, C) images along H then W."""
    n = kernel.shape[0]
    h, w = images.shape[1], images.shape[2]
    rows = sum(kernel[i] * images[:, i : h - n + 1 + i] for i in range(n))
    return sum(kernel[i] * rows[:, :, i : w - n + 1 + i] for i in range(n))


def ssim(
    pred,
    target,
    max_val: float = 1.0,
    filter_size: int = 11,
    filter_sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> jax.Array:
    """Mean structural similarity with a Gaussian window (Wang et al. 2004).

    Local means, variances and covariance are Gaussian-weighted averages over `filter_size`
    windows (standard deviation `filter_sigma`, 'valid' placement, no padding); the SSIM map
    `((2 mu_p mu_t + c1)(2 cov + c2)) / ((mu_p^2 + mu_t^2 + c1)(var_p + var_t + c2))` with
    `c1 = (k1 max_val)^2`, `c2 = (k2 max_val)^2` is averaged over positions and channels.
    These are the settings of the paper (and of `skimage.metrics.structural_similarity` with
    `gaussian_weights=True, use_sample_covariance=False`, up to its border cropping).

    Args:
        pred: (..., H, W, C) float images; H and W must be at least `filter_size`.
        target: (..., H, W, C) float images, same shape as `pred`.
        max_val: the dynamic range of the images.
        filter_size: odd window width in pixels.
        filter_sigma: standard deviation of the Gaussian window in pixels.
        k1, k2: the stabilising constants of the paper.

    Returns:
        (...) float32 mean SSIM per image, in [-1, 1]; 1 for identical images.
    """
    pred, target = _check_images(pred, target, "ssim")
    if pred.ndim < 3:
        raise ValueError(f"ssim: pred must be (..., H, W, C), got {pred.shape}")
    if not isinstance(filter_size, int) or filter_size < 1 or filter_size % 2 == 0:
        raise ValueError(f"ssim: filter_size must be a positive odd int, got {filter_size}")
    if filter_sigma <= 0 or max_val <= 0:
        raise ValueError(
            f"ssim: filter_sigma and max_val must be positive, got {filter_sigma}, {max_val}"
        )
    h, w, c = pred.shape[-3:]
    if h < filter_size or w < filter_size:
        raise ValueError(f"ssim: images {h}x{w} are smaller than filter_size {filter_size}")
    batch = pred.shape[:-3]
    p = pred.reshape((-1, h, w, c))
    t = target.reshape((-1, h, w, c))
    kernel = _gaussian_kernel(filter_size, filter_sigma)
    # Second moments about each image's global mean avoid float32 cancellation in E[x^2] - mu^2.
    dp = p - jnp.mean(p, axis=(1, 2, 3), keepdims=True)
    dt = t - jnp.mean(t, axis=(1, 2, 3), keepdims=True)
    mu_dp, mu_dt = _filter_valid(dp, kernel), _filter_valid(dt, kernel)
    mu_p, mu_t = mu_dp + (p - dp)[:, :1, :1], mu_dt + (t - dt)[:, :1, :1]
    var_p = _filter_valid(dp * dp, kernel) - mu_dp**2
    var_t = _filter_valid(dt * dt, kernel) - mu_dt**2
    cov = _filter_valid(dp * dt, kernel) - mu_dp * mu_dt
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    num = (2.0 * mu_p * mu_t + c1) * (2.0 * cov + c2)
    den = (mu_p**2 + mu_t**2 + c1) * (var_p + var_t + c2)
    return jnp.mean(num / den, axis=(1, 2, 3)).reshape(batch)
