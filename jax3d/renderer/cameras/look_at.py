"""World-to-view helpers: ``look_at_view_transform``, ``look_at_rotation``,
``camera_position_from_spherical_angles`` and ``get_world_to_view_transform``."""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.device import as_device, device_put
from jax3d.renderer.cameras import matrices
from jax3d.renderer.cameras.base import as_transform
from jax3d.renderer.cameras.batching import batch_field, broadcast_batches

Array = jax.Array


def _safe_normalize(v: Array, eps: float = 1e-5) -> Array:
    """``v / max(|v|, eps)`` along the last axis (like ``torch.nn.functional.normalize``),
    with finite gradients at ``v = 0``."""
    sq = jnp.sum(v * v, axis=-1, keepdims=True)
    small = sq < eps * eps
    norm = jnp.sqrt(jnp.where(small, 1.0, sq))
    return jnp.where(small, v / eps, v / norm)


def camera_position_from_spherical_angles(
    distance, elevation, azimuth, degrees: bool = True, device=None
) -> Array:
    """Camera centres on a sphere around the origin (PyTorch3D's angle conventions).

    ``x = d cos(elev) sin(azim)``, ``y = d sin(elev)``, ``z = d cos(elev) cos(azim)``: azimuth 0
    and elevation 0 put the camera on +Z; elevation rotates towards +Y.

    Args:
      distance, elevation, azimuth: scalars or (N,) float32 (size 1 broadcasts).
      degrees: static; angles in degrees (True) or radians.
      device: placement of the result (``jax3d.device`` meaning).

    Returns:
      (N, 3) float32 positions.
    """
    as_device(device)  # unknown devices fail early
    args = broadcast_batches(
        {
            "distance": batch_field("distance", distance, ()),
            "elevation": batch_field("elevation", elevation, ()),
            "azimuth": batch_field("azimuth", azimuth, ()),
        }
    )
    return device_put(
        _spherical_to_position(args["distance"], args["elevation"], args["azimuth"], degrees),
        device,
    )


@partial(jax.jit, static_argnames="degrees")
def _spherical_to_position(dist: Array, elev: Array, azim: Array, degrees: bool) -> Array:
    if degrees:
        elev = elev * (math.pi / 180.0)
        azim = azim * (math.pi / 180.0)
    x = dist * jnp.cos(elev) * jnp.sin(azim)
    y = dist * jnp.sin(elev)
    z = dist * jnp.cos(elev) * jnp.cos(azim)
    return jnp.stack([x, y, z], axis=-1)


def look_at_rotation(camera_position, at=((0, 0, 0),), up=((0, 1, 0),), device=None) -> Array:
    """World-to-view rotations of cameras at ``camera_position`` looking at ``at``.

    The view axes are ``z = normalize(at - camera_position)`` (forward), ``x = normalize(up x
    z)`` (left in the image), ``y = normalize(z x x)`` (up); ``R`` has them as columns, so
    ``X_view = X_world @ R``. When ``up`` is parallel to the viewing direction x is
    recomputed from ``y x z`` (PyTorch3D's fallback); exactly parallel inputs stay degenerate
    but finite.

    Args:
      camera_position, at, up: (3,), (1, 3) or (N, 3) float32; size 1 broadcasts.
      device: placement of the result (``jax3d.device`` meaning).

    Returns:
      (N, 3, 3) float32 rotation matrices.
    """
    as_device(device)  # unknown devices fail early
    args = broadcast_batches(
        {
            "camera_position": batch_field("camera_position", camera_position, (3,)),
            "at": batch_field("at", at, (3,)),
            "up": batch_field("up", up, (3,)),
        }
    )
    return device_put(_look_at_rotation(args["camera_position"], args["at"], args["up"]), device)


@jax.jit
def _look_at_rotation(position: Array, at: Array, up: Array) -> Array:
    z_axis = _safe_normalize(at - position)
    x_axis = _safe_normalize(jnp.cross(up, z_axis))
    y_axis = _safe_normalize(jnp.cross(z_axis, x_axis))
    is_close = jnp.all(jnp.abs(x_axis) <= 5e-3, axis=-1, keepdims=True)
    replacement = _safe_normalize(jnp.cross(y_axis, z_axis))
    x_axis = jnp.where(is_close, replacement, x_axis)
    return jnp.stack([x_axis, y_axis, z_axis], axis=-1)


def look_at_view_transform(
    dist=1.0,
    elev=0.0,
    azim=0.0,
    degrees: bool = True,
    eye=None,
    at=((0, 0, 0),),
    up=((0, 1, 0),),
    device=None,
) -> tuple[Array, Array]:
    """``(R, T)`` of cameras looking at ``at`` (PyTorch3D's ``look_at_view_transform``).

    The camera sits at ``eye`` if given, else at the spherical position ``(dist, elev, azim)``
    around ``at`` (see :func:`camera_position_from_spherical_angles`). With the defaults
    (``dist=d``, no angles) the camera is at ``(0, 0, d)`` looking along -Z, which gives
    ``R = diag(-1, 1, -1)`` and ``T = (0, 0, d)``.

    Args:
      dist, elev, azim: scalars or (N,) float32.
      degrees: static; angle unit.
      eye: optional (3,), (1, 3) or (N, 3) camera positions (overrides dist/elev/azim).
      at, up: (3,), (1, 3) or (N, 3) float32.
      device: placement of the result (``jax3d.device`` meaning).

    Returns:
      R: (N, 3, 3) float32 and T: (N, 3) float32 with ``X_view = X_world @ R + T``.
    """
    as_device(device)  # unknown devices fail early
    if eye is not None:
        args = broadcast_batches(
            {
                "eye": batch_field("eye", eye, (3,)),
                "at": batch_field("at", at, (3,)),
                "up": batch_field("up", up, (3,)),
            }
        )
        center, at, up = args["eye"], args["at"], args["up"]
    else:
        position = camera_position_from_spherical_angles(dist, elev, azim, degrees=degrees)
        args = broadcast_batches(
            {
                "position": position,
                "at": batch_field("at", at, (3,)),
                "up": batch_field("up", up, (3,)),
            }
        )
        center, at, up = args["position"] + args["at"], args["at"], args["up"]
    return device_put(_look_at_R_T(center, at, up), device)


@jax.jit
def _look_at_R_T(center: Array, at: Array, up: Array) -> tuple[Array, Array]:
    R = _look_at_rotation(center, at, up)
    return R, -jnp.einsum("ni,nij->nj", center, R)


def get_world_to_view_transform(R=None, T=None):
    """``Transform3d`` (N, 4, 4) of ``X_view = X_world @ R + T``.

    Args:
      R: (N, 3, 3) float32 (default identity); T: (N, 3) float32 (default zeros). Batch
        sizes must match (PyTorch3D requires equal batches; size 1 also broadcasts here).

    Returns:
      ``jax3d.transforms.Transform3d`` with matrix ``[[R, 0], [T, 1]]``.
    """
    R = np.eye(3, dtype=np.float32) if R is None else R
    T = np.zeros(3, np.float32) if T is None else T
    args = broadcast_batches({"R": batch_field("R", R, (3, 3)), "T": batch_field("T", T, (3,))})
    return as_transform(matrices.world_to_view_matrix(args["R"], args["T"]))
