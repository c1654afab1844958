"""SE(3) exponential and logarithm maps in PyTorch3D's layout.

A 4x4 SE(3) matrix acts on row vectors, `[x, 1] @ M`, as `Transform3d` does:

    M = [[R^T, 0],
         [T,   1]]        with R = so3_exp_map(log_rotation) (column convention), so x -> x R^T + T

and its logarithm is the 6-vector `[log_translation, log_rotation]` (translation part first),
with `T = V(log_rotation) @ log_translation`, V the left Jacobian of SO(3). The coefficients of
V and of its closed-form inverse use Taylor series near 0, so both maps are accurate and
differentiable at the identity and for rotation angles up to pi.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jax3d.transforms.math import (
    half_x_cot_half_x_coefficient,
    one_minus_cos_over_x2,
    x_minus_sin_over_x3,
)
from jax3d.transforms.rotation_conversions import _as_float, _hat, _rodrigues
from jax3d.transforms.so3 import _is_concrete, so3_log_map

__all__ = ["se3_exp_map", "se3_log_map"]


def _se3_v_matrix(log_rotation: jax.Array) -> jax.Array:
    """Left Jacobian `V = I + (1 - cos t)/t^2 K + (t - sin t)/t^3 K^2`: (..., 3) -> (..., 3, 3)."""
    t2 = jnp.sum(log_rotation * log_rotation, axis=-1)[..., None, None]
    k = _hat(log_rotation)
    eye = jnp.eye(3, dtype=log_rotation.dtype)
    return eye + one_minus_cos_over_x2(t2) * k + x_minus_sin_over_x3(t2) * (k @ k)


def _se3_v_inverse(log_rotation: jax.Array) -> jax.Array:
    """`V^-1 = I - K/2 + (1 - (t/2) cot(t/2))/t^2 K^2` for angles t < 2 pi."""
    t2 = jnp.sum(log_rotation * log_rotation, axis=-1)[..., None, None]
    k = _hat(log_rotation)
    eye = jnp.eye(3, dtype=log_rotation.dtype)
    return eye - 0.5 * k + half_x_cot_half_x_coefficient(t2) * (k @ k)


def se3_exp_map(log_transform: jax.Array, eps: float = 1e-4) -> jax.Array:
    """Exponential map se(3) -> SE(3), PyTorch3D's row-vector layout.

    Args:
        log_transform: (..., 6) float32 `[log_translation, log_rotation]` (PyTorch3D: (N, 6)).
        eps: accepted for PyTorch3D compatibility; unused (Taylor series need no clamp).

    Returns:
        (..., 4, 4) float32 `M` with `M[..., :3, :3] = so3_exp_map(log_rotation)^T`,
        `M[..., 3, :3] = V(log_rotation) @ log_translation`, `M[..., :3, 3] = 0` and
        `M[..., 3, 3] = 1`.
    """
    del eps
    log_transform = _as_float("log_transform", log_transform, (6,))
    v, w = log_transform[..., :3], log_transform[..., 3:]
    R = _rodrigues(w)
    T = jnp.einsum("...ij,...j->...i", _se3_v_matrix(w), v)
    top = jnp.concatenate([jnp.swapaxes(R, -1, -2), jnp.zeros_like(R[..., :1])], axis=-1)
    bottom = jnp.concatenate([T, jnp.ones_like(T[..., :1])], axis=-1)[..., None, :]
    return jnp.concatenate([top, bottom], axis=-2)


def se3_log_map(transform: jax.Array, eps: float = 1e-4, cos_bound: float = 1e-4) -> jax.Array:
    """Logarithm map SE(3) -> se(3), inverse of `se3_exp_map` (rotation angle in [0, pi]).

    Args:
        transform: (..., 4, 4) float32 SE(3) matrices in the row-vector layout above. When
            concrete, a ValueError is raised unless `transform[..., :3, 3]` is 0, as in PyTorch3D.
        eps: tolerance of the rotation trace check (see `so3_log_map`).
        cos_bound: accepted for PyTorch3D compatibility; unused.

    Returns:
        (..., 6) float32 `[log_translation, log_rotation]`.
    """
    transform = _as_float("transform", transform, (4, 4))
    if _is_concrete(transform) and transform.size:
        if float(jnp.max(jnp.abs(transform[..., :3, 3]))) != 0.0:
            raise ValueError("transform[..., :3, 3] must be 0 (row-vector layout: T is row 3)")
    R = jnp.swapaxes(transform[..., :3, :3], -1, -2)
    w = so3_log_map(R, eps=eps, cos_bound=cos_bound)
    T = transform[..., 3, :3]
    v = jnp.einsum("...ij,...j->...i", _se3_v_inverse(w), T)
    return jnp.concatenate([v, w], axis=-1)
