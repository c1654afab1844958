"""The differentiable half of mesh rasterization: fragments recomputed from the faces found.

The search (:mod:`jax3d.renderer.mesh.face_search`, no gradient) gives each pixel's K nearest
face slots; :func:`recompute` then evaluates depth, barycentrics and signed distances from the
gathered vertices of exactly those faces. Gradients flow through here only: the backward pass
is one scatter-add of ``fragments * 9`` values into the faces (the gather of the coordinates is
a custom JVP whose transpose is that scatter, so forward mode works as well).

Only the fragments (slots >= 0) are visited, up to a static capacity, the recompute's plan
(:func:`plan_fragment_capacity`): from the data, the fragment count rounded up, when the slots
are concrete; under ``jit`` ``"auto"``, a ``lax.switch`` over a ladder of capacities that picks
the smallest holding the traced count
(:func:`jax3d.renderer.mesh.switch.switch_with_recompute`). The entries run
``_RECOMPUTE_BLOCK`` at a time, so temporaries do not grow with ``N*H*W*K``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.renderer.binning import pixel_centers_ndc
from jax3d.renderer.mesh.switch import capacity_ladder, plan_capacity, switch_with_recompute
from jax3d.renderer.mesh.triangle import (
    barycentric_coords,
    clip_bary,
    nearest_edge_dist2,
    perspective_correct_bary,
)

__all__ = ["recompute", "plan_fragment_capacity", "fragment_values"]

_SAFE_TRIANGLE = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0]], np.float32)


@jax.custom_jvp
def _gather_coords(table_t, idx):
    """Nine (E,) arrays ``table_t[c, idx]`` (nine 1-D gathers: fast forward).

    The JVP gathers whole rows of the tangent (``table_t.T[idx]``, linear), whose transpose,
    the reverse-mode gradient, is one row scatter-add (fast on CPU) instead of nine; forward
    (``jax.jvp``) and reverse mode both work.
    """
    table_t = jnp.asarray(table_t)
    return tuple(table_t[c].at[idx].get(mode="promise_in_bounds") for c in range(9))


@_gather_coords.defjvp
def _gather_coords_jvp(primals, tangents):
    table_t, idx = primals
    t_table_t, _ = tangents
    rows = jnp.asarray(t_table_t).T.at[idx].get(mode="promise_in_bounds")  # (E, 9)
    return _gather_coords(table_t, idx), tuple(rows[:, c] for c in range(9))


def fragment_values(px, py, c, perspective_correct, clip_barycentric_coords):
    """zbuf, (w0, w1, w2), signed dist at pixel centres ``(px, py)`` of triangles ``c`` (9 arrays
    x0, y0, z0, ..., z2), all broadcasting together."""
    x0, y0, z0, x1, y1, z1, x2, y2, z2 = c
    w0, w1, w2 = barycentric_coords(px, py, x0, y0, x1, y1, x2, y2, safe=True)
    if perspective_correct:
        w0, w1, w2 = perspective_correct_bary(w0, w1, w2, z0, z1, z2)
    inside = (w0 > 0) & (w1 > 0) & (w2 > 0)
    if clip_barycentric_coords:
        w0, w1, w2 = clip_bary(w0, w1, w2)
    zbuf = w0 * z0 + w1 * z1 + w2 * z2
    dist = nearest_edge_dist2(px, py, x0, y0, x1, y1, x2, y2)
    return zbuf, (w0, w1, w2), jnp.where(inside, -dist, dist)


_RECOMPUTE_BLOCK = 1 << 18  # fragments evaluated at once (bounds the recompute's temporaries)


def _entry_values_block(table_t, flat, e, e_ok, xs, ys, hwk, T, perspective_correct,
                        clip_barycentric_coords):  # fmt: skip
    """zbuf (B,), bary (B, 3), signed dist (B,) of flat slot entries ``e (B,)``, -1 where
    ``e_ok`` is False or the slot is empty."""
    H, W, K = hwk
    e_safe = jnp.where(e_ok, e, 0)
    s = flat[e_safe]  # (B,)
    ok = (s >= 0) & e_ok
    pix = e_safe // K
    n, y, x = pix // (H * W), (pix // W) % H, pix % W
    c = _gather_coords(table_t, n * T + jnp.maximum(s, 0))
    safe = _SAFE_TRIANGLE.reshape(9)
    c = tuple(jnp.where(ok, c[i], safe[i]) for i in range(9))
    zbuf, (w0, w1, w2), dist = fragment_values(
        xs[x], ys[y], c, perspective_correct, clip_barycentric_coords
    )
    neg = jnp.float32(-1.0)
    zbuf, dist = jnp.where(ok, zbuf, neg), jnp.where(ok, dist, neg)
    bary = jnp.where(ok[..., None], jnp.stack([w0, w1, w2], -1), neg)
    return zbuf, bary, dist


def _entry_values(table_t, flat, e, e_ok, xs, ys, hwk, T, perspective_correct,
                  clip_barycentric_coords):  # fmt: skip
    """:func:`_entry_values_block` over ``e (C,)``, ``_RECOMPUTE_BLOCK`` entries at a time.

    Above one block the entries run through ``lax.map`` with a checkpointed body, so the
    temporaries of the forward and backward pass are one block's (~300 bytes per entry in the
    backward) instead of all C entries' at once: under ``jit`` XLA reserves memory for the
    largest ``lax.switch`` branch (the dense one, N*H*W*K entries) whichever runs.
    """
    args = (perspective_correct, clip_barycentric_coords)
    C, B = e.shape[0], _RECOMPUTE_BLOCK
    if C <= B:
        return _entry_values_block(table_t, flat, e, e_ok, xs, ys, hwk, T, *args)
    nb = -(-C // B)
    pad = nb * B - C
    e_b = jnp.pad(e, (0, pad)).reshape(nb, B)
    ok_b = jnp.pad(e_ok, (0, pad)).reshape(nb, B)

    @jax.checkpoint
    def block(table_t, eb, okb):
        return _entry_values_block(table_t, flat, eb, okb, xs, ys, hwk, T, *args)

    zbuf, bary, dist = jax.lax.map(lambda eo: block(table_t, *eo), (e_b, ok_b))
    return zbuf.reshape(-1)[:C], bary.reshape(-1, 3)[:C], dist.reshape(-1)[:C]


def recompute(face_verts, slots, perspective_correct, clip_barycentric_coords, capacity=None):
    """zbuf (N,H,W,K), bary (N,H,W,K,3), signed dists (N,H,W,K) for the chosen faces.

    Args:
        face_verts: (N, T, 3, 3) float32 (T faces or clipped slots), differentiable.
        slots: (N, H, W, K) int32 indices into T, -1 where empty.
        capacity: static bound on the number of fragments (``slots >= 0``), or None
            (``N*H*W*K``, dense). Only those entries are evaluated (the first ``capacity`` in
            row-major order) and scattered back, so the work and the backward scatter scale
            with the fragments, not with the image times K. ``"auto"`` (what the rasterizer
            uses above 2**18 slots) picks the smallest of a few static capacities that fits,
            with ``lax.switch``.
    """
    if capacity == "auto":
        return _recompute_switch(face_verts, slots, perspective_correct,
                                 clip_barycentric_coords)
    N, H, W, K = slots.shape
    T = face_verts.shape[1]
    total = N * H * W * K
    C = total if capacity is None else int(min(capacity, total))
    xs, ys = (jnp.asarray(a) for a in pixel_centers_ndc(H, W))
    flat = slots.reshape(total)
    if C == total:  # dense: every entry, no compaction
        e = jnp.arange(total, dtype=jnp.int32)
        e_ok = jnp.ones((total,), bool)
    else:
        (e,) = jnp.nonzero(flat >= 0, size=C, fill_value=total)
        e_ok = e < total
        e = e.astype(jnp.int32)
    table_t = face_verts.reshape(N * T, 9).T
    zbuf, bary, dist = _entry_values(table_t, flat, e, e_ok, xs, ys, (H, W, K), T,
                                     perspective_correct, clip_barycentric_coords)
    neg = jnp.float32(-1.0)
    if C < total:
        def put(v):
            out = jnp.full((total,) + v.shape[1:], neg)
            return out.at[e].set(v, mode="drop", unique_indices=True, indices_are_sorted=True)

        zbuf, bary, dist = put(zbuf), put(bary), put(dist)
    return zbuf.reshape(N, H, W, K), bary.reshape(N, H, W, K, 3), dist.reshape(N, H, W, K)


def plan_fragment_capacity(slots):
    """The recompute's plan: a static bound on the fragments of ``slots`` (N, H, W, K) in
    total (:func:`~jax3d.renderer.mesh.switch.plan_capacity`: from the data when concrete,
    None (dense) when no smaller, ``"auto"`` when traced)."""
    return plan_capacity(slots, per_image=False)


_MIN_SWITCH_CAPACITY = 1 << 12


def _switch_capacities(total: int) -> tuple[int, ...]:
    """Static fragment capacities of the switch (:func:`capacity_ladder`, >= 4096 each)."""
    return capacity_ladder(total, _MIN_SWITCH_CAPACITY)


def _switch_branches(slots, perspective_correct, clip_barycentric_coords):
    """(index, branches): :func:`recompute` at each capacity of :func:`_switch_capacities`
    (then dense); ``index`` picks the smallest that holds the traced fragment count."""
    caps = _switch_capacities(slots.size)
    count = (slots >= 0).sum()
    index = sum((count > c).astype(jnp.int32) for c in caps)
    branches = [
        functools.partial(recompute, perspective_correct=perspective_correct,
                          clip_barycentric_coords=clip_barycentric_coords, capacity=c)
        for c in caps + (None,)
    ]
    return index, branches


def _recompute_switch(face_verts, slots, perspective_correct, clip_barycentric_coords):
    """:func:`recompute` with the smallest capacity of :func:`_switch_capacities` that holds
    the traced fragment count (dense when none does). One ``lax.switch``: only the chosen
    branch runs (under ``vmap`` with a batched count, every branch would). Its VJP recomputes
    the chosen branch (:func:`switch_with_recompute`) instead of keeping every branch's
    residuals.
    """
    index, branches = _switch_branches(slots, perspective_correct, clip_barycentric_coords)
    if len(branches) == 1:
        return branches[0](face_verts, slots)
    return switch_with_recompute(index, branches, face_verts, slots)
