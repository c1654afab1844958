"""jax3d.renderer.points: point rasterization, compositing and rendering."""

from jax3d.renderer.points.compositor import (
    AlphaCompositor,
    NormWeightedCompositor,
    alpha_composite,
    norm_weighted_sum,
    weighted_sum,
)
from jax3d.renderer.points.rasterize_points import rasterize_points, rasterize_points_padded
from jax3d.renderer.points.rasterizer import (
    PointFragments,
    PointsRasterizationSettings,
    PointsRasterizer,
)
from jax3d.renderer.points.renderer import PointsRenderer

__all__: list[str] = [
    "AlphaCompositor",
    "NormWeightedCompositor",
    "PointFragments",
    "PointsRasterizationSettings",
    "PointsRasterizer",
    "PointsRenderer",
    "alpha_composite",
    "norm_weighted_sum",
    "rasterize_points",
    "rasterize_points_padded",
    "weighted_sum",
]
