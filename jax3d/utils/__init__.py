"""jax3d.utils: procedural assets (icosphere, torus, Platonic solids, Utah teapot, checkerboard).

Every asset has an array-level `*_verts_faces` function returning host NumPy arrays
`(verts (V, 3) float32, faces (F, 3) int32)` and a wrapper returning a one-mesh
`jax3d.structures.Meshes`, like PyTorch3D's `pytorch3d.utils.ico_sphere` / `torus`.
"""

from jax3d.utils.checkerboard import checkerboard
from jax3d.utils.cube import cube, cube_verts_faces
from jax3d.utils.ico_sphere import ico_sphere, ico_sphere_verts_faces
from jax3d.utils.platonic import (
    dodecahedron,
    dodecahedron_verts_faces,
    octahedron,
    octahedron_verts_faces,
    tetrahedron,
    tetrahedron_verts_faces,
)
from jax3d.utils.spherical_uvs import ico_sphere_uvs, spherical_uvs
from jax3d.utils.teapot import TEAPOT_SCALE, teapot, teapot_uvs, teapot_verts_faces
from jax3d.utils.torus import torus, torus_verts_faces

__all__ = [
    "TEAPOT_SCALE",
    "checkerboard",
    "cube",
    "cube_verts_faces",
    "dodecahedron",
    "dodecahedron_verts_faces",
    "ico_sphere",
    "ico_sphere_uvs",
    "ico_sphere_verts_faces",
    "octahedron",
    "octahedron_verts_faces",
    "spherical_uvs",
    "teapot",
    "teapot_uvs",
    "teapot_verts_faces",
    "tetrahedron",
    "tetrahedron_verts_faces",
    "torus",
    "torus_verts_faces",
]
