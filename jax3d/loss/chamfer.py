"""Chamfer distance between batches of point clouds (PyTorch3D's ``loss.chamfer``).

For a pair of clouds ``x`` and ``y`` the x -> y term is, for every valid point of ``x``, the
distance to its nearest neighbour in ``y`` (squared Euclidean for ``norm=2``, L1 for
``norm=1``); the y -> x term is the same the other way round. Optional normals add
``1 - |cos|`` (or ``1 - cos``) between a point's normal and its neighbour's normal.
The nearest neighbours come from the tiled exact search of :func:`jax3d.ops.knn_points`, so
memory stays bounded for any cloud size and gradients flow to both clouds.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.ops.knn import knn_gather, knn_points
from jax3d.ops.utils import as_points, is_pointclouds, is_traced, lengths_mask, resolve_lengths

__all__ = ["chamfer_distance"]

_COS_EPS = 1e-6


def _validate_reductions(batch_reduction, point_reduction) -> None:
    if batch_reduction not in (None, "mean", "sum"):
        raise ValueError(f'batch_reduction must be "mean", "sum" or None, got {batch_reduction!r}')
    if point_reduction not in (None, "mean", "sum"):
        raise ValueError(f'point_reduction must be "mean", "sum" or None, got {point_reduction!r}')
    if point_reduction is None and batch_reduction is not None:
        raise ValueError("batch_reduction must be None if point_reduction is None")


def _handle_input(points, lengths, normals, name: str):
    """``(points (N, P, D), lengths (N,) int32, normals or None)`` from a cloud or an array."""
    if is_pointclouds(points):
        pts = jnp.asarray(points.points_padded())
        lengths = jnp.asarray(points.num_points_per_cloud(), jnp.int32)
        normals = points.normals_padded() if hasattr(points, "normals_padded") else None
        return pts, lengths, normals
    pts = as_points(points, name)
    lengths = resolve_lengths(lengths, pts.shape[0], pts.shape[1], f"{name}_lengths")
    if normals is not None:
        normals = jnp.asarray(normals)
        if normals.shape != pts.shape:
            raise ValueError(
                f"{name}_normals must have the shape of {name} {tuple(pts.shape)}, "
                f"got {tuple(normals.shape)}"
            )
    return pts, lengths, normals


def _cosine_similarity(a: jax.Array, b: jax.Array) -> jax.Array:
    """``torch.nn.functional.cosine_similarity(a, b, dim=-1, eps=1e-6)``, NaN-free gradients."""

    def norm(v):
        sq = jnp.sum(v * v, axis=-1)
        small = sq <= _COS_EPS * _COS_EPS
        return jnp.where(small, _COS_EPS, jnp.sqrt(jnp.where(small, 1.0, sq)))

    return jnp.sum(a * b, axis=-1) / (norm(a) * norm(b))


def _single_direction(
    x, y, xl, yl, xn, yn, weights, *, batch_reduction, point_reduction, norm, abs_cosine
):
    """One direction of the chamfer distance: terms for the points of ``x``."""
    n, p1, _ = x.shape
    nn = knn_points(x, y, xl, yl, norm=norm, K=1)
    valid = lengths_mask(xl, p1)
    cham = jnp.where(valid, nn.dists[..., 0], 0.0)  # (N, P1)
    cham_norm = None
    if xn is not None and yn is not None:
        near = knn_gather(yn, nn.idx, yl)[..., 0, :]
        cos = _cosine_similarity(xn, near)
        cham_norm = jnp.where(valid, 1.0 - (jnp.abs(cos) if abs_cosine else cos), 0.0)
    if weights is not None:
        cham = cham * weights[:, None]
        cham_norm = None if cham_norm is None else cham_norm * weights[:, None]
    if point_reduction is None:
        return cham, cham_norm
    terms = [cham] if cham_norm is None else [cham, cham_norm]
    out = []
    for t in terms:
        t = jnp.sum(t, axis=1)  # (N,)
        if point_reduction == "mean":
            t = t / jnp.maximum(xl, 1).astype(t.dtype)
        if batch_reduction is not None:
            t = jnp.sum(t)
            if batch_reduction == "mean":
                div = jnp.sum(weights) if weights is not None else max(n, 1)
                t = t / jnp.where(div == 0, 1.0, div)
        out.append(t)
    return out[0], (out[1] if cham_norm is not None else None)


def _check_weights(weights, n: int):
    if weights is None:
        return None
    if not is_traced(weights):
        w = np.asarray(weights)
        if w.shape != (n,):
            raise ValueError(f"weights must have shape ({n},), got shape {w.shape}")
        if (w < 0).any():
            raise ValueError("weights cannot be negative")
    weights = jnp.asarray(weights, jnp.float32)
    if weights.shape != (n,):
        raise ValueError(f"weights must have shape ({n},), got shape {tuple(weights.shape)}")
    return weights


def _chamfer(
    x,
    y,
    xl,
    yl,
    xn,
    yn,
    weights,
    *,
    batch_reduction,
    point_reduction,
    norm,
    single_directional,
    abs_cosine,
):
    kw = dict(
        batch_reduction=batch_reduction,
        point_reduction=point_reduction,
        norm=norm,
        abs_cosine=abs_cosine,
    )
    cx, cnx = _single_direction(x, y, xl, yl, xn, yn, weights, **kw)
    if not single_directional:
        cy, cny = _single_direction(y, x, yl, xl, yn, xn, weights, **kw)
    if weights is not None:  # all-zero weights give an exact 0 (PyTorch3D's early return)
        zero = jnp.sum(weights) == 0

        def gate(t):
            return None if t is None else jnp.where(zero, 0.0, t)

        cx, cnx = gate(cx), gate(cnx)
        if not single_directional:
            cy, cny = gate(cy), gate(cny)
    if single_directional:
        return cx, cnx
    if point_reduction is not None:
        return cx + cy, (None if cnx is None else cnx + cny)
    return (cx, cy), (None if cnx is None else (cnx, cny))


def chamfer_distance(
    x,
    y,
    x_lengths=None,
    y_lengths=None,
    x_normals=None,
    y_normals=None,
    weights=None,
    batch_reduction: str | None = "mean",
    point_reduction: str | None = "mean",
    norm: int = 2,
    single_directional: bool = False,
    abs_cosine: bool = True,
):
    """Chamfer distance between the clouds of ``x`` and ``y`` (PyTorch3D semantics).

    Args:
        x: ``(N, P1, D) float32`` or a ``Pointclouds`` (then its lengths and normals are used);
            integer points raise TypeError, as in PyTorch3D.
        y: ``(N, P2, D) float32`` or a ``Pointclouds``.
        x_lengths, y_lengths: ``(N,) int`` valid points per cloud (<= the padded size, else
            ValueError), or None for all.
        x_normals, y_normals: ``(N, P1, D)`` / ``(N, P2, D)``; the normal term is computed
            only when both are given.
        weights: ``(N,) float32`` non-negative per-pair weights, or None.
        batch_reduction: "mean" (divide by ``sum(weights)`` or ``N``), "sum" or None.
        point_reduction: "mean" (divide by the cloud's length, clamped to 1), "sum" or None
            (then ``batch_reduction`` must be None).
        norm: 2 (squared Euclidean distances) or 1 (L1 distances).
        single_directional: only the x -> y term.
        abs_cosine: normal term ``1 - |cos|`` (orientation-free) instead of ``1 - cos``.

    Returns:
        ``(loss, loss_normals)``. With a point reduction: ``loss`` is ``()`` (batch reduced)
        or ``(N,)``; ``loss_normals`` likewise, or None without normals. With
        ``point_reduction=None``: ``((N, P1), (N, P2))`` per-point terms, or ``(N, P1)`` when
        ``single_directional`` (padded points hold 0).

    Empty clouds contribute 0 to the distance (never NaN). As in PyTorch3D, a point whose
    target cloud is empty gets a normal term of 1 (its neighbour normal is 0).
    All-zero ``weights`` give exact zeros. Jittable (options static); differentiable in
    ``x``, ``y`` and the normals. Cost: two exact K=1 searches, ``O(N P1 P2 D)`` time and
    bounded memory (see ``knn_points``).
    """
    _validate_reductions(batch_reduction, point_reduction)
    if norm not in (1, 2):
        raise ValueError(f"norm must be 1 or 2, got {norm!r}")
    x, xl, xn = _handle_input(x, x_lengths, x_normals, "x")
    y, yl, yn = _handle_input(y, y_lengths, y_normals, "y")
    if y.shape[0] != x.shape[0] or y.shape[2] != x.shape[2]:
        raise ValueError(
            f"y must have shape ({x.shape[0]}, P2, {x.shape[2]}) to match x, got {tuple(y.shape)}"
        )
    dtype = jnp.result_type(x.dtype, y.dtype)
    weights = _check_weights(weights, x.shape[0])
    return _chamfer(
        x.astype(dtype),
        y.astype(dtype),
        xl,
        yl,
        xn,
        yn,
        weights,
        batch_reduction=batch_reduction,
        point_reduction=point_reduction,
        norm=norm,
        single_directional=bool(single_directional),
        abs_cosine=bool(abs_cosine),
    )
