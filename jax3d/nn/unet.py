"""A convolutional UNet with stride-2 encoder levels and bilinear-upsampling decoder levels
(the shape of SynSin's depth and refinement UNet, configurable in depth and width)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jax3d.nn._layers import check_image, check_norm, conv2d, normalize, upsample_bilinear

__all__ = ["UNet"]

_OUTPUT_ACTIVATIONS = {None: lambda x: x, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid}


class UNet(nn.Module):
    """UNet on NHWC images: `depth` stride-2 levels down, `depth` 2x levels up, skips between.

    With `c_i = features * min(2**i, max_multiplier)`, `e_i` at resolution `H / 2**(i+1)`:

        e_0 = conv4x4/2(x, c_0)
        e_i = norm(conv4x4/2(leaky_relu_0.2(e_{i-1}), c_i))      for 0 < i < depth - 1
        e_last = conv4x4/2(leaky_relu_0.2(e_{depth-2}), c_{depth-1})   (no norm)
        d = e_last; for i = depth-2 .. 0:
            d = concat(norm(conv3x3(up2(relu(d)), c_i)), e_i)
        out = output_activation(conv3x3(up2(relu(d)), out_channels))
        (input_skip: out = output_activation(conv3x3(concat(up2(relu(d)), x), out_channels)))

    `depth=8` with `features=32` on 256 x 256 inputs is SynSin's `Unet` (down to 1 x 1).

    Attributes:
        out_channels: output channels.
        features: channels of the first level.
        depth: number of stride-2 levels (1 to any); `H` and `W` must be multiples of
            `2**depth`.
        max_multiplier: channel multiplier cap (channels stop doubling at
            `features * max_multiplier`).
        norm: "none", "batch" or "instance".
        spectral_norm: spectrally normalise every convolution (state in "batch_stats").
        output_activation: None, "tanh" or "sigmoid".
        input_skip: also feed the input `x` to the output convolution (a full-resolution skip,
            so that details finer than the first level reach the output directly).

    Call: `(x: (B, H, W, C_in), *, train: bool) -> (B, H, W, out_channels)`.
    """

    out_channels: int = 3
    features: int = 32
    depth: int = 8
    max_multiplier: int = 8
    norm: str = "batch"
    spectral_norm: bool = False
    output_activation: str | None = None
    input_skip: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        check_image(x)
        check_norm(self.norm)
        if self.depth < 1:
            raise ValueError(f"depth must be >= 1, got {self.depth}")
        if self.output_activation not in _OUTPUT_ACTIVATIONS:
            raise ValueError(
                f"output_activation must be None, 'tanh' or 'sigmoid', got "
                f"{self.output_activation!r}"
            )
        size = 2**self.depth
        if x.shape[1] % size or x.shape[2] % size:
            raise ValueError(
                f"x's H and W must be multiples of 2**depth = {size}, got {x.shape[1:3]}"
            )
        conv = dict(spectral_norm=self.spectral_norm, train=train)
        widths = [self.features * min(2**i, self.max_multiplier) for i in range(self.depth)]
        last = self.depth - 1

        skips = []
        h = x
        for i, c in enumerate(widths):
            has_norm = 0 < i < last and self.norm != "none"
            h = h if i == 0 else nn.leaky_relu(h, 0.2)
            h = conv2d(h, c, 4, 2, 1, use_bias=not has_norm, name=f"down_{i}", **conv)
            if has_norm:
                h = normalize(h, self.norm, train=train, name=f"down_norm_{i}")
            skips.append(h)

        for i in range(last - 1, -1, -1):
            h = upsample_bilinear(nn.relu(h))
            use_bias = self.norm == "none"
            h = conv2d(h, widths[i], 3, 1, 1, use_bias=use_bias, name=f"up_{i}", **conv)
            h = normalize(h, self.norm, train=train, name=f"up_norm_{i}")
            h = jnp.concatenate([h, skips[i]], axis=-1)
        h = upsample_bilinear(nn.relu(h))
        if self.input_skip:
            h = jnp.concatenate([h, x.astype(h.dtype)], axis=-1)
        h = conv2d(h, self.out_channels, 3, 1, 1, name="out", **conv)
        return _OUTPUT_ACTIVATIONS[self.output_activation](h)
