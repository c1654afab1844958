"""Torus mesh with PyTorch3D's `torus(r, R, sides, rings)` layout."""

from __future__ import annotations

import numpy as np

from jax3d.utils._to_meshes import check_int, check_positive_float, to_meshes


def torus_verts_faces(r: float, R: float, sides: int, rings: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and faces of a torus around the Z axis, in PyTorch3D's order.

    Vertex `i * sides + j` sits at ring angle `phi = 2 pi i / rings` and tube angle
    `theta = 2 pi j / sides`: `((R + r cos theta) cos phi, (R + r cos theta) sin phi,
    r sin theta)`. Each grid quad gives two triangles; faces point outwards.

    Args:
        r: float > 0, tube (inner) radius.
        R: float > 0, distance from the centre to the tube's centre line (outer radius);
            `r < R` gives a ring torus without self-intersection.
        sides: int >= 3, divisions around the tube.
        rings: int >= 3, divisions around the Z axis.

    Returns:
        verts: (rings * sides, 3) float32.
        faces: (2 * rings * sides, 3) int32, counter-clockwise seen from outside.
    """
    r = check_positive_float("r", r)
    R = check_positive_float("R", R)
    sides = check_int("sides", sides, 3)
    rings = check_int("rings", rings, 3)
    phi = 2.0 * np.pi * np.arange(rings) / rings
    theta = 2.0 * np.pi * np.arange(sides) / sides
    ring_radius = R + r * np.cos(theta)  # (sides,)
    verts = np.stack(
        [
            np.outer(np.cos(phi), ring_radius),
            np.outer(np.sin(phi), ring_radius),
            np.broadcast_to(r * np.sin(theta), (rings, sides)),
        ],
        axis=-1,
    ).reshape(-1, 3)
    i0 = np.arange(-1, rings - 1) % rings  # previous ring, as in PyTorch3D's pair range
    i1 = np.arange(rings)
    j0 = np.arange(-1, sides - 1) % sides
    j1 = np.arange(sides)
    v00 = (i0[:, None] * sides + j0[None, :]).ravel()
    v01 = (i0[:, None] * sides + j1[None, :]).ravel()
    v10 = (i1[:, None] * sides + j0[None, :]).ravel()
    v11 = (i1[:, None] * sides + j1[None, :]).ravel()
    faces = np.stack([np.stack([v00, v10, v11], 1), np.stack([v11, v01, v00], 1)], 1)
    return verts.astype(np.float32), faces.reshape(-1, 3).astype(np.int32)


def torus(r: float, R: float, sides: int, rings: int, device=None):
    """Torus as a one-mesh `jax3d.structures.Meshes`, like PyTorch3D's `torus`.

    Args:
        r: float > 0, tube radius. R: float > 0, centre-line radius.
        sides: int >= 3, divisions around the tube. rings: int >= 3, around the Z axis.
        device: placement of the arrays (`jax3d.device` meaning).

    Returns:
        `Meshes` of batch size 1; see `torus_verts_faces` for the arrays.
    """
    return to_meshes(*torus_verts_faces(r, R, sides, rings), device=device)
