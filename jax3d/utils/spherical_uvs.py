"""Spherical (longitude/latitude) texture coordinates for meshes around the origin."""

from __future__ import annotations

import numpy as np

from jax3d.utils._to_meshes import check_int
from jax3d.utils.ico_sphere import ico_sphere_verts_faces

_POLE_EPS = 1e-6


def _check_verts_faces(verts, faces) -> tuple[np.ndarray, np.ndarray]:
    verts = np.asarray(verts)
    faces = np.asarray(faces)
    if verts.ndim != 2 or verts.shape[1] != 3:
        raise ValueError(f"verts must be (V, 3), got {verts.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces must be (F, 3), got {faces.shape}")
    if not np.issubdtype(faces.dtype, np.integer):
        raise TypeError(f"faces must hold integers, got {faces.dtype}")
    if faces.size and (faces.min() < 0 or faces.max() >= len(verts)):
        raise ValueError(f"faces must index verts in [0, {len(verts)}), got {faces.min()}..")
    if not np.all(np.isfinite(verts)):
        raise ValueError("verts must be finite")
    return verts.astype(np.float64), faces.astype(np.int64)


def spherical_uvs(verts, faces) -> tuple[np.ndarray, np.ndarray]:
    """Longitude/latitude UVs of a mesh that surrounds the origin, with a clean seam and poles.

    `u = 0.5 + atan2(x, z) / (2 pi)` is the longitude around +Y (u = 0.5 on +Z, increasing
    towards +X) and `v = 0.5 + asin(y / |p|) / pi` the latitude (v = 1 at the +Y pole; in
    PyTorch3D's TexturesUV convention v = 1 is the top row of the texture image). Faces that
    straddle the seam at u = 0 / 1 get their own copies of the seam-side corners with u
    shifted by +1 (so u may exceed 1 by up to one face width: sample with wrap-around in u);
    a corner at a pole takes the mean u of the face's other corners.

    Args:
        verts: (V, 3) float, no vertex at the origin.
        faces: (F, 3) int, indices into `verts`.

    Returns:
        verts_uvs: (T, 2) float32, texture coordinates (T >= V minus unused verts).
        faces_uvs: (F, 3) int32, `faces_uvs[f, k]` is the row of `verts_uvs` for corner k of
            face f (PyTorch3D's `TexturesUV(maps, faces_uvs, verts_uvs)` layout).
    """
    verts, faces = _check_verts_faces(verts, faces)
    radius = np.linalg.norm(verts, axis=1)
    if np.any(radius[np.unique(faces)] < _POLE_EPS):
        raise ValueError("verts used by faces must not lie at the origin")
    radius = np.where(radius < _POLE_EPS, 1.0, radius)
    u = 0.5 + np.arctan2(verts[:, 0], verts[:, 2]) / (2.0 * np.pi)
    v = 0.5 + np.arcsin(np.clip(verts[:, 1] / radius, -1.0, 1.0)) / np.pi
    pole = np.hypot(verts[:, 0], verts[:, 2]) < _POLE_EPS * radius
    cu, cv, cpole = u[faces], v[faces], pole[faces]  # (F, 3) each
    # Wrap corners across the seam: in a face spanning more than half a turn, lift the small u.
    u_hi = np.where(cpole, -np.inf, cu).max(axis=1)
    u_lo = np.where(cpole, np.inf, cu).min(axis=1)
    wraps = (u_hi - u_lo) > 0.5
    cu = np.where(wraps[:, None] & (cu < 0.5) & ~cpole, cu + 1.0, cu)
    n_other = np.maximum((~cpole).sum(axis=1, keepdims=True), 1)
    pole_u = np.where(cpole, 0.0, cu).sum(axis=1, keepdims=True) / n_other
    cu = np.where(cpole, pole_u, cu)
    corners = np.stack([cu, cv], axis=-1).reshape(-1, 2)  # (3F, 2)
    keys = np.round(corners * 2**20).astype(np.int64)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    verts_uvs = corners[first].astype(np.float32)
    faces_uvs = inverse.reshape(-1, 3).astype(np.int32)
    return verts_uvs, faces_uvs


def ico_sphere_uvs(level: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Spherical UVs of `ico_sphere_verts_faces(level)`; see `spherical_uvs`.

    Args:
        level: int >= 0, the icosphere's subdivision level.

    Returns:
        verts_uvs: (T, 2) float32 and faces_uvs: (F, 3) int32, parallel to the icosphere's faces.
    """
    level = check_int("level", level, 0)
    return spherical_uvs(*ico_sphere_verts_faces(level))
