"""SynSin (Wiles et al., CVPR 2020) in Flax linen: one image and a relative pose to a new view.

    image --FeatureNet--> features (B, H, W, C)       8 ResNet blocks, full resolution
    image --DepthNet----> depth (B, H, W, 1)          UNet, sigmoid scaled to [min_z, max_z]
    (features, depth, K, RT) --splat--> projected features in the target view
    projected --RefineNet--> image (B, H, W, 3)       8 ResNet blocks down to 1/4 and back, tanh

Images enter and leave in [0, 1] (the networks work on `2 x - 1`, SynSin's
`--normalize_image`). Cameras follow `jax3d.models.synsin.geometry` (OpenCV frame, normalised
intrinsics, `RT` from source to target camera).

The ResNet blocks use SynSin's noise-conditioned batch norm: each sample's scale and shift are
linear in a code `noise (B, noise_dim)`; pass `sample_noise(key, B, dim)` while training and
None (zeros: the mode of the code's distribution, deterministic) to evaluate.
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from jax3d.models.synsin.config import SynSinConfig
from jax3d.models.synsin.geometry import (
    check_intrinsics,
    check_pose,
    reproject,
    transform_points,
    unproject,
)
from jax3d.models.synsin.splatting import splat
from jax3d.nn import MultiScalePatchGAN, ResBlock, UNet

__all__ = [
    "DepthNet",
    "FeatureNet",
    "RefineNet",
    "SynSin",
    "SynSinOutput",
    "depth_from_logits",
    "make_discriminator",
    "sample_noise",
]


def sample_noise(key, batch: int, dim: int) -> jax.Array:
    """(B, dim) standard normal codes for the conditional batch norms (SynSin's `randn`)."""
    return jax.random.normal(key, (batch, dim), jnp.float32)


class _ResNetStack(nn.Module):
    """ResNet blocks `(features, resample)` in sequence, conditional BN on `noise` when
    `noise_dim > 0` (else batch norm)."""

    blocks: tuple[tuple[int, str], ...]
    noise_dim: int
    spectral_norm: bool

    @nn.compact
    def __call__(self, x, noise, *, train: bool):
        norm = "conditional_batch" if self.noise_dim > 0 else "batch"
        cond = None
        if self.noise_dim > 0:
            cond = jnp.zeros((x.shape[0], self.noise_dim)) if noise is None else noise
            if cond.shape != (x.shape[0], self.noise_dim):
                raise ValueError(
                    f"noise must be (B, noise_dim) = ({x.shape[0]}, {self.noise_dim}), got "
                    f"{tuple(cond.shape)}"
                )
        for i, (features, resample) in enumerate(self.blocks):
            x = ResBlock(features, resample=resample, norm=norm,
                         spectral_norm=self.spectral_norm, name=f"block_{i}")(x, cond, train=train)
        return x


class FeatureNet(nn.Module):
    """SynSin's spatial feature network: 8 ResNet blocks at full resolution,
    `3 -> ngf/2 (x3) -> ngf (x4) -> feature_channels`.

    Call: `(x: (B, H, W, 3) in [-1, 1], noise, *, train) -> (B, H, W, feature_channels)`.
    """

    config: SynSinConfig

    @nn.compact
    def __call__(self, x, noise=None, *, train: bool):
        c = self.config
        widths = [c.ngf // 2] * 3 + [c.ngf] * 4 + [c.feature_channels]
        blocks = tuple((w, "none") for w in widths)
        return _ResNetStack(blocks, c.noise_dim, c.spectral_norm, name="blocks")(
            x, noise, train=train
        )


class RefineNet(nn.Module):
    """SynSin's refinement network. `config.refine == "resnet"`: 8 ResNet blocks,
    `C -> ngf -> 2 ngf (down) -> 4 ngf (down) -> 4 ngf -> 2 ngf (up) -> 2 ngf (up) -> 2 ngf
    -> 3`, then tanh. `"unet"`: a
    `jax3d.nn.UNet` (`unet_refine_levels` levels from `ngf` channels, batch norm, skips at
    every level; `noise` unused), then tanh.

    Call: `(x: (B, H, W, C), noise, *, train) -> (B, H, W, 3)` in [-1, 1]; H and W multiples
    of 4 ("resnet") or of `2**unet_refine_levels` ("unet").
    """

    config: SynSinConfig

    @nn.compact
    def __call__(self, x, noise=None, *, train: bool):
        g = self.config.ngf
        if self.config.refine == "unet":
            return UNet(out_channels=3, features=g, depth=self.config.unet_refine_levels,
                        norm="batch", spectral_norm=self.config.spectral_norm,
                        output_activation="tanh", input_skip=self.config.refine_input_skip,
                        name="unet")(x, train=train)  # fmt: skip
        blocks = ((g, "none"), (2 * g, "down"), (4 * g, "down"), (4 * g, "none"),
                  (2 * g, "up"), (2 * g, "up"), (2 * g, "none"), (3, "none"))  # fmt: skip
        net = _ResNetStack(blocks, self.config.noise_dim, self.config.spectral_norm,
                           name="blocks")  # fmt: skip
        return jnp.tanh(net(x, noise, train=train))


def depth_from_logits(logits, config: SynSinConfig) -> jax.Array:
    """SynSin's depth from the UNet's output: "uniform": `min_z + sigmoid (max_z - min_z)`;
    "inverse": `1 / (10 sigmoid + 0.01)` (in [0.099, 100])."""
    s = jax.nn.sigmoid(logits)
    if config.depth_mode == "inverse":
        return 1.0 / (s * 10.0 + 0.01)
    return config.min_z + s * (config.max_z - config.min_z)


class DepthNet(nn.Module):
    """SynSin's depth regressor: `jax3d.nn.UNet` (`depth_levels` stride-2 levels, batch norm,
    spectral norm) to one channel, mapped to depth by `depth_from_logits`.

    Call: `(x: (B, H, W, 3) in [-1, 1], *, train) -> (B, H, W, 1)` depth.
    """

    config: SynSinConfig

    @nn.compact
    def __call__(self, x, *, train: bool):
        c = self.config
        logits = UNet(out_channels=1, features=c.depth_features, depth=c.unet_levels,
                      norm="batch", spectral_norm=c.spectral_norm, name="unet")(x, train=train)
        return depth_from_logits(logits, c)


class SynSinOutput(NamedTuple):
    """Outputs of `SynSin`.

    image: (B, H, W, 3) the synthesised target view in [0, 1].
    depth: (B, H, W, 1) the predicted source depth.
    projected: (B, H, W, C) the point features splatted into the target view.
    coverage: (B, H, W, 1) the splatted opacity of the target view (the same renderer with
        constant features 1: about 1 where points land, 0 in holes).
    """

    image: jax.Array
    depth: jax.Array
    projected: jax.Array
    coverage: jax.Array


class SynSin(nn.Module):
    """The SynSin generator.

    Attributes:
        config: `SynSinConfig`.

    Call: `(image (B, H, W, 3) in [0, 1], K (B, 3, 3), RT (B, 4, 4), noise=None, *, train,
    K_tgt=None, depth=None) -> SynSinOutput`. `K` are the source's normalised intrinsics
    (`K_tgt`, the target's, default to them); `depth` (B, H, W, 1) replaces the predicted depth
    (SynSin's `--use_gt_depth`). `train` uses batch statistics and updates the batch-norm and
    spectral-norm state (apply with `mutable=["batch_stats"]`).
    """

    config: SynSinConfig

    def setup(self):
        if not self.config.use_rgb_features:
            self.features = FeatureNet(self.config)
        self.depth_net = DepthNet(self.config)
        self.refine_net = RefineNet(self.config)

    def init_networks(self, image, noise=None):
        """Run the three networks once without the renderer (for a cheaper `init`: the same
        variables as `__call__`, with `method=SynSin.init_networks`)."""
        _check_image(image, self.config)
        x = _to_signed(image)
        feats = self._features(x, noise, train=False)
        depth = self.depth_net(x, train=False)
        return self.refine_net(feats, noise, train=False), depth

    def _features(self, x, noise, *, train: bool):
        if self.config.use_rgb_features:
            return x  # SynSin's --use_rgb_features: the points carry the image itself
        return self.features(x, noise, train=train)

    def predict_depth(self, image, *, train: bool = False):
        """(B, H, W, 3) in [0, 1] -> (B, H, W, 1) depth."""
        return self.depth_net(_to_signed(image), train=train)

    def render(self, features, depth, K, RT, K_tgt=None):
        """Unproject every pixel with `K^-1` and its depth, move the points by `RT`, splat
        them into the target view: (B, H, W, C), plus its (B, H, W, 1) coverage."""
        B, H, W, C = features.shape
        K = check_intrinsics(K, B)
        K_tgt = K if K_tgt is None else check_intrinsics(K_tgt, B, "K_tgt")
        RT = check_pose(RT, B)
        points = transform_points(unproject(depth, K).reshape(B, H * W, 3), RT)
        ndc = reproject(points, K_tgt, H, W)
        ones = jnp.ones((B, H * W, 1), features.dtype)
        flat = jnp.concatenate([features.reshape(B, H * W, C), ones], -1)
        out = splat(ndc, flat, (H, W), self.config.splat)
        return out[..., :C], out[..., C:]

    def __call__(self, image, K, RT, noise=None, *, train: bool, K_tgt=None, depth=None):
        _check_image(image, self.config)
        x = _to_signed(image)
        feats = self._features(x, noise, train=train)
        if depth is None:
            depth = self.depth_net(x, train=train)
        projected, coverage = self.render(feats, depth, K, RT, K_tgt)
        out = self.refine_net(projected, noise, train=train)
        return SynSinOutput((out + 1.0) * 0.5, depth, projected, coverage)


def _to_signed(image):
    return jnp.asarray(image, jnp.float32) * 2.0 - 1.0


def _check_image(image, config: SynSinConfig):
    shape = tuple(jnp.shape(image))
    m = 2**config.unet_levels
    if len(shape) != 4 or shape[-1] != 3 or shape[1] % m or shape[2] % m:
        raise ValueError(
            f"image must be (B, H, W, 3) with H, W multiples of 2**depth_levels = {m}, "
            f"got {shape}"
        )


def make_discriminator(config: SynSinConfig) -> MultiScalePatchGAN:
    """SynSin's discriminator: a `d_scales`-scale PatchGAN, `d_layers` layers, instance norm
    and spectral norm (pix2pixHD / SPADE's `spectralinstance`), on images in [-1, 1]."""
    return MultiScalePatchGAN(n_scales=config.d_scales, features=config.ndf,
                              n_layers=config.d_layers, norm="instance",
                              spectral_norm=True)  # fmt: skip
