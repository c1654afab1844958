"""K nearest neighbours between batches of point clouds (PyTorch3D's ``ops.knn``).

``knn_points(p1, p2, ...)`` finds, for every point of ``p1[n]``, its ``K`` nearest points of
``p2[n]``. The search is exact and tiled so that memory stays bounded:

1. ``p1`` is cut into row tiles of ``T`` points; each tile is handled in one step of a loop
   (``lax.map``), so only ``N * T * P2`` distances exist at any time (``T`` is chosen so that
   this is about 1M floats, 4 MB, which fits the caches) -- never ``P1 x P2``.
2. Inside a tile, squared distances come from the matmul expansion
   ``|a|^2 + |b|^2 - 2 a.b`` (both clouds are first shifted by a point of ``p2`` to limit
   cancellation) and are reduced, block by block of ``C`` consecutive ``p2``
   points, to one minimum per block. The ``K`` nearest neighbours of a point lie in the ``K``
   blocks with the smallest minima (each of them has a block minimum no larger than the
   K-th distance), so those ``K`` blocks (``lax.top_k``; exact, not approximate) give
   ``K * C`` candidates.
3. The candidates' distances are recomputed exactly from the coordinates (no cancellation)
   and the final ``K`` are selected among them.

Indices are found without gradient; the returned distances are then recomputed
differentiably from the gathered neighbours, so gradients flow to both clouds exactly as in
PyTorch3D's backward pass.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jax3d.ops.utils import as_points, lengths_mask, masked_gather, resolve_lengths

__all__ = ["KNN", "knn_points", "knn_gather"]

# Tile budget: number of pair distances alive at once inside one tile (floats).
_TILE_PAIRS = 1 << 20
# Points of p2 per block in the block-minimum pre-selection.
_BLOCK = 16


class KNN(NamedTuple):
    """Result of ``knn_points`` / ``ball_query`` (PyTorch3D's ``_KNN``).

    dists: ``(N, P1, K) float32``; squared distances for ``norm=2``, L1 distances for ``norm=1``.
    idx: ``(N, P1, K) int32``; ``p2[n, idx[n, i, k]]`` is the k-th neighbour of ``p1[n, i]``.
    knn: ``(N, P1, K, D)`` gathered neighbours, or None when not requested.
    """

    dists: jax.Array
    idx: jax.Array
    knn: jax.Array | None


def _first_argmin(d: jax.Array) -> jax.Array:
    """Index of the first minimum along the last axis (faster than ``argmin`` on CPU)."""
    m = jnp.min(d, axis=-1, keepdims=True)
    pos = jnp.arange(d.shape[-1], dtype=jnp.int32)
    return jnp.min(jnp.where(d == m, pos, d.shape[-1]), axis=-1).astype(jnp.int32)


def _pair_dists(a: jax.Array, b: jax.Array, norm: int) -> jax.Array:
    """Exact distances between ``a (..., D)`` and ``b (..., D)`` (squared L2 or L1)."""
    diff = a - b
    if norm == 2:
        return jnp.sum(diff * diff, axis=-1)
    return jnp.sum(jnp.abs(diff), axis=-1)


def _tile_dists(xt, p2, sq2, pen2, norm):
    """Approximate distances of a row tile to all of p2: ``(N, T, D) -> (N, T, P2p)``."""
    if norm == 2:
        sq1 = jnp.sum(xt * xt, axis=-1)
        cross = jnp.einsum("ntd,npd->ntp", xt, p2, precision=jax.lax.Precision.HIGHEST)
        return sq1[:, :, None] + sq2[:, None, :] - 2.0 * cross
    d = jnp.zeros(xt.shape[:2] + p2.shape[1:2], xt.dtype)
    for c in range(xt.shape[-1]):
        d = d + jnp.abs(xt[:, :, None, c] - p2[:, None, :, c])
    return d + pen2[:, None, :]


def _select_tile(xt, p2, sq2, pen2, valid2, *, k, block, norm):
    """Indices of the K nearest valid p2 points for one row tile: ``(N, T, K) int32``.

    Entries are -1 where fewer than K valid points exist.
    """
    n, t, _ = xt.shape
    nb = p2.shape[1] // block
    kb = min(k, nb)
    bmin = _tile_dists(xt, p2, sq2, pen2, norm).reshape(n, t, nb, block).min(axis=-1)
    if kb == 1:
        blocks = _first_argmin(bmin)[..., None]
    else:
        _, blocks = jax.lax.top_k(-bmin, kb)
    cand = (blocks[..., None] * block + jnp.arange(block, dtype=jnp.int32)).reshape(n, t, -1)
    pts = jax.vmap(lambda p, c: p[c])(p2, cand)  # (N, T, kb*C, D)
    dd = _pair_dists(xt[:, :, None, :], pts, norm)
    dd = jnp.where(jax.vmap(lambda v, c: v[c])(valid2, cand), dd, jnp.inf)
    if cand.shape[-1] < k:
        extra = k - cand.shape[-1]
        dd = jnp.concatenate([dd, jnp.full((n, t, extra), jnp.inf, dd.dtype)], axis=-1)
        cand = jnp.concatenate([cand, jnp.zeros((n, t, extra), cand.dtype)], axis=-1)
    if k == 1:
        j = _first_argmin(dd)[..., None]
        best = jnp.take_along_axis(dd, j, axis=-1)
    else:
        negd, j = jax.lax.top_k(-dd, k)
        best = -negd
    sel = jnp.take_along_axis(cand, j, axis=-1)
    return jnp.where(jnp.isfinite(best), sel, -1).astype(jnp.int32)


def _tile_rows(n: int, p1: int, p2: int, tile_pairs: int) -> int:
    """Rows per tile so that ``n * rows * p2`` stays near ``tile_pairs``."""
    rows = max(1, tile_pairs // max(1, n * p2))
    return min(rows, max(1, p1))


@partial(jax.jit, static_argnames=("k", "norm", "block", "tile_pairs"))
def knn_search_idx(
    p1, p2, lengths2, *, k: int, norm: int = 2, block: int = _BLOCK, tile_pairs: int = _TILE_PAIRS
):
    """Indices of the K nearest neighbours, without gradient (the tiled search).

    Args:
        p1: ``(N, P1, D)`` query points.
        p2: ``(N, P2, D)`` reference points.
        lengths2: ``(N,) int32`` valid points of each ``p2[n]``.
        k: neighbours per query (static).
        norm: 2 (squared Euclidean) or 1 (L1), static.
        block: p2 points per pre-selection block (static).
        tile_pairs: pair distances per row tile (static), sets the rows per tile.
    Returns:
        ``idx (N, P1, K) int32`` sorted by increasing distance; -1 where ``p2[n]`` has fewer
        than ``K`` valid points. Rows of padded ``p1`` points are computed like any other.

    Complexity: ``O(N P1 P2 D)`` time, ``O(N T P2 + N P1 K C D)`` memory with ``T`` rows per
    tile (about 1M pair distances per tile) and ``C = block``.
    """
    p1 = jax.lax.stop_gradient(p1)
    p2 = jax.lax.stop_gradient(p2)
    n, np1, dim = p1.shape
    np2 = p2.shape[1]
    if np1 == 0 or np2 == 0:  # nothing to search: every neighbour is missing
        return jnp.full((n, np1, k), -1, jnp.int32)
    block = max(1, min(block, np2))
    nb = -(-np2 // block)
    p2p = nb * block
    valid2 = lengths_mask(lengths2, p2p)
    if norm == 2:
        # Shift both clouds by one point of p2 to limit cancellation in the expansion; a
        # single point (not a mean) so that XLA cannot compute two different centres.
        centre = p2[:, :1, :]
        p1 = p1 - centre
        p2 = p2 - centre
    p2 = jnp.pad(p2, ((0, 0), (0, p2p - np2), (0, 0)))
    pen2 = jnp.where(valid2, 0.0, jnp.inf).astype(p2.dtype)
    sq2 = jnp.sum(p2 * p2, axis=-1) + pen2
    rows = _tile_rows(n, np1, p2p, tile_pairs)
    nt = -(-np1 // rows)
    x = jnp.pad(p1, ((0, 0), (0, nt * rows - np1), (0, 0)))
    tiles = x.reshape(n, nt, rows, dim).transpose(1, 0, 2, 3)
    fn = partial(
        _select_tile, p2=p2, sq2=sq2, pen2=pen2, valid2=valid2, k=k, block=block, norm=norm
    )
    idx = jax.lax.map(fn, tiles)  # (nt, N, rows, K)
    return idx.transpose(1, 0, 2, 3).reshape(n, nt * rows, k)[:, :np1]


def _validate_pair(p1, p2, names=("p1", "p2")):
    p1 = as_points(p1, names[0])
    p2 = as_points(p2, names[1])
    if p1.shape[0] != p2.shape[0]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same batch size, got "
            f"{p1.shape[0]} and {p2.shape[0]}"
        )
    if p1.shape[2] != p2.shape[2]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same point dimension, got "
            f"{p1.shape[2]} and {p2.shape[2]}"
        )
    dtype = jnp.result_type(p1.dtype, p2.dtype)
    return p1.astype(dtype), p2.astype(dtype)


def _check_k(k, name="K"):
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"{name} must be a positive Python int, got {k!r}")


@partial(jax.jit, static_argnames=("k", "norm", "return_nn"))
def _knn_points(p1, p2, lengths1, lengths2, *, k, norm, return_nn):
    idx = knn_search_idx(p1, p2, lengths2, k=k, norm=norm)
    valid = (idx >= 0) & lengths_mask(lengths1, p1.shape[1])[:, :, None]
    idx = jnp.where(valid, idx, 0)
    nn = masked_gather(p2, jnp.where(valid, idx, -1))  # (N, P1, K, D), zero where invalid
    dists = jnp.where(valid, _pair_dists(p1[:, :, None, :], nn, norm), 0.0)
    knn = knn_gather(p2, idx, lengths2) if return_nn else None
    return KNN(dists=dists, idx=idx, knn=knn)


def knn_points(
    p1,
    p2,
    lengths1=None,
    lengths2=None,
    norm: int = 2,
    K: int = 1,
    version: int = -1,
    return_nn: bool = False,
    return_sorted: bool = True,
) -> KNN:
    """K nearest neighbours of each point of ``p1`` among the points of ``p2`` (exact).

    Args:
        p1: ``(N, P1, D) float32`` query clouds (integer points raise TypeError, as in
            PyTorch3D).
        p2: ``(N, P2, D) float32`` reference clouds (likewise).
        lengths1: ``(N,) int`` valid points per ``p1`` cloud (<= P1), or None for all.
        lengths2: ``(N,) int`` valid points per ``p2`` cloud (<= P2), or None for all.
        norm: 2 for squared Euclidean distances, 1 for L1 distances.
        K: neighbours per point (static Python int).
        version: ignored (PyTorch3D's kernel selector), kept for signature compatibility.
        return_nn: also return the gathered neighbours ``knn``.
        return_sorted: accepted for compatibility; results are always sorted by distance.

    Returns:
        ``KNN(dists, idx, knn)`` with ``dists (N, P1, K)`` (squared distances for norm=2),
        ``idx (N, P1, K) int32`` and ``knn (N, P1, K, D)`` or None. As in PyTorch3D,
        ``dists`` and ``idx`` are 0 for padded ``p1`` points (``i >= lengths1[n]``) and for
        ``k >= lengths2[n]``; ``knn`` is 0 there too.

    Gradients flow through ``dists`` (and ``knn``) to ``p1`` and ``p2``; ``idx`` is constant.
    Jittable with ``K``, ``norm``, ``return_nn`` static. Complexity ``O(N P1 P2 D)`` time,
    memory ``O(N T P2 + N P1 K (C + D))`` with about 1M pairs per tile (see module doc):
    100k x 100k points run in a few hundred MB.
    """
    del version, return_sorted
    p1, p2 = _validate_pair(p1, p2)
    _check_k(K)
    if norm not in (1, 2):
        raise ValueError(f"norm must be 1 or 2, got {norm!r}")
    n = p1.shape[0]
    lengths1 = resolve_lengths(lengths1, n, p1.shape[1], "lengths1")
    lengths2 = resolve_lengths(lengths2, n, p2.shape[1], "lengths2")
    return _knn_points(p1, p2, lengths1, lengths2, k=K, norm=norm, return_nn=bool(return_nn))


def knn_gather(x, idx, lengths=None) -> jax.Array:
    """Gather ``x`` at the indices returned by ``knn_points``.

    Args:
        x: ``(N, M, U)`` features (e.g. the ``p2`` points, or normals).
        idx: ``(N, L, K) int`` indices into the ``M`` axis.
        lengths: ``(N,) int`` valid rows of each ``x[n]``, or None for all ``M``.

    Returns:
        ``(N, L, K, U)`` with ``out[n, l, k] = x[n, idx[n, l, k]]``, and 0 where
        ``k >= lengths[n]`` (no valid k-th neighbour) or ``idx < 0``. Differentiable in ``x``.
    """
    x = jnp.asarray(x)
    idx = jnp.asarray(idx)
    if x.ndim != 3:
        raise ValueError(f"x must have shape (N, M, U), got shape {tuple(x.shape)}")
    if idx.ndim != 3:
        raise ValueError(f"idx must have shape (N, L, K), got shape {tuple(idx.shape)}")
    if idx.shape[0] != x.shape[0]:
        raise ValueError(
            f"x and idx must have the same batch size, got {x.shape[0]} and {idx.shape[0]}"
        )
    if not jnp.issubdtype(idx.dtype, jnp.integer):
        raise TypeError(f"idx must be integer, got dtype {idx.dtype}")
    lengths = resolve_lengths(lengths, x.shape[0], x.shape[1], "lengths")
    k = idx.shape[2]
    keep = (jnp.arange(k)[None, None, :] < lengths[:, None, None]) & (idx >= 0)
    return masked_gather(x, jnp.where(keep, idx, -1))
