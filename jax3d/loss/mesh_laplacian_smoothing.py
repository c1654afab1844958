"""Laplacian smoothing regulariser of meshes (PyTorch3D's `mesh_laplacian_smoothing`)."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from jax3d.ops._padded_edges import faces_valid_mask, padded_edges_single, padded_mesh_arrays
from jax3d.ops.laplacian_matrices import (
    cot_laplacian_entries,
    laplacian_entries,
    sparse_matvec,
)
from jax3d.safe_math import safe_divide, safe_norm, safe_reciprocal

__all__ = ["mesh_laplacian_smoothing"]

_METHODS = ("uniform", "cot", "cotcurv")


def _residual(verts, faces, num_faces, method: str):
    """(V, 3) Laplacian residual per vertex of one padded mesh; L is not differentiated."""
    V = verts.shape[0]
    if method == "uniform":
        edges, _, _ = padded_edges_single(faces, num_faces)
        rows, cols, vals = laplacian_entries(V, edges)
        return sparse_matvec(rows, cols, vals, verts, V)
    faces = jnp.where(faces_valid_mask(faces, num_faces)[:, None], faces, -1)
    rows, cols, vals, inv_areas = cot_laplacian_entries(jax.lax.stop_gradient(verts), faces)
    vals, inv_areas = jax.lax.stop_gradient(vals), jax.lax.stop_gradient(inv_areas)
    row_sum = jax.ops.segment_sum(vals, rows, num_segments=V)[:, None]  # (V, 1)
    lv = sparse_matvec(rows, cols, vals, verts, V)
    if method == "cot":
        norm_w = jnp.where(row_sum > 0, safe_reciprocal(row_sum), row_sum)
        return lv * norm_w - verts
    return (lv - row_sum * verts) * (0.25 * inv_areas)


def _smoothing_single(verts, faces, num_verts, num_faces, method: str):
    res = safe_norm(_residual(verts, faces, num_faces, method))  # (V,)
    valid = jnp.arange(verts.shape[0]) < num_verts
    return safe_divide(jnp.sum(jnp.where(valid, res, 0.0)), num_verts.astype(res.dtype))


@partial(jax.jit, static_argnames=("method",))
def _smoothing_batch(verts, faces, num_verts, num_faces, method: str):
    per_mesh = jax.vmap(_smoothing_single, in_axes=(0, 0, 0, 0, None))(
        verts, faces, num_verts, num_faces, method
    )
    return jnp.where(jnp.sum(num_faces) > 0, jnp.mean(per_mesh), 0.0)


def mesh_laplacian_smoothing(meshes, method: str = "uniform") -> jax.Array:
    """Laplacian smoothing loss: mean over meshes of the mean per-vertex Laplacian norm.

    For each mesh, `sum_i |r_i| / V_b` where the residual `r = L verts` is, by `method`:
    "uniform": `L = D^-1 A - I` (mean of the neighbours minus the vertex);
    "cot": `(L_cot verts) / rowsum(L_cot) - verts` (rows with sum <= 0 are weighted by that
    sum itself, as PyTorch3D does);
    "cotcurv": `(L_cot verts - rowsum(L_cot) verts) / (4 * area around vertex)`.
    As in PyTorch3D the Laplacian matrix is treated as a constant (no gradient through its
    weights); the gradient flows through the product with the vertices. Jit-safe.

    Args:
        meshes: `Meshes` batch of B meshes.
        method: "uniform", "cot" or "cotcurv".

    Returns:
        () float32 loss; 0 when no mesh has a face.
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    verts, faces, num_verts, num_faces = padded_mesh_arrays(meshes, "mesh_laplacian_smoothing")
    if verts.shape[0] == 0 or faces.shape[1] == 0:
        return jnp.zeros((), verts.dtype)
    return _smoothing_batch(verts, faces, num_verts, num_faces, method)
