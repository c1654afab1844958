"""Pre-activation residual blocks with optional down- or up-sampling (BigGAN / SynSin style)."""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax

from jax3d.nn._layers import (
    NORMS,
    activation_fn,
    check_image,
    check_norm,
    conv2d,
    downsample_avg,
    normalize,
    upsample_bilinear,
)
from jax3d.nn.conditional_batch_norm import ConditionalBatchNorm

__all__ = ["RESAMPLE_MODES", "ResBlock"]

RESAMPLE_MODES = ("none", "down", "up")


class ResBlock(nn.Module):
    """A residual block `y = main(x) + shortcut(x)` on NHWC images.

    main:     norm -> act -> conv3x3(C_out) -> norm -> act -> conv3x3(C_out) -> resample
    shortcut: conv1x1(C_out) -> resample     when resampling or C_in != C_out, else identity

    `resample`: "none" keeps `(H, W)`; "down" is a 3x3 stride-2 average pool with padding 1
    (`(H, W) -> (ceil(H/2), ceil(W/2))`); "up" is 2x bilinear upsampling with half-pixel
    centres (`(H, W) -> (2H, 2W)`). Resampling comes after the convolutions, as in SynSin's
    `ResNet_Block` (its feature network uses "none", its refinement network "down" then "up").

    `norm`: "none", "batch" (`nn.BatchNorm`, PyTorch defaults), "instance" (per sample over
    `(H, W)`, no affine) or "conditional_batch" (`ConditionalBatchNorm`; pass `cond`, e.g. a
    `(B, D)` noise code as SynSin does). With `spectral_norm=True` every convolution (and the
    conditional-norm projections) is spectrally normalised; its state lives in "batch_stats".

    Attributes:
        features: output channels `C_out`.
        resample: "none", "down" or "up".
        norm: "none", "batch", "instance" or "conditional_batch".
        spectral_norm: spectrally normalise the convolutions.
        activation: a callable or a name ("relu", "leaky_relu" (0.2), "elu", "silu", ...).
        num_classes: for "conditional_batch": class-conditioned if set, else code-conditioned.

    Call: `(x: (B, H, W, C_in), cond=None, *, train: bool) -> (B, H', W', C_out)`; `train`
    selects batch statistics and updates the running averages and spectral-norm state (apply
    with `mutable=["batch_stats"]`).
    """

    features: int
    resample: str = "none"
    norm: str = "batch"
    spectral_norm: bool = False
    activation: str | Callable = "relu"
    num_classes: int | None = None

    @nn.compact
    def __call__(
        self, x: jax.Array, cond: jax.Array | None = None, *, train: bool
    ) -> jax.Array:
        check_image(x)
        check_norm(self.norm, (*NORMS, "conditional_batch"))
        if self.resample not in RESAMPLE_MODES:
            raise ValueError(f"resample must be one of {RESAMPLE_MODES}, got {self.resample!r}")
        if self.norm == "conditional_batch" and cond is None:
            raise ValueError('norm="conditional_batch" needs cond (B,) labels or (B, D) codes')
        act = activation_fn(self.activation)
        sn = self.spectral_norm

        def norm(h, name):
            if self.norm == "conditional_batch":
                cbn = ConditionalBatchNorm(self.num_classes, spectral_norm=sn, name=name)
                return cbn(h, cond, train=train)
            return normalize(h, self.norm, train=train, name=name)

        h = act(norm(x, "norm_a"))
        h = conv2d(h, self.features, 3, 1, 1, spectral_norm=sn, train=train, name="conv_a")
        h = act(norm(h, "norm_b"))
        h = conv2d(h, self.features, 3, 1, 1, spectral_norm=sn, train=train, name="conv_b")
        h = self._resample(h)

        skip = x
        if self.resample != "none" or x.shape[-1] != self.features:
            skip = conv2d(x, self.features, 1, 1, 0, spectral_norm=sn, train=train, name="skip")
            skip = self._resample(skip)
        return h + skip

    def _resample(self, x: jax.Array) -> jax.Array:
        if self.resample == "down":
            return downsample_avg(x)
        if self.resample == "up":
            return upsample_bilinear(x)
        return x
