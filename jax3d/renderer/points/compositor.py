"""Point compositors (PyTorch3D layout): alpha compositing and (normalised) weighted sums.

All take ``fragments`` (N, K, H, W) int point ids (-1 empty), ``alphas`` (N, K, H, W) float32
and ``ptclds`` (C, P) float32 packed features, and return images (N, C, H, W) float32.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from flax import struct

from jax3d.device import DeviceMethods

__all__ = [
    "AlphaCompositor",
    "NormWeightedCompositor",
    "alpha_composite",
    "norm_weighted_sum",
    "weighted_sum",
]

_NORM_EPS = 1e-4  # PyTorch3D's floor on the summed alphas of norm_weighted_sum


def _check(fragments, alphas, ptclds):
    if fragments.ndim != 4 or alphas.shape != fragments.shape:
        raise ValueError(
            f"fragments and alphas must both be (N, K, H, W), got {fragments.shape} and "
            f"{alphas.shape}"
        )
    if ptclds.ndim != 2:
        raise ValueError(f"ptclds must be (C, P) packed features, got {ptclds.shape}")


def _gather(fragments, ptclds):
    """(N, K, H, W) ids -> (N, C, K, H, W) features (0 where empty) and validity mask."""
    valid = fragments >= 0
    f = jnp.take(ptclds, jnp.maximum(fragments, 0), axis=1)  # (C, N, K, H, W)
    return jnp.moveaxis(f, 0, 1), valid


def alpha_composite(fragments, alphas, ptclds):
    """Front-to-back ``sum_k alpha_k prod_{t<k} (1 - alpha_t) f_k`` over valid k."""
    fragments, alphas, ptclds = (jnp.asarray(x) for x in (fragments, alphas, ptclds))
    _check(fragments, alphas, ptclds)
    feats, valid = _gather(fragments, ptclds)
    trans = jnp.cumprod(1.0 - alphas, axis=1)
    trans = jnp.concatenate([jnp.ones_like(trans[:, :1]), trans[:, :-1]], axis=1)
    w = jnp.where(valid, alphas * trans, 0.0)
    return (w[:, None] * feats).sum(2)


def norm_weighted_sum(fragments, alphas, ptclds):
    """``sum_k alpha_k f_k / max(sum_k alpha_k, 1e-4)`` over valid k."""
    fragments, alphas, ptclds = (jnp.asarray(x) for x in (fragments, alphas, ptclds))
    _check(fragments, alphas, ptclds)
    feats, valid = _gather(fragments, ptclds)
    w = jnp.where(valid, alphas, 0.0)
    denom = jnp.maximum(w.sum(1, keepdims=True), _NORM_EPS)
    return (w[:, None] * feats).sum(2) / denom


def weighted_sum(fragments, alphas, ptclds):
    """``sum_k alpha_k f_k`` over valid k."""
    fragments, alphas, ptclds = (jnp.asarray(x) for x in (fragments, alphas, ptclds))
    _check(fragments, alphas, ptclds)
    feats, valid = _gather(fragments, ptclds)
    return (jnp.where(valid, alphas, 0.0)[:, None] * feats).sum(2)


def _add_background_color(fragments, images, background_color):
    """Pixels with no point (``fragments[:, 0] < 0``) take ``background_color`` (C,) or
    (C-1,) (alpha 1 appended)."""
    if background_color is None:
        return images
    bg = jnp.asarray(background_color, images.dtype)
    C = images.shape[1]
    if bg.ndim == 0:
        bg = jnp.broadcast_to(bg, (C,))
    if bg.ndim != 1:
        raise ValueError(f"background_color must be a scalar or (C,), got {bg.shape}")
    if bg.shape[0] + 1 == C:
        bg = jnp.concatenate([bg, jnp.ones((1,), bg.dtype)])
    if bg.shape[0] != C:
        raise ValueError(f"background_color has {bg.shape[0]} channels, images have {C}")
    empty = (fragments[:, 0] < 0)[:, None]  # (N, 1, H, W)
    return jnp.where(empty, bg[None, :, None, None], images)


@struct.dataclass
class AlphaCompositor(DeviceMethods):
    """``AlphaCompositor(background_color=None)(fragments, alphas, ptclds) -> (N, C, H, W)``."""

    background_color: Any = None  # a pytree leaf: None, a scalar or (C,)

    def __call__(self, fragments, alphas, ptclds, **kwargs):
        bg = kwargs.get("background_color", self.background_color)
        return _add_background_color(fragments, alpha_composite(fragments, alphas, ptclds), bg)

    forward = __call__


@struct.dataclass
class NormWeightedCompositor(DeviceMethods):
    """Normalised weighted sum of the K points' features, optional background colour."""

    background_color: Any = None  # a pytree leaf: None, a scalar or (C,)

    def __call__(self, fragments, alphas, ptclds, **kwargs):
        bg = kwargs.get("background_color", self.background_color)
        images = norm_weighted_sum(fragments, alphas, ptclds)
        return _add_background_color(fragments, images, bg)

    forward = __call__
