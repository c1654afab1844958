"""Peak signal-to-noise ratio between images."""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["psnr"]


def _check_images(pred, target, name: str):
    pred = jnp.asarray(pred)
    target = jnp.asarray(target)
    for arg, value in (("pred", pred), ("target", target)):
        if not jnp.issubdtype(value.dtype, jnp.floating):
            raise TypeError(f"{name}: {arg} must be a float array, got {value.dtype}")
    if pred.shape != target.shape:
        raise ValueError(f"{name}: pred and target shapes differ: {pred.shape} vs {target.shape}")
    return pred, target


def psnr(pred, target, max_val: float = 1.0, mask=None) -> jax.Array:
    """Peak signal-to-noise ratio `10 log10(max_val^2 / MSE)` in decibels.

    The mean squared error is taken over the trailing image axes `(H, W, C)` (or over whatever
    the arrays hold when they have fewer than 3 axes), so a batch `(..., H, W, C)` gives one value
    per image. With `mask`, only the masked pixels count: `MSE = sum(m (p - t)^2) / (C sum(m))`.

    Args:
        pred: (..., H, W, C) float images.
        target: (..., H, W, C) float images, same shape as `pred`.
        max_val: the dynamic range (1.0 for images in [0, 1], 255.0 for 8-bit values).
        mask: optional (..., H, W) or (..., H, W, 1) weights/booleans selecting pixels.

    Returns:
        (...) float32 PSNR; `+inf` where the images are identical (MSE = 0), and `nan` where a
        mask selects no pixel.
    """
    pred, target = _check_images(pred, target, "psnr")
    if max_val <= 0:
        raise ValueError(f"psnr: max_val must be positive, got {max_val}")
    axes = tuple(range(-min(3, pred.ndim), 0))
    sq = (pred - target) ** 2
    if mask is None:
        mse = jnp.mean(sq, axis=axes)
    else:
        mask = jnp.asarray(mask, pred.dtype)
        if pred.ndim < 3:
            raise ValueError(f"psnr: mask needs (..., H, W, C) images, got {pred.shape}")
        if mask.shape == pred.shape[:-1]:
            mask = mask[..., None]
        if mask.shape != pred.shape[:-1] + (1,):
            raise ValueError(
                f"psnr: mask must be {pred.shape[:-1]} or {pred.shape[:-1] + (1,)}, "
                f"got {mask.shape}"
            )
        num = jnp.sum(sq * mask, axis=axes)
        den = jnp.sum(mask, axis=axes) * pred.shape[-1]
        mse = num / den
    return 10.0 * jnp.log10(jnp.asarray(max_val, mse.dtype) ** 2 / mse)
