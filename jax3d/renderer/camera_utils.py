"""PyTorch3D's ``renderer.camera_utils``: ``join_cameras_as_batch`` and ``rotate_on_spot``."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.renderer.cameras import CamerasBase

__all__ = ["join_cameras_as_batch", "rotate_on_spot"]

Array = jax.Array


def join_cameras_as_batch(cameras_list: Sequence[CamerasBase]) -> CamerasBase:
    """One batch of cameras from several camera objects of the same type.

    Array fields are concatenated along the batch axis; static settings (``degrees``,
    ``in_ndc``) must agree. A field that is None (e.g. ``K``, ``image_size``) must be None in
    every input.

    Args:
      cameras_list: non-empty list of cameras of one type, with ``N_i`` cameras each.

    Returns:
      cameras of that type with ``sum_i N_i`` cameras. Jit-safe (shapes are static).

    Raises:
      TypeError: not cameras, or of different types.
      ValueError: an empty list, a field set in some inputs only, or differing settings.
    """
    cams = list(cameras_list)
    if not cams:
        raise ValueError("cameras_list must hold at least one cameras object")
    c0 = cams[0]
    for i, c in enumerate(cams):
        if not isinstance(c, CamerasBase):
            raise TypeError(f"cameras_list[{i}] must be jax3d cameras, got {type(c).__name__}")
        if type(c) is not type(c0):
            raise TypeError(f"all cameras must be of one type: cameras_list[{i}] is "
                            f"{type(c).__name__}, cameras_list[0] is "
                            f"{type(c0).__name__}")  # fmt: skip
    updates = {}
    for f in dataclasses.fields(c0):
        values = [getattr(c, f.name) for c in cams]
        if not f.metadata.get("pytree_node", True):
            if f.name not in ("_normalized", "_kind") and any(v != values[0] for v in values):
                raise ValueError(f"{f.name} differs between the cameras: {values}")
            continue
        if all(v is None for v in values):
            continue
        if any(v is None for v in values):
            raise ValueError(f"{f.name} is set for some cameras only")
        updates[f.name] = jnp.concatenate([jnp.asarray(v) for v in values], axis=0)
    return dataclasses.replace(c0, **updates)


def rotate_on_spot(R, T, rotation) -> tuple[Array, Array]:
    """Turn cameras in place: same centres, world-to-view rotation followed by ``rotation^T``.

    With row vectors (``X_view = X_world @ R + T``), ``new_R = R @ rotation^T`` and
    ``new_T = T @ R^T @ new_R`` keep the camera centre ``-T @ R^T`` fixed. A rotation about the
    view's +Y axis turns the camera to the right (PyTorch3D's example:
    ``rotation = axis_angle_to_matrix([0, radians(10), 0])``).

    Args:
      R: (3, 3) or (N, 3, 3) float32 world-to-view rotations.
      T: (3,) or (N, 3) float32 translations.
      rotation: (3, 3) or (n, 3, 3) float32; N and n equal or one of them 1.

    Returns:
      R: (max(N, n), 3, 3) and T: (max(N, n), 3) float32.
    """
    R, T, rotation = (jnp.asarray(x, jnp.float32) for x in (R, T, rotation))
    R = R[None] if R.ndim == 2 else R
    T = T[None] if T.ndim == 1 else T
    rotation = rotation[None] if rotation.ndim == 2 else rotation
    for name, x, shape in (("R", R, (3, 3)), ("T", T, (3,)), ("rotation", rotation, (3, 3))):
        if x.shape[1:] != shape or x.ndim != len(shape) + 1:
            raise ValueError(f"{name} must be {shape} or (N, {', '.join(map(str, shape))}), "
                             f"got {tuple(x.shape)}")  # fmt: skip
    sizes = {R.shape[0], T.shape[0], rotation.shape[0]} - {1}
    if len(sizes) > 1:
        raise ValueError(f"batch sizes of R, T and rotation must agree or be 1, got "
                         f"{R.shape[0]}, {T.shape[0]}, {rotation.shape[0]}")  # fmt: skip
    new_R = jnp.matmul(R, jnp.swapaxes(rotation, -1, -2))
    old_RT = jnp.matmul(R, T[..., None])
    new_T = jnp.matmul(jnp.swapaxes(new_R, -1, -2), old_RT)[..., 0]
    n = max(np.broadcast_shapes((R.shape[0],), (T.shape[0],), (rotation.shape[0],)))
    return jnp.broadcast_to(new_R, (n, 3, 3)), jnp.broadcast_to(new_T, (n, 3))
