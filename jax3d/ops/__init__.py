"""jax3d.ops."""

from jax3d.ops.ball_query import ball_query
from jax3d.ops.cameras_alignment import corresponding_cameras_alignment
from jax3d.ops.cubify import CubifyResult, cubify, cubify_padded
from jax3d.ops.graph_conv import GraphConv, GraphConvModule, gather_scatter
from jax3d.ops.interpolate_face_attributes import interpolate_face_attributes
from jax3d.ops.iou_box3d import box3d_overlap
from jax3d.ops.knn import KNN, knn_gather, knn_points
from jax3d.ops.laplacian_matrices import cot_laplacian, laplacian, norm_laplacian
from jax3d.ops.mesh_face_areas_normals import mesh_face_areas_normals
from jax3d.ops.packed_to_padded import packed_to_padded, padded_to_packed
from jax3d.ops.perspective_n_points import EpnpSolution, efficient_pnp
from jax3d.ops.points_alignment import (
    ICPSolution,
    SimilarityTransform,
    corresponding_points_alignment,
    iterative_closest_point,
)
from jax3d.ops.points_normals import (
    estimate_pointcloud_local_coord_frames,
    estimate_pointcloud_normals,
)
from jax3d.ops.points_to_volumes import (
    add_pointclouds_to_volumes,
    add_points_features_to_volume_densities_features,
)
from jax3d.ops.sample_farthest_points import sample_farthest_points
from jax3d.ops.sample_points_from_meshes import sample_points_from_meshes
from jax3d.ops.subdivide_meshes import SubdivideMeshes
from jax3d.ops.taubin_smoothing import taubin_smoothing
from jax3d.ops.utils import (
    convert_pointclouds_to_tensor,
    eyes,
    get_point_covariances,
    is_pointclouds,
    wmean,
)
from jax3d.ops.vert_align import vert_align

__all__: list[str] = [
    "KNN",
    "knn_gather",
    "knn_points",
    "ball_query",
    "sample_farthest_points",
    "estimate_pointcloud_normals",
    "estimate_pointcloud_local_coord_frames",
    "SimilarityTransform",
    "ICPSolution",
    "corresponding_points_alignment",
    "iterative_closest_point",
    "GraphConv",
    "GraphConvModule",
    "SubdivideMeshes",
    "CubifyResult",
    "cubify",
    "cubify_padded",
    "cot_laplacian",
    "gather_scatter",
    "interpolate_face_attributes",
    "laplacian",
    "mesh_face_areas_normals",
    "norm_laplacian",
    "sample_points_from_meshes",
    "taubin_smoothing",
    "vert_align",
    "EpnpSolution",
    "add_pointclouds_to_volumes",
    "box3d_overlap",
    "corresponding_cameras_alignment",
    "efficient_pnp",
    "add_points_features_to_volume_densities_features",
    "convert_pointclouds_to_tensor",
    "eyes",
    "get_point_covariances",
    "is_pointclouds",
    "packed_to_padded",
    "padded_to_packed",
    "wmean",
]
