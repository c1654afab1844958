"""PointsRasterizer: world-space point clouds -> PointFragments through a camera."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jax3d.device import DeviceMethods
from jax3d.renderer.binning import check_max_per_bin, parse_image_size
from jax3d.renderer.points.rasterize_points import check_radius, rasterize_points

__all__ = ["PointFragments", "PointsRasterizationSettings", "PointsRasterizer"]


@struct.dataclass
class PointFragments:
    """Point rasterizer output: ``idx`` (N, H, W, K) int32 packed point ids (-1 empty),
    ``zbuf`` (N, H, W, K) float32 depths and ``dists`` (N, H, W, K) float32 squared NDC
    distances (both -1 where empty)."""

    idx: jax.Array
    zbuf: jax.Array
    dists: jax.Array


@struct.dataclass
class PointsRasterizationSettings:
    """Point rasterization settings; ``radius`` is a float or a per-point array (packed
    (P_packed,) or padded (N, P)), every value >= 0: checked at construction (ValueError)
    unless it is traced (settings built inside ``jit``), where no value can be inspected and a
    negative radius draws nothing. ``max_points_per_bin`` must be None or a positive int.
    Other fields as :func:`rasterize_points`. A frozen pytree whose one leaf is ``radius``
    (possibly per point); the other fields are static."""

    image_size: int | tuple[int, int] = struct.field(pytree_node=False, default=256)
    radius: Any = 0.01  # the one pytree leaf: a float or a per-point array
    points_per_pixel: int = struct.field(pytree_node=False, default=8)
    bin_size: int | None = struct.field(pytree_node=False, default=None)
    max_points_per_bin: int | None = struct.field(pytree_node=False, default=None)

    def __post_init__(self):
        size = parse_image_size(self.image_size)
        object.__setattr__(self, "image_size", size if size[0] != size[1] else size[0])
        check_max_per_bin(self.max_points_per_bin, "max_points_per_bin")
        check_radius(self.radius)


@struct.dataclass
class PointsRasterizer(DeviceMethods):
    """``PointsRasterizer(cameras, raster_settings)(pointclouds, **kwargs) -> PointFragments``.

    ``kwargs`` may override ``cameras=``, ``raster_settings=`` and camera fields (``R=``...).
    A frozen pytree (cameras and the settings' radius are its leaves).
    """

    cameras: Any = None
    raster_settings: PointsRasterizationSettings | None = None

    def __post_init__(self):
        if self.raster_settings is None:
            object.__setattr__(self, "raster_settings", PointsRasterizationSettings())

    def transform(self, point_clouds, **kwargs):
        """Point clouds with points in NDC (x, y) and view depth (z)."""
        cameras = kwargs.pop("cameras", self.cameras)
        if cameras is None:
            raise ValueError("PointsRasterizer needs cameras (constructor or cameras= kwarg)")
        kwargs.pop("raster_settings", None)
        eps = kwargs.pop("eps", None)
        pts = point_clouds.points_padded()
        view = cameras.get_world_to_view_transform(**kwargs).transform_points(pts)
        ndc = jnp.broadcast_to(cameras.transform_points_ndc(pts, eps=eps, **kwargs), view.shape)
        return point_clouds.update_padded(jnp.concatenate([ndc[..., :2], view[..., 2:3]], -1))

    def __call__(self, point_clouds, **kwargs) -> PointFragments:
        settings = kwargs.get("raster_settings", self.raster_settings)
        clouds_ndc = self.transform(point_clouds, **kwargs)
        idx, zbuf, dists = rasterize_points(
            clouds_ndc,
            image_size=settings.image_size,
            radius=settings.radius,
            points_per_pixel=settings.points_per_pixel,
            bin_size=settings.bin_size,
            max_points_per_bin=settings.max_points_per_bin,
        )
        return PointFragments(idx=idx, zbuf=zbuf, dists=dists)

    forward = __call__
