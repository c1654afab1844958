"""Conditional batch normalisation: a parameter-free batch norm whose scale and shift are
predicted per sample from a class label or a code vector (BigGAN; SynSin's noise-conditioned
batch norm in its ResNet blocks)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jax3d.nn.initializers import torch_kernel_init
from jax3d.nn.spectral_norm import SNDense

__all__ = ["ConditionalBatchNorm"]


class ConditionalBatchNorm(nn.Module):
    """`y = (x - mean) / sqrt(var + epsilon) * gamma(cond) + beta(cond)`, per channel.

    `mean` and `var` are the batch statistics over all axes but the last (training) or their
    running averages (evaluation), kept in the "batch_stats" collection like `nn.BatchNorm`
    (momentum 0.9 is PyTorch's 0.1). The affine part depends on the sample:

    - class-conditioned (`num_classes` set): `cond: (B,)` int labels in `[0, num_classes)`;
      `gamma = embed_gamma[cond]` (initialised to 1), `beta = embed_beta[cond]` (initialised
      to 0), each `(num_classes, C)`.
    - code-conditioned (`num_classes=None`): `cond: (B, D)` float codes;
      `gamma = 1 + cond @ W_gamma`, `beta = cond @ W_beta` (no biases, as BigGAN and SynSin),
      optionally spectrally normalised (`spectral_norm=True`, stats updated when `train`).

    Attributes:
        num_classes: number of classes, or None for code conditioning.
        momentum: running-average decay of the statistics.
        epsilon: added to the variance.
        spectral_norm: spectrally normalise the code projections.

    Call: `(x: (B, ..., C), cond, *, train: bool) -> (B, ..., C)`.
    """

    num_classes: int | None = None
    momentum: float = 0.9
    epsilon: float = 1e-5
    spectral_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, cond: jax.Array, *, train: bool) -> jax.Array:
        if x.ndim < 2:
            raise ValueError(f"x must be (B, ..., C), got shape {tuple(x.shape)}")
        b, c = x.shape[0], x.shape[-1]
        cond = jnp.asarray(cond)
        if self.num_classes is not None:
            gamma, beta = self._class_affine(cond, b, c)
        else:
            gamma, beta = self._code_affine(cond, b, c, train)
        x_hat = nn.BatchNorm(
            use_running_average=not train,
            momentum=self.momentum,
            epsilon=self.epsilon,
            use_bias=False,
            use_scale=False,
            name="bn",
        )(x)
        expand = (b,) + (1,) * (x.ndim - 2) + (c,)
        return x_hat * gamma.reshape(expand) + beta.reshape(expand)

    def _class_affine(self, cond, b, c):
        if cond.shape != (b,) or not jnp.issubdtype(cond.dtype, jnp.integer):
            raise ValueError(
                f"cond must be (B,) = ({b},) int class labels when num_classes is set, "
                f"got shape {tuple(cond.shape)} dtype {cond.dtype}"
            )
        ones, zeros = nn.initializers.ones_init(), nn.initializers.zeros_init()
        gamma = nn.Embed(self.num_classes, c, embedding_init=ones, name="gamma")(cond)
        beta = nn.Embed(self.num_classes, c, embedding_init=zeros, name="beta")(cond)
        return gamma, beta

    def _code_affine(self, cond, b, c, train):
        if cond.ndim != 2 or cond.shape[0] != b:
            raise ValueError(
                f"cond must be (B, D) codes with B = {b} when num_classes is None, "
                f"got shape {tuple(cond.shape)}"
            )
        if self.spectral_norm:
            gamma = SNDense(c, use_bias=False, name="gamma")(cond, update_stats=train)
            beta = SNDense(c, use_bias=False, name="beta")(cond, update_stats=train)
        else:
            kw = dict(use_bias=False, kernel_init=torch_kernel_init)
            gamma = nn.Dense(c, **kw, name="gamma")(cond)
            beta = nn.Dense(c, **kw, name="beta")(cond)
        return 1.0 + gamma, beta
