"""`SynSinConfig`: the frozen preset of a SynSin model (architecture, depth range, splatting)."""

from __future__ import annotations

import dataclasses
import math

from jax3d.models.synsin.splatting import SplatSettings

__all__ = ["SYNSIN_PAPER", "SynSinConfig", "cpu_config"]

_DEPTH_MODES = ("uniform", "inverse")
_REFINE = ("resnet", "unet")


@dataclasses.dataclass(frozen=True)
class SynSinConfig:
    """A SynSin generator (facebookresearch/synsin's `zbuffer_pts` with the
    `resnet_256W8UpDown64` feature and refinement networks) and its discriminator.

    Attributes:
        image_size: square training image side (the networks accept any multiple of
            `2**depth_levels` at run time; the splat radius and K are given for this size).
        ngf: the generator width (SynSin: 64): the feature network runs at `ngf // 2` then
            `ngf` channels, the refinement network at `ngf`, `2 ngf`, `4 ngf`.
        feature_channels: channels of the point features (SynSin: 64).
        depth_features: the depth UNet's first-level width (SynSin: 32).
        depth_levels: stride-2 levels of the depth UNet (SynSin: 8 at 256 px, down to 1 x 1);
            None: `log2(image_size)`.
        depth_mode: "uniform": `depth = min_z + sigmoid(x) (max_z - min_z)`; "inverse" (the
            book's KITTI command, `--use_inverse_depth`): `depth = 1 / (10 sigmoid(x) + 0.01)`,
            a long-tailed range for landscapes (`min_z`, `max_z` unused).
        min_z, max_z: the depth range of "uniform" (SynSin: 0.5 to 10 in Habitat scenes, 1 to
            100 on RealEstate10K).
        noise_dim: size of the per-sample noise code of the ResNet blocks' conditional batch
            norm (SynSin's `LinearNoiseLayer`, 20); 0 uses plain batch norm.
        spectral_norm: spectrally normalise the generator's convolutions (SynSin's
            `spectral_batch`).
        splat: the point renderer's `SplatSettings` (SynSin at 256 px: radius 4 px, K = 128,
            tau 1, alpha compositing).
        ndf: the discriminator's first width (64); d_scales: its scales (2); d_layers: its
            layers per scale (4).
        refine: the refinement network (SynSin's `--refine_model_type`): "resnet" (the
            RealEstate10K model's `resnet_256W8UpDown64`: 8 ResNet blocks down to 1/4 and
            back) or "unet" (the authors' training default: `UNetDecoder64`'s shape, a UNet
            with skips at every level, `refine_levels` stride-2 levels from `ngf` channels).
        refine_input_skip: the "unet" refinement also feeds the splatted features to its
            output convolution (`jax3d.nn.UNet(input_skip=True)`: a full-resolution skip the
            authors' networks lack; it lets a small network keep the splatted image's detail).
        refine_levels: stride-2 levels of the "unet" refinement (None: 6 as the authors'
            `UNetDecoder64` at 256 px, fewer so that the coarsest level is >= 4 x 4).
        use_rgb_features: splat the input's RGB instead of learned features (SynSin's
            `--use_rgb_features`; the feature network is not built, `feature_channels`
            unused).
    """

    image_size: int = 256
    ngf: int = 64
    feature_channels: int = 64
    depth_features: int = 32
    depth_levels: int | None = None
    depth_mode: str = "uniform"
    min_z: float = 0.5
    max_z: float = 10.0
    noise_dim: int = 20
    spectral_norm: bool = True
    splat: SplatSettings = SplatSettings()
    ndf: int = 64
    d_scales: int = 2
    d_layers: int = 4
    refine: str = "resnet"
    refine_levels: int | None = None
    refine_input_skip: bool = False
    use_rgb_features: bool = False

    def __post_init__(self):
        if self.image_size < 8:
            raise ValueError(f"image_size must be >= 8, got {self.image_size}")
        if self.depth_mode not in _DEPTH_MODES:
            raise ValueError(f"depth_mode must be one of {_DEPTH_MODES}, got {self.depth_mode!r}")
        if not 0 < self.min_z < self.max_z:
            raise ValueError(f"need 0 < min_z < max_z, got {self.min_z}, {self.max_z}")
        if self.ngf < 2 or self.ngf % 2:
            raise ValueError(f"ngf must be an even int >= 2, got {self.ngf}")
        if self.refine not in _REFINE:
            raise ValueError(f"refine must be one of {_REFINE}, got {self.refine!r}")
        if self.refine_input_skip and self.refine != "unet":
            raise ValueError("refine_input_skip needs refine='unet'")
        if self.refine_levels is not None and self.refine_levels < 1:
            raise ValueError(f"refine_levels must be >= 1 or None, got {self.refine_levels}")
        if self.refine == "unet" and self.image_size % (2**self.unet_refine_levels):
            raise ValueError(
                f"image_size {self.image_size} must be a multiple of 2**refine_levels = "
                f"{2**self.unet_refine_levels}"
            )
        levels = self.unet_levels
        if self.image_size % (2**levels):
            raise ValueError(
                f"image_size {self.image_size} must be a multiple of 2**depth_levels = {2**levels}"
            )

    @property
    def unet_levels(self) -> int:
        """The depth UNet's levels (`depth_levels`, or log2 of the image size)."""
        if self.depth_levels is not None:
            return int(self.depth_levels)
        return max(1, int(math.floor(math.log2(self.image_size))))

    @property
    def unet_refine_levels(self) -> int:
        """The "unet" refinement's levels (`refine_levels`, or up to 6 with >= 4 x 4 left)."""
        if self.refine_levels is not None:
            return int(self.refine_levels)
        return max(1, min(6, int(math.floor(math.log2(self.image_size))) - 2))

    def replace(self, **changes) -> SynSinConfig:
        return dataclasses.replace(self, **changes)


SYNSIN_PAPER = SynSinConfig()
"""The authors' RealEstate10K model at 256 px (radius 4 px, K = 128, 8-level depth UNet)."""


def cpu_config(image_size: int = 64, **changes) -> SynSinConfig:
    """A SynSin small enough to train on a CPU: the same architecture at `image_size` with a
    quarter of the generator's width (`ngf` 16: feature network 8 -> 16 -> 32 channels,
    refinement network 16 / 32 / 64), 32 feature channels, the depth UNet from 16 channels,
    a 32-channel discriminator, the splat radius scaled with the image (4 px at 256 px ->
    1.5 px at 64 px, never below 1) and K = 16 points per pixel at 64 px (about pi r^2 ~ 7
    points cover a pixel at rest; 32 at 128 px, 128 at 256 px)."""
    radius = 1.5 if image_size == 64 else max(1.0, 4.0 * image_size / 256.0)
    k = 16 if image_size <= 64 else (32 if image_size <= 128 else 128)
    base = SynSinConfig(
        image_size=image_size,
        ngf=16,
        feature_channels=32,
        depth_features=16,
        splat=SplatSettings(radius=radius, points_per_pixel=k),
        ndf=32,
    )
    return base.replace(**changes)
