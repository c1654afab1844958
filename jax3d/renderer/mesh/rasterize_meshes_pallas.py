"""Pallas kernel for the fine stage of mesh rasterization (one program per bin).

Each program loads its bin's M candidate faces, evaluates all (pixel, face) pairs with the
same maths as the XLA path (:func:`bin_keys`) and selects the K nearest faces by K rounds of
"minimum, then lowest column holding it" (a GPU-friendly selection that reproduces
``lax.top_k``'s order, ties to the lower face id). On CPU it runs with ``interpret=True``;
results are identical to the XLA path.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl

from jax3d.renderer.binned_search import bin_candidates
from jax3d.renderer.mesh.face_search import bin_keys

__all__ = ["fine_pallas", "select_nearest_iterative"]


def select_nearest_iterative(key, slot, K):
    """(P, K) slots of the K smallest finite keys per row, by K min-reductions."""
    P, M = key.shape
    cols = jax.lax.broadcasted_iota(jnp.int32, (P, M), 1)
    outs = []
    for _ in range(K):
        zmin = jnp.min(key, axis=1, keepdims=True)
        j = jnp.min(jnp.where(key == zmin, cols, M), axis=1, keepdims=True)
        pick = cols == j
        s = jnp.sum(jnp.where(pick, slot, 0), axis=1, keepdims=True)
        outs.append(jnp.where(jnp.isfinite(zmin), s, -1))
        key = jnp.where(pick, jnp.inf, key)
    return jnp.concatenate(outs, axis=1).astype(jnp.int32)


def _kernel(px_ref, py_ref, cand_ref, cid_ref, out_ref, *, S, K, settings):
    cand = cand_ref[0]
    M = cand.shape[0]
    key, slot = bin_keys(px_ref[0], py_ref[0], cand.reshape(M, S, 10), cid_ref[0], **settings)
    out_ref[0] = select_nearest_iterative(key, slot, K)


def fine_pallas(table, bins, n, b, px, py, M, *, settings, interpret=False):
    """Pallas version of :func:`jax3d.renderer.binned_search.map_fine` for meshes.

    Args:
        table: (N, F, S, 10) face table; bins: ``(sorted_ids, starts, counts)`` or None
            (every face is a candidate); n, b: (B,) mesh and bin of each program;
            px, py: (NB, P) pixel centres; M: static candidates per bin.
        settings: dict of :func:`bin_keys` options plus ``faces_per_pixel``.

    Returns:
        (B, P, K) int32 slot ids.
    """
    S = table.shape[2]
    K = settings["faces_per_pixel"]
    keys = {k: v for k, v in settings.items() if k != "faces_per_pixel"}
    if bins is None:
        cid = jnp.broadcast_to(jnp.arange(table.shape[1], dtype=jnp.int32), (n.shape[0], M))
        cand = table[n]
    else:
        cand, cid = jax.vmap(lambda ni, bi: bin_candidates(table, bins, ni, bi, M))(n, b)
    B, P = n.shape[0], px.shape[1]
    cand = cand.reshape(B, M, S * 10)
    kernel = functools.partial(_kernel, S=S, K=K, settings=keys)
    return pl.pallas_call(
        kernel,
        grid=(B,),
        in_specs=[
            pl.BlockSpec((1, P), lambda i: (i, 0)),
            pl.BlockSpec((1, P), lambda i: (i, 0)),
            pl.BlockSpec((1, M, S * 10), lambda i: (i, 0, 0)),
            pl.BlockSpec((1, M), lambda i: (i, 0)),
        ],
        out_specs=pl.BlockSpec((1, P, K), lambda i: (i, 0, 0)),
        out_shape=jax.ShapeDtypeStruct((B, P, K), jnp.int32),
        interpret=interpret,
    )(px[b], py[b], cand, cid)
