"""GIRAFFE's scene composition operator and the masking of object densities by their boxes."""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["box_mask", "composite", "composite_max"]


def composite(densities: jax.Array, features: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Combine K fields at the same points: densities add, features are density-weighted.

    `sigma = sum_k sigma_k` and `f = sum_k sigma_k f_k / sigma` where `sigma > 0`; where
    every `sigma_k` is 0 the feature is 0 (the authors' code divides by 1e-4 there, which gives
    the same 0). Gradients are finite everywhere (the quotient is only formed where
    `sigma > 0`). K = 1 returns the field itself; K = 0 gives zero density and features.

    Args:
        densities: (K, ...) float32 densities `sigma_k >= 0` (rectified first).
        features: (K, ..., C) float32 features.

    Returns:
        `(sigma (...), f (..., C))`.
    """
    densities, features = jnp.asarray(densities), jnp.asarray(features)
    if features.shape[:-1] != densities.shape:
        raise ValueError(f"features must be densities.shape + (C,) = {densities.shape} + (C,), "
                         f"got {features.shape}")  # fmt: skip
    total = jnp.sum(densities, axis=0)
    positive = total > 0
    safe = jnp.where(positive, total, 1.0)
    weights = jnp.where(positive, densities / safe, 0.0)  # (K, ...)
    return total, jnp.sum(weights[..., None] * features, axis=0)


def composite_max(densities: jax.Array, features: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The authors' ablation: at each point the densest field's density and feature.

    Args and returns as `composite` (K >= 1).
    """
    densities, features = jnp.asarray(densities), jnp.asarray(features)
    if features.shape[:-1] != densities.shape or densities.shape[0] < 1:
        raise ValueError(f"features must be densities.shape + (C,) with K >= 1, got "
                         f"{densities.shape} and {features.shape}")  # fmt: skip
    index = jnp.argmax(densities, axis=0)
    sigma = jnp.take_along_axis(densities, index[None], axis=0)[0]
    feat = jnp.take_along_axis(features, index[None, ..., None], axis=0)[0]
    return sigma, feat


def box_mask(points_in_box: jax.Array, padding: float = 0.1) -> jax.Array:
    """(...,) bool: the points (`(..., 3)`, box coordinates) inside `[-1 - pad, 1 + pad]^3`,
    where an object's density may be non-zero."""
    return jnp.all(jnp.abs(points_in_box) <= 1.0 + padding, axis=-1)
