"""Sparse Laplacian matrices of meshes and graphs: uniform, cotangent and norm-weighted.

Matrices are `jax.experimental.sparse.BCOO` of shape (V, V) (never dense V x V); duplicate
entries are allowed and sum, as in PyTorch3D's uncoalesced sparse tensors. The `*_entries`
functions return the same matrices as `(rows, cols, vals)` triples for code that prefers a
`segment_sum` matvec (`sparse_matvec`). Edge or face rows holding -1 are padding and are ignored
(their entries have value 0), which keeps every shape static under `jax.jit`.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax.experimental import sparse

from jax3d.safe_math import safe_norm, safe_reciprocal

__all__ = [
    "cot_laplacian",
    "cot_laplacian_entries",
    "laplacian",
    "laplacian_entries",
    "norm_laplacian",
    "norm_laplacian_entries",
    "sparse_matvec",
]


def _check(verts: jax.Array, index: jax.Array, index_name: str, width: int) -> None:
    if verts.ndim != 2 or verts.shape[1] != 3:
        raise ValueError(f"verts must be (V, 3), got {verts.shape}")
    if index.ndim != 2 or index.shape[1] != width:
        raise ValueError(f"{index_name} must be (N, {width}), got {index.shape}")
    if not jnp.issubdtype(index.dtype, jnp.integer):
        raise TypeError(f"{index_name} must be an integer array, got {index.dtype}")


def _bcoo(rows: jax.Array, cols: jax.Array, vals: jax.Array, V: int) -> sparse.BCOO:
    indices = jnp.stack([rows, cols], axis=-1).astype(jnp.int32)
    return sparse.BCOO((vals, indices), shape=(V, V))


@partial(jax.jit, static_argnums=4)
def sparse_matvec(
    rows: jax.Array, cols: jax.Array, vals: jax.Array, x: jax.Array, num_rows: int
) -> jax.Array:
    """`L @ x` for `L[rows[k], cols[k]] += vals[k]`. x: (V, D) -> (num_rows, D)."""
    return jax.ops.segment_sum(vals[:, None] * x[cols], rows, num_segments=num_rows)


@partial(jax.jit, static_argnums=0)
def laplacian_entries(V: int, edges: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Entries of `laplacian` for `V` vertices: rows, cols, vals of length 2E + V."""
    valid = jnp.all(edges >= 0, axis=-1)
    e0 = jnp.where(valid, edges[:, 0], 0)
    e1 = jnp.where(valid, edges[:, 1], 0)
    ones = valid.astype(jnp.float32)
    deg = jax.ops.segment_sum(ones, e0, V) + jax.ops.segment_sum(ones, e1, V)
    inv_deg = safe_reciprocal(deg)
    diag = jnp.arange(V, dtype=jnp.int32)
    rows = jnp.concatenate([e0, e1, diag])
    cols = jnp.concatenate([e1, e0, diag])
    vals = jnp.concatenate([inv_deg[e0] * ones, inv_deg[e1] * ones, -jnp.ones((V,))])
    return rows, cols, vals


def laplacian(verts: jax.Array, edges: jax.Array) -> sparse.BCOO:
    """Uniform graph Laplacian (PyTorch3D's `laplacian`).

    `L[i, i] = -1`, `L[i, j] = 1 / deg(i)` for each edge (i, j) (both directions), else 0;
    so `(L @ verts)[i]` is the mean of the neighbours of `i` minus `verts[i]`.

    Args:
        verts: (V, 3) float32, only its length is used.
        edges: (E, 2) int vertex indices; rows of -1 are ignored.

    Returns:
        BCOO (V, V) float32.
    """
    verts, edges = jnp.asarray(verts), jnp.asarray(edges)
    _check(verts, edges, "edges", 2)
    V = verts.shape[0]
    return _bcoo(*laplacian_entries(V, edges), V)


def _face_cotangents(verts: jax.Array, faces: jax.Array, eps: float):
    """Heron areas (F,) and cotangent weights (F, 3) as PyTorch3D computes them."""
    tri = verts[faces]  # (F, 3, 3)
    v0, v1, v2 = tri[:, 0], tri[:, 1], tri[:, 2]
    a = safe_norm(v1 - v2)
    b = safe_norm(v0 - v2)
    c = safe_norm(v0 - v1)
    s = 0.5 * (a + b + c)
    area = jnp.sqrt(jnp.maximum(s * (s - a) * (s - b) * (s - c), eps))
    a2, b2, c2 = a * a, b * b, c * c
    cot = jnp.stack([b2 + c2 - a2, a2 + c2 - b2, a2 + b2 - c2], axis=1) / (4.0 * area[:, None])
    return area, cot


@jax.jit
def cot_laplacian_entries(verts: jax.Array, faces: jax.Array, eps: float = 1e-12):
    """Entries of `cot_laplacian`: (rows, cols, vals) of length 6F, and inv_areas (V, 1)."""
    V = verts.shape[0]
    valid = jnp.all(faces >= 0, axis=-1)
    faces = jnp.where(valid[:, None], faces, 0)
    area, cot = _face_cotangents(verts, faces, eps)
    cot = jnp.where(valid[:, None], cot, 0.0)
    ii = faces[:, jnp.array([1, 2, 0])].reshape(-1)
    jj = faces[:, jnp.array([2, 0, 1])].reshape(-1)
    vals = cot.reshape(-1)
    rows = jnp.concatenate([ii, jj])
    cols = jnp.concatenate([jj, ii])
    area_sum = jax.ops.segment_sum(
        jnp.repeat(jnp.where(valid, area, 0.0), 3), faces.reshape(-1), num_segments=V
    )
    return rows, cols, jnp.concatenate([vals, vals]), safe_reciprocal(area_sum)[:, None]


def cot_laplacian(
    verts: jax.Array, faces: jax.Array, eps: float = 1e-12
) -> tuple[sparse.BCOO, jax.Array]:
    """Cotangent Laplacian and inverse vertex areas (PyTorch3D's `cot_laplacian`).

    `L[i, j] = cot(a_ij) + cot(b_ij)` for an edge (i, j) shared by faces whose angles opposite
    the edge are a_ij, b_ij (one term on a boundary); diagonal 0. Areas use Heron's formula,
    clamped at `eps` before the square root, exactly as PyTorch3D.

    Args:
        verts: (V, 3) float32.
        faces: (F, 3) int; rows of -1 are ignored.
        eps: clamp of the squared Heron area.

    Returns:
        L: BCOO (V, V) float32, differentiable w.r.t. verts.
        inv_areas: (V, 1) float32, 1 / (sum of the areas of the faces around each vertex), 0
            for vertices in no face.
    """
    verts, faces = jnp.asarray(verts), jnp.asarray(faces)
    _check(verts, faces, "faces", 3)
    rows, cols, vals, inv_areas = cot_laplacian_entries(verts, faces, eps)
    return _bcoo(rows, cols, vals, verts.shape[0]), inv_areas


@jax.jit
def norm_laplacian_entries(verts: jax.Array, edges: jax.Array, eps: float = 1e-12):
    """Entries of `norm_laplacian`: (rows, cols, vals) of length 2E."""
    valid = jnp.all(edges >= 0, axis=-1)
    e = jnp.where(valid[:, None], edges, 0)
    w = 1.0 / (safe_norm(verts[e[:, 0]] - verts[e[:, 1]]) + eps)
    w = jnp.where(valid, w, 0.0)
    rows = jnp.concatenate([e[:, 0], e[:, 1]])
    cols = jnp.concatenate([e[:, 1], e[:, 0]])
    return rows, cols, jnp.concatenate([w, w])


def norm_laplacian(verts: jax.Array, edges: jax.Array, eps: float = 1e-12) -> sparse.BCOO:
    """Inverse-edge-length weighted adjacency (PyTorch3D's `norm_laplacian`).

    `L[i, j] = L[j, i] = 1 / (|v_i - v_j| + eps)` for each edge (i, j); diagonal 0.

    Args:
        verts: (V, 3) float32.
        edges: (E, 2) int; rows of -1 are ignored.
        eps: added to each edge length.

    Returns:
        BCOO (V, V) float32, differentiable w.r.t. verts.
    """
    verts, edges = jnp.asarray(verts), jnp.asarray(edges)
    _check(verts, edges, "edges", 2)
    return _bcoo(*norm_laplacian_entries(verts, edges, eps), verts.shape[0])
