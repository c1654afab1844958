"""The binned K-nearest search shared by the mesh and the point rasterizers.

Both rasterizers ask the same question: for every pixel, which K primitives (faces or points)
are hit nearest in depth. The coarse pass (:mod:`jax3d.renderer.binning`) lists each bin's
candidates as one flat ``(bin, primitive)`` list per image; the fine pass tests a bin's pixels
against its candidates with a primitive-specific function and keeps the K nearest. This module
holds the primitive-independent parts: the K-nearest selection and merge, the runners of the
fine pass (:func:`map_fine`, :func:`dynamic_search`), :func:`binned_search` that ties them
together, and the :class:`RasterPlan` that sizes it (:func:`plan_search`: from the true bin
counts eagerly, :func:`plan_from_counts`, from the settings under ``jit``, :func:`jit_plan`).
Nothing here is differentiated: the rasterizers recompute their differentiable outputs from
the indices found.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.renderer.binning import (
    bin_entries,
    bin_extents_xy,
    bin_grid,
    bin_pixel_coords,
    unbin_pixels,
)
from jax3d.validation import is_traced

__all__ = [
    "FINE_STEP_ELEMENTS",
    "select_nearest",
    "merge_nearest",
    "bin_candidates",
    "map_fine",
    "dynamic_search",
    "RasterPlan",
    "plan_search",
    "plan_overflows",
    "warn_overflow",
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
    """K nearest primitives of every bin's pixels, data-dependent work (a plan without tiers).

    Bins are sorted by candidate count and processed ``group`` at a time (a ``while_loop``
    that stops at the first group without candidates); each group runs a ``while_loop`` over
    its candidates ``chunk`` at a time, up to the fullest bin of the group, merging into a
    running top-K (:func:`merge_nearest`). So the work follows the true counts (as a tiered
    plan from the counts does) while every shape stays static: no per-bin capacity, only the
    flat list's E.

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


@dataclasses.dataclass(frozen=True)
class RasterPlan:
    """The static sizes of one rasterization call: what the search allocates and loops over.

    A plan is computed first, by one function per rasterizer
    (:func:`jax3d.renderer.mesh.rasterize_meshes.plan_mesh_rasterization`,
    :func:`jax3d.renderer.points.rasterize_points.plan_points_rasterization`): from the true bin
    counts when the data are concrete (an eager call, also under a bare ``jax.grad``), from the
    settings under ``jit`` / ``vmap`` (:func:`plan_search`). The same compiled core consumes it
    in both cases, and checks it against the data: a plan too small for them (an overflow) is
    never silent, the search then tests every primitive in every bin (exact but slow) and warns.

    Attributes:
        bin_size: bin edge in pixels.
        num_bins: NB, the number of bins ``BY * BX`` of the image.
        list_capacity: E, entries of each image's flat (bin, primitive) candidate list.
        tiers: ``((B_t, M_t), ...)``: the ``B_0`` fullest bins (of all ``N * NB``) get ``M_0``
            candidate slots, the next ``B_1`` ``M_1``, ..., the rest none (they must be
            empty); or None: no per-bin capacity, :func:`dynamic_search` loops over each bin's
            true candidates (the plan under ``jit`` with the XLA backend).
        clip_z: meshes: clip faces at ``z_clip_value`` (False when there is no clip plane, or
            when it is known that no face crosses it).
    """

    bin_size: int
    num_bins: int
    list_capacity: int
    tiers: tuple[tuple[int, int], ...] | None = None
    clip_z: bool = False

    def check(self, image_size, batch: int) -> None:
        """``ValueError`` unless this plan fits an (H, W) image and ``batch`` items."""
        H, W = image_size
        by, bx = bin_grid(H, W, self.bin_size)
        if by * bx != self.num_bins:
            raise ValueError(f"plan has {self.num_bins} bins of {self.bin_size} px, an image of "
                             f"{(H, W)} has {by * bx}")
        if self.tiers is not None and sum(b for b, _ in self.tiers) > batch * self.num_bins:
            raise ValueError(f"plan tiers {self.tiers} cover more than the {batch} x "
                             f"{self.num_bins} bins of this batch")


def plan_search(counts, totals, *, num_primitives: int, batch: int, image_size, bin_size: int,
                max_per_bin: int | None, dynamic: bool = True, clip_z: bool = False,
                name: str = "max_faces_per_bin") -> RasterPlan:
    """The search plan: from the true counts when given, else from the settings.

    Args:
        counts: None (the data are traced: plan from settings, :func:`jit_plan`) or the host
            (N, NB) candidates per bin; totals: (N,) (bin, primitive) overlaps per item.
        num_primitives: F, faces (or clipped slots) / points per item; batch: N.
        image_size: (H, W); bin_size: bin edge in pixels (> 0).
        max_per_bin: the user's capacity (``max_faces_per_bin`` / ``max_points_per_bin``,
            named ``name`` in the warning), or None. With counts, a value below the fullest
            bin warns and is raised to the true count (:func:`plan_from_counts`).
        dynamic: under ``jit``, no per-bin capacity (XLA's :func:`dynamic_search`) rather
            than ``max_per_bin`` (default 512) for every bin (the Pallas kernel).
        clip_z: stored in the plan (meshes).
    """
    H, W = image_size
    by, bx = bin_grid(H, W, bin_size)
    NB = by * bx
    if counts is None:
        E, tiers = jit_plan(num_primitives, NB, batch, max_per_bin, dynamic=dynamic)
    else:
        counts, totals = np.asarray(counts), np.asarray(totals)
        need = int(counts.max()) if counts.size else 0
        if max_per_bin is not None and need > max_per_bin:
            warnings.warn(
                f"{name}={max_per_bin} is too small: a bin holds {need} primitives; using "
                f"capacity {need} instead.",
                stacklevel=3,
            )
        E, tiers = plan_from_counts(counts, totals, num_primitives)
    return RasterPlan(bin_size=int(bin_size), num_bins=NB, list_capacity=int(E), tiers=tiers,
                      clip_z=bool(clip_z))


def plan_overflows(plan: RasterPlan, counts, totals):
    """() bool, traced: whether ``plan`` is too small for these (N, NB) counts and (N,) totals
    (the flat list, a bin above its tier's capacity, or a candidate in a bin past the tiers)."""
    over = totals.max() > plan.list_capacity
    if plan.tiers is not None:
        ranked = -jnp.sort(-counts.reshape(-1))  # fullest first
        r0 = 0
        for nb_t, m_t in plan.tiers:
            over = over | (ranked[r0] > m_t)
            r0 += nb_t
        if r0 < ranked.shape[0]:
            over = over | (ranked[r0] > 0)
    return over


def binned_search(table, bbox, ok, image_size, plan: RasterPlan, K, run, keys=None):
    """Indices (N, H, W, K) of the primitives each pixel sees (mesh faces or points).

    Args:
        table: (N, F, ...) per-primitive rows handed to the fine stage.
        bbox: (N, F, 4) NDC boxes ``[xmin, xmax, ymin, ymax]``; ok: (N, F) bool.
        plan: the :class:`RasterPlan`. With ``tiers``, bins are sorted by count and tier t
            processes the next B_t bins with M_t candidates each, so padding stays
            proportional to the counts; with ``tiers=None`` :func:`dynamic_search` runs with
            ``keys`` instead. Either way the plan is checked against the counts
            (:func:`plan_overflows`): on overflow every primitive is tested in every bin
            (exact); the returned report says so, for :func:`warn_overflow`.
        run: ``run(table, bins, n, b, px, py, M) -> (B, P, K)``, e.g. :func:`map_fine`.
        keys: the keys function of :func:`dynamic_search` (needed when ``tiers`` is None).

    Returns:
        ``(indices, report)``: indices (N, H, W, K) int32; ``report`` the arrays
        ``(overflow, total (N,), fullest bin count)`` that :func:`warn_overflow` turns into
        a warning. The search itself holds no host callback, so a program made of it alone
        can be stored by JAX's persistent compilation cache.
    """
    H, W = image_size
    N, F = table.shape[:2]
    bin_size, E, tiers = plan.bin_size, plan.list_capacity, plan.tiers
    px, py, _ = (jnp.asarray(a) for a in _bin_layout(H, W, bin_size))
    ext_x, ext_y = (jnp.asarray(a) for a in bin_extents_xy(H, W, bin_size))
    NB, P = px.shape
    sorted_ids, starts, counts, total = jax.vmap(
        lambda bb, o: bin_entries(bb, o, ext_x, ext_y, E)
    )(bbox, ok)
    bins = (sorted_ids, starts, counts)

    def binned():
        if tiers is None:
            group, chunk = _dynamic_sizes(P, K)
            return dynamic_search(keys, table, bins, px, py, K, group=group, chunk=chunk)
        order = jnp.argsort(-counts.reshape(N * NB), stable=True).astype(jnp.int32)
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

    overflow = plan_overflows(plan, counts, total)
    out = jax.lax.cond(overflow, every_primitive, binned)
    report = (overflow, total.max(), counts.max())
    return unbin_pixels(out.reshape(N, NB, P, K), H, W, bin_size), report


def warn_overflow(report, plan: RasterPlan) -> None:
    """Warn when :func:`binned_search`'s ``report`` says the bins overflowed ``plan``: in
    Python when the report is concrete (an eager call), through ``jax.debug.callback`` when
    it is traced (the search runs inside the caller's ``jit``)."""
    if any(is_traced(x) for x in report):
        jax.debug.callback(functools.partial(_warn_overflow, plan=plan), *report)
    else:
        _warn_overflow(*(np.asarray(x) for x in report), plan=plan)


def _warn_overflow(overflow, total, fullest, plan):
    if bool(np.any(overflow)):
        caps = "no per-bin capacity" if plan.tiers is None else f"bin capacities {plan.tiers}"
        warnings.warn(
            f"rasterization bins overflowed their plan ({int(np.max(total))} (bin, primitive) "
            f"overlaps for a list of {plan.list_capacity}, {int(np.max(fullest))} in the "
            f"fullest bin, {caps}): fell back to testing every primitive in every bin (exact "
            "but slow); raise max_faces_per_bin / max_points_per_bin, or plan from these "
            "data.",
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
