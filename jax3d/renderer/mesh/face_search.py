"""The mesh side of the binned search: face table, face boxes and per-bin hit tests.

:func:`jax3d.renderer.binned_search.binned_search` finds, for every pixel, the K nearest
primitives; for meshes a primitive is a face (or, with z clipping, a face's up to two clipped
triangles, its "slots" ``f * S + s``) stored as one row of the table built by
:func:`face_table`. :func:`bin_keys` is the hit test of one bin's pixels against its candidate
faces (PyTorch3D's edge functions), shared by the XLA path and the Pallas kernel
(:mod:`jax3d.renderer.mesh.rasterize_meshes_pallas`). Nothing here is differentiated.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jax3d.renderer.binned_search import select_nearest
from jax3d.renderer.mesh.triangle import (
    K_EPSILON,
    barycentric_coords,
    clip_bary,
    edge_function,
    perspective_correct_bary,
    triangle_dist2,
)

__all__ = ["face_table", "face_bbox", "bin_keys", "fine_rasterize_bin"]


def face_table(face_verts, face_ok, cull_backfaces):
    """(N, F, S, 3, 3) verts + (N, F, S) ok -> (N, F, S, 10) search table (9 coords, ok)."""
    v = face_verts
    x0, y0, x1, y1, x2, y2 = (
        v[..., 0, 0],
        v[..., 0, 1],
        v[..., 1, 0],
        v[..., 1, 1],
        v[..., 2, 0],
        v[..., 2, 1],
    )
    face_area = edge_function(x0, y0, x1, y1, x2, y2)
    ok = face_ok & (jnp.abs(face_area) > K_EPSILON) & (v[..., 2].min(-1) >= K_EPSILON)
    if cull_backfaces:
        ok = ok & (face_area >= 0.0)
    flat = v.reshape(*v.shape[:-2], 9)
    return jnp.concatenate([flat, ok[..., None].astype(v.dtype)], -1)


def face_bbox(table, blur_radius):
    """Expanded NDC box ``[xmin, xmax, ymin, ymax]`` of every face (union over halves)."""
    r = float(np.sqrt(blur_radius))
    xs, ys = table[..., 0:9:3], table[..., 1:9:3]
    ok = table[..., 9] > 0
    big = jnp.float32(3e38)
    xmin = jnp.where(ok, xs.min(-1), big).min(-1) - r
    xmax = jnp.where(ok, xs.max(-1), -big).max(-1) + r
    ymin = jnp.where(ok, ys.min(-1), big).min(-1) - r
    ymax = jnp.where(ok, ys.max(-1), -big).max(-1) + r
    return jnp.stack([xmin, xmax, ymin, ymax], -1), ok.any(-1)


def _half_hits(px, py, t, blur_radius, perspective_correct, clip_barycentric_coords):
    """Per (pixel, candidate) hit test for one triangle half. Returns (keep, pz, |dist|)."""
    x0, y0, z0, x1, y1, z1, x2, y2, z2, ok = (t[..., i] for i in range(10))
    r = np.float32(np.sqrt(blur_radius))
    inb = (
        (px >= jnp.minimum(jnp.minimum(x0, x1), x2) - r)
        & (px <= jnp.maximum(jnp.maximum(x0, x1), x2) + r)
        & (py >= jnp.minimum(jnp.minimum(y0, y1), y2) - r)
        & (py <= jnp.maximum(jnp.maximum(y0, y1), y2) + r)
    )
    w0, w1, w2 = barycentric_coords(px, py, x0, y0, x1, y1, x2, y2)
    if perspective_correct:
        w0, w1, w2 = perspective_correct_bary(w0, w1, w2, z0, z1, z2)
    inside = (w0 > 0) & (w1 > 0) & (w2 > 0)
    if clip_barycentric_coords:
        w0, w1, w2 = clip_bary(w0, w1, w2)
    pz = w0 * z0 + w1 * z1 + w2 * z2
    keep = (ok > 0) & inb & (pz >= 0)
    if blur_radius > 0:
        dist = triangle_dist2(px, py, x0, y0, x1, y1, x2, y2)
        keep = keep & (inside | (dist < blur_radius))
    else:
        dist = jnp.zeros_like(pz)
        keep = keep & inside
    return keep, pz, dist


def bin_keys(px, py, cand, cand_ids, *, blur_radius, perspective_correct,
             clip_barycentric_coords):
    """Depth keys and slot ids of every (pixel, candidate) pair of one bin.

    Args:
        px, py: (P,) float32 NDC pixel centres.
        cand: (M, S, 10) float32 candidate face table rows (S = 2 halves when clipped).
        cand_ids: (M,) int32 face ids (-1 padding), increasing.

    Returns:
        key: (P, M) float32 depth where the pair is a hit, +inf otherwise.
        slot: (P, M) int32 slot id ``f * S + s`` of the hit half.
    """
    S = cand.shape[1]
    px, py = px[:, None], py[:, None]
    args = (blur_radius, perspective_correct, clip_barycentric_coords)
    keep, pz, dist = _half_hits(px, py, cand[None, :, 0], *args)
    slot = cand_ids * S
    if S == 2:  # a clipped quad split in two: keep the half nearer to the pixel (PyTorch3D).
        keep2, pz2, dist2 = _half_hits(px, py, cand[None, :, 1], *args)
        use2 = keep2 & (~keep | (dist2 < dist))
        keep, pz = keep | keep2, jnp.where(use2, pz2, pz)
        slot = slot[None, :] + use2.astype(jnp.int32)
    else:
        slot = jnp.broadcast_to(slot[None, :], keep.shape)
    keep = keep & (cand_ids[None, :] >= 0)
    return jnp.where(keep, pz, jnp.inf), slot


def fine_rasterize_bin(px, py, cand, cand_ids, *, blur_radius, faces_per_pixel,
                       perspective_correct, clip_barycentric_coords):
    """Nearest K faces for the pixels of one bin: (P, K) int32 slot ids (-1 when empty),
    sorted by depth (ties: lower face id). Arguments as :func:`bin_keys`."""
    key, slot = bin_keys(px, py, cand, cand_ids, blur_radius=blur_radius,
                         perspective_correct=perspective_correct,
                         clip_barycentric_coords=clip_barycentric_coords)
    return select_nearest(key, slot, faces_per_pixel)
