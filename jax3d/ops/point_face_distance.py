"""Point-segment and point-triangle squared distances, and tiled nearest-primitive search.

The primitives follow PyTorch3D's ``csrc/utils/geometry_utils`` definitions exactly:

- ``point_segment_distance``: squared distance to the closest point of the segment
  ``v0 + t (v1 - v0), t in [0, 1]``; a degenerate segment (``|v1 - v0|^2 <= 1e-8``) is
  the point ``v1``.
- ``point_triangle_distance``: if the projection of ``p`` on the triangle's plane lies inside
  the triangle (barycentric coordinates in ``[0, 1]``) and the triangle's area is at least
  ``min_triangle_area``, the squared distance to the plane; otherwise the smallest squared
  distance to the three edges (small triangles are treated as lines/points).

Both broadcast over leading axes and have NaN-free gradients (double-``where``).

``nearest_primitive_idx`` finds, for every object, the index of the closest valid target
(points vs triangles or segments, either direction) in row tiles that hold about 1M pairs, so
memory stays bounded; distances are then recomputed differentiably from the gathered
closest primitive by the callers.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp

__all__ = ["point_segment_distance", "point_triangle_distance", "nearest_primitive_idx"]

_EPS = 1e-8
_TILE_PAIRS = 1 << 20


def _dot(a, b):
    return jnp.sum(a * b, axis=-1)


def point_segment_distance(p: jax.Array, v0: jax.Array, v1: jax.Array) -> jax.Array:
    """Squared distance from ``p (..., 3)`` to the segment ``(v0, v1)`` (``(..., 3)`` each).

    Returns ``(...)``. Degenerate segments (``|v1 - v0|^2 <= 1e-8``) count as the point
    ``v1``, as in PyTorch3D.
    """
    e = v1 - v0
    l2 = _dot(e, e)
    degenerate = l2 <= _EPS
    t = jnp.clip(_dot(e, p - v0) / jnp.where(degenerate, 1.0, l2), 0.0, 1.0)
    t = jnp.where(degenerate, 1.0, t)
    diff = p - (v0 + t[..., None] * e)
    return _dot(diff, diff)


def _safe_norm(x):
    sq = _dot(x, x)
    zero = sq <= 0.0
    return jnp.where(zero, 0.0, jnp.sqrt(jnp.where(zero, 1.0, sq)))


def _inside(p0, v0, v1, v2):
    """PyTorch3D's barycentric inside test of a point in the triangle's plane."""
    a, b, c = v1 - v0, v2 - v0, p0 - v0
    d00, d01, d11, d20, d21 = _dot(a, a), _dot(a, b), _dot(b, b), _dot(c, a), _dot(c, b)
    denom = d00 * d11 - d01 * d01 + _EPS
    w1 = (d11 * d20 - d01 * d21) / denom
    w2 = (d00 * d21 - d01 * d20) / denom
    w0 = 1.0 - w1 - w2
    return (w0 >= 0) & (w0 <= 1) & (w1 >= 0) & (w1 <= 1) & (w2 >= 0) & (w2 <= 1)


def point_triangle_distance(
    p: jax.Array, v0: jax.Array, v1: jax.Array, v2: jax.Array, min_triangle_area: float = 5e-3
) -> jax.Array:
    """Squared distance from ``p (..., 3)`` to the triangle ``(v0, v1, v2)`` (``(..., 3)``).

    Returns ``(...)``: the squared distance to the plane when the projection falls inside a
    triangle of area ``>= min_triangle_area``, else the smallest squared edge distance
    (PyTorch3D's ``PointTriangle3DistanceForward``).
    """
    normal = jnp.cross(v2 - v0, v1 - v0)
    nlen = _safe_norm(normal)
    unit = normal / (nlen + _EPS)[..., None]
    t = _dot(v0 - p, unit)
    p0 = p + t[..., None] * unit
    plane = (nlen > _EPS) & (0.5 * nlen >= min_triangle_area) & _inside(p0, v0, v1, v2)
    edges = jnp.minimum(
        jnp.minimum(point_segment_distance(p, v0, v1), point_segment_distance(p, v0, v2)),
        point_segment_distance(p, v1, v2),
    )
    return jnp.where(plane, t * t, edges)


def _tile_argmin(obj_tile, targets, valid, fn, params):
    d = fn(obj_tile, targets, *params)  # (N, T, M)
    d = jnp.where(valid[:, None, :], d, jnp.inf)
    m = jnp.min(d, axis=-1, keepdims=True)
    pos = jnp.arange(d.shape[-1], dtype=jnp.int32)
    first = jnp.min(jnp.where(d == m, pos, d.shape[-1]), axis=-1)
    return jnp.where(jnp.isfinite(m[..., 0]), first, -1).astype(jnp.int32)


@partial(jax.jit, static_argnames=("fn", "tile_pairs"))
def nearest_primitive_idx(
    objects: jax.Array,
    targets: jax.Array,
    valid_targets: jax.Array,
    params: tuple = (),
    *,
    fn: Callable[..., jax.Array],
    tile_pairs: int = _TILE_PAIRS,
) -> jax.Array:
    """Index of the closest valid target of every object (no gradient), tiled.

    Args:
        objects: ``(N, O, ...)`` e.g. points ``(N, P, 3)`` or triangles ``(N, F, 3, 3)``.
        targets: ``(N, M, ...)``.
        valid_targets: ``(N, M) bool``.
        params: extra (traced) arguments of ``fn``, e.g. ``(min_triangle_area,)``.
        fn: ``fn(obj (N, T, 1, ...), tgt (N, 1, M, ...), *params) -> (N, T, M)`` distances
            (static and hashable: a module-level function).
        tile_pairs: object-target pairs per tile (static).
    Returns:
        ``(N, O) int32``, first minimum on ties, -1 where no target is valid.

    Complexity ``O(N O M)`` distance evaluations, ``O(N T M)`` memory per tile.
    """
    objects = jax.lax.stop_gradient(objects)
    targets = jax.lax.stop_gradient(targets)
    n, no = objects.shape[:2]
    m = targets.shape[1]
    if no == 0 or m == 0:
        return jnp.full((n, no), -1, jnp.int32)
    rows = min(max(1, tile_pairs // (n * m)), no)
    nt = -(-no // rows)
    pad = [(0, 0), (0, nt * rows - no)] + [(0, 0)] * (objects.ndim - 2)
    x = jnp.pad(objects, pad).reshape(n, nt, rows, *objects.shape[2:])
    x = jnp.moveaxis(x, 1, 0)
    tgt = targets[:, None]

    def one(tile):
        return _tile_argmin(tile[:, :, None], tgt, valid_targets, fn, params)

    idx = jax.lax.map(one, x)  # (nt, N, rows)
    return jnp.moveaxis(idx, 0, 1).reshape(n, nt * rows)[:, :no]
