"""GAN discriminators on NHWC images: GIRAFFE's DCGAN-like discriminator and the multi-scale
PatchGAN of pix2pixHD / SPADE / SynSin (with its intermediate features for feature matching)."""

from __future__ import annotations

import math
from typing import NamedTuple

import flax.linen as nn
import jax

from jax3d.nn._layers import check_image, check_norm, conv2d, downsample_avg, normalize

__all__ = ["DCGANDiscriminator", "MultiScalePatchGAN", "PatchGAN", "PatchGANOutput"]


class DCGANDiscriminator(nn.Module):
    """GIRAFFE's `DCDiscriminator`: stride-2 4x4 convolutions down to 4 x 4, then a 4x4 conv.

    With `L = log2(image_size) - 2`, layer `i = 0 .. L-1` is
    `leaky_relu_0.2(conv4x4/2(pad 1, C = n_feat / 2**(L-1-i), no bias))`, halving the image
    from `image_size` to 4; the output layer is a valid 4x4 conv to one channel (no bias).
    No normalisation (GIRAFFE adds R1 regularisation instead).

    Attributes:
        image_size: the input's H = W, a power of two >= 8.
        n_feat: channels of the last hidden layer (at 4 x 4).
        in_channels: the input's C (checked).

    Call: `(x: (B, image_size, image_size, in_channels)) -> (B, 1)` float32 logits.
    """

    image_size: int = 64
    n_feat: int = 512
    in_channels: int = 3

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        check_image(x)
        n_layers = int(round(math.log2(self.image_size))) - 2
        if self.image_size < 8 or 2 ** (n_layers + 2) != self.image_size:
            raise ValueError(f"image_size must be a power of two >= 8, got {self.image_size}")
        expected = (self.image_size, self.image_size, self.in_channels)
        if tuple(x.shape[1:]) != expected:
            raise ValueError(f"x must be (B, {', '.join(map(str, expected))}), got {x.shape}")
        if self.n_feat % 2 ** (n_layers - 1):
            raise ValueError(f"n_feat must be divisible by 2**(L-1) = {2 ** (n_layers - 1)}")
        plain = dict(spectral_norm=False, train=False, use_bias=False)
        for i in range(n_layers):
            c = self.n_feat // 2 ** (n_layers - 1 - i)
            x = nn.leaky_relu(conv2d(x, c, 4, 2, 1, name=f"conv_{i}", **plain), 0.2)
        out = conv2d(x, 1, 4, 1, "VALID", name="conv_out", **plain)  # (B, 1, 1, 1)
        return out.reshape(x.shape[0], 1)


class PatchGANOutput(NamedTuple):
    """Outputs of `MultiScalePatchGAN`.

    logits: one `(B, h_s, w_s, 1)` patch-logit map per scale `s` (scale 0 is full resolution).
    features: per scale, the `n_layers` intermediate activations `(B, h, w, C)` (the final
        logits excluded), for `jax3d.loss.feature_matching_loss`.
    """

    logits: tuple[jax.Array, ...]
    features: tuple[tuple[jax.Array, ...], ...]


class PatchGAN(nn.Module):
    """pix2pixHD's `NLayerDiscriminator` (SPADE's counting of `n_layers`): patch logits.

    All convolutions are 4x4 with padding 2 (PyTorch's `ceil(3 / 2)`). Layer 0 is
    `leaky_relu_0.2(conv/2(C = features))`; layers `1 .. n_layers-1` are
    `leaky_relu_0.2(norm(conv(C = min(2 C_prev, max_features))))` with stride 2 except the
    last, which has stride 1; the output is `conv/1(C = 1)`. `norm` and `spectral_norm` apply
    to the middle layers only (as SPADE's `get_nonspade_norm_layer`); normed convs have no
    bias. `n_layers=4` is pix2pixHD's default `n_layers_D=3` and SynSin's `n_layers_D=4`.

    Attributes:
        features: channels of the first layer.
        n_layers: intermediate layers (>= 2).
        max_features: channel cap.
        norm: "none", "batch" or "instance".
        spectral_norm: spectrally normalise the middle convolutions.

    Call: `(x: (B, H, W, C), *, train: bool) -> (logits (B, h, w, 1), features)` where
    `features` is the tuple of the `n_layers` intermediate activations.
    """

    features: int = 64
    n_layers: int = 4
    max_features: int = 512
    norm: str = "instance"
    spectral_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> tuple[jax.Array, tuple[jax.Array, ...]]:
        check_image(x)
        check_norm(self.norm)
        if self.n_layers < 2:
            raise ValueError(f"n_layers must be >= 2, got {self.n_layers}")
        feats = []
        c = self.features
        h = conv2d(x, c, 4, 2, 2, spectral_norm=False, train=train, name="conv_0")
        feats.append(nn.leaky_relu(h, 0.2))
        for n in range(1, self.n_layers):
            c = min(2 * c, self.max_features)
            stride = 1 if n == self.n_layers - 1 else 2
            h = conv2d(
                feats[-1],
                c,
                4,
                stride,
                2,
                spectral_norm=self.spectral_norm,
                train=train,
                use_bias=self.norm == "none",
                name=f"conv_{n}",
            )
            h = normalize(h, self.norm, train=train, name=f"norm_{n}")
            feats.append(nn.leaky_relu(h, 0.2))
        logits = conv2d(feats[-1], 1, 4, 1, 2, spectral_norm=False, train=train, name="conv_out")
        return logits, tuple(feats)


class MultiScalePatchGAN(nn.Module):
    """`n_scales` independent `PatchGAN`s on the image and its 2x, 4x, ... downsamplings.

    Between scales the input is average-pooled 3x3 / stride 2 / padding 1, padding excluded
    from the average (pix2pixHD's `count_include_pad=False`). SynSin's discriminator is
    `MultiScalePatchGAN(n_scales=2, n_layers=4, norm="instance", spectral_norm=True)`, trained
    with `jax3d.loss.hinge_discriminator_loss` and `feature_matching_loss`.

    Attributes: `n_scales` and those of `PatchGAN`.

    Call: `(x: (B, H, W, C), *, train: bool) -> PatchGANOutput(logits, features)`.
    """

    n_scales: int = 2
    features: int = 64
    n_layers: int = 4
    max_features: int = 512
    norm: str = "instance"
    spectral_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> PatchGANOutput:
        check_image(x)
        if self.n_scales < 1:
            raise ValueError(f"n_scales must be >= 1, got {self.n_scales}")
        logits, feats = [], []
        for s in range(self.n_scales):
            d = PatchGAN(
                features=self.features,
                n_layers=self.n_layers,
                max_features=self.max_features,
                norm=self.norm,
                spectral_norm=self.spectral_norm,
                name=f"scale_{s}",
            )
            out, f = d(x, train=train)
            logits.append(out)
            feats.append(f)
            if s + 1 < self.n_scales:
                x = downsample_avg(x, count_include_pad=False)
        return PatchGANOutput(tuple(logits), tuple(feats))
