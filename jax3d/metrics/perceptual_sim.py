"""SynSin's "Perc Sim": the unweighted cosine distance between VGG16 features of two images.

Wiles et al. (SynSin, CVPR 2020) report a perceptual similarity built on the same five VGG16
stages as LPIPS (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 of the ImageNet network, inputs
scaled like LPIPS), without LPIPS's learned channel weights: at each stage the features are
unit-normalised over channels and the stage contributes one minus their cosine similarity,
averaged over the pixels; the five stage values are summed. Lower is more similar, 0 for
identical images (with non-zero features), at most 5 in practice (features are non-negative).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jax3d.metrics.lpips import _SCALE, _SHIFT, unit_normalize
from jax3d.metrics.vgg import VGG16Features, load_vgg16_params

__all__ = ["perceptual_similarity"]


def _perc_sim(params, img0, img1):
    batch = img0.shape[0]
    x = jnp.concatenate([img0, img1], axis=0).astype(jnp.float32) * 2.0 - 1.0
    x = (x - jnp.asarray(_SHIFT)) / jnp.asarray(_SCALE)
    total = jnp.zeros((batch,), jnp.float32)
    for f in VGG16Features().apply(params, x):
        f = unit_normalize(f)
        cos = jnp.sum(f[:batch] * f[batch:], axis=-1)  # (B, h, w)
        total = total + 1.0 - jnp.mean(cos, axis=(1, 2))
    return total


@functools.lru_cache(maxsize=1)
def _default_params():
    return jax.device_put(load_vgg16_params())


_perc_sim_jit = jax.jit(_perc_sim)


def perceptual_similarity(img0, img1, params: dict | None = None) -> jax.Array:
    """SynSin's "Perc Sim" distance between images (lower is more similar).

    `sum_k (1 - mean_{h,w} <f_k(img0), f_k(img1)> / (|f_k(img0)| |f_k(img1)|))` over the five
    VGG16 stages `f_k`, each feature vector normalised as `f / (|f| + 1e-10)` (LPIPS's
    normalisation; a zero vector has cosine 0 with anything).

    Args:
        img0, img1: (..., H, W, 3) float RGB in [0, 1] (H, W >= 16 for all five stages to have
            pixels).
        params: `jax3d.metrics.load_vgg16_params()` (the default, loaded once); pass them when
            calling inside `jax.jit`.

    Returns:
        (...) float32, one distance per image pair.
    """
    img0, img1 = jnp.asarray(img0), jnp.asarray(img1)
    for name, value in (("img0", img0), ("img1", img1)):
        if not jnp.issubdtype(value.dtype, jnp.floating):
            raise TypeError(f"perceptual_similarity: {name} must be a float array, got "
                            f"{value.dtype}")  # fmt: skip
    if img0.shape != img1.shape or img0.ndim < 3 or img0.shape[-1] != 3:
        raise ValueError(
            f"perceptual_similarity: need equal (..., H, W, 3) images, got {img0.shape}, "
            f"{img1.shape}"
        )
    if params is None:
        params = _default_params()
    lead = img0.shape[:-3]
    flat = (-1,) + img0.shape[-3:]
    return _perc_sim_jit(params, img0.reshape(flat), img1.reshape(flat)).reshape(lead)
