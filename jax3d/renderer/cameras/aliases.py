"""PyTorch3D's deprecated camera names, kept so old code ports unchanged.

``OpenGLPerspectiveCameras`` / ``OpenGLOrthographicCameras`` build the FoV cameras and
``SfMPerspectiveCameras`` / ``SfMOrthographicCameras`` the NDC-space multi-view cameras, with
PyTorch3D's parameter names (``top``/``bottom``/``left``/``right`` for the orthographic box).
Each warns with ``DeprecationWarning``, as PyTorch3D does.
"""

from __future__ import annotations

import warnings

from jax3d.renderer.cameras.fov import FoVOrthographicCameras, FoVPerspectiveCameras
from jax3d.renderer.cameras.sfm import OrthographicCameras, PerspectiveCameras

__all__ = [
    "OpenGLOrthographicCameras",
    "OpenGLPerspectiveCameras",
    "SfMOrthographicCameras",
    "SfMPerspectiveCameras",
]


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"{old} is deprecated, use {new} instead", DeprecationWarning, stacklevel=3)


def OpenGLPerspectiveCameras(  # noqa: N802 (PyTorch3D's name)
    znear=1.0, zfar=100.0, aspect_ratio=1.0, fov=60.0, degrees: bool = True, R=None, T=None,
    device=None,
) -> FoVPerspectiveCameras:
    """``FoVPerspectiveCameras(znear, zfar, aspect_ratio, fov, degrees, R, T, device=device)``."""
    _deprecated("OpenGLPerspectiveCameras", "FoVPerspectiveCameras")
    return FoVPerspectiveCameras(znear=znear, zfar=zfar, aspect_ratio=aspect_ratio, fov=fov,
                                 degrees=degrees, R=R, T=T, device=device)  # fmt: skip


def OpenGLOrthographicCameras(  # noqa: N802
    znear=1.0, zfar=100.0, top=1.0, bottom=-1.0, left=-1.0, right=1.0,
    scale_xyz=((1.0, 1.0, 1.0),), R=None, T=None, device=None,
) -> FoVOrthographicCameras:
    """``FoVOrthographicCameras`` with ``max_y=top, min_y=bottom, max_x=right, min_x=left``."""
    _deprecated("OpenGLOrthographicCameras", "FoVOrthographicCameras")
    return FoVOrthographicCameras(
        znear=znear, zfar=zfar, max_y=top, min_y=bottom, max_x=right, min_x=left,
        scale_xyz=scale_xyz, R=R, T=T, device=device,
    )


def SfMPerspectiveCameras(  # noqa: N802
    focal_length=1.0, principal_point=((0.0, 0.0),), R=None, T=None, device=None,
) -> PerspectiveCameras:
    """``PerspectiveCameras(focal_length, principal_point, R, T, device=device)`` (NDC)."""
    _deprecated("SfMPerspectiveCameras", "PerspectiveCameras")
    return PerspectiveCameras(focal_length=focal_length, principal_point=principal_point, R=R,
                              T=T, device=device)  # fmt: skip


def SfMOrthographicCameras(  # noqa: N802
    focal_length=1.0, principal_point=((0.0, 0.0),), R=None, T=None, device=None,
) -> OrthographicCameras:
    """``OrthographicCameras(focal_length, principal_point, R, T, device=device)`` (NDC)."""
    _deprecated("SfMOrthographicCameras", "OrthographicCameras")
    return OrthographicCameras(focal_length=focal_length, principal_point=principal_point, R=R,
                               T=T, device=device)  # fmt: skip
