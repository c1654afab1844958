"""Jit-safe edge topology of padded meshes (private helper of the mesh ops and losses).

`Meshes.edges_packed()` has a data-dependent size, so it only works eagerly. The mesh losses,
`SubdivideMeshes` and `taubin_smoothing` need edges inside `jax.jit`; this module computes them
per mesh with a static upper bound (`3 F` edges for `F` faces) and a count, in PyTorch3D's
order: the unique undirected edges `(i, j)`, `i < j`, sorted lexicographically.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

_BIG = jnp.iinfo(jnp.int32).max


class PaddedEdges(NamedTuple):
    """Edges of one mesh (or a batch, with a leading `B` axis on every field).

    edges: (3F, 2) int32; rows `[:num_edges]` are the unique edges `(i, j)`, `i < j`, sorted;
        the other rows are -1.
    num_edges: () int32.
    face_to_edge: (F, 3) int32; `face_to_edge[f, k]` is the edge opposite vertex `k` of face `f`
        (PyTorch3D's `faces_packed_to_edges_packed` convention), -1 for padding faces.
    """

    edges: jax.Array
    num_edges: jax.Array
    face_to_edge: jax.Array


def faces_valid_mask(faces: jax.Array, num_faces: jax.Array) -> jax.Array:
    """(..., F) bool: face rows below `num_faces` whose indices are all >= 0."""
    F = faces.shape[-2]
    in_range = jnp.arange(F) < jnp.asarray(num_faces)[..., None]
    return in_range & jnp.all(faces >= 0, axis=-1)


def padded_edges_single(faces: jax.Array, num_faces: jax.Array) -> PaddedEdges:
    """Unique edges of one padded mesh. faces: (F, 3) int, num_faces: () int."""
    F = faces.shape[0]
    if F == 0:
        empty = jnp.zeros((0, 2), jnp.int32)
        return PaddedEdges(empty, jnp.zeros((), jnp.int32), jnp.zeros((0, 3), jnp.int32))
    faces = faces.astype(jnp.int32)
    valid = faces_valid_mask(faces, num_faces)  # (F,)
    # Half-edge k of face f is opposite vertex k: (v1, v2), (v2, v0), (v0, v1).
    a = faces[:, jnp.array([1, 2, 0])]  # (F, 3)
    b = faces[:, jnp.array([2, 0, 1])]
    lo = jnp.where(valid[:, None], jnp.minimum(a, b), _BIG).reshape(-1)  # (3F,)
    hi = jnp.where(valid[:, None], jnp.maximum(a, b), _BIG).reshape(-1)
    order = jnp.arange(3 * F, dtype=jnp.int32)
    lo_s, hi_s, perm = jax.lax.sort((lo, hi, order), num_keys=2)
    ok = lo_s != _BIG
    differs = jnp.concatenate(
        [jnp.ones((1,), bool), (lo_s[1:] != lo_s[:-1]) | (hi_s[1:] != hi_s[:-1])]
    )
    is_new = differs & ok
    edge_id = jnp.cumsum(is_new.astype(jnp.int32)) - 1  # (3F,) id of each sorted half-edge
    edge_id = jnp.where(ok, edge_id, -1)
    num_edges = jnp.sum(is_new.astype(jnp.int32))
    target = jnp.where(is_new, edge_id, 3 * F)  # out of range -> dropped
    edges = jnp.full((3 * F, 2), -1, jnp.int32)
    edges = edges.at[target].set(jnp.stack([lo_s, hi_s], axis=-1), mode="drop")
    face_to_edge = jnp.zeros((3 * F,), jnp.int32).at[perm].set(edge_id).reshape(F, 3)
    return PaddedEdges(edges, num_edges, face_to_edge)


def padded_edges(faces: jax.Array, num_faces: jax.Array) -> PaddedEdges:
    """Batched `padded_edges_single`: faces (B, F, 3), num_faces (B,) -> fields with a B axis."""
    return jax.vmap(padded_edges_single)(faces, num_faces)


def padded_mesh_arrays(meshes, owner: str):
    """(verts (B, V, 3), faces (B, F, 3) int32, num_verts (B,), num_faces (B,)) of a Meshes.

    Raises TypeError naming `owner` when `meshes` is not a Meshes-like object.
    """
    needed = ("verts_padded", "faces_padded", "num_verts_per_mesh", "num_faces_per_mesh")
    if not all(hasattr(meshes, n) for n in needed):
        raise TypeError(f"{owner}: meshes must be a jax3d.structures.Meshes, got {type(meshes)}")
    verts = jnp.asarray(meshes.verts_padded())
    faces = jnp.asarray(meshes.faces_padded()).astype(jnp.int32)
    num_verts = jnp.asarray(meshes.num_verts_per_mesh()).astype(jnp.int32)
    num_faces = jnp.asarray(meshes.num_faces_per_mesh()).astype(jnp.int32)
    return verts, faces, num_verts, num_faces
