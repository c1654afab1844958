"""Similarity alignment of point sets: Umeyama and ICP (PyTorch3D's ``ops.points_alignment``).

Row-vector convention as in PyTorch3D: a transform ``(R, T, s)`` maps ``X`` to
``s * X @ R + T``.
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.ops.knn import knn_points
from jax3d.ops.utils import convert_pointclouds_to_tensor, is_pointclouds, is_traced, wmean
from jax3d.safe_math import safe_svd

__all__ = [
    "SimilarityTransform",
    "ICPSolution",
    "corresponding_points_alignment",
    "iterative_closest_point",
]


class SimilarityTransform(NamedTuple):
    """``R (N, d, d)``, ``T (N, d)``, ``s (N,)``: ``Y = s X R + T``."""

    R: jax.Array
    T: jax.Array
    s: jax.Array


class ICPSolution(NamedTuple):
    """converged (bool), rmse ``(N,)``, Xt (transformed X), RTs, t_history (list)."""

    converged: bool
    rmse: jax.Array | None
    Xt: object
    RTs: SimilarityTransform
    t_history: list


def _apply_similarity(x, R, T, s):
    return s[:, None, None] * jnp.einsum("npi,nij->npj", x, R) + T[:, None, :]


@partial(jax.jit, static_argnames=("estimate_scale", "allow_reflection"))
def _umeyama(x, y, weights, *, estimate_scale, allow_reflection, eps):
    """Weighted Umeyama: ``x, y (N, P, d)``, ``weights (N, P)`` -> SimilarityTransform."""
    dim = x.shape[2]
    xmu = wmean(x, weights, eps=eps)
    ymu = wmean(y, weights, eps=eps)
    xc = (x - xmu) * weights[:, :, None]
    yc = (y - ymu) * weights[:, :, None]
    total = jnp.maximum(jnp.sum(weights, axis=1), eps)
    cov = jnp.einsum("npi,npj->nij", xc, yc) / total[:, None, None]
    u, sv, vt = safe_svd(cov)  # finite gradients for repeated singular values
    e = jnp.ones((x.shape[0], dim), x.dtype)
    if not allow_reflection:
        e = e.at[:, -1].set(jnp.sign(jnp.linalg.det(u @ vt)))
        e = jnp.where(e == 0, 1.0, e)
    R = jnp.einsum("nij,nj,njk->nik", u, e, vt)
    if estimate_scale:
        xvar = jnp.sum(xc * xc, axis=(1, 2)) / total
        s = jnp.sum(e * sv, axis=1) / jnp.maximum(xvar, eps)
    else:
        s = jnp.ones((x.shape[0],), x.dtype)
    T = ymu[:, 0] - s[:, None] * jnp.einsum("ni,nij->nj", xmu[:, 0], R)
    return SimilarityTransform(R, T, s)


def _alignment_weights(weights, num_points, shape):
    n, p = shape[:2]
    mask = (jnp.arange(p)[None] < num_points[:, None]).astype(jnp.float32)
    if weights is None:
        return mask
    if isinstance(weights, (list, tuple)):
        rows = []
        for i, w in enumerate(weights):
            w = jnp.asarray(w, jnp.float32).reshape(-1)
            if not is_traced(num_points) and w.shape[0] != int(num_points[i]):
                raise ValueError("each weights[i] must have one entry per point of X[i]")
            rows.append(jnp.pad(w, (0, p - w.shape[0])))
        weights = jnp.stack(rows) if rows else jnp.zeros((0, p))
    weights = jnp.asarray(weights, jnp.float32)
    if weights.shape != (n, p):
        raise ValueError(f"weights must have shape ({n}, {p}), got {tuple(weights.shape)}")
    return mask * weights


def corresponding_points_alignment(
    X,
    Y,
    weights=None,
    estimate_scale: bool = False,
    allow_reflection: bool = False,
    eps: float = 1e-9,
) -> SimilarityTransform:
    """Least-squares similarity ``(R, T, s)`` with ``s X R + T ~ Y`` (Umeyama, 1991).

    Args:
        X, Y: ``(N, P, d) float32`` corresponding points, or ``Pointclouds`` of equal sizes.
        weights: ``(N, P)`` non-negative weights, a list of ``(P_i,)`` arrays, or None.
        estimate_scale: estimate ``s``; otherwise ``s = 1``.
        allow_reflection: allow ``det(R) = -1``.
        eps: clamp for the weight sums and the variance of ``X``.

    Returns:
        ``SimilarityTransform(R (N, d, d), T (N, d), s (N,))``. Differentiable, with finite
        gradients also where the rotation is not unique (coincident points, fewer than
        d + 1 points: repeated singular values; see ``jax3d.safe_math.safe_svd``); jittable.
    """
    x, nx = convert_pointclouds_to_tensor(X, "X")
    y, ny = convert_pointclouds_to_tensor(Y, "Y")
    if x.shape != y.shape:
        raise ValueError(f"X and Y must have the same shape, got {x.shape} and {y.shape}")
    if not (is_traced(nx) or is_traced(ny)):
        if (np.asarray(nx) != np.asarray(ny)).any():
            raise ValueError("X and Y must have the same number of points per cloud")
        if (np.asarray(nx) < x.shape[2] + 1).any():
            warnings.warn(
                "The size of one of the point clouds is <= dim+1: "
                "corresponding_points_alignment cannot return a unique rotation.",
                stacklevel=2,
            )
    w = _alignment_weights(weights, nx, x.shape)
    return _umeyama(
        x,
        y,
        w,
        estimate_scale=bool(estimate_scale),
        allow_reflection=bool(allow_reflection),
        eps=eps,
    )


@partial(jax.jit, static_argnames=("estimate_scale", "allow_reflection"))
def _icp_step(x_init, xt, y, nx, ny, mask, *, estimate_scale, allow_reflection):
    nn = knn_points(xt, y, nx, ny, K=1, return_nn=True).knn[:, :, 0, :]
    R, T, s = _umeyama(
        x_init,
        nn,
        mask,
        estimate_scale=estimate_scale,
        allow_reflection=allow_reflection,
        eps=1e-9,
    )
    xt = _apply_similarity(x_init, R, T, s)
    sq = jnp.sum((xt - nn) ** 2, axis=2)
    rmse = jnp.sqrt(wmean(sq[:, :, None], mask)[:, 0, 0])
    return SimilarityTransform(R, T, s), xt, rmse


def _initial_transform(init_transform, b, dim, dtype):
    if init_transform is None:
        eye = jnp.broadcast_to(jnp.eye(dim, dtype=dtype), (b, dim, dim))
        return SimilarityTransform(eye, jnp.zeros((b, dim), dtype), jnp.ones((b,), dtype))
    try:
        R, T, s = (jnp.asarray(a, dtype) for a in init_transform)
    except (TypeError, ValueError):
        R = None
    if R is None or R.shape != (b, dim, dim) or T.shape != (b, dim) or s.shape != (b,):
        raise ValueError(
            f"init_transform must be a SimilarityTransform with R ({b}, {dim}, {dim}), "
            f"T ({b}, {dim}) and s ({b},)"
        )
    return SimilarityTransform(R, T, s)


def iterative_closest_point(
    X,
    Y,
    init_transform: SimilarityTransform | None = None,
    max_iterations: int = 100,
    relative_rmse_thr: float = 1e-6,
    estimate_scale: bool = False,
    allow_reflection: bool = False,
    verbose: bool = False,
) -> ICPSolution:
    """Iterative closest point: the similarity with ``s X R + T ~ Y[NN]`` (a local optimum).

    Each iteration matches every point of ``X`` (transformed) to its nearest neighbour in
    ``Y`` and re-solves ``corresponding_points_alignment`` from the original ``X``. Stops when
    the relative RMSE decrease ``(prev - rmse) / prev`` is ``<= relative_rmse_thr`` for all
    clouds, or after ``max_iterations``.

    Args:
        X: ``(N, P1, d)`` or ``Pointclouds``; Y: ``(N, P2, d)`` or ``Pointclouds``.
        init_transform: starting ``SimilarityTransform``, identity when None.
        max_iterations, relative_rmse_thr: stopping rule; estimate_scale, allow_reflection:
            as in ``corresponding_points_alignment``; verbose: print each iteration.

    Returns:
        ``ICPSolution(converged, rmse (N,), Xt, RTs, t_history)``; ``Xt`` is a Pointclouds
        when ``X`` is one. The loop runs in Python around a jitted step (its length depends
        on the data), so call it outside ``jax.jit``.
    """
    x, nx = convert_pointclouds_to_tensor(X, "X")
    y, ny = convert_pointclouds_to_tensor(Y, "Y")
    b, _, dim = x.shape
    if y.shape[0] != b or y.shape[2] != dim:
        raise ValueError(
            f"X and Y must have the same batch size and point dimension, got {x.shape} and "
            f"{y.shape}"
        )
    mask = (jnp.arange(x.shape[1])[None] < nx[:, None]).astype(x.dtype)
    R, T, s = _initial_transform(init_transform, b, dim, x.dtype)
    xt = _apply_similarity(x, R, T, s)
    prev, rmse, converged, history = None, None, False, []
    for it in range(max_iterations):
        rts, xt, rmse = _icp_step(
            x,
            xt,
            y,
            nx,
            ny,
            mask,
            estimate_scale=bool(estimate_scale),
            allow_reflection=bool(allow_reflection),
        )
        R, T, s = rts
        history.append(rts)
        if prev is None:
            rel = jnp.ones_like(rmse)
        else:  # a previous rmse of exactly 0 counts as converged (PyTorch3D would give NaN)
            rel = jnp.where(prev > 0, (prev - rmse) / jnp.where(prev > 0, prev, 1.0), 0.0)
        if verbose:
            print(
                f"ICP iteration {it}: mean/max rmse = {float(rmse.mean()):1.2e}/"
                f"{float(rmse.max()):1.2e}; mean relative rmse = {float(rel.mean()):1.2e}"
            )
        if bool(jnp.all(rel <= relative_rmse_thr)):
            converged = True
            break
        prev = rmse
    if verbose:
        print(
            "ICP has converged."
            if converged
            else f"ICP has not converged in {max_iterations} iterations."
        )
    out = X.update_padded(xt) if is_pointclouds(X) else xt
    return ICPSolution(converged, rmse, out, SimilarityTransform(R, T, s), history)
