"""Ball query: the first K points of ``p2`` within a radius of each ``p1`` point.

PyTorch3D's ``ops.ball_query``: for every valid point ``p1[n, i]`` the points ``p2[n, j]``
with ``|p1[n, i] - p2[n, j]|^2 < radius^2`` are taken in increasing ``j`` (index order, not
distance order) until ``K`` are found. Padding entries have index -1 and distance 0.

The search is tiled over ``p1`` rows like ``knn_points``: one tile holds ``N * T * P2`` exact
squared distances (about 1M) and their running count (``cumsum``), and the position of the
k-th hit is found by binary search in that count. Memory never reaches ``P1 x P2``.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from jax3d.ops.knn import KNN, _check_k, _pair_dists, _validate_pair
from jax3d.ops.utils import lengths_mask, masked_gather, resolve_lengths

__all__ = ["ball_query"]

_TILE_PAIRS = 1 << 20


def _tile_hits(xt, p2, valid2, *, k, radius2):
    """First K in-radius indices for a row tile: ``(N, T, D) -> (N, T, K) int32``, -1 padded."""
    d = jnp.zeros(xt.shape[:2] + p2.shape[1:2], xt.dtype)
    for c in range(xt.shape[-1]):
        diff = xt[:, :, None, c] - p2[:, None, :, c]
        d = d + diff * diff
    hit = (d < radius2) & valid2[:, None, :]
    count = jnp.cumsum(hit.astype(jnp.int32), axis=-1)  # (N, T, P2), non-decreasing
    targets = jnp.arange(1, k + 1, dtype=jnp.int32)
    pos = jax.vmap(jax.vmap(lambda c: jnp.searchsorted(c, targets, side="left")))(count)
    return jnp.where(pos < p2.shape[1], pos, -1).astype(jnp.int32)


@partial(jax.jit, static_argnames=("k", "tile_pairs"))
def ball_query_idx(p1, p2, lengths2, radius, *, k: int, tile_pairs: int = _TILE_PAIRS):
    """Indices of the first K points of ``p2`` within ``radius`` (no gradient).

    Args:
        p1: ``(N, P1, D)``; p2: ``(N, P2, D)``; lengths2: ``(N,) int32``; radius: scalar.
        k: hits per point (static); tile_pairs: pair distances per tile (static).
    Returns:
        ``(N, P1, K) int32``, increasing along K, -1 where fewer than K hits.

    Complexity ``O(N P1 P2 D)`` time, ``O(N T P2)`` memory (``T`` rows per tile).
    """
    p1 = jax.lax.stop_gradient(p1)
    p2 = jax.lax.stop_gradient(p2)
    n, np1, dim = p1.shape
    np2 = p2.shape[1]
    if np1 == 0 or np2 == 0:
        return jnp.full((n, np1, k), -1, jnp.int32)
    rows = min(max(1, tile_pairs // (n * np2)), np1)
    nt = -(-np1 // rows)
    x = jnp.pad(p1, ((0, 0), (0, nt * rows - np1), (0, 0)))
    tiles = x.reshape(n, nt, rows, dim).transpose(1, 0, 2, 3)
    radius2 = jnp.asarray(radius, p1.dtype) ** 2
    fn = partial(_tile_hits, p2=p2, valid2=lengths_mask(lengths2, np2), k=k, radius2=radius2)
    idx = jax.lax.map(fn, tiles)
    return idx.transpose(1, 0, 2, 3).reshape(n, nt * rows, k)[:, :np1]


@partial(jax.jit, static_argnames=("k", "return_nn"))
def _ball_query(p1, p2, lengths1, lengths2, radius, *, k, return_nn):
    idx = ball_query_idx(p1, p2, lengths2, radius, k=k)
    idx = jnp.where(lengths_mask(lengths1, p1.shape[1])[:, :, None], idx, -1)
    nn = masked_gather(p2, idx)
    dists = jnp.where(idx >= 0, _pair_dists(p1[:, :, None, :], nn, 2), 0.0)
    return KNN(dists=dists, idx=idx, knn=nn if return_nn else None)


def ball_query(
    p1,
    p2,
    lengths1=None,
    lengths2=None,
    K: int = 500,
    radius: float = 0.2,
    return_nn: bool = True,
    skip_points_outside_cube: bool = False,
) -> KNN:
    """First ``K`` points of ``p2`` (in index order) within ``radius`` of each ``p1`` point.

    Args:
        p1: ``(N, P1, D) float32`` query clouds (integer points raise TypeError).
        p2: ``(N, P2, D) float32`` reference clouds (likewise).
        lengths1, lengths2: ``(N,) int`` valid points per cloud, or None for all.
        K: maximum neighbours per point (static Python int).
        radius: ball radius (strict: ``dist^2 < radius^2``); may be a traced scalar.
        return_nn: also return the gathered neighbours.
        skip_points_outside_cube: PyTorch3D's speed-up for sorted clouds (skip candidates
            outside the ball's bounding cube); it never changes the result, and jax3d's
            tiled search does not need it, so it is accepted and ignored.

    Returns:
        ``KNN(dists, idx, knn)``: ``dists (N, P1, K)`` squared distances, ``idx (N, P1, K)
        int32`` with -1 padding (also for padded ``p1`` points), ``knn (N, P1, K, D)`` with
        zeros at padding, or None. Gradients flow through ``dists`` and ``knn``.

    Complexity ``O(N P1 P2 D)`` time, bounded memory (about 1M pairs per tile).
    """
    p1, p2 = _validate_pair(p1, p2)
    _check_k(K)
    if not isinstance(radius, jax.Array) and not float(radius) > 0:
        raise ValueError(f"radius must be positive, got {radius!r}")
    n = p1.shape[0]
    lengths1 = resolve_lengths(lengths1, n, p1.shape[1], "lengths1")
    lengths2 = resolve_lengths(lengths2, n, p2.shape[1], "lengths2")
    return _ball_query(p1, p2, lengths1, lengths2, radius, k=K, return_nn=bool(return_nn))
