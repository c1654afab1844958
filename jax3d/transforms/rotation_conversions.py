"""Conversions between rotation representations, with PyTorch3D's names and conventions.

Matrices act on column vectors (`x' = R @ x`), as in PyTorch3D's `rotation_conversions`;
quaternions are real-first `(w, x, y, z)`; axis-angle vectors are `angle * unit_axis`.
Every function broadcasts over arbitrary leading batch dimensions `...`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__: list[str] = []

_AXES = "XYZ"


def _axis_angle_rotation(axis: str, angle: jax.Array) -> jax.Array:
    """Rotation about one coordinate axis, for column vectors.

    Args:
        axis: "X", "Y" or "Z".
        angle: (...) float array, radians.

    Returns:
        (..., 3, 3) float array.
    """
    c, s = jnp.cos(angle), jnp.sin(angle)
    one, zero = jnp.ones_like(angle), jnp.zeros_like(angle)
    if axis == "X":
        rows = ((one, zero, zero), (zero, c, -s), (zero, s, c))
    elif axis == "Y":
        rows = ((c, zero, s), (zero, one, zero), (-s, zero, c))
    elif axis == "Z":
        rows = ((c, -s, zero), (s, c, zero), (zero, zero, one))
    else:
        raise ValueError(f"axis must be one of 'X', 'Y', 'Z', got {axis!r}")
    return jnp.stack([jnp.stack(row, axis=-1) for row in rows], axis=-2)
