"""Unit cube centred at the origin, 12 outward triangles."""

from __future__ import annotations

import numpy as np

from jax3d.utils._to_meshes import to_meshes

# Vertex k has coordinates (+-0.5) with bit 2 -> x, bit 1 -> y, bit 0 -> z set for +0.5.
_CUBE_VERTS = np.array(
    [[(k >> 2) & 1, (k >> 1) & 1, k & 1] for k in range(8)], dtype=np.float32
) - np.float32(0.5)

# Two triangles per side, counter-clockwise seen from outside: -x, +x, -y, +y, -z, +z.
_CUBE_FACES = np.array(
    [
        [0, 1, 3], [0, 3, 2],
        [4, 6, 7], [4, 7, 5],
        [0, 4, 5], [0, 5, 1],
        [2, 3, 7], [2, 7, 6],
        [0, 2, 6], [0, 6, 4],
        [1, 5, 7], [1, 7, 3],
    ],
    dtype=np.int32,
)  # fmt: skip


def cube_verts_faces() -> tuple[np.ndarray, np.ndarray]:
    """Vertices and faces of the axis-aligned cube `[-0.5, 0.5]^3` (side 1, volume 1).

    Returns:
        verts: (8, 3) float32, vertex k is `(+-0.5, +-0.5, +-0.5)` with the signs given by the
            bits of k (x: bit 2, y: bit 1, z: bit 0).
        faces: (12, 3) int32, two triangles per side, counter-clockwise seen from outside.
    """
    return _CUBE_VERTS.copy(), _CUBE_FACES.copy()


def cube():
    """Unit cube as a one-mesh `jax3d.structures.Meshes`; see `cube_verts_faces`."""
    return to_meshes(*cube_verts_faces())
