"""SO(3): hat / vee, exponential and logarithm maps, rotation angles (PyTorch3D's names).

Matrices act on column vectors (`so3_exp_map(w) @ x` rotates x by |w| about w / |w|), as in
PyTorch3D. Unlike PyTorch3D, which clamps the angle below 1e-2 and takes `acos` of the trace,
these maps use Taylor series near the identity and quaternion / `atan2` formulas elsewhere, so
they are accurate to float32 resolution and have finite gradients at every angle in [0, pi],
including the identity and pi itself. Every function broadcasts over leading dimensions `...`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jax3d.safe_math import safe_norm
from jax3d.transforms.rotation_conversions import (
    _as_float,
    _hat,
    _rodrigues,
    matrix_to_quaternion,
)

__all__ = [
    "hat",
    "hat_inv",
    "so3_exp_map",
    "so3_exponential_map",
    "so3_log_map",
    "so3_relative_angle",
    "so3_rotation_angle",
]

HAT_INV_SKEW_SYMMETRIC_TOL = 1e-5


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def hat(v: jax.Array) -> jax.Array:
    """The hat operator: skew-symmetric matrices with `hat(v) @ u = cross(v, u)`.

    Args:
        v: (..., 3) float32 vectors (PyTorch3D uses (N, 3)).

    Returns:
        (..., 3, 3) float32: `[[0, -z, y], [z, 0, -x], [-y, x, 0]]`.
    """
    return _hat(_as_float("v", v, (3,)))


def hat_inv(h: jax.Array) -> jax.Array:
    """Inverse of `hat`: `(h[2, 1], h[0, 2], h[1, 0])`.

    Args:
        h: (..., 3, 3) float32 skew-symmetric matrices. When `h` is concrete (not traced) and
            `|h + h^T| > 1e-5` anywhere, a ValueError is raised, as in PyTorch3D.

    Returns:
        (..., 3) float32 vectors.
    """
    h = _as_float("h", h, (3, 3))
    if _is_concrete(h) and h.size:
        err = float(jnp.max(jnp.abs(h + jnp.swapaxes(h, -1, -2))))
        if err > HAT_INV_SKEW_SYMMETRIC_TOL:
            raise ValueError(f"h must be skew-symmetric, |h + h^T| reaches {err:.3g}")
    return jnp.stack([h[..., 2, 1], h[..., 0, 2], h[..., 1, 0]], axis=-1)


def so3_exp_map(log_rot: jax.Array, eps: float = 1e-4) -> jax.Array:
    """Exponential map so(3) -> SO(3) (Rodrigues' formula, Taylor series near 0).

    Args:
        log_rot: (..., 3) float32 axis-angle vectors `angle * unit_axis`.
        eps: accepted for PyTorch3D compatibility; unused (the series makes no clamp needed).

    Returns:
        (..., 3, 3) float32 rotation matrices `R = exp(hat(log_rot))`.
    """
    del eps
    return _rodrigues(_as_float("log_rot", log_rot, (3,)))


def so3_exponential_map(log_rot: jax.Array, eps: float = 1e-4) -> jax.Array:
    """PyTorch3D's deprecated name of :func:`so3_exp_map`."""
    return so3_exp_map(log_rot, eps)


def so3_log_map(R: jax.Array, eps: float = 1e-4, cos_bound: float = 1e-4) -> jax.Array:
    """Logarithm map SO(3) -> so(3), with the rotation angle in [0, pi].

    Computed through the best-conditioned quaternion: `log = 2 atan2(|v|, w) v / |v|` with
    `(w, v) = matrix_to_quaternion(R)`, `w >= 0`, and a Taylor series for small |v|. Accurate
    (float32 error ~1e-6) and differentiable at the identity, near pi and at pi.

    Args:
        R: (..., 3, 3) float32 rotation matrices. When concrete, a ValueError is raised if a
            trace lies outside [-1 - eps, 3 + eps], as in PyTorch3D.
        eps: tolerance of that trace check.
        cos_bound: accepted for PyTorch3D compatibility; unused (no `acos` is taken).

    Returns:
        (..., 3) float32 axis-angle vectors `w` with `so3_exp_map(w) == R`.
    """
    del cos_bound
    R = _check_rotation_trace("R", R, eps)
    q = matrix_to_quaternion(R)
    w, v = q[..., :1], q[..., 1:]
    n2 = jnp.sum(v * v, axis=-1, keepdims=True)
    small = n2 < 1e-4  # |v| < 1e-2: w ~ 1, series in x = |v| / w (error ~ x^6 / 7)
    w_safe = jnp.where(small, jnp.maximum(w, 1e-3), 1.0)  # w ~ 1 for any rotation here
    x2 = n2 / (w_safe * w_safe)
    taylor = 2.0 / w_safe * (1.0 - x2 / 3.0 + x2 * x2 / 5.0)
    n = jnp.sqrt(jnp.where(small, 1.0, n2))
    direct = 2.0 * jnp.arctan2(n, w) / n
    return v * jnp.where(small, taylor, direct)


def _check_rotation_trace(name: str, R, eps: float) -> jax.Array:
    R = _as_float(name, R, (3, 3))
    if _is_concrete(R) and R.size:
        tr = jnp.trace(R, axis1=-2, axis2=-1)
        if bool(jnp.any((tr < -1.0 - eps) | (tr > 3.0 + eps))):
            raise ValueError(f"{name}: a trace lies outside [-1, 3], not a rotation matrix")
    return R


def so3_rotation_angle(
    R: jax.Array, eps: float = 1e-4, cos_angle: bool = False, cos_bound: float = 1e-4
) -> jax.Array:
    """Rotation angles in [0, pi] (or their cosines) of rotation matrices.

    The angle is `atan2(|vee(R - R^T)| / 2, (trace(R) - 1) / 2)`, which is accurate at every
    angle and has finite gradients at 0 and pi (PyTorch3D's `acos` of the trace loses half the
    float32 digits near 0 and pi and needs `cos_bound`).

    Args:
        R: (..., 3, 3) float32 rotation matrices; concrete inputs with a trace outside
            [-1 - eps, 3 + eps] raise a ValueError, as in PyTorch3D.
        eps: tolerance of that trace check.
        cos_angle: return `cos(angle) = (trace(R) - 1) / 2` instead of the angle.
        cos_bound: accepted for PyTorch3D compatibility; unused.

    Returns:
        (...) float32 angles in radians (or cosines).
    """
    del cos_bound
    R = _check_rotation_trace("R", R, eps)
    cos = 0.5 * (jnp.trace(R, axis1=-2, axis2=-1) - 1.0)
    if cos_angle:
        return cos
    skew = R - jnp.swapaxes(R, -1, -2)
    sin = 0.5 * safe_norm(jnp.stack([skew[..., 2, 1], skew[..., 0, 2], skew[..., 1, 0]], -1))
    return jnp.arctan2(sin, cos)


def so3_relative_angle(
    R1: jax.Array,
    R2: jax.Array,
    cos_angle: bool = False,
    cos_bound: float = 1e-4,
    eps: float = 1e-4,
) -> jax.Array:
    """Angles of the relative rotations `R1 @ R2^T`.

    Args:
        R1: (..., 3, 3) float32 rotation matrices.
        R2: (..., 3, 3) float32, broadcastable with R1.
        cos_angle, cos_bound, eps: as for `so3_rotation_angle`.

    Returns:
        (...) float32 angles in [0, pi] (or cosines).
    """
    R1 = _as_float("R1", R1, (3, 3))
    R2 = _as_float("R2", R2, (3, 3))
    R12 = R1 @ jnp.swapaxes(R2, -1, -2)
    return so3_rotation_angle(R12, eps=eps, cos_angle=cos_angle, cos_bound=cos_bound)

