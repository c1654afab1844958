"""jax3d.utils: procedural assets (icosphere, torus, Platonic solids, Utah teapot, checkerboard)
PyTorch3D's OpenCV camera conversions, and ``enable_compilation_cache`` for scripts.

Every asset has an array-level `*_verts_faces` function returning host NumPy arrays
`(verts (V, 3) float32, faces (F, 3) int32)` and a wrapper returning a one-mesh
`jax3d.structures.Meshes`, like PyTorch3D's `pytorch3d.utils.ico_sphere` / `torus`.
"""

from jax3d.utils.checkerboard import checkerboard, checkerboard_image, checkerboard_verts_faces
from jax3d.utils.compilation_cache import (
    default_compilation_cache_dir,
    enable_compilation_cache,
)
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
    "cameras_from_opencv_projection",
    "checkerboard",
    "checkerboard_image",
    "checkerboard_verts_faces",
    "cube",
    "cube_verts_faces",
    "default_compilation_cache_dir",
    "dodecahedron",
    "dodecahedron_verts_faces",
    "enable_compilation_cache",
    "ico_sphere",
    "ico_sphere_uvs",
    "ico_sphere_verts_faces",
    "octahedron",
    "octahedron_verts_faces",
    "opencv_from_cameras_projection",
    "spherical_uvs",
    "teapot",
    "teapot_uvs",
    "teapot_verts_faces",
    "tetrahedron",
    "tetrahedron_verts_faces",
    "torus",
    "torus_verts_faces",
]

# PyTorch3D's camera conversions live in jax3d.renderer (cameras sit above the assets); they
# are loaded on first access so that `import jax3d.utils` stays light.
_FROM_RENDERER = ("cameras_from_opencv_projection", "opencv_from_cameras_projection")


def __getattr__(name):
    if name in _FROM_RENDERER:
        from jax3d.renderer import camera_conversions

        return getattr(camera_conversions, name)
    raise AttributeError(f"module 'jax3d.utils' has no attribute {name!r}")
