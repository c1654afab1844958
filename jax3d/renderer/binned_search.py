"""The binned K-nearest search shared by the mesh and the point rasterizers.

Both rasterizers ask the same question: for every pixel, which K primitives (faces or points)
are hit nearest in depth. The coarse pass (:mod:`jax3d.renderer.binning`) lists each bin's
candidates as one flat ``(bin, primitive)`` list per image; the fine pass tests a bin's pixels
against its candidates with a primitive-specific function and keeps the K nearest. This module
holds the primitive-independent parts: the K-nearest selection and merge, the runners of the
fine pass (:func:`map_fine`, :func:`dynamic_search`), :func:`binned_search` that ties them
together and its plans (:func:`plan_from_counts`, :func:`jit_plan`). Nothing here is
differentiated: the rasterizers recompute their differentiable outputs from the indices found.
"""

from __future__ import annotations

import functools
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.renderer.binning import (
    bin_entries,
    bin_extents_xy,
    bin_pixel_coords,
    unbin_pixels,
)

__all__ = [
    "FINE_STEP_ELEMENTS",
    "select_nearest",
    "merge_nearest",
    "bin_candidates",
    "map_fine",
    "dynamic_search",
    "binned_search",
    "plan_from_counts",
    "jit_plan",
]

FINE_STEP_ELEMENTS = 1 << 21  # pixel x candidate pairs evaluated per fine step (map_fine)
_DEFAULT_JIT_MAX_PER_BIN = 512


@functools.lru_cache(maxsize=64)
def _bin_layout(H, W, bin_size):
    return bin_pixel_coords(H, W, bin_size)


def select_nearest(key, slot, K):
    """(P, K) slots of the K smallest finite keys per row (ties: lower column), -1 if none."""
    if K == 1:
        j = jnp.argmin(key, axis=1)[:, None]
        val = jnp.take_along_axis(key, j, axis=1)
    else:
        k = min(K, key.shape[1])
        neg, j = jax.lax.top_k(-key, k)
        val = -neg
    out = jnp.where(jnp.isfinite(val), jnp.take_along_axis(slot, j, axis=1), -1)
    if out.shape[1] < K:
        out = jnp.pad(out, ((0, 0), (0, K - out.shape[1])), constant_values=-1)
    return out.astype(jnp.int32)


def bin_candidates(table, bins, n, b, M):
    """Candidate rows (M, S, 10) and ids (M,) of bin b of mesh n (padded with -1)."""
    sorted_ids, starts, counts = bins
    m = jnp.arange(M, dtype=jnp.int32)
    pos = jnp.minimum(starts[n, b] + m, sorted_ids.shape[1] - 1)
    cid = jnp.where(m < counts[n, b], sorted_ids[n, pos], -1)
    return table[n][jnp.maximum(cid, 0)], cid


def map_fine(fine, table, bins, n, b, px, py, M):
    """Run ``fine(px, py, cand, cand_ids) -> (P, K)`` on bins ``(n[i], b[i])`` -> (B, P, K).

    ``cand`` are M rows of ``table[n]`` (the bin's candidates, -1 padded ids). ``bins=None``
    means every primitive is a candidate of every bin (M = F). Runs as a ``lax.map`` in steps
    of about ``FINE_STEP_ELEMENTS`` pixel-primitive pairs, so memory stays bounded.
    """
    P = px.shape[1]
    batch = max(1, min(n.shape[0], FINE_STEP_ELEMENTS // max(1, P * M)))
    all_ids = jnp.arange(table.shape[1], dtype=jnp.int32)

    def one(nb):
        ni, bi = nb
        if bins is None:
            cand, cid = table[ni], all_ids
        else:
            cand, cid = bin_candidates(table, bins, ni, bi, M)
        return fine(px[bi], py[bi], cand, cid)

    return jax.lax.map(one, (n, b), batch_size=batch)


def merge_nearest(best_key, best_slot, key, slot, K):
    """Running K nearest: sorted (..., K) keys/slots merged with new (..., M) ones -> (..., K).

    Ties go to the running entries, then to the lower column, so feeding candidates in
    increasing id order reproduces :func:`select_nearest` over all of them at once.
    """
    if K == 1:
        j = jnp.argmin(key, axis=-1)[..., None]
        k_new = jnp.take_along_axis(key, j, -1)
        better = k_new < best_key
        return (jnp.where(better, k_new, best_key),
                jnp.where(better, jnp.take_along_axis(slot, j, -1), best_slot))
    neg, j = jax.lax.top_k(-jnp.concatenate([best_key, key], -1), K)
    return -neg, jnp.take_along_axis(jnp.concatenate([best_slot, slot], -1), j, -1)


def dynamic_search(keys_fn, table, bins, px, py, K, *, group, chunk):
    """K nearest primitives of every bin's pixels with data-dependent work (jit path).

    Bins are sorted by candidate count and processed ``group`` at a time (a ``while_loop``
    that stops at the first group without candidates); each group runs a ``while_loop`` over
    its candidates ``chunk`` at a time, up to the fullest bin of the group, merging into a
    running top-K (:func:`merge_nearest`). So the work follows the true counts (as the eager
    plan does) while every shape stays static: no per-bin capacity, only the flat list's E.

    Args:
        keys_fn: ``(px (P,), py (P,), cand (M, ...), ids (M,)) -> (key (P, M), slot (P, M))``,
            key +inf where the pair is not a hit (:func:`bin_keys`).
        table: (N, F, ...) primitive rows; bins: ``(sorted_ids (N, E), starts, counts)`` with
            (N, NB) starts and counts; px, py: (NB, P) pixel centres.

    Returns:
        (N * NB, P, K) int32 slots sorted by key (-1 when empty).
    """
    sorted_ids, starts, counts = bins
    N, NB = counts.shape
    E = sorted_ids.shape[1]
    P = px.shape[1]
    T = N * NB
    G = max(1, min(group, T))
    n_groups = -(-T // G)
    flat = jnp.concatenate([counts.reshape(T), jnp.zeros((1,), counts.dtype)])
    order = jnp.argsort(-flat[:T], stable=True).astype(jnp.int32)
    order = jnp.concatenate([order, jnp.full((n_groups * G - T,), T, jnp.int32)])
    m = jnp.arange(chunk, dtype=jnp.int32)

    def one_group(sel):  # (G,) flat bin indices, T = padding
        cnt = flat[sel]
        s = jnp.minimum(sel, T - 1)
        n, b = s // NB, s % NB
        st = starts[n, b]
        gpx, gpy = px[b], py[b]
        n_iter = (cnt.max() + chunk - 1) // chunk

        def body(state):
            j, bk, bs = state
            mm = j * chunk + m
            pos = jnp.minimum(st[:, None] + mm[None], E - 1)
            cid = jnp.where(mm[None] < cnt[:, None], sorted_ids[n[:, None], pos], -1)
            cand = table[n[:, None], jnp.maximum(cid, 0)]
            key, slot = jax.vmap(keys_fn)(gpx, gpy, cand, cid)
            bk, bs = merge_nearest(bk, bs, key, slot, K)
            return j + 1, bk, bs

        init = (jnp.int32(0), jnp.full((G, P, K), jnp.inf, jnp.float32),
                jnp.full((G, P, K), -1, jnp.int32))
        _, bk, bs = jax.lax.while_loop(lambda st_: st_[0] < n_iter, body, init)
        return jnp.where(jnp.isfinite(bk), bs, -1)

    def group_has_work(state):  # groups are sorted: the first empty one ends the loop
        g, _ = state
        return (g < n_groups) & (flat[order[jnp.minimum(g, n_groups - 1) * G]] > 0)

    def run_group(state):
        g, out = state
        sel = jax.lax.dynamic_slice_in_dim(order, g * G, G)
        return g + 1, jax.lax.dynamic_update_index_in_dim(out, one_group(sel), g, 0)

    out = jnp.full((n_groups, G, P, K), -1, jnp.int32)
    _, out = jax.lax.while_loop(group_has_work, run_group, (jnp.int32(0), out))
    res = jnp.full((T + 1, P, K), -1, jnp.int32)
    res = res.at[order].set(out.reshape(n_groups * G, P, K), mode="drop")
    return res[:T]


def _dynamic_sizes(P: int, K: int) -> tuple[int, int]:
    """(group, chunk) for :func:`dynamic_search`: about 2**17 pairs per loop step."""
    chunk = 32 if K <= 32 else 64
    return max(1, (1 << 17) // (P * chunk)), chunk


def binned_search(table, bbox, ok, image_size, bin_size, plan, K, run, guard, keys=None):
    """Indices (N, H, W, K) of the primitives each pixel sees (mesh faces or points).

    Args:
        table: (N, F, ...) per-primitive rows handed to the fine stage.
        bbox: (N, F, 4) NDC boxes ``[xmin, xmax, ymin, ymax]``; ok: (N, F) bool.
        plan: ``(E, tiers)``: E is the capacity of each item's flat (bin, primitive) list and
            ``tiers = ((B_t, M_t), ...)`` processes the B_t fullest bins left with M_t
            candidates each (bins sorted by count), so padding stays proportional to counts.
            ``tiers=None`` (the jit path) runs :func:`dynamic_search` with ``keys`` instead.
        run: ``run(table, bins, n, b, px, py, M) -> (B, P, K)``, e.g. :func:`map_fine`.
        guard: check capacities in the traced code and fall back to all primitives on overflow.
        keys: the keys function of :func:`dynamic_search` (needed when ``tiers`` is None).
    """
    H, W = image_size
    N, F = table.shape[:2]
    px, py, _ = (jnp.asarray(a) for a in _bin_layout(H, W, bin_size))
    ext_x, ext_y = (jnp.asarray(a) for a in bin_extents_xy(H, W, bin_size))
    NB, P = px.shape
    E, tiers = plan
    sorted_ids, starts, counts, total = jax.vmap(
        lambda bb, o: bin_entries(bb, o, ext_x, ext_y, E)
    )(bbox, ok)
    bins = (sorted_ids, starts, counts)
    flat = counts.reshape(N * NB)
    order = jnp.argsort(-flat, stable=True).astype(jnp.int32)

    def binned():
        if tiers is None:
            group, chunk = _dynamic_sizes(P, K)
            return dynamic_search(keys, table, bins, px, py, K, group=group, chunk=chunk)
        out = jnp.full((N * NB, P, K), -1, jnp.int32)
        r0 = 0
        for nb_t, m_t in tiers:
            sel = order[r0:r0 + nb_t]
            r0 += nb_t
            out = out.at[sel].set(run(table, bins, sel // NB, sel % NB, px, py, m_t))
        return out

    def every_primitive():
        idx = jnp.arange(N * NB, dtype=jnp.int32)
        return run(table, None, idx // NB, idx % NB, px, py, F)

    if guard:
        overflow = total.max() > E
        if tiers is not None:
            overflow = overflow | (flat.max() > tiers[0][1])
        jax.debug.callback(_warn_overflow, overflow, total.max(), E)
        out = jax.lax.cond(overflow, every_primitive, binned)
    else:
        out = binned()
    return unbin_pixels(out.reshape(N, NB, P, K), H, W, bin_size)


def _warn_overflow(overflow, total, capacity):
    if bool(np.any(overflow)):
        warnings.warn(
            f"rasterization bins overflowed under jit ({int(np.max(total))} (bin, primitive) "
            f"overlaps, capacity {capacity}): fell back to testing every primitive in every "
            "bin (exact but slow); raise max_faces_per_bin / max_points_per_bin.",
            stacklevel=2,
        )


def _pow2(x: int, lo: int = 1) -> int:
    return max(lo, 1 << max(0, math.ceil(math.log2(max(int(x), 1)))))


def plan_from_counts(counts, totals, F: int, min_capacity: int = 32, tier_ratio: int = 2):
    """Static search plan ``(E, ((B_t, M_t), ...))`` from true bin counts (host numpy).

    Bins are sorted by count (fullest first); tier t takes the next ``B_t`` bins with capacity
    ``M_t`` (a power of two >= their counts, tiers ``tier_ratio`` apart: fewer compilations
    against more padding). ``B_t`` is rounded up to a power of two so that
    slightly different scenes share compiled code; empty bins are skipped.
    """
    c = np.sort(np.asarray(counts).ravel())[::-1]
    n_bins = c.size
    tiers, r0 = [], 0
    while r0 < n_bins and c[r0] > 0:
        cap = min(_pow2(c[r0], min_capacity), F)
        rest = np.arange(n_bins) >= r0
        if cap >= F:
            n_t = n_bins - r0
        elif cap <= min_capacity:
            n_t = int(((c > 0) & rest).sum())
        else:
            n_t = int(((c > cap // tier_ratio) & rest).sum())
        n_t = min(_pow2(max(n_t, 1)), n_bins - r0)
        tiers.append((n_t, cap))
        r0 += n_t
    E = _pow2(np.asarray(totals).max(), 8)
    return E, tuple(tiers)


def jit_plan(F, NB, N, max_faces_per_bin, dynamic=True):
    """Plan under ``jit`` (counts unknown), for F primitives (faces or points) in NB bins.

    Dynamic (XLA): ``(E, None)`` where E, the capacity of each item's flat (bin, primitive)
    list, is ``NB * max_faces_per_bin`` when given, else ``2**ceil(log2(max(8 F, 32 NB)))``
    (every primitive in 8 bins, or 32 primitives in every bin: the flat list is sorted on every
    call, so it is kept small). Static (Pallas): every bin gets ``max_faces_per_bin`` (default
    512) candidates.
    """
    if dynamic:
        if max_faces_per_bin is not None:
            E = NB * int(max(1, min(max_faces_per_bin, F)))
        else:
            E = _pow2(max(8 * F, 32 * NB))
        return int(min(E, F * NB)), None
    m = max_faces_per_bin if max_faces_per_bin is not None else _DEFAULT_JIT_MAX_PER_BIN
    m = int(max(1, min(m, F)))
    return min(NB * m, F * NB), ((N * NB, m),)
