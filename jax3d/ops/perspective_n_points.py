"""Efficient Perspective-n-Point (EPnP) camera pose estimation (PyTorch3D's ``efficient_pnp``).

EPnP (Lepetit, Moreno-Noguer and Fua, IJCV 2009) writes every 3D point as an affine
combination ``x = sum_j alpha_j c_j`` of four control points (here the points' weighted mean
and that mean plus each unit axis), so the unknown camera-frame points are fixed by the 12
camera-frame control-point coordinates. Each correspondence with its normalised image point
``y = (u, v)`` gives two linear equations in them; the solution lies in the (near-)null space of
the ``2N x 12`` system ``M``, spanned by the eigenvectors of ``M^T M`` with the smallest
eigenvalues. The coefficients of up to four null vectors are found from the distances between
control points, which the rigid motion preserves (the paper's linearisations for one, two and
three null vectors), plus the plain smallest eigenvector. Each candidate is turned into a
similarity with Umeyama's algorithm, scaled and sign-fixed (points in front of the camera),
and the candidate with the smallest 2D reprojection error wins.

Conventions (PyTorch3D's): row vectors, ``x_cam = x_world @ R + T``, and the perspective
projection ``y = x_cam[:2] / x_cam[2]`` (no intrinsics: divide pixel coordinates by the focal
length after subtracting the principal point first).
"""

from __future__ import annotations

from functools import partial
from itertools import combinations
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.ops.points_alignment import corresponding_points_alignment
from jax3d.ops.utils import wmean

__all__ = ["EpnpSolution", "efficient_pnp"]

Array = jax.Array

# Pairs of the 4 control points (6), and pairs of the 4 null vectors (6) in the order of the
# quadratic terms: [b11 b22 b33 b44 b12 b13 b14 b23 b24 b34].
_PAIRS = np.array(list(combinations(range(4), 2)))


class EpnpSolution(NamedTuple):
    """``x_cam (B, N, 3)`` points in the camera frame that explain ``y``; ``R (B, 3, 3)``,
    ``T (B, 3)`` the pose (``x_cam ~ x_world @ R + T``); ``err_2d (B,)`` mean reprojection
    error; ``err_3d (B,)`` mean squared distance between the posed points and ``x_cam``."""

    x_cam: Array
    R: Array
    T: Array
    err_2d: Array
    err_3d: Array


def _weights(weights, b: int, n: int) -> Array:
    if weights is None:
        return jnp.ones((b, n), jnp.float32)
    w = jnp.asarray(weights, jnp.float32)
    if w.shape != (b, n):
        raise ValueError(f"weights must be ({b}, {n}), got {w.shape}")
    return w


def _system(x: Array, y: Array, w: Array):
    """Control points (B, 4, 3), barycentric alphas (B, N, 4) and M (B, 2N, 12)."""
    mean = wmean(x, w)  # (B, 1, 3)
    ctrl = mean + jnp.concatenate([jnp.eye(3), jnp.zeros((1, 3))], axis=0)[None]
    hom = lambda p: jnp.concatenate([p, jnp.ones_like(p[..., :1])], axis=-1)  # noqa: E731
    alphas = jnp.einsum("bni,bij->bnj", hom(x), jnp.linalg.inv(hom(ctrl)))
    a = alphas * w[..., None]
    # u-rows: sum_j a_j (c_jx - u c_jz) = 0 ; v-rows: sum_j a_j (c_jy - v c_jz) = 0
    zeros = jnp.zeros_like(y[..., 0])
    coef_u = jnp.stack([jnp.ones_like(zeros), zeros, -y[..., 0]], axis=-1)  # (B, N, 3)
    coef_v = jnp.stack([zeros, jnp.ones_like(zeros), -y[..., 1]], axis=-1)
    rows_u = (a[..., :, None] * coef_u[..., None, :]).reshape(*a.shape[:2], 12)
    rows_v = (a[..., :, None] * coef_v[..., None, :]).reshape(*a.shape[:2], 12)
    m = jnp.stack([rows_u, rows_v], axis=2).reshape(a.shape[0], -1, 12)
    return ctrl, alphas, m


def _pair_sq_dists(points: Array) -> Array:
    """(..., 4, 3) -> (..., 6) squared distances of the control-point pairs."""
    d = points[..., _PAIRS[:, 0], :] - points[..., _PAIRS[:, 1], :]
    return jnp.sum(d * d, axis=-1)


def _quadratic_rows(kernel: Array) -> Array:
    """(B, 4, 3, 4) null vectors -> (B, 6, 10) coefficients of the betas' products in the
    squared control-point distances: ``|sum_k b_k dv_k|^2``."""
    dv = kernel[:, _PAIRS[:, 0]] - kernel[:, _PAIRS[:, 1]]  # (B, 6, 3, 4)
    squares = jnp.sum(dv * dv, axis=2)  # (B, 6, 4): b_kk
    cross = 2.0 * jnp.sum(dv[..., _PAIRS[:, 0]] * dv[..., _PAIRS[:, 1]], axis=2)  # b_kl
    return jnp.concatenate([squares, cross], axis=-1)


def _lstsq(lhs: Array, rhs: Array, cols) -> Array:
    return jnp.einsum("bij,bj->bi", jnp.linalg.pinv(lhs[..., list(cols)]), rhs)


def _sign(t: Array) -> Array:
    return jnp.where(t >= 0, 1.0, -1.0)


def _betas(quad: Array, dists: Array, eps: float = 1e-9) -> list[Array]:
    """Null-space coefficients (B, 4) for one, two and three null vectors (the paper's
    linearisations)."""
    b1 = _lstsq(quad, dists, [0, 4, 5, 6])  # b11 b12 b13 b14
    b1 = b1 * _sign(b1[:, :1])
    one = b1 / jnp.maximum(jnp.sqrt(jnp.abs(b1[:, :1])), eps)
    b2 = _lstsq(quad, dists, [0, 4, 1])  # b11 b12 b22
    c0 = jnp.sqrt(jnp.abs(b2[:, 0])) * _sign(b2[:, 1])
    c1 = jnp.sqrt(jnp.abs(b2[:, 2])) * ((b2[:, 0] >= 0) == (b2[:, 2] >= 0))
    two = jnp.stack([c0, c1, jnp.zeros_like(c0), jnp.zeros_like(c0)], axis=-1)
    b3 = _lstsq(quad, dists, [0, 4, 1, 5, 7])  # b11 b12 b22 b13 b23
    d0 = jnp.sqrt(jnp.abs(b3[:, 0])) * _sign(b3[:, 1])
    d1 = jnp.sqrt(jnp.abs(b3[:, 2])) * ((b3[:, 0] >= 0) == (b3[:, 2] >= 0))
    d2 = b3[:, 3] / jnp.maximum(d0, eps)
    three = jnp.stack([d0, d1, d2, jnp.zeros_like(d0)], axis=-1)
    return [one, two, three]


def _solution(ctrl_cam: Array, alphas: Array, x: Array, y: Array, w: Array,
              eps: float = 1e-9) -> EpnpSolution:  # fmt: skip
    """Pose of one candidate: camera points, sign fix, similarity fit, unscaling, errors."""
    x_cam = jnp.einsum("bnj,bji->bni", alphas, ctrl_cam)
    flip = jnp.where(wmean(x_cam[..., 2:], w) < 0, -1.0, 1.0)  # (B, 1, 1)
    x_cam = x_cam * flip
    R, T, s = corresponding_points_alignment(x, x_cam, w, estimate_scale=True)
    s = jnp.maximum(s, eps)
    x_cam = x_cam / s[:, None, None]
    T = T / s[:, None]
    posed = jnp.einsum("bni,bij->bnj", x, R) + T[:, None, :]
    proj = posed[..., :2] / jnp.maximum(posed[..., 2:], eps)
    err_2d = wmean(jnp.linalg.norm(y - proj, axis=-1, keepdims=True), w)[:, 0, 0]
    err_3d = wmean(jnp.sum((posed - x_cam) ** 2, axis=-1, keepdims=True), w)[:, 0, 0]
    return EpnpSolution(x_cam, R, T, err_2d, err_3d)


def efficient_pnp(x, y, weights=None, skip_quadratic_eq: bool = False) -> EpnpSolution:
    """Camera pose from 3D-2D correspondences (EPnP; see the module doc).

    Solves ``y[b, i] ~ proj(x[b, i] @ R[b] + T[b])`` in the least-squares sense, with
    ``proj(p) = p[:2] / p[2]``. Noiseless correspondences of at least 4 non-coplanar points
    give the exact pose (up to float32 rounding); 6 or more are better conditioned.

    Args:
        x: (B, N, 3) float32 world points.
        y: (B, N, 2) float32 normalised image points (pixels minus principal point, divided
            by the focal length).
        weights: (B, N) non-negative weights of the correspondences, or None.
        skip_quadratic_eq: use only the smallest eigenvector (a 1-D null space) instead of
            also solving the distance equations for 1-3 null vectors and keeping the
            candidate with the smallest reprojection error (better with few points or weak
            perspective, as in PyTorch3D).

    Returns:
        ``EpnpSolution(x_cam (B, N, 3), R (B, 3, 3), T (B, 3), err_2d (B,), err_3d (B,))``.
        Differentiable; jit-able with ``skip_quadratic_eq`` static.
    """
    x = jnp.asarray(x, jnp.float32)
    y = jnp.asarray(y, jnp.float32)
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"x must be (B, N, 3), got {x.shape}")
    if y.shape != (*x.shape[:2], 2):
        raise ValueError(f"y must be {(*x.shape[:2], 2)} like x, got {y.shape}")
    if x.shape[1] < 4:
        raise ValueError(f"efficient_pnp needs at least 4 points, got {x.shape[1]}")
    return _epnp(x, y, _weights(weights, *x.shape[:2]), skip=bool(skip_quadratic_eq))


@partial(jax.jit, static_argnames=("skip",))
def _epnp(x: Array, y: Array, w: Array, *, skip: bool) -> EpnpSolution:
    ctrl, _, m = _system(jax.lax.stop_gradient(x), y, w)
    hom = lambda p: jnp.concatenate([p, jnp.ones_like(p[..., :1])], -1)  # noqa: E731
    alphas = jnp.einsum("bni,bij->bnj", hom(x), jnp.linalg.inv(hom(ctrl)))  # grads reach x
    _, vecs = jnp.linalg.eigh(jnp.einsum("bij,bik->bjk", m, m))
    kernel = vecs[..., :4].reshape(-1, 4, 3, 4)  # (B, control point, xyz, null vector)
    candidates = [kernel[..., 0]]
    if not skip:
        quad = _quadratic_rows(kernel)
        dists = _pair_sq_dists(ctrl)
        candidates += [jnp.einsum("bpik,bk->bpi", kernel, beta) for beta in _betas(quad, dists)]
    sols = [_solution(c, alphas, x, y, w) for c in candidates]
    stacked = EpnpSolution(*(jnp.stack(col) for col in zip(*sols)))
    best = jnp.argmin(stacked.err_2d, axis=0)  # (B,)
    pick = lambda a: jnp.take_along_axis(  # noqa: E731
        a, best.reshape(1, -1, *([1] * (a.ndim - 2))), axis=0)[0]
    return EpnpSolution(*(pick(col) for col in stacked))
