"""Other Platonic solids on the unit sphere: tetrahedron, octahedron (diamond), dodecahedron."""

from __future__ import annotations

import numpy as np

from jax3d.utils._to_meshes import to_meshes


def _orient_outward(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Flip faces whose normal points towards the origin (convex solids centred at 0)."""
    v0, v1, v2 = (verts[faces[:, k]] for k in range(3))
    inward = np.einsum("fi,fi->f", np.cross(v1 - v0, v2 - v0), v0 + v1 + v2) < 0
    return np.where(inward[:, None], faces[:, ::-1], faces)


def tetrahedron_verts_faces() -> tuple[np.ndarray, np.ndarray]:
    """Regular tetrahedron inscribed in the unit sphere.

    Returns:
        verts: (4, 3) float32, alternate corners of the cube `[-1, 1]^3`, scaled to unit norm.
        faces: (4, 3) int32, counter-clockwise seen from outside.
    """
    verts = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], np.float64) / np.sqrt(3)
    faces = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 1], [1, 3, 2]], np.int64)
    return verts.astype(np.float32), _orient_outward(verts, faces).astype(np.int32)


def octahedron_verts_faces() -> tuple[np.ndarray, np.ndarray]:
    """Regular octahedron (a "diamond") with its 6 vertices at `+-e_x, +-e_y, +-e_z`.

    Returns:
        verts: (6, 3) float32, in the order +x, -x, +y, -y, +z, -z.
        faces: (8, 3) int32, one per octant, counter-clockwise seen from outside.
    """
    verts = np.concatenate([np.eye(3), -np.eye(3)])[[0, 3, 1, 4, 2, 5]]
    faces = np.array([[x, y, z] for x in (0, 1) for y in (2, 3) for z in (4, 5)], dtype=np.int64)
    return verts.astype(np.float32), _orient_outward(verts, faces).astype(np.int32)


def dodecahedron_verts_faces() -> tuple[np.ndarray, np.ndarray]:
    """Regular dodecahedron inscribed in the unit sphere, each pentagon fanned into 3 triangles.

    Returns:
        verts: (20, 3) float32, the cube corners `(+-1, +-1, +-1)` and the cyclic permutations
            of `(+-phi, +-1/phi, 0)`, scaled to unit norm (the vertex set of the book's
            `dodecahedron.obj`).
        faces: (36, 3) int32, counter-clockwise seen from outside.
    """
    phi = (1.0 + np.sqrt(5.0)) / 2.0
    cube = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], np.float64)
    rect = np.array([[a * phi, b / phi, 0] for a in (-1, 1) for b in (-1, 1)], np.float64)
    verts = np.concatenate([cube, rect, rect[:, [2, 0, 1]], rect[:, [1, 2, 0]]]) / np.sqrt(3)
    faces = _fan_pentagons(verts)
    return verts.astype(np.float32), _orient_outward(verts, faces).astype(np.int32)


def _fan_pentagons(verts: np.ndarray) -> np.ndarray:
    """Triangles of the 12 pentagonal faces of the dodecahedron with vertices `verts`.

    Each pentagon's centre direction is an icosahedron vertex; its 5 nearest dodecahedron
    vertices, sorted by angle around that direction, form the pentagon.
    """
    phi = (1.0 + np.sqrt(5.0)) / 2.0
    ico = np.array([[0, a, b * phi] for a in (-1, 1) for b in (-1, 1)], np.float64)
    centres = np.concatenate([ico, ico[:, [2, 0, 1]], ico[:, [1, 2, 0]]])
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    faces = []
    for c in centres:
        ring = np.argsort(-(verts @ c))[:5]
        t1 = np.cross(c, [1.0, 0.0, 0.0] if abs(c[0]) < 0.9 else [0.0, 1.0, 0.0])
        t2 = np.cross(c, t1)
        ring = ring[np.argsort(np.arctan2(verts[ring] @ t2, verts[ring] @ t1))]
        faces += [[ring[0], ring[k], ring[k + 1]] for k in (1, 2, 3)]
    return np.array(faces, np.int64)


def tetrahedron():
    """Regular tetrahedron as a one-mesh `Meshes`; see `tetrahedron_verts_faces`."""
    return to_meshes(*tetrahedron_verts_faces())


def octahedron():
    """Regular octahedron as a one-mesh `Meshes`; see `octahedron_verts_faces`."""
    return to_meshes(*octahedron_verts_faces())


def dodecahedron():
    """Regular dodecahedron as a one-mesh `Meshes`; see `dodecahedron_verts_faces`."""
    return to_meshes(*dodecahedron_verts_faces())
