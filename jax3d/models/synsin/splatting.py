"""SynSin's neural point cloud renderer: splat feature points with soft discs and composite.

Every point is a disc of radius `r` (given in pixels, converted to NDC as
`r_ndc = 2 r / min(H, W)`); `jax3d.renderer.points.rasterize_points_padded` finds, per pixel,
the `K` nearest points (in depth) whose disc covers the pixel centre, with the squared NDC
distance `d^2` from the centre. Each such point gets the opacity

    alpha = (1 - sqrt(clip(d^2 / r^2, 1e-3, 1))) ** tau          (SynSin's, tau = its gamma)

and the features are alpha-composited front to back (SynSin's "alphacomposite"; PyTorch3D's
`weighted_sum` and normalised `norm_weighted_sum` compositors are the options "wsum" and
"wsumnorm"). Gradients reach the features through the compositing weights and the points'
positions (hence their depths) through `d^2`; the choice of the K points is piecewise constant.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from jax3d.renderer.points import (
    alpha_composite,
    norm_weighted_sum,
    rasterize_points_padded,
    weighted_sum,
)

__all__ = ["COMPOSITORS", "SplatSettings", "splat", "splat_alphas"]

COMPOSITORS = {
    "alphacomposite": alpha_composite,
    "wsum": weighted_sum,
    "wsumnorm": norm_weighted_sum,
}
_MIN_RATIO = 1e-3  # SynSin clamps d^2 / r^2 to [1e-3, 1] before the square root


@dataclasses.dataclass(frozen=True)
class SplatSettings:
    """How points are splatted (static: every field fixes shapes or code paths).

    Attributes:
        radius: disc radius in pixels of the output image (SynSin: 4 at 256 px).
        points_per_pixel: K, the nearest points composited per pixel (SynSin: 128 at 256 px).
        tau: the exponent of the opacity falloff (SynSin's `--tau`, the paper's gamma; 1).
        compositor: "alphacomposite" (SynSin's), "wsum" or "wsumnorm" (PyTorch3D's).
        bin_size: the rasterizer's bin edge in pixels (None: its default).
        max_points_per_bin: the rasterizer's capacity under jit (None: its default).
    """

    radius: float = 4.0
    points_per_pixel: int = 128
    tau: float = 1.0
    compositor: str = "alphacomposite"
    bin_size: int | None = None
    max_points_per_bin: int | None = None

    def __post_init__(self):
        if not self.radius > 0:
            raise ValueError(f"radius must be > 0 pixels, got {self.radius}")
        if not isinstance(self.points_per_pixel, int) or self.points_per_pixel < 1:
            raise ValueError(f"points_per_pixel must be an int >= 1, got {self.points_per_pixel}")
        if not self.tau > 0:
            raise ValueError(f"tau must be > 0, got {self.tau}")
        if self.compositor not in COMPOSITORS:
            raise ValueError(
                f"compositor must be one of {sorted(COMPOSITORS)}, got {self.compositor!r}"
            )

    def radius_ndc(self, height: int, width: int) -> float:
        """The radius in the rasterizer's NDC units (`2 r / min(H, W)`)."""
        return 2.0 * float(self.radius) / float(min(height, width))


def splat_alphas(dists, radius_ndc: float, tau: float) -> jax.Array:
    """SynSin's opacity `(1 - sqrt(clip(d^2 / r^2, 1e-3, 1))) ** tau`.

    Args:
        dists: (...) squared NDC distances (negative where empty: the result there is
            unspecified and must be masked by the caller).
        radius_ndc: r in NDC units.
        tau: the falloff exponent.

    Returns:
        (...) float32 opacities in [0, 1 - sqrt(1e-3)].
    """
    ratio = jnp.clip(dists / (radius_ndc * radius_ndc), _MIN_RATIO, 1.0)
    return (1.0 - jnp.sqrt(ratio)) ** tau


def splat(points, features, image_size: tuple[int, int], settings: SplatSettings) -> jax.Array:
    """Render feature point clouds into images (SynSin's `RasterizePointsXYsBlending`).

    Args:
        points: (B, P, 3) float32 rasterizer input: NDC x, y and depth z (points with z < 0
            are skipped; see `geometry.reproject`).
        features: (B, P, C) float32 per-point features.
        image_size: static `(H, W)` of the output.
        settings: `SplatSettings`.

    Returns:
        (B, H, W, C) float32 composited features; 0 where no point covers a pixel.
    """
    points = jnp.asarray(points, jnp.float32)
    features = jnp.asarray(features, jnp.float32)
    if points.ndim != 3 or points.shape[-1] != 3:
        raise ValueError(f"points must be (B, P, 3), got {tuple(points.shape)}")
    if features.ndim != 3 or features.shape[:2] != points.shape[:2]:
        raise ValueError(
            f"features must be (B, P, C) with (B, P) = {points.shape[:2]}, got "
            f"{tuple(features.shape)}"
        )
    H, W = (int(s) for s in image_size)
    B, P, C = features.shape
    r = settings.radius_ndc(H, W)
    idx, _, dists = rasterize_points_padded(
        points,
        jnp.full((B,), P, jnp.int32),
        image_size=(H, W),
        radius=r,
        points_per_pixel=settings.points_per_pixel,
        bin_size=settings.bin_size,
        max_points_per_bin=settings.max_points_per_bin,
    )  # (B, H, W, K), packed ids b * P + p
    alphas = splat_alphas(dists, r, settings.tau)
    composite = COMPOSITORS[settings.compositor]
    images = composite(
        jnp.moveaxis(idx, 3, 1), jnp.moveaxis(alphas, 3, 1), features.reshape(B * P, C).T
    )  # (B, C, H, W)
    return jnp.moveaxis(images, 1, 3)
