"""The VGG16 perceptual ("content") loss: weighted L1 distances between ImageNet features."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jax3d.metrics.vgg import VGG16Features, imagenet_normalize, load_vgg16_params

__all__ = ["PERCEPTUAL_WEIGHTS", "vgg_perceptual_loss"]

# weights of relu1_2, relu2_2, relu3_3, relu4_3, relu5_3: deeper stages count more, as in the
# pix2pixHD / SPADE / SynSin perceptual loss (1/32, 1/16, 1/8, 1/4, 1 on VGG19's relu_1 layers)
PERCEPTUAL_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)


def vgg_perceptual_loss(
    pred, target, params: dict | None = None, *, weights=PERCEPTUAL_WEIGHTS
) -> jax.Array:
    """Perceptual loss `sum_k weights[k] * mean |phi_k(pred) - phi_k(target)|` over VGG16 stages.

    `phi_k` is the output of stage k of `VGG16Features` (relu1_2, relu2_2, relu3_3, relu4_3,
    relu5_3) on ImageNet-normalised images, and the mean runs over the batch, the pixels and the
    channels of that stage (PyTorch's `nn.L1Loss`), as in SynSin's "content" loss (which uses
    VGG19's relu_1 layers; jax3d ships VGG16 weights only).

    Args:
        pred: (B, H, W, 3) float RGB in [0, 1] (ImageNet normalisation is applied inside).
        target: (B, H, W, 3) float RGB in [0, 1], the same shape.
        params: `load_vgg16_params()` (the default; pass them explicitly inside `jax.jit`).
        weights: one weight per stage, 1 to 5 of them: only the first `len(weights)` stages
            are computed.

    Returns:
        () float32 loss, 0 for identical images; differentiable with respect to both images.
    """
    pred, target = jnp.asarray(pred), jnp.asarray(target)
    if pred.shape != target.shape or pred.ndim != 4 or pred.shape[-1] != 3:
        raise ValueError(
            f"vgg_perceptual_loss: pred and target must be equal (B, H, W, 3), got {pred.shape}, "
            f"{target.shape}"
        )
    weights = tuple(float(w) for w in weights)
    if not 1 <= len(weights) <= 5:
        raise ValueError(f"vgg_perceptual_loss: 1 to 5 weights, got {len(weights)}")
    if params is None:
        params = load_vgg16_params()
    batch = pred.shape[0]
    x = imagenet_normalize(jnp.concatenate([pred, target], axis=0))
    features = VGG16Features(num_stages=len(weights)).apply(params, x)
    loss = jnp.zeros((), jnp.float32)
    for w, f in zip(weights, features):
        loss = loss + w * jnp.mean(jnp.abs(f[:batch] - f[batch:]))
    return loss
