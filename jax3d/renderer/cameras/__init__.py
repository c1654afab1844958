"""jax3d.renderer.cameras: the four PyTorch3D camera models, their deprecated aliases and
helpers."""

from jax3d.renderer.cameras.aliases import (
    OpenGLOrthographicCameras,
    OpenGLPerspectiveCameras,
    SfMOrthographicCameras,
    SfMPerspectiveCameras,
)
from jax3d.renderer.cameras.base import CamerasBase
from jax3d.renderer.cameras.fov import FoVOrthographicCameras, FoVPerspectiveCameras
from jax3d.renderer.cameras.look_at import (
    camera_position_from_spherical_angles,
    get_world_to_view_transform,
    look_at_rotation,
    look_at_view_transform,
)
from jax3d.renderer.cameras.screen import get_ndc_to_screen_transform, get_screen_to_ndc_transform
from jax3d.renderer.cameras.sfm import OrthographicCameras, PerspectiveCameras

__all__ = [
    "CamerasBase",
    "FoVOrthographicCameras",
    "FoVPerspectiveCameras",
    "OpenGLOrthographicCameras",
    "OpenGLPerspectiveCameras",
    "OrthographicCameras",
    "PerspectiveCameras",
    "SfMOrthographicCameras",
    "SfMPerspectiveCameras",
    "camera_position_from_spherical_angles",
    "get_ndc_to_screen_transform",
    "get_screen_to_ndc_transform",
    "get_world_to_view_transform",
    "look_at_rotation",
    "look_at_view_transform",
]
