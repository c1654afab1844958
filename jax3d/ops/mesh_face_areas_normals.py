"""Per-face areas and unit normals of triangle meshes."""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["mesh_face_areas_normals"]

_NORMAL_EPS = 1e-6  # PyTorch3D divides the cross product by max(|n|, 1e-6)


def _check_inputs(verts: jax.Array, faces: jax.Array) -> None:
    if verts.ndim not in (2, 3) or verts.shape[-1] != 3:
        raise ValueError(f"verts must be (V, 3) or (B, V, 3), got {verts.shape}")
    if faces.ndim != verts.ndim or faces.shape[-1] != 3:
        raise ValueError(
            f"faces must be (F, 3) with verts (V, 3) or (B, F, 3) with verts (B, V, 3), "
            f"got faces {faces.shape} and verts {verts.shape}"
        )
    if faces.ndim == 3 and faces.shape[0] != verts.shape[0]:
        raise ValueError(f"faces batch {faces.shape[0]} != verts batch {verts.shape[0]}")
    if not jnp.issubdtype(faces.dtype, jnp.integer):
        raise TypeError(f"faces must be an integer array, got {faces.dtype}")
    if not jnp.issubdtype(verts.dtype, jnp.floating):
        raise TypeError(f"verts must be a floating array, got {verts.dtype}")


@jax.jit
def _areas_normals_single(verts: jax.Array, faces: jax.Array) -> tuple[jax.Array, jax.Array]:
    valid = jnp.all(faces >= 0, axis=-1)  # (F,)
    tri = verts[jnp.where(valid[:, None], faces, 0)]  # (F, 3, 3)
    n = jnp.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # (F, 3)
    sq = jnp.sum(n * n, axis=-1)
    tiny = sq < 1e-30
    norm = jnp.where(tiny, 0.0, jnp.sqrt(jnp.where(tiny, 1.0, sq)))  # NaN-safe |n|
    areas = jnp.where(valid, 0.5 * norm, 0.0)
    normals = n / jnp.maximum(norm, _NORMAL_EPS)[:, None]
    normals = jnp.where(valid[:, None], normals, 0.0)
    return areas, normals


_areas_normals_batch = jax.jit(jax.vmap(_areas_normals_single))


def mesh_face_areas_normals(verts: jax.Array, faces: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Areas and unit normals of triangles (PyTorch3D's `mesh_face_areas_normals`).

    Args:
        verts: (V, 3) float32 packed vertices, or (B, V, 3) padded.
        faces: (F, 3) int indices into `verts` (or (B, F, 3), per-mesh indices). Rows holding
            -1 (padding) give area 0 and normal 0.

    Returns:
        areas: (F,) or (B, F) float32, `0.5 |(v1 - v0) x (v2 - v0)|`.
        normals: (F, 3) or (B, F, 3) float32, `(v1 - v0) x (v2 - v0) / max(|.|, 1e-6)`, so a
            degenerate face has a zero normal. Gradients are finite everywhere.
    """
    verts = jnp.asarray(verts)
    faces = jnp.asarray(faces)
    _check_inputs(verts, faces)
    if faces.ndim == 3:
        return _areas_normals_batch(verts, faces)
    return _areas_normals_single(verts, faces)
