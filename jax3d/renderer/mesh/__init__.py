"""jax3d.renderer.mesh: mesh rasterization (coarse-to-fine, differentiable)."""

from jax3d.renderer.mesh.clip import ClippedFaces, clip_faces
from jax3d.renderer.mesh.rasterize_meshes import (
    estimate_memory,
    plan_mesh_rasterization,
    rasterize_face_verts,
    rasterize_meshes,
)
from jax3d.renderer.mesh.rasterizer import Fragments, MeshRasterizer, RasterizationSettings

__all__: list[str] = [
    "ClippedFaces",
    "Fragments",
    "MeshRasterizer",
    "RasterizationSettings",
    "clip_faces",
    "estimate_memory",
    "plan_mesh_rasterization",
    "rasterize_face_verts",
    "rasterize_meshes",
]
