"""Edge-length regulariser of meshes (PyTorch3D's `mesh_edge_loss`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jax3d.ops._padded_edges import padded_edges_single, padded_mesh_arrays
from jax3d.safe_math import safe_divide, safe_norm

__all__ = ["mesh_edge_loss"]


def _edge_loss_single(verts, faces, num_faces, target_length):
    edges, num_edges, _ = padded_edges_single(faces, num_faces)
    valid = jnp.arange(edges.shape[0]) < num_edges
    e = jnp.where(valid[:, None], edges, 0)
    length = safe_norm(verts[e[:, 0]] - verts[e[:, 1]])
    sq = jnp.where(valid, (length - target_length) ** 2, 0.0)
    return safe_divide(jnp.sum(sq), num_edges.astype(sq.dtype))


@jax.jit
def _edge_loss_batch(verts, faces, num_faces, target_length):
    per_mesh = jax.vmap(_edge_loss_single, in_axes=(0, 0, 0, None))(
        verts, faces, num_faces, target_length
    )
    return jnp.mean(per_mesh)


def mesh_edge_loss(meshes, target_length: float = 0.0) -> jax.Array:
    """Mean squared deviation of edge lengths from `target_length`.

    Each mesh's unique edges are averaged (`sum_e (|v_i - v_j| - target)^2 / E_b`), then the
    per-mesh values are averaged over the batch (meshes without faces count as 0), exactly
    PyTorch3D's weighting. Jit-safe and differentiable w.r.t. the vertices.

    Args:
        meshes: `Meshes` batch of B meshes.
        target_length: desired edge length.

    Returns:
        () float32 loss; 0 when no mesh has an edge.
    """
    verts, faces, _, num_faces = padded_mesh_arrays(meshes, "mesh_edge_loss")
    if verts.shape[0] == 0 or faces.shape[1] == 0:
        return jnp.zeros((), verts.dtype)
    return _edge_loss_batch(verts, faces, num_faces, jnp.asarray(target_length, verts.dtype))
