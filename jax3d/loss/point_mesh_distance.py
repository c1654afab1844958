"""Distances between point clouds and meshes (PyTorch3D's ``loss.point_mesh_distance``).

For each pair ``(mesh_n, cloud_n)``:

- ``point_mesh_face_distance`` = mean over the cloud's points of the squared distance to the
  closest triangle + mean over the mesh's faces of the squared distance to the closest point;
- ``point_mesh_edge_distance`` = the same with the mesh's (unique) edge segments;

then averaged over the ``N`` pairs (each term is weighted by ``1 / P_n`` or ``1 / F_n``
exactly like PyTorch3D's packed weights). The closest primitives are found by a tiled exact
search (bounded memory) without gradient; the squared distances are then recomputed
differentiably, so gradients reach the points and the vertices.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.ops.point_face_distance import (
    nearest_primitive_idx,
    point_segment_distance,
    point_triangle_distance,
)
from jax3d.ops.utils import convert_pointclouds_to_tensor, lengths_mask

__all__ = ["point_mesh_face_distance", "point_mesh_edge_distance"]

_DEFAULT_MIN_TRIANGLE_AREA = 5e-3


def _pt_tri(p, tri, area):
    return point_triangle_distance(p, tri[..., 0, :], tri[..., 1, :], tri[..., 2, :], area)


def _tri_pt(tri, p, area):
    return _pt_tri(p, tri, area)


def _pt_seg(p, seg):
    return point_segment_distance(p, seg[..., 0, :], seg[..., 1, :])


def _seg_pt(seg, p):
    return _pt_seg(p, seg)


def _gather(x, idx):
    """``x (N, M, ...)`` at ``idx (N, O)`` (-1 -> row 0): ``(N, O, ...)``."""
    safe = jnp.maximum(idx, 0)
    return jax.vmap(lambda a, i: a[i])(x, safe)


@partial(jax.jit, static_argnames=("to_prim", "to_point"))
def _two_way(points, num_points, prims, num_prims, params, *, to_prim, to_point):
    """Mean point->primitive plus mean primitive->point squared distance, batch-averaged.

    points ``(N, P, 3)``, prims ``(N, M, k, 3)``; ``to_prim(p, prim, *params)`` and
    ``to_point(prim, p, *params)`` are the (module-level) distance functions.
    """
    n = points.shape[0]
    pmask = lengths_mask(num_points, points.shape[1])
    fmask = lengths_mask(num_prims, prims.shape[1])
    idx_p = nearest_primitive_idx(points, prims, fmask, params, fn=to_prim)
    d_p = to_prim(points, _gather(prims, idx_p), *params)
    d_p = jnp.where(pmask & (idx_p >= 0), d_p, 0.0)
    idx_f = nearest_primitive_idx(prims, points, pmask, params, fn=to_point)
    d_f = to_point(prims, _gather(points, idx_f), *params)
    d_f = jnp.where(fmask & (idx_f >= 0), d_f, 0.0)
    per_p = jnp.sum(d_p, axis=1) / jnp.maximum(num_points, 1)
    per_f = jnp.sum(d_f, axis=1) / jnp.maximum(num_prims, 1)
    return (jnp.sum(per_p) + jnp.sum(per_f)) / max(n, 1)


def _check_pair(meshes, pcls):
    for name in ("verts_padded", "faces_padded", "num_faces_per_mesh"):
        if not hasattr(meshes, name):
            raise TypeError(f"meshes must be a Meshes, got {type(meshes).__name__}")
    points, num_points = convert_pointclouds_to_tensor(pcls, "pcls")
    if points.shape[2] != 3:
        raise ValueError(f"pcls must hold 3D points, got shape {tuple(points.shape)}")
    if len(meshes) != points.shape[0]:
        raise ValueError(
            f"meshes and pcls must be equal sized batches, got {len(meshes)} and "
            f"{points.shape[0]}"
        )
    return points, num_points


def point_mesh_face_distance(
    meshes, pcls, min_triangle_area: float = _DEFAULT_MIN_TRIANGLE_AREA
) -> jax.Array:
    """``point_face(mesh, pcl) + face_point(mesh, pcl)`` averaged over the batch.

    Args:
        meshes: ``Meshes`` with ``N`` meshes (``F_n`` faces each).
        pcls: ``Pointclouds`` with ``N`` clouds, or a ``(N, P, 3)`` array (all points valid).
        min_triangle_area: triangles smaller than this are treated as lines/points.

    Returns:
        ``() float32``: ``(1/N) sum_n [ mean_p d(p, mesh_n) + mean_f d(f, cloud_n) ]`` with
        ``d`` the squared point-triangle distance. Empty clouds/meshes contribute 0.

    Jittable (padded views only); differentiable w.r.t. points and vertices.
    Complexity ``O(N P F)`` point-triangle tests in both directions, ``O(N T F)`` memory.
    """
    points, num_points = _check_pair(meshes, pcls)
    area = jnp.asarray(min_triangle_area, points.dtype)
    return _face_distance(meshes, points, num_points, area)


@jax.jit
def _face_distance(meshes, points, num_points, area):
    verts = meshes.verts_padded()
    faces = meshes.faces_padded()
    tris = _gather(verts, faces.reshape(faces.shape[0], -1)).reshape(*faces.shape, 3)
    nf = meshes.num_faces_per_mesh()
    return _two_way(points, num_points, tris, nf, (area,), to_prim=_pt_tri, to_point=_tri_pt)


def _padded_segments(meshes):
    """``(segments (N, Emax, 2, 3), num_edges (N,))`` from the (concrete) packed edges."""
    edges = meshes.edges_packed()
    num_edges = np.asarray(meshes.num_edges_per_mesh())
    first = np.cumsum(num_edges) - num_edges
    emax = max(int(num_edges.max()) if num_edges.size else 0, 1)
    cols = np.arange(emax)[None]
    rows = np.where(cols < num_edges[:, None], first[:, None] + cols, 0)
    segs = meshes.verts_packed()[edges]  # (E, 2, 3)
    if segs.shape[0] == 0:
        segs = jnp.zeros((1, 2, 3), meshes.verts_padded().dtype)
    return segs[jnp.asarray(rows)], jnp.asarray(num_edges, jnp.int32)


def point_mesh_edge_distance(meshes, pcls) -> jax.Array:
    """``point_edge(mesh, pcl) + edge_point(mesh, pcl)`` averaged over the batch.

    Args:
        meshes: ``Meshes`` with ``N`` meshes; its unique edges are the segments.
        pcls: ``Pointclouds`` with ``N`` clouds, or a ``(N, P, 3)`` array.

    Returns:
        ``() float32``: ``(1/N) sum_n [ mean_p d(p, edges_n) + mean_e d(e, cloud_n) ]`` with
        ``d`` the squared point-segment distance.

    Needs concrete faces (edges have data-dependent counts, as ``Meshes.edges_packed``);
    differentiable w.r.t. points and vertices. Complexity ``O(N P E)``.
    """
    points, num_points = _check_pair(meshes, pcls)
    segs, num_edges = _padded_segments(meshes)
    return _two_way(points, num_points, segs, num_edges, (), to_prim=_pt_seg, to_point=_seg_pt)
