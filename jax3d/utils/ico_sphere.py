"""Unit icosphere by midpoint subdivision of an icosahedron (PyTorch3D's `ico_sphere`)."""

from __future__ import annotations

import numpy as np

from jax3d.utils._to_meshes import check_int, to_meshes

_GOLDEN = (1.0 + np.sqrt(5.0)) / 2.0
_A = 1.0 / np.sqrt(1.0 + _GOLDEN**2)  # 0.52573...
_B = _GOLDEN * _A  # 0.85065...

# The 12 icosahedron vertices in PyTorch3D's order, exactly on the unit sphere.
_ICO_VERTS0 = np.array(
    [
        [-_A, _B, 0.0], [_A, _B, 0.0], [-_A, -_B, 0.0], [_A, -_B, 0.0],
        [0.0, -_A, _B], [0.0, _A, _B], [0.0, -_A, -_B], [0.0, _A, -_B],
        [_B, 0.0, -_A], [_B, 0.0, _A], [-_B, 0.0, -_A], [-_B, 0.0, _A],
    ],
    dtype=np.float64,
)  # fmt: skip

# The 20 faces, counter-clockwise seen from outside, in PyTorch3D's order.
_ICO_FACES0 = np.array(
    [
        [0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11],
        [1, 5, 9], [5, 11, 4], [11, 10, 2], [10, 7, 6], [7, 1, 8],
        [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9],
        [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1],
    ],
    dtype=np.int64,
)  # fmt: skip


def _unique_edges(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique edges and the edge index of each face side.

    Returns:
        edges: (E, 2) int64, rows `(i, j)` with `i < j`, sorted lexicographically.
        face_edges: (F, 3) int64, `face_edges[f, k]` is the edge opposite corner k of face f,
            i.e. columns are the sides (v1, v2), (v2, v0), (v0, v1) as in PyTorch3D.
    """
    sides = np.concatenate([faces[:, [1, 2]], faces[:, [2, 0]], faces[:, [0, 1]]], axis=0)
    edges, inverse = np.unique(np.sort(sides, axis=1), axis=0, return_inverse=True)
    face_edges = inverse.reshape(3, len(faces)).T
    return edges, face_edges


def _subdivide(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split every face into 4 at its edge midpoints, projecting the new vertices on the sphere.

    Vertices are the old ones followed by one per unique edge (in sorted edge order); faces are
    the corner triangles of every face, corner 0 first, then corners 1, 2 and the middles, the
    layout of PyTorch3D's `SubdivideMeshes`, so indices match PyTorch3D's `ico_sphere`.
    """
    edges, face_edges = _unique_edges(faces)
    mids = verts[edges].mean(axis=1)
    new_verts = np.concatenate([verts, mids / np.linalg.norm(mids, axis=1, keepdims=True)])
    m = face_edges + len(verts)  # m[:, k]: midpoint of the side opposite corner k
    new_faces = np.concatenate(
        [
            np.stack([faces[:, 0], m[:, 2], m[:, 1]], axis=1),
            np.stack([faces[:, 1], m[:, 0], m[:, 2]], axis=1),
            np.stack([faces[:, 2], m[:, 1], m[:, 0]], axis=1),
            m,
        ],
        axis=0,
    )
    return new_verts, new_faces


def ico_sphere_verts_faces(level: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and faces of the unit icosphere of subdivision `level`.

    Each level splits every triangle into four at its edge midpoints and pushes the new
    vertices onto the sphere, so `V = 10 * 4**level + 2` and `F = 20 * 4**level`. Vertex and
    face order follow PyTorch3D's `ico_sphere` (PyTorch3D's level-0 vertices are rounded to 4
    decimals; these are exact, so positions agree to about 1e-4).

    Args:
        level: int >= 0, number of subdivisions.

    Returns:
        verts: (V, 3) float32, all of unit norm.
        faces: (F, 3) int32, counter-clockwise seen from outside, so that
            `cross(v1 - v0, v2 - v0)` points outwards.
    """
    level = check_int("level", level, 0)
    verts, faces = _ICO_VERTS0, _ICO_FACES0
    for _ in range(level):
        verts, faces = _subdivide(verts, faces)
    return verts.astype(np.float32), faces.astype(np.int32)


def ico_sphere(level: int = 0, device=None):
    """Unit icosphere as a one-mesh `jax3d.structures.Meshes`, like PyTorch3D's `ico_sphere`.

    Args:
        level: int >= 0, number of subdivisions (V = 10 * 4**level + 2, F = 20 * 4**level).
        device: placement of the arrays (`jax3d.device` meaning: None, a `jax.Device` or a
            string such as "cpu" or "cuda:0").

    Returns:
        `Meshes` of batch size 1; see `ico_sphere_verts_faces` for the arrays.
    """
    return to_meshes(*ico_sphere_verts_faces(level), device=device)
