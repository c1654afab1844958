"""GAN losses on discriminator logits: non-saturating (BCE), hinge, R1 penalty, feature matching.

Logits may be any shape (`(B, 1)` from a DCGAN discriminator, `(B, h, w, 1)` patch maps); a
loss is the mean over all their elements. Multi-scale discriminators give one logits array per
scale: pass the list (or tuple) and the loss is the mean over scales of the per-scale losses
(SPADE / SynSin's `GANLoss`). The discriminator losses take matching real and fake structures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

__all__ = [
    "feature_matching_loss",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "nonsaturating_discriminator_loss",
    "nonsaturating_generator_loss",
    "r1_penalty",
]

Logits = jax.Array | Sequence[jax.Array]


def _over_scales(fn: Callable[..., jax.Array], *logits: Logits) -> jax.Array:
    """`fn` on each scale's logits, averaged over scales (one array is one scale)."""
    multi = [isinstance(x, (list, tuple)) for x in logits]
    if any(multi):
        n = len(logits[0]) if multi[0] else -1
        if not all(multi) or n == 0 or any(len(x) != n for x in logits):
            raise ValueError(
                "multi-scale logits must be non-empty sequences of equal length, got lengths "
                f"{[len(x) if m else 'array' for x, m in zip(logits, multi)]}"
            )
        return sum(fn(*(jnp.asarray(x[i]) for x in logits)) for i in range(n)) / n
    return fn(*(jnp.asarray(x) for x in logits))


def nonsaturating_generator_loss(fake_logits: Logits) -> jax.Array:
    """Non-saturating generator loss `mean(softplus(-D(G(z))))`.

    This is `BCEWithLogits(D(G(z)), 1) = -mean(log sigmoid(l))` (GIRAFFE's
    `compute_bce(d_fake, 1)`), computed as `softplus(-l)`, exact and finite for any logit.

    Args:
        fake_logits: discriminator logits of generated images, any shape, or one array per
            scale.

    Returns:
        () float32 loss.
    """
    return _over_scales(lambda f: jnp.mean(jax.nn.softplus(-f)), fake_logits)


def nonsaturating_discriminator_loss(real_logits: Logits, fake_logits: Logits) -> jax.Array:
    """Discriminator BCE `mean(softplus(-D(x))) + mean(softplus(D(G(z))))`.

    The sum of `BCEWithLogits(D(x), 1)` and `BCEWithLogits(D(G(z)), 0)`, each a mean over
    its own logits (GIRAFFE's `d_loss_real + d_loss_fake`; the real term alone is
    `nonsaturating_generator_loss(real_logits)`). Add the R1 penalty separately.

    Args:
        real_logits: logits of real images, any shape (or one array per scale).
        fake_logits: logits of generated images, any shape (or one array per scale).

    Returns:
        () float32 loss.
    """

    def loss(r, f):
        return jnp.mean(jax.nn.softplus(-r)) + jnp.mean(jax.nn.softplus(f))

    return _over_scales(loss, real_logits, fake_logits)


def hinge_generator_loss(fake_logits: Logits) -> jax.Array:
    """Hinge generator loss `-mean(D(G(z)))` (SPADE / SynSin).

    Args:
        fake_logits: logits of generated images, any shape (or one array per scale).

    Returns:
        () float32 loss.
    """
    return _over_scales(lambda f: -jnp.mean(f), fake_logits)


def hinge_discriminator_loss(real_logits: Logits, fake_logits: Logits) -> jax.Array:
    """Hinge discriminator loss `mean(relu(1 - D(x))) + mean(relu(1 + D(G(z))))`.

    SPADE / SynSin compute the two terms as `-mean(min(l - 1, 0))` and `-mean(min(-l - 1, 0))`,
    the same values.

    Args:
        real_logits: logits of real images, any shape (or one array per scale).
        fake_logits: logits of generated images, any shape (or one array per scale).

    Returns:
        () float32 loss.
    """

    def loss(r, f):
        return jnp.mean(jax.nn.relu(1.0 - r)) + jnp.mean(jax.nn.relu(1.0 + f))

    return _over_scales(loss, real_logits, fake_logits)


def r1_penalty(
    disc_fn: Callable[[jax.Array], Any], real_images: jax.Array, *, has_aux: bool = False
) -> jax.Array | tuple[jax.Array, Any]:
    """R1 gradient penalty `E_b [ sum_{h,w,c} (d sum_b' D(x_b') / d x_b[h, w, c])^2 ]`.

    The squared norm of the gradient of the discriminator's summed logits with respect to each
    real image, averaged over the batch. When `D` treats samples independently (no batch-norm
    statistics across the batch) the gradient of the sum is each sample's own gradient, and
    this is `E ||grad_x D(x)||^2`. It is the raw penalty; callers scale it:

    - GIRAFFE adds `10. * compute_grad2(d_real, x_real).mean()` to the discriminator loss
      (10 hard-coded; Mescheder et al.'s GAN_stability code, which it follows, multiplies by
      `reg_param`), i.e. `10 * r1_penalty(...)`, on the real batch, every discriminator step.
    - The paper (Mescheder et al. 2018) writes `gamma / 2 * E||grad||^2`: use
      `gamma / 2 * r1_penalty(...)`; GIRAFFE's 10 is `gamma = 20` in that notation.

    Args:
        disc_fn: `images (B, H, W, C) -> logits` (any shape with leading B), or
            `-> (logits, aux)` when `has_aux`. Close over the parameters; the penalty is
            differentiable with respect to them (double backprop).
        real_images: `(B, ...)` float real images.
        has_aux: `disc_fn` returns `(logits, aux)`; aux (e.g. the logits themselves, to reuse
            this forward pass for the BCE term, or mutated batch stats) is returned.

    Returns:
        () float32 penalty, or `(penalty, aux)` when `has_aux`.
    """
    real_images = jnp.asarray(real_images)
    if real_images.ndim < 1 or not jnp.issubdtype(real_images.dtype, jnp.floating):
        raise ValueError(
            f"real_images must be a float (B, ...) array, got shape {real_images.shape} "
            f"dtype {real_images.dtype}"
        )
    if has_aux:
        logits, vjp_fn, aux = jax.vjp(disc_fn, real_images, has_aux=True)
    else:
        logits, vjp_fn = jax.vjp(disc_fn, real_images)
    (grad,) = vjp_fn(jnp.ones_like(logits))
    b = real_images.shape[0]
    penalty = jnp.mean(jnp.sum(jnp.square(grad).reshape(b, -1), axis=1))
    return (penalty, aux) if has_aux else penalty


def feature_matching_loss(
    real_features: Sequence[Sequence[jax.Array]] | Sequence[jax.Array],
    fake_features: Sequence[Sequence[jax.Array]] | Sequence[jax.Array],
) -> jax.Array:
    """Discriminator feature matching: `(1 / S) sum_s sum_l mean|F_sl(fake) - F_sl(real)|`.

    For each scale `s` of a multi-scale discriminator and each intermediate layer `l`, the
    mean absolute difference (PyTorch's `L1Loss`) between the features of the generated and
    the real image; summed over layers and averaged over scales, as pix2pixHD (whose per-layer
    weight `4 / (n_layers_D + 1)` is 1 for its default `n_layers_D = 3`) and SPADE / SynSin
    do. Real features are `stop_gradient`-ed (their `.detach()`). Multiply by the recipe's
    weight (`lambda_feat = 10` in pix2pixHD, SPADE and SynSin).

    Args:
        real_features: per scale, a sequence of `(B, h, w, C)` feature maps
            (`PatchGANOutput.features`); a flat sequence of arrays is one scale.
        fake_features: the same structure and shapes for the generated images.

    Returns:
        () float32 loss.
    """
    if len(real_features) == 0 or not isinstance(real_features[0], (list, tuple)):
        real_features, fake_features = [real_features], [fake_features]
    if len(real_features) != len(fake_features) or len(real_features) == 0:
        raise ValueError(
            f"real_features and fake_features must have the same number of scales (>= 1), "
            f"got {len(real_features)} and {len(fake_features)}"
        )
    total = jnp.zeros((), jnp.float32)
    for s, (reals, fakes) in enumerate(zip(real_features, fake_features)):
        if len(reals) != len(fakes):
            raise ValueError(
                f"scale {s}: {len(reals)} real and {len(fakes)} fake feature maps"
            )
        for r, f in zip(reals, fakes):
            if r.shape != f.shape:
                raise ValueError(f"scale {s}: feature shapes differ, {r.shape} vs {f.shape}")
            total = total + jnp.mean(jnp.abs(f - jax.lax.stop_gradient(r)))
    return total / len(real_features)
