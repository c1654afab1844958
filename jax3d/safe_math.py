"""NaN-safe elementwise helpers shared by the whole library (the double-`where` trick).

Each helper is finite in value *and* gradient at its singular point: the unsafe branch only ever
sees a harmless stand-in input where the safe branch is taken, so no inf/NaN can leak into the
gradient through the branch that is masked out::

    x_safe = jnp.where(small, 1.0, x)
    y = jnp.where(small, fallback, f(x_safe))

Keep new helpers of this kind here, so there is one place to look for them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = [
    "DEFAULT_DIVISOR_EPS",
    "homogeneous_divide",
    "safe_divide",
    "safe_eigh",
    "safe_norm",
    "safe_normalize",
    "safe_reciprocal",
    "safe_sqrt",
    "safe_svd",
]

# The smallest magnitude `homogeneous_divide` gives a divisor when no `eps` is passed. Only
# points within 1e-8 of a camera plane are affected (where an exact divide gives inf or NaN);
# 1 / 1e-8 leaves float32 ample headroom (max 3.4e38) for the products that follow.
DEFAULT_DIVISOR_EPS = 1e-8


def safe_sqrt(x: jax.Array, tiny: float = 0.0) -> jax.Array:
    """`sqrt(max(x, 0))` with zero (not inf) gradient where `x <= tiny`.

    Args:
        x: (...) float array.
        tiny: threshold at and below which the result is 0 and the gradient is 0.

    Returns:
        (...) float array.
    """
    positive = x > tiny
    x_safe = jnp.where(positive, x, 1.0)
    return jnp.where(positive, jnp.sqrt(x_safe), 0.0)


def safe_norm(x: jax.Array, axis: int = -1, keepdims: bool = False) -> jax.Array:
    """Euclidean norm along `axis` whose gradient at the zero vector is 0 instead of NaN.

    Args:
        x: (..., D) float array.
        axis: axis to reduce.
        keepdims: keep the reduced axis with size 1.

    Returns:
        (...) float array (or (..., 1) with `keepdims`).
    """
    return safe_sqrt(jnp.sum(x * x, axis=axis, keepdims=keepdims))


def safe_normalize(x: jax.Array, axis: int = -1, eps: float = 1e-12) -> jax.Array:
    """`x / max(|x|, eps)` along `axis` (PyTorch's `F.normalize`), finite in value and gradient.

    Args:
        x: (..., D) float array.
        axis: axis holding the vector components.
        eps: lower bound on the norm; the zero vector maps to the zero vector.

    Returns:
        (..., D) float array of unit (or zero) vectors.
    """
    norm = safe_norm(x, axis=axis, keepdims=True)
    return x / jnp.maximum(norm, eps)


def safe_reciprocal(x: jax.Array) -> jax.Array:
    """1 / x where x > 0, else 0 (PyTorch3D's `inv[x > 0] = 1 / x[x > 0]`), NaN-free."""
    pos = x > 0
    return jnp.where(pos, 1.0 / jnp.where(pos, x, 1.0), 0.0)


def safe_divide(num: jax.Array, den: jax.Array) -> jax.Array:
    """num / den where den != 0, else 0, with finite gradients."""
    ok = den != 0
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), 0.0)


def homogeneous_divide(xyz: jax.Array, w: jax.Array, eps: float | None = None) -> jax.Array:
    """`xyz / w` with the divisor's magnitude clamped: `w -> sign(w) max(|w|, eps)`.

    PyTorch3D's `Transform3d.transform_points(points, eps)` rule (a zero `w` counts as
    positive). `eps=None` uses `DEFAULT_DIVISOR_EPS` (1e-8) instead of dividing exactly, so a
    point on the camera plane (view depth 0) gives large but finite coordinates and finite
    gradients instead of inf / NaN; everywhere else (|w| >= 1e-8) the result is exact.
    Where the clamp is active the gradient with respect to `w` is 0.

    Args:
        xyz: (..., D) float array, the non-homogeneous coordinates.
        w: (..., 1) float array broadcastable with `xyz`, the homogeneous coordinate.
        eps: lower bound on |w| (a static Python float), or None for the default.

    Returns:
        (..., D) float array.
    """
    eps = DEFAULT_DIVISOR_EPS if eps is None else eps
    sign = jnp.where(w >= 0.0, 1.0, -1.0).astype(w.dtype)
    return xyz / (sign * jnp.maximum(jnp.abs(w), eps))


# ---------------------------------------------------------------- decompositions
# Eigen- or singular values closer than this (relative to the largest) count as repeated.
_GAP_RTOL = 1e-6


def _inverse_gaps(gaps: jax.Array, scale: jax.Array) -> jax.Array:
    """`1 / gaps` off the diagonal; 0 on it and where `|gap| <= _GAP_RTOL * scale`.

    gaps: (..., n, n); scale: (...) non-negative (the size of the values that were subtracted).
    """
    n = gaps.shape[-1]
    tiny = jnp.finfo(gaps.dtype).tiny
    small = jnp.eye(n, dtype=bool) | (jnp.abs(gaps) <= _GAP_RTOL * scale[..., None, None] + tiny)
    return jnp.where(small, 0.0, 1.0 / jnp.where(small, 1.0, gaps))


def _mT(x: jax.Array) -> jax.Array:
    return jnp.swapaxes(x, -1, -2)


@jax.custom_jvp
def safe_eigh(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    """`jnp.linalg.eigh` of real symmetric matrices with finite gradients at repeated eigenvalues.

    The eigenvector derivative has the terms `1 / (w_j - w_i)`, infinite when two eigenvalues
    coincide (e.g. the covariance of coincident or collinear points); there the eigenvectors
    are not unique and those terms are set to 0 (for gaps below 1e-6 of the largest |w|).
    Elsewhere the derivative is exact.

    Args:
        a: (..., n, n) float symmetric matrices.

    Returns:
        `(w (..., n) ascending eigenvalues, v (..., n, n) eigenvectors in columns)`.
    """
    w, v = jnp.linalg.eigh(a)
    return w, v


@safe_eigh.defjvp
def _safe_eigh_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    w, v = jnp.linalg.eigh(a)
    da = 0.5 * (da + _mT(da))
    vdv = _mT(v) @ da @ v
    f = _inverse_gaps(w[..., None, :] - w[..., :, None], jnp.max(jnp.abs(w), axis=-1))
    return (w, v), (jnp.diagonal(vdv, axis1=-2, axis2=-1), v @ (f * vdv))


@jax.custom_jvp
def safe_svd(a: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """`jnp.linalg.svd(a, full_matrices=False)` of real square matrices, with finite gradients
    at repeated (or zero) singular values.

    The derivative of `u` and `vt` has the terms `1 / (s_j^2 - s_i^2)`, infinite for repeated
    singular values (e.g. the cross-covariance of coincident points, which is 0); there the
    singular vectors are not unique and those terms are set to 0 (for gaps below 1e-6 of the
    largest s^2). Elsewhere the derivative is exact.

    Args:
        a: (..., n, n) float matrices.

    Returns:
        `(u (..., n, n), s (..., n) descending, vt (..., n, n))` with `a = u diag(s) vt`.
    """
    u, s, vt = jnp.linalg.svd(a, full_matrices=False)
    return u, s, vt


@safe_svd.defjvp
def _safe_svd_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    if a.shape[-1] != a.shape[-2]:
        raise ValueError(f"safe_svd takes square matrices, got {a.shape}")
    u, s, vt = jnp.linalg.svd(a, full_matrices=False)
    v = _mT(vt)
    ds_mat = _mT(u) @ da @ v
    s_row = s[..., None, :]
    f = _inverse_gaps((s_row + _mT(s_row)) * (s_row - _mT(s_row)), jnp.max(s, axis=-1) ** 2)
    dss = s_row * ds_mat  # dS @ diag(s)
    sds = _mT(s_row) * ds_mat  # diag(s) @ dS
    du = u @ (f * (dss + _mT(dss)))
    dv = v @ (f * (sds + _mT(sds)))
    return (u, s, vt), (du, jnp.diagonal(ds_mat, axis1=-2, axis2=-1), _mT(dv))
