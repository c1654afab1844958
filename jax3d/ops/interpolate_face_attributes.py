"""Barycentric interpolation of per-face-vertex attributes at rasterized pixels."""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["interpolate_face_attributes"]


def interpolate_face_attributes(
    pix_to_face: jax.Array, barycentric_coords: jax.Array, face_attributes: jax.Array
) -> jax.Array:
    """Interpolate face attributes with barycentric coordinates (PyTorch3D semantics).

    Args:
        pix_to_face: (N, H, W, K) int; `pix_to_face[n, y, x, k] = f` is a packed face index, or
            -1 where no face covers the pixel. Any leading shape `(...)` works.
        barycentric_coords: (N, H, W, K, 3) float32 barycentrics of the pixel in face `f`.
        face_attributes: (F, 3, D) float32; `face_attributes[f, i]` is the attribute at vertex
            `i` of face `f`.

    Returns:
        (N, H, W, K, D) float32: `sum_i bary[..., i] * face_attributes[f, i]`, and 0 where
        `pix_to_face == -1`. Differentiable w.r.t. barycentrics and attributes.
    """
    pix_to_face = jnp.asarray(pix_to_face)
    barycentric_coords = jnp.asarray(barycentric_coords)
    face_attributes = jnp.asarray(face_attributes)
    if not jnp.issubdtype(pix_to_face.dtype, jnp.integer):
        raise TypeError(f"pix_to_face must be an integer array, got {pix_to_face.dtype}")
    if barycentric_coords.shape != (*pix_to_face.shape, 3):
        raise ValueError(
            f"barycentric_coords must be {(*pix_to_face.shape, 3)} to match pix_to_face, "
            f"got {barycentric_coords.shape}"
        )
    if face_attributes.ndim != 3 or face_attributes.shape[1] != 3:
        raise ValueError(f"face_attributes must be (F, 3, D), got {face_attributes.shape}")
    if face_attributes.shape[0] == 0:  # nothing to interpolate: every pixel is empty
        return jnp.zeros((*pix_to_face.shape, face_attributes.shape[2]), face_attributes.dtype)
    return _interpolate(pix_to_face, barycentric_coords, face_attributes)


@jax.jit
def _interpolate(pix_to_face, barycentric_coords, face_attributes):
    valid = pix_to_face >= 0
    idx = jnp.where(valid, pix_to_face, 0)
    attrs = face_attributes[idx]  # (..., 3, D)
    out = jnp.sum(barycentric_coords[..., None] * attrs, axis=-2)  # (..., D)
    return jnp.where(valid[..., None], out, 0.0)
