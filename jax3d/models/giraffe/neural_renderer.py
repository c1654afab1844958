"""GIRAFFE's 2D neural renderer: a low-resolution feature image to an RGB image."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jax3d.models.giraffe.config import NeuralRendererConfig
from jax3d.nn import torch_kernel_init

__all__ = ["NeuralRenderer", "blur", "upsample_bilinear_blur", "upsample_nearest"]


def upsample_nearest(x: jax.Array) -> jax.Array:
    """Nearest-neighbour x2 (PyTorch's `Upsample(scale_factor=2)`): (B, H, W, C) ->
    (B, 2H, 2W, C)."""
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def blur(x: jax.Array) -> jax.Array:
    """The normalised 3x3 `[1, 2, 1] x [1, 2, 1] / 16` filter with reflected borders, per
    channel (the authors' `Blur`, kornia's `filter2D` defaults). (B, H, W, C) -> same."""
    k = jnp.array([1.0, 2.0, 1.0], x.dtype) / 4.0
    p = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    rows = k[0] * p[:, :-2] + k[1] * p[:, 1:-1] + k[2] * p[:, 2:]
    return k[0] * rows[:, :, :-2] + k[1] * rows[:, :, 1:-1] + k[2] * rows[:, :, 2:]


def upsample_bilinear_blur(x: jax.Array) -> jax.Array:
    """Bilinear x2 with half-pixel centres (PyTorch's `align_corners=False`), then `blur`."""
    b, h, w, c = x.shape
    return blur(jax.image.resize(x, (b, 2 * h, 2 * w, c), method="bilinear"))


def _upsample(mode: str):
    return upsample_nearest if mode == "nn" else upsample_bilinear_blur


def _conv(features: int, kernel: int, name: str) -> nn.Conv:
    """A `kernel` square conv, 'SAME' padding, PyTorch's weight init (zero bias)."""
    return nn.Conv(features, (kernel, kernel), padding="SAME", kernel_init=torch_kernel_init,
                   name=name)  # fmt: skip


class NeuralRenderer(nn.Module):
    """Upsampling conv net with RGB skips (the authors' `NeuralRenderer`).

    With `L = n_blocks` (`log2(img_size / H_in)`): `x_0 = conv1x1(x)` (identity when
    `n_feat == input_dim`), `rgb_0 = up_rgb(conv3x3_rgb(x))`; for `l = 1 .. L`:
    `x_l = leaky_relu_0.2(conv3x3(up_feat(x_{l-1})))` with `max(n_feat / 2^l, min_feat)`
    channels, `rgb_l = rgb_{l-1} + conv3x3_rgb(x_l)`, upsampled again unless `l = L`; the output
    is `sigmoid(rgb_L)`. `up_feat` is nearest x2, `up_rgb` bilinear x2 and a blur (defaults).

    Attributes:
        config: `NeuralRendererConfig`.
        n_blocks: number of x2 blocks (>= 1).

    Call: `(features (B, h, w, input_dim)) -> (B, h 2^L, w 2^L, out_dim)`.
    """

    config: NeuralRendererConfig
    n_blocks: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = self.config
        if x.ndim != 4 or x.shape[-1] != c.input_dim:
            raise ValueError(f"features must be (B, h, w, {c.input_dim}), got {x.shape}")
        if self.n_blocks < 1:
            raise ValueError(f"n_blocks must be >= 1, got {self.n_blocks}")
        up_feat, up_rgb = _upsample(c.upsample_feat), _upsample(c.upsample_rgb)
        net = x if c.n_feat == c.input_dim else _conv(c.n_feat, 1, "conv_in")(x)
        rgb = None
        if c.use_rgb_skip:
            rgb = up_rgb(_conv(c.out_dim, 3, "conv_rgb_0")(x))
        for idx in range(self.n_blocks):
            width = max(c.n_feat // 2 ** (idx + 1), c.min_feat)
            hid = _conv(width, 3, f"conv_layers_{idx}")(up_feat(net))
            if c.use_norm:
                hid = nn.InstanceNorm(epsilon=1e-5, use_scale=False, use_bias=False,
                                      name=f"norms_{idx}")(hid)  # fmt: skip
            net = nn.leaky_relu(hid, 0.2)
            if c.use_rgb_skip:
                rgb = rgb + _conv(c.out_dim, 3, f"conv_rgb_{idx + 1}")(net)
                if idx < self.n_blocks - 1:
                    rgb = up_rgb(rgb)
        if not c.use_rgb_skip:
            rgb = _conv(c.out_dim, 1, "conv_rgb")(net)  # the authors' 1x1 head
        return jax.nn.sigmoid(rgb) if c.final_actvn else rgb
