"""jax3d.renderer."""

from jax3d.renderer.camera_conversions import (
    R_T_from_opengl_c2w,
    cameras_from_opencv_projection,
    cameras_from_opengl_c2w,
    opencv_from_cameras_projection,
    opengl_c2w_from_cameras,
    opengl_c2w_from_R_T,
)
from jax3d.renderer.cameras import (
    CamerasBase,
    FoVOrthographicCameras,
    FoVPerspectiveCameras,
    OrthographicCameras,
    PerspectiveCameras,
    camera_position_from_spherical_angles,
    get_ndc_to_screen_transform,
    get_screen_to_ndc_transform,
    get_world_to_view_transform,
    look_at_rotation,
    look_at_view_transform,
)
from jax3d.renderer.mesh.rasterize_meshes import estimate_memory, rasterize_meshes
from jax3d.renderer.mesh.rasterizer import Fragments, MeshRasterizer, RasterizationSettings
from jax3d.renderer.mesh.textures import TexturesAtlas, TexturesUV, TexturesVertex
from jax3d.renderer.points import (
    AlphaCompositor,
    NormWeightedCompositor,
    PointFragments,
    PointsRasterizationSettings,
    PointsRasterizer,
    PointsRenderer,
    rasterize_points,
)

__all__: list[str] = [
    "AlphaCompositor",
    "NormWeightedCompositor",
    "PointFragments",
    "PointsRasterizationSettings",
    "PointsRasterizer",
    "PointsRenderer",
    "rasterize_points",
    "Fragments",
    "MeshRasterizer",
    "RasterizationSettings",
    "estimate_memory",
    "rasterize_meshes",
    "TexturesAtlas",
    "TexturesUV",
    "TexturesVertex",
    "CamerasBase",
    "FoVOrthographicCameras",
    "FoVPerspectiveCameras",
    "OrthographicCameras",
    "PerspectiveCameras",
    "camera_position_from_spherical_angles",
    "get_ndc_to_screen_transform",
    "get_screen_to_ndc_transform",
    "get_world_to_view_transform",
    "look_at_rotation",
    "look_at_view_transform",
    "R_T_from_opengl_c2w",
    "cameras_from_opencv_projection",
    "cameras_from_opengl_c2w",
    "opencv_from_cameras_projection",
    "opengl_c2w_from_R_T",
    "opengl_c2w_from_cameras",
]
