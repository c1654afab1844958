"""jax3d.ops."""

from jax3d.ops.graph_conv import GraphConv, GraphConvModule, gather_scatter
from jax3d.ops.interpolate_face_attributes import interpolate_face_attributes
from jax3d.ops.laplacian_matrices import cot_laplacian, laplacian, norm_laplacian
from jax3d.ops.mesh_face_areas_normals import mesh_face_areas_normals
from jax3d.ops.vert_align import vert_align

__all__: list[str] = [
    "GraphConv",
    "GraphConvModule",
    "cot_laplacian",
    "gather_scatter",
    "interpolate_face_attributes",
    "laplacian",
    "mesh_face_areas_normals",
    "norm_laplacian",
    "vert_align",
]
