"""The Utah teapot, tessellated from Newell's 32 bicubic Bezier patches."""

from __future__ import annotations

import numpy as np

from jax3d.utils._to_meshes import check_int, to_meshes
from jax3d.utils.teapot_data import TEAPOT_CONTROL_POINTS, TEAPOT_PATCHES

# Newell's units -> the book's teapot.obj (height 3.15 -> 1.005, body radius 2 -> 0.638).
TEAPOT_SCALE = 0.3190648

# Newell's Z-up frame -> Y-up (a proper rotation of -90 degrees about X): (x, y, z) -> (x, z, -y).
_Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

# Seam vertices of neighbouring patches agree to ~1e-15; merge them on a 1e-7 grid.
_MERGE_QUANTUM = 1e-7
_MIN_AREA = 1e-12


def _bernstein3(t: np.ndarray) -> np.ndarray:
    """Cubic Bernstein basis: (T,) -> (T, 4) with columns B_0..B_3."""
    s = 1.0 - t
    return np.stack([s**3, 3.0 * s**2 * t, 3.0 * s * t**2, t**3], axis=1)


def _patch_grids(n: int) -> np.ndarray:
    """Surface points of every patch on an (n+1) x (n+1) parameter grid, Y-up, scaled.

    Returns:
        (32, n + 1, n + 1, 3) float64, `[p, a, b]` is patch p at (t, s) = (a / n, b / n) where
        t weights the control grid's rows and s its columns.
    """
    ctrl = np.asarray(TEAPOT_CONTROL_POINTS, np.float64)
    ctrl = ctrl[np.asarray(TEAPOT_PATCHES) - 1].reshape(-1, 4, 4, 3)
    basis = _bernstein3(np.linspace(0.0, 1.0, n + 1))
    grid = np.einsum("ai,bj,pijc->pabc", basis, basis, ctrl)
    return TEAPOT_SCALE * grid @ _Z_UP_TO_Y_UP.T


def _grid_triangles(n: int) -> np.ndarray:
    """Two triangles per grid quad, as indices into a flattened (n+1) x (n+1) grid: (2 n^2, 3).

    Newell's patches have their outward normal along d/ds x d/dt (columns, then rows), so the
    triangles walk (t, s) -> (t, s+1) -> (t+1, s+1).
    """
    a, b = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    q00 = (a * (n + 1) + b).ravel()
    q10, q01 = q00 + (n + 1), q00 + 1
    q11 = q10 + 1
    tris = np.stack([np.stack([q00, q01, q11], 1), np.stack([q00, q11, q10], 1)], 1)
    return tris.reshape(-1, 3)


def _merge_vertices(verts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge coincident vertices, keeping first-occurrence order.

    Returns:
        unique: (U, 3) the merged vertices; remap: (N,) index of each input row in `unique`.
    """
    keys = np.round(verts / _MERGE_QUANTUM).astype(np.int64)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)  # unique rows sorted by first occurrence
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return verts[first[order]], rank[inverse.ravel()]


def _tessellate(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merged verts (V, 3), faces (F, 3), UV grid (T, 2) and faces_uvs (F, 3), all float64/int64."""
    grids = _patch_grids(n)  # (32, n+1, n+1, 3)
    num_patches, per_patch = grids.shape[0], (n + 1) ** 2
    tris = _grid_triangles(n)  # (2 n^2, 3), indices into one patch's grid
    patch_tris = np.broadcast_to(tris, (num_patches, *tris.shape))  # (32, 2n^2, 3)
    raw_faces = patch_tris + (np.arange(num_patches) * per_patch)[:, None, None]
    verts, remap = _merge_vertices(grids.reshape(-1, 3))
    faces = remap[raw_faces.reshape(-1, 3)]
    faces_uvs = patch_tris.reshape(-1, 3)
    v0, v1, v2 = (verts[faces[:, k]] for k in range(3))
    area2 = np.linalg.norm(np.cross(v1 - v0, v2 - v0), axis=1)
    distinct = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2])
    keep = distinct & (faces[:, 2] != faces[:, 0]) & (area2 > 2.0 * _MIN_AREA)
    t, s = np.meshgrid(np.linspace(0.0, 1.0, n + 1), np.linspace(0.0, 1.0, n + 1), indexing="ij")
    uv_grid = np.stack([1.0 - s.ravel(), 1.0 - t.ravel()], axis=1)
    return verts, faces[keep], uv_grid, faces_uvs[keep]


def teapot_verts_faces(subdivisions: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and faces of the Utah teapot, Y-up, sized like the book's `teapot.obj`.

    Each of Newell's 32 bicubic Bezier patches is evaluated on a `(subdivisions + 1)^2`
    parameter grid and split into `2 * subdivisions^2` triangles; vertices shared along patch
    seams are merged and the triangles that collapse at the lid's and the bottom's poles are
    dropped. Coordinates are Newell's rotated to +Y up (spout towards +X, handle towards -X)
    and scaled by `TEAPOT_SCALE`: the base sits on y = 0, the lid knob tops out at y ~ 1.005,
    the body radius is ~0.638, matching `teapot.obj`. Like the original, the surface is not
    closed (the lid floats in the rim's opening; spout and handle pierce the body).

    Args:
        subdivisions: int >= 1, grid steps along each side of each patch.

    Returns:
        verts: (V, 3) float32.
        faces: (F, 3) int32, oriented outwards (`cross(v1 - v0, v2 - v0)` points out), with
            `F = 64 subdivisions^2 - 8 subdivisions` for subdivisions >= 2 (no zero-area
            triangles are kept; at 1, four flat spout triangles are dropped as well).
    """
    n = check_int("subdivisions", subdivisions, 1)
    verts, faces, _, _ = _tessellate(n)
    return verts.astype(np.float32), faces.astype(np.int32)


def teapot_uvs(subdivisions: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Texture coordinates of `teapot_verts_faces(subdivisions)` from the patch parameters.

    Every patch maps onto the whole unit square: a point at Bezier parameters (t, s) (t along
    the control grid's rows, s along its columns) gets `(u, v) = (1 - s, 1 - t)`. On the body
    the rim is at the top of the texture and u runs around the teapot; UV triangles have the
    same (counter-clockwise) orientation as the faces seen from outside, so textures are not
    mirrored.

    Args:
        subdivisions: int >= 1, as for `teapot_verts_faces`.

    Returns:
        verts_uvs: ((subdivisions + 1)^2, 2) float32 in [0, 1], the parameter grid.
        faces_uvs: (F, 3) int32, parallel to the faces of `teapot_verts_faces(subdivisions)`.
    """
    n = check_int("subdivisions", subdivisions, 1)
    _, _, uv_grid, faces_uvs = _tessellate(n)
    return uv_grid.astype(np.float32), faces_uvs.astype(np.int32)


def teapot(subdivisions: int = 6):
    """Utah teapot as a one-mesh `jax3d.structures.Meshes`; see `teapot_verts_faces`.

    Args:
        subdivisions: int >= 1, grid steps along each side of each of the 32 patches.
    """
    return to_meshes(*teapot_verts_faces(subdivisions))
