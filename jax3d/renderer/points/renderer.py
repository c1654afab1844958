"""PointsRenderer: rasterize point clouds and composite their features (PyTorch3D's API)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from flax import struct

from jax3d.device import DeviceMethods

__all__ = ["PointsRenderer"]


@struct.dataclass
class PointsRenderer(DeviceMethods):
    """``PointsRenderer(rasterizer, compositor)(pointclouds, **kwargs) -> (N, H, W, C)``.

    Alphas are ``1 - dists / r**2`` with r the rasterizer's radius (per point when the
    radius is per point); features are the clouds' features, looked up from the padded view so
    that rendering works under ``jax.jit`` (lengths may be traced). A frozen pytree of its
    rasterizer and compositor, so it can be an argument of a jitted or vmapped function.
    """

    rasterizer: Any
    compositor: Any

    def __call__(self, point_clouds, **kwargs):
        fragments = self.rasterizer(point_clouds, **kwargs)
        settings = kwargs.get("raster_settings", self.rasterizer.raster_settings)
        r = jnp.asarray(settings.radius, jnp.float32)
        if r.ndim > 0:  # per-point radius: the radius of the point at each fragment
            packed = r if r.ndim == 1 else r[point_clouds.points_mask()]
            r = packed[jnp.maximum(fragments.idx, 0)]
        weights = 1.0 - fragments.dists / (r * r)
        padded = point_clouds.features_padded()
        if padded is None:
            raise ValueError("PointsRenderer needs point clouds with features")
        n, p, c = padded.shape
        # fragments hold packed indices: cloud b's point i is first[b] + i; its padded row
        # is b * P + i (jit-safe: `first` comes from a cumsum of the lengths)
        first = point_clouds.cloud_to_packed_first_idx()
        idx = fragments.idx
        image_cloud = jnp.arange(idx.shape[0]) % n  # one cloud per image (or one for all)
        offset = (image_cloud * p - first[image_cloud])[:, None, None, None]
        idx = jnp.where(idx >= 0, idx + offset, -1)
        images = self.compositor(
            jnp.moveaxis(idx, 3, 1), jnp.moveaxis(weights, 3, 1), padded.reshape(n * p, c).T,
            **kwargs,
        )
        return jnp.moveaxis(images, 1, 3)

    forward = __call__
