"""``RayBundle``: rays as origins, directions, sample depths and their image coordinates.

Shapes (PyTorch3D's layout): ``origins``, ``directions`` ``(B, ..., 3)``, ``lengths``
``(B, ..., S)`` and ``xys`` ``(B, ..., 2)``, where ``...`` is the rays' spatial layout: ``(H, W)``
for a full image, ``(R,)`` for a subset of rays.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

__all__ = [
    "HeterogeneousRayBundle",
    "RayBundle",
    "ray_bundle_to_ray_points",
    "ray_bundle_variables_to_ray_points",
]


@struct.dataclass
class RayBundle:
    """A batch of rays (PyTorch3D ``RayBundle``), an immutable pytree.

    Attributes:
      origins: ``(B, ..., 3) float32`` ray origins in world coordinates.
      directions: ``(B, ..., 3) float32`` ray directions (not necessarily unit length).
      lengths: ``(B, ..., S) float32`` depths of the samples along each ray, in units of
        ``directions``: sample ``s`` is at ``origins + lengths[..., s] * directions``.
      xys: ``(B, ..., 2) float32`` NDC ``(x, y)`` image coordinates of each ray.
    """

    origins: jax.Array
    directions: jax.Array
    lengths: jax.Array
    xys: jax.Array

    def __post_init__(self):
        fields = ("origins", "directions", "lengths", "xys")
        shapes = [getattr(getattr(self, f), "shape", None) for f in fields]
        if any(s is None for s in shapes) or not all(isinstance(s, tuple) for s in shapes):
            return  # pytree unflattening with placeholder leaves (e.g. inside jax transforms)
        o, d, ln, xy = shapes
        if len(o) < 2 or o[-1] != 3 or d != o:
            raise ValueError(f"origins and directions must both be (B, ..., 3), got {o} and {d}")
        if ln[:-1] != o[:-1] or xy != o[:-1] + (2,):
            raise ValueError(f"lengths must be {o[:-1] + ('S',)} and xys {o[:-1] + (2,)}, "
                             f"got {ln} and {xy}")


@struct.dataclass
class HeterogeneousRayBundle:
    """Rays cast from a varying number of cameras (PyTorch3D ``HeterogeneousRayBundle``): the
    ray fields of :class:`RayBundle` plus which cameras cast them.

    Attributes:
      origins, directions: ``(..., 3) float32``; lengths: ``(..., S)``; xys: ``(..., 2)``.
      camera_ids: ``(N,) int32`` ids of the distinct cameras that cast rays, or None.
      camera_counts: ``(N,) int32`` number of rays of each of those cameras (summing to the
        number of rays), or None. Rays are grouped by camera in that order.
    """

    origins: jax.Array
    directions: jax.Array
    lengths: jax.Array
    xys: jax.Array
    camera_ids: jax.Array | None = None
    camera_counts: jax.Array | None = None


def ray_bundle_variables_to_ray_points(rays_origins, rays_directions, rays_lengths) -> jax.Array:
    """Sample points ``origins + lengths * directions``.

    Args:
      rays_origins: ``(..., 3)``; rays_directions: ``(..., 3)``; rays_lengths: ``(..., S)``.

    Returns:
      ``(..., S, 3)``: ``points[..., s, :] = origins + lengths[..., s] * directions``.
    """
    origins, directions, lengths = (jnp.asarray(x) for x in (rays_origins, rays_directions,
                                                               rays_lengths))
    if origins.shape[-1:] != (3,) or directions.shape[-1:] != (3,):
        raise ValueError(f"origins and directions must end in 3, got {origins.shape} and "
                         f"{directions.shape}")
    return origins[..., None, :] + lengths[..., :, None] * directions[..., None, :]


def ray_bundle_to_ray_points(ray_bundle: RayBundle | HeterogeneousRayBundle) -> jax.Array:
    """World points of every sample of ``ray_bundle``: ``(B, ..., S, 3)`` (PyTorch3D's name)."""
    if not isinstance(ray_bundle, (RayBundle, HeterogeneousRayBundle)):
        raise TypeError(f"ray_bundle must be a RayBundle, got {type(ray_bundle).__name__}")
    return ray_bundle_variables_to_ray_points(
        ray_bundle.origins, ray_bundle.directions, ray_bundle.lengths
    )
