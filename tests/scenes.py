"""Test scenes built in the tests, so tests of jax3d's own behaviour need no ../shared files.

``sphere_scene()`` is the scene of the PyTorch3D reference files (rasterize_sphere.npz,
shade_sphere.npz, points.npz): PyTorch3D's ``ico_sphere(2)`` (jax3d's is the same mesh) seen by
``FoVPerspectiveCameras`` at ``look_at_view_transform(dist=3, elev=30, azim=45)``; tests that
compare with PyTorch3D's outputs load those files instead (and skip without them).
"""

from __future__ import annotations

import numpy as np

from jax3d.renderer import look_at_view_transform
from jax3d.utils import ico_sphere_verts_faces

# The reference scenes' lighting and material (see ../shared/reference/README.md).
LIGHT_LOCATION = np.array([1.0, 1.0, -2.0], np.float32)
SPECULAR_COLOR = np.array([1.0, 0.0, 0.0], np.float32)
SHININESS = 15.0


def sphere_scene() -> dict[str, np.ndarray]:
    """``verts (162, 3)``, ``faces (320, 3)``, ``R (1, 3, 3)``, ``T (1, 3)`` and
    ``vertex_colors = 0.5 (verts + 1)`` as float32 / int32 NumPy arrays."""
    verts, faces = ico_sphere_verts_faces(2)
    R, T = look_at_view_transform(3.0, 30.0, 45.0)
    return {
        "verts": verts, "faces": faces, "R": np.asarray(R), "T": np.asarray(T),
        "vertex_colors": 0.5 * (verts + 1.0),
    }  # fmt: skip


def random_points(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(points (n, 3), features (n, 3))`` in the unit ball, colours in [0, 1]."""
    rng = np.random.default_rng(seed)
    pts = rng.normal(size=(n, 3))
    pts *= rng.uniform(0.0, 1.0, (n, 1)) ** (1 / 3) / np.linalg.norm(pts, axis=1, keepdims=True)
    return pts.astype(np.float32), rng.uniform(size=(n, 3)).astype(np.float32)
