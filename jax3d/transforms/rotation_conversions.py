"""Conversions between rotation representations, with PyTorch3D's names and conventions.

Matrices act on column vectors (`x' = R @ x`), as in PyTorch3D's `rotation_conversions`;
quaternions are real-first `(w, x, y, z)`; axis-angle vectors are `angle * unit_axis`.
Every function broadcasts over arbitrary leading batch dimensions `...`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.device import device_put
from jax3d.prng import require_key
from jax3d.safe_math import safe_norm, safe_normalize, safe_sqrt
from jax3d.transforms.math import one_minus_cos_over_x2, sin_over_x

__all__ = [
    "axis_angle_to_matrix",
    "axis_angle_to_quaternion",
    "euler_angles_to_matrix",
    "matrix_to_axis_angle",
    "matrix_to_euler_angles",
    "matrix_to_quaternion",
    "matrix_to_rotation_6d",
    "quaternion_apply",
    "quaternion_invert",
    "quaternion_multiply",
    "quaternion_raw_multiply",
    "quaternion_to_axis_angle",
    "quaternion_to_matrix",
    "random_quaternions",
    "random_rotation",
    "random_rotations",
    "rotation_6d_to_matrix",
    "standardize_quaternion",
]

_AXES = "XYZ"
# Quaternions whose largest |component| is below this count as the zero quaternion.
_ZERO_QUATERNION = 1e-30


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


# ---------------------------------------------------------------- validation helpers


def _as_float(name: str, x, last_shape: tuple[int, ...]) -> jax.Array:
    """`x` as a float array whose trailing dims are `last_shape`, else a ValueError naming it."""
    x = jnp.asarray(x)
    k = len(last_shape)
    if x.ndim < k or x.shape[x.ndim - k :] != last_shape:
        dims = ", ".join(str(d) for d in last_shape)
        raise ValueError(f"{name} must be (..., {dims}), got {x.shape}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.float32)
    return x


def _check_convention(convention: str) -> str:
    if (
        not isinstance(convention, str)
        or len(convention) != 3
        or any(c not in _AXES for c in convention)
        or convention[1] in (convention[0], convention[2])
    ):
        raise ValueError(
            "convention must be 3 letters from 'XYZ' with the middle one differing from its "
            f"neighbours (e.g. 'XYZ', 'ZYX', 'ZXZ'), got {convention!r}"
        )
    return convention


# ---------------------------------------------------------------- quaternions


def quaternion_to_matrix(quaternions: jax.Array) -> jax.Array:
    """Rotation matrices from quaternions (normalised internally).

    The rotation does not depend on the quaternion's scale. The zero quaternion, which is no
    rotation at all (PyTorch3D returns NaN for it), maps to the identity matrix with a zero
    gradient: a documented choice that keeps values and gradients finite, e.g. for a network
    that outputs unnormalised quaternions. Any non-zero quaternion, however small, gives its
    exact rotation (finite gradients down to |q| ~ 1e-30, below which it counts as zero).

    Args:
        quaternions: (..., 4) float32, real part first `(w, x, y, z)`.

    Returns:
        (..., 3, 3) float32 rotation matrices (column-vector convention).
    """
    q = _as_float("quaternions", quaternions, (4,))
    # Rescale by the largest |component| first, so tiny (or huge) quaternions neither underflow
    # nor overflow in |q|^2. The scale is held constant for differentiation, which is exact
    # because the rotation is scale-invariant: grad R(q / c) = grad R(q) for any fixed c > 0.
    scale = jax.lax.stop_gradient(jnp.max(jnp.abs(q), axis=-1, keepdims=True))
    zero = scale < _ZERO_QUATERNION
    q = q / jnp.where(zero, 1.0, scale)
    w, x, y, z = jnp.moveaxis(q, -1, 0)
    norm2 = jnp.sum(q * q, axis=-1)  # in [1, 4] unless zero
    two_s = jnp.where(zero[..., 0], 0.0, 2.0 / jnp.where(zero[..., 0], 1.0, norm2))
    rows = (
        (1 - two_s * (y * y + z * z), two_s * (x * y - z * w), two_s * (x * z + y * w)),
        (two_s * (x * y + z * w), 1 - two_s * (x * x + z * z), two_s * (y * z - x * w)),
        (two_s * (x * z - y * w), two_s * (y * z + x * w), 1 - two_s * (x * x + y * y)),
    )
    return jnp.stack([jnp.stack(r, axis=-1) for r in rows], axis=-2)


def standardize_quaternion(quaternions: jax.Array) -> jax.Array:
    """Quaternions with a non-negative real part (`q` and `-q` are the same rotation).

    Args:
        quaternions: (..., 4) float32, real part first.

    Returns:
        (..., 4) float32 with `out[..., 0] >= 0`.
    """
    q = _as_float("quaternions", quaternions, (4,))
    return jnp.where(q[..., :1] < 0, -q, q)


def quaternion_raw_multiply(a: jax.Array, b: jax.Array) -> jax.Array:
    """Hamilton product `a * b` (the rotation `b` followed by `a`), not standardised.

    Args:
        a: (..., 4) float32, real part first.
        b: (..., 4) float32, broadcastable with `a`.

    Returns:
        (..., 4) float32.
    """
    a = _as_float("a", a, (4,))
    b = _as_float("b", b, (4,))
    aw, ax, ay, az = jnp.moveaxis(a, -1, 0)
    bw, bx, by, bz = jnp.moveaxis(b, -1, 0)
    ow = aw * bw - ax * bx - ay * by - az * bz
    ox = aw * bx + ax * bw + ay * bz - az * by
    oy = aw * by - ax * bz + ay * bw + az * bx
    oz = aw * bz + ax * by - ay * bx + az * bw
    return jnp.stack([ow, ox, oy, oz], axis=-1)


def quaternion_multiply(a: jax.Array, b: jax.Array) -> jax.Array:
    """Hamilton product `a * b`, standardised to a non-negative real part.

    Args:
        a: (..., 4) float32, real part first.
        b: (..., 4) float32, broadcastable with `a`.

    Returns:
        (..., 4) float32.
    """
    return standardize_quaternion(quaternion_raw_multiply(a, b))


def quaternion_invert(quaternion: jax.Array) -> jax.Array:
    """Inverse of unit quaternions (the conjugate `(w, -x, -y, -z)`).

    Args:
        quaternion: (..., 4) float32 unit quaternions, real part first.

    Returns:
        (..., 4) float32.
    """
    q = _as_float("quaternion", quaternion, (4,))
    return q * jnp.array([1.0, -1.0, -1.0, -1.0], q.dtype)


def quaternion_apply(quaternion: jax.Array, point: jax.Array) -> jax.Array:
    """Rotate points by unit quaternions: `q * (0, p) * q^-1`.

    Args:
        quaternion: (..., 4) float32 unit quaternions, real part first.
        point: (..., 3) float32, broadcastable with `quaternion[..., :3]`.

    Returns:
        (..., 3) float32 rotated points.
    """
    q = _as_float("quaternion", quaternion, (4,))
    p = _as_float("point", point, (3,))
    p4 = jnp.concatenate([jnp.zeros_like(p[..., :1]), p], axis=-1)
    out = quaternion_raw_multiply(quaternion_raw_multiply(q, p4), quaternion_invert(q))
    return out[..., 1:]


def matrix_to_quaternion(matrix: jax.Array) -> jax.Array:
    """Quaternions from rotation matrices, standardised (`w >= 0`).

    Of the four algebraically equivalent formulas (one per largest component) the best
    conditioned is chosen per matrix, so the result is accurate for every rotation angle.

    Args:
        matrix: (..., 3, 3) float32 rotation matrices (column-vector convention).

    Returns:
        (..., 4) float32, real part first.
    """
    m = _as_float("matrix", matrix, (3, 3))
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # 4 |q_k|^2 for k = w, x, y, z.
    sq = jnp.stack(
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22],
        axis=-1,
    )
    q_abs = safe_sqrt(sq)
    sq = jnp.maximum(sq, 0.0)
    # Row k is 4 q_k q; dividing by 4 |q_k| gives q (up to sign) from the k-th formula.
    cands = jnp.stack(
        [
            jnp.stack([sq[..., 0], m21 - m12, m02 - m20, m10 - m01], axis=-1),
            jnp.stack([m21 - m12, sq[..., 1], m10 + m01, m02 + m20], axis=-1),
            jnp.stack([m02 - m20, m10 + m01, sq[..., 2], m12 + m21], axis=-1),
            jnp.stack([m10 - m01, m20 + m02, m21 + m12, sq[..., 3]], axis=-1),
        ],
        axis=-2,
    )
    cands = cands / (2.0 * jnp.maximum(q_abs, 0.1))[..., None]
    best = jnp.argmax(q_abs, axis=-1)
    out = jnp.take_along_axis(cands, best[..., None, None], axis=-2)[..., 0, :]
    return standardize_quaternion(out)


def random_quaternions(n: int, dtype=None, device=None, *, key: jax.Array) -> jax.Array:
    """Uniformly distributed unit quaternions, standardised (`w >= 0`).

    Args:
        n: number of quaternions (static).
        dtype: float dtype (None: float32).
        device: placement (``jax3d.device`` meaning; None: JAX's default).
        key: a `jax.random` key (required, keyword-only: PyTorch3D's positional
            parameters keep their places).

    Returns:
        (n, 4) unit quaternions, real part first.
    """
    key = require_key(key, "random_quaternions")
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    o = jax.random.normal(key, (int(n), 4), dtype=jnp.float32 if dtype is None else dtype)
    o = o / safe_norm(o, keepdims=True)
    return device_put(standardize_quaternion(o), device)


def random_rotations(n: int, dtype=None, device=None, *, key: jax.Array) -> jax.Array:
    """Uniformly distributed (Haar) rotation matrices.

    Args:
        n: number of rotations (static).
        dtype: float dtype (None: float32); device: placement (``jax3d.device`` meaning).
        key: a `jax.random` key (required, keyword-only).

    Returns:
        (n, 3, 3) rotation matrices.
    """
    key = require_key(key, "random_rotations")
    return device_put(quaternion_to_matrix(random_quaternions(n, dtype, key=key)), device)


def random_rotation(dtype=None, device=None, *, key: jax.Array) -> jax.Array:
    """One uniformly distributed rotation matrix: (3, 3); ``key=`` is required."""
    key = require_key(key, "random_rotation")
    return random_rotations(1, dtype, device, key=key)[0]


# ---------------------------------------------------------------- axis-angle


def axis_angle_to_quaternion(axis_angle: jax.Array) -> jax.Array:
    """Quaternions from axis-angle vectors `angle * unit_axis` (not standardised).

    Args:
        axis_angle: (..., 3) float32; the norm is the angle in radians (right hand rule).

    Returns:
        (..., 4) float32 unit quaternions, real part first.
    """
    aa = _as_float("axis_angle", axis_angle, (3,))
    angle2 = jnp.sum(aa * aa, axis=-1, keepdims=True)
    # sin(angle / 2) / angle = 0.5 * sin_over_x((angle / 2)^2)
    half2 = 0.25 * angle2
    w = jnp.cos(safe_sqrt(half2))
    return jnp.concatenate([w, aa * 0.5 * sin_over_x(half2)], axis=-1)


def quaternion_to_axis_angle(quaternions: jax.Array) -> jax.Array:
    """Axis-angle vectors from unit quaternions, as PyTorch3D: angle `2 atan2(|v|, w)`.

    A quaternion with `w < 0` gives an angle in (pi, 2 pi], as in PyTorch3D (standardise it
    first for an angle in [0, pi]); the degenerate `w = -1` gives the zero vector. The result
    does not depend on the quaternion's scale; the zero quaternion gives the zero vector (the
    identity, as in `quaternion_to_matrix`), with finite gradients.

    Args:
        quaternions: (..., 4) float32, real part first.

    Returns:
        (..., 3) float32 axis-angle vectors.
    """
    q = _as_float("quaternions", quaternions, (4,))
    # Scale-invariant: rescale by the largest |component| (constant for differentiation, see
    # quaternion_to_matrix) so that atan2 below never sees (0, 0) or underflowing inputs.
    scale = jax.lax.stop_gradient(jnp.max(jnp.abs(q), axis=-1, keepdims=True))
    zero = scale < _ZERO_QUATERNION
    identity = jnp.array([1.0, 0.0, 0.0, 0.0], q.dtype)
    q = jnp.where(zero, identity, q / jnp.where(zero, 1.0, scale))
    # |q| is now in [1, 2]: normalising is safe, and makes the formula below (which assumes a
    # unit quaternion, |v| = sin(angle / 2)) exact for any scale. Unit input is unchanged.
    q = q / jnp.sqrt(jnp.sum(q * q, axis=-1, keepdims=True))
    v = q[..., 1:]
    norm = safe_norm(v, keepdims=True)
    half = jnp.arctan2(norm, q[..., :1])
    # angle / sin(angle / 2) = 2 / sin_over_x(half^2); at half = pi it is infinite (degenerate).
    s = sin_over_x(half * half)
    degenerate = s < 1e-6
    return v * jnp.where(degenerate, 0.0, 2.0 / jnp.where(degenerate, 1.0, s))


def axis_angle_to_matrix(axis_angle: jax.Array, fast: bool = False) -> jax.Array:
    """Rotation matrices from axis-angle vectors (Rodrigues' formula, exact near 0).

    Args:
        axis_angle: (..., 3) float32; the norm is the angle in radians.
        fast: PyTorch3D's choice between Rodrigues' formula and a path through quaternions;
            both give the same matrices, and jax3d always uses the (NaN-safe) formula.

    Returns:
        (..., 3, 3) float32 rotation matrices (column-vector convention).
    """
    del fast
    aa = _as_float("axis_angle", axis_angle, (3,))
    return _rodrigues(aa)


def _rodrigues(w: jax.Array) -> jax.Array:
    """`exp(hat(w)) = I + sin(t)/t K + (1 - cos t)/t^2 K^2`, t = |w|; w: (..., 3)."""
    t2 = jnp.sum(w * w, axis=-1)[..., None, None]
    k = _hat(w)
    eye = jnp.eye(3, dtype=w.dtype)
    return eye + sin_over_x(t2) * k + one_minus_cos_over_x2(t2) * (k @ k)


def _hat(v: jax.Array) -> jax.Array:
    """Cross-product matrices, `_hat(v) @ u = cross(v, u)`: (..., 3) -> (..., 3, 3)."""
    x, y, z = jnp.moveaxis(v, -1, 0)
    zero = jnp.zeros_like(x)
    rows = ((zero, -z, y), (z, zero, -x), (-y, x, zero))
    return jnp.stack([jnp.stack(r, axis=-1) for r in rows], axis=-2)


def matrix_to_axis_angle(matrix: jax.Array, fast: bool = False) -> jax.Array:
    """Axis-angle vectors (angle in [0, pi]) from rotation matrices, via quaternions.

    Args:
        matrix: (..., 3, 3) float32 rotation matrices (column-vector convention).
        fast: PyTorch3D's choice of a faster, less accurate path near pi; jax3d always takes
            the accurate path through quaternions (the result is the same up to rounding).

    Returns:
        (..., 3) float32 axis-angle vectors.
    """
    del fast
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


# ---------------------------------------------------------------- Euler angles


def euler_angles_to_matrix(euler_angles: jax.Array, convention: str) -> jax.Array:
    """Rotation matrices from Euler angles: `R = R_c0(a0) @ R_c1(a1) @ R_c2(a2)`.

    Args:
        euler_angles: (..., 3) float32 radians, one per letter of `convention`.
        convention: 3 letters from "XYZ", e.g. "XYZ", "ZYX" (Tait-Bryan) or "ZXZ" (proper
            Euler); the middle letter differs from its neighbours (12 conventions).

    Returns:
        (..., 3, 3) float32 rotation matrices (column-vector convention).
    """
    e = _as_float("euler_angles", euler_angles, (3,))
    convention = _check_convention(convention)
    mats = [_axis_angle_rotation(c, e[..., i]) for i, c in enumerate(convention)]
    return mats[0] @ mats[1] @ mats[2]


def matrix_to_euler_angles(matrix: jax.Array, convention: str) -> jax.Array:
    """Euler angles from rotation matrices, inverting `euler_angles_to_matrix`.

    Ranges as PyTorch3D: first and last angle in (-pi, pi]; the middle one in [-pi/2, pi/2]
    for Tait-Bryan conventions ("XYZ", ...) and in [0, pi] for proper Euler ones ("ZXZ", ...).
    At gimbal lock (cos or sin of the middle angle below 1e-6) the last angle is set to 0 and
    the first one carries the whole rotation about the locked axis. The middle angle is
    computed with atan2 (not asin / acos), so it stays accurate and its gradient finite near
    the poles.

    Args:
        matrix: (..., 3, 3) float32 rotation matrices (column-vector convention).
        convention: as for `euler_angles_to_matrix`.

    Returns:
        (..., 3) float32 radians.
    """
    m = _as_float("matrix", matrix, (3, 3))
    convention = _check_convention(convention)
    i, j = _AXES.index(convention[0]), _AXES.index(convention[1])
    k = _AXES.index(convention[2])
    h = 3 - i - j  # the axis that is not i or j
    s = 1.0 if (j - i) % 3 == 1 else -1.0  # e_i x e_j = s e_h
    if i != k:  # Tait-Bryan (k == h): middle in [-pi/2, pi/2]
        off = _hypot(m[..., i, i], m[..., i, j])  # cos(middle)
        middle = jnp.arctan2(s * m[..., i, k], off)
        first_yx = (-s * m[..., j, k], m[..., k, k])
        last_yx = (-s * m[..., i, j], m[..., i, i])
    else:  # proper Euler R_i R_j R_i: middle in [0, pi]
        off = _hypot(m[..., i, j], m[..., i, h])  # sin(middle)
        middle = jnp.arctan2(off, m[..., i, i])
        first_yx = (m[..., j, i], -s * m[..., h, i])
        last_yx = (m[..., i, j], s * m[..., i, h])
    # Gimbal lock: only first + last (or first - last) is determined; take last = 0, so
    # R = R_i(first) R_j(middle) and R e_j = R_i(first) e_j = cos e_j + sin s e_h.
    lock = off < 1e-6
    first = jnp.where(
        lock, _masked_atan2(s * m[..., h, j], m[..., j, j], ~lock), _masked_atan2(*first_yx, lock)
    )
    last = jnp.where(lock, 0.0, _masked_atan2(*last_yx, lock))
    return jnp.stack([first, middle, last], axis=-1)


def _masked_atan2(y: jax.Array, x: jax.Array, masked: jax.Array) -> jax.Array:
    """atan2(y, x) where not `masked`, else 0 with zero gradient (double-where)."""
    return jnp.where(masked, 0.0, jnp.arctan2(jnp.where(masked, 0.0, y), jnp.where(masked, 1.0, x)))


def _hypot(a: jax.Array, b: jax.Array) -> jax.Array:
    return safe_sqrt(a * a + b * b)


# ---------------------------------------------------------------- 6D representation


def rotation_6d_to_matrix(d6: jax.Array) -> jax.Array:
    """Rotation matrices from the 6D representation of Zhou et al. (CVPR 2019).

    Gram-Schmidt on the two 3-vectors gives the first two *rows* of the matrix, their cross
    product the third, as in PyTorch3D.

    Args:
        d6: (..., 6) float32.

    Returns:
        (..., 3, 3) float32 rotation matrices.
    """
    d6 = _as_float("d6", d6, (6,))
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = safe_normalize(a1)
    b2 = safe_normalize(a2 - jnp.sum(b1 * a2, axis=-1, keepdims=True) * b1)
    b3 = jnp.cross(b1, b2)
    return jnp.stack([b1, b2, b3], axis=-2)


def matrix_to_rotation_6d(matrix: jax.Array) -> jax.Array:
    """The 6D representation: the first two rows of the matrix, flattened.

    Args:
        matrix: (..., 3, 3) float32 rotation matrices.

    Returns:
        (..., 6) float32.
    """
    m = _as_float("matrix", matrix, (3, 3))
    return m[..., :2, :].reshape(m.shape[:-2] + (6,))
