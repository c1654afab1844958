"""Converting cameras between PyTorch3D's conventions and OpenCV's or OpenGL's (NeRF/Blender).

- OpenCV: column vectors ``x_cam = R X + tvec``, camera +X right, +Y down, +Z forward,
  intrinsics ``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` in pixels (origin top-left corner).
- OpenGL / NeRF "transform_matrix": camera-to-world 4x4 ``c2w`` for column vectors, camera +X
  right, +Y up, looking along -Z.
- PyTorch3D / jax3d: row vectors ``X_view = X_world @ R + T``, +X left, +Y up, +Z forward.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jax3d.renderer.cameras import FoVPerspectiveCameras, PerspectiveCameras
from jax3d.renderer.cameras.batching import (
    as_float_array,
    batch_field,
    batch_image_size,
    broadcast_batches,
)

Array = jax.Array

__all__ = [
    "R_T_from_opengl_c2w",
    "cameras_from_opencv_projection",
    "cameras_from_opengl_c2w",
    "opencv_from_cameras_projection",
    "opengl_c2w_from_R_T",
    "opengl_c2w_from_cameras",
]

# Flip of the x and y camera axes (OpenCV <-> PyTorch3D), and of x and z (OpenGL <-> PyTorch3D).
_FLIP_XY = jnp.array([-1.0, -1.0, 1.0], jnp.float32)
_FLIP_XZ = jnp.array([-1.0, 1.0, -1.0], jnp.float32)


def _strict(name: str, value, event_shape: tuple[int, ...]) -> Array:
    """A batched (N, *event_shape) array; the batch axis is required."""
    arr = batch_field(name, value, event_shape)
    if jnp.ndim(value) != len(event_shape) + 1:
        want = "(N" + "".join(f", {d}" for d in event_shape) + ")"
        raise ValueError(f"{name} must be {want}, got {tuple(jnp.shape(value))}")
    return arr


def _ndc_scale_and_centre(image_size: Array) -> tuple[Array, Array]:
    """(N, 1) pixels per NDC unit (half the shorter side) and (N, 2) image centre ``(W, H) / 2``."""
    size_wh = image_size[:, ::-1]
    scale = jnp.min(size_wh, axis=1, keepdims=True) / 2.0
    return scale, size_wh / 2.0


def cameras_from_opencv_projection(R, tvec, camera_matrix, image_size) -> PerspectiveCameras:
    """``PerspectiveCameras`` (NDC intrinsics, ``in_ndc=True``) equivalent to OpenCV cameras.

    A world point projected by OpenCV to pixel ``(u, v)`` is projected by
    ``cameras.transform_points_screen`` to the same ``(u, v)``.

    Args:
      R: (N, 3, 3) float32 OpenCV rotations (``x_cam = R X + tvec``).
      tvec: (N, 3) float32 translations.
      camera_matrix: (N, 3, 3) float32 intrinsics ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``.
      image_size: (N, 2) ``(height, width)`` of the images the intrinsics refer to.

    Returns:
      PerspectiveCameras with ``focal_length = f / s`` and ``principal_point = -(c - (W, H) /
      2) / s`` (``s = min(H, W) / 2``), ``R = R_cv^T`` with its first two columns negated,
      ``T = tvec`` with x, y negated, and ``image_size`` stored.
    """
    args = broadcast_batches(
        {
            "R": _strict("R", R, (3, 3)),
            "tvec": _strict("tvec", tvec, (3,)),
            "camera_matrix": _strict("camera_matrix", camera_matrix, (3, 3)),
            "image_size": batch_image_size(image_size),
        }
    )
    R, tvec, K, size = args["R"], args["tvec"], args["camera_matrix"], args["image_size"]
    focal = jnp.stack([K[:, 0, 0], K[:, 1, 1]], axis=-1)
    principal = K[:, :2, 2]
    scale, centre = _ndc_scale_and_centre(size)
    R_p3d = jnp.swapaxes(R, -1, -2) * _FLIP_XY[None, None, :]
    T_p3d = tvec * _FLIP_XY[None, :]
    return PerspectiveCameras(
        focal_length=focal / scale,
        principal_point=-(principal - centre) / scale,
        R=R_p3d,
        T=T_p3d,
        image_size=size,
    )


def opencv_from_cameras_projection(
    cameras: PerspectiveCameras, image_size=None
) -> tuple[Array, Array, Array]:
    """OpenCV ``(R, tvec, camera_matrix)`` of ``PerspectiveCameras`` (inverse of
    :func:`cameras_from_opencv_projection`).

    NDC cameras need ``image_size``; screen cameras (``in_ndc=False``) already hold pixel
    intrinsics (principal point in image axes) and use them directly.

    Args:
      cameras: PerspectiveCameras with N cameras (``K`` overrides are not supported).
      image_size: (N, 2) or ``(H, W)``; defaults to ``cameras.image_size``.

    Returns:
      R: (N, 3, 3), tvec: (N, 3), camera_matrix: (N, 3, 3) float32.
    """
    if not isinstance(cameras, PerspectiveCameras):
        raise TypeError(f"cameras must be PerspectiveCameras, got {type(cameras).__name__}")
    if cameras.K is not None:
        raise ValueError("cameras with an explicit K cannot be converted; give focal lengths")
    n = len(cameras)
    focal, principal = cameras.focal_length, cameras.principal_point
    if cameras.in_ndc():
        size = batch_image_size(image_size) if image_size is not None else cameras.image_size
        if size is None:
            raise ValueError("opencv_from_cameras_projection needs image_size=(height, width)")
        if size.shape[0] not in (1, n):
            raise ValueError(f"image_size has batch {size.shape[0]}, cameras have {n}")
        scale, centre = _ndc_scale_and_centre(jnp.broadcast_to(size, (n, 2)))
        focal, principal = focal * scale, -principal * scale + centre
    R = jnp.swapaxes(cameras.R * _FLIP_XY[None, None, :], -1, -2)
    tvec = cameras.T * _FLIP_XY[None, :]
    K = jnp.zeros((n, 3, 3), focal.dtype)
    K = K.at[:, 0, 0].set(focal[:, 0]).at[:, 1, 1].set(focal[:, 1])
    K = K.at[:, :2, 2].set(principal).at[:, 2, 2].set(1.0)
    return R, tvec, K


def R_T_from_opengl_c2w(c2w) -> tuple[Array, Array]:  # noqa: N802 (PyTorch3D-style R, T)
    """World-to-view ``(R, T)`` (PyTorch3D) of OpenGL camera-to-world poses (NeRF/Blender).

    Args:
      c2w: (N, 4, 4) or (N, 3, 4) float32 camera-to-world matrices (column vectors; camera +X
        right, +Y up, looking along -Z).

    Returns:
      R: (N, 3, 3) and T: (N, 3) float32 with ``X_view = X_world @ R + T``.
    """
    arr = as_float_array("c2w", c2w)
    if arr.ndim != 3 or arr.shape[1:] not in ((4, 4), (3, 4)):
        raise ValueError(f"c2w must be (N, 4, 4) or (N, 3, 4), got {tuple(arr.shape)}")
    rotation, centre = arr[:, :3, :3], arr[:, :3, 3]
    R = rotation * _FLIP_XZ[None, None, :]
    T = -jnp.einsum("ni,nij->nj", centre, R)
    return R, T


def opengl_c2w_from_R_T(R, T) -> Array:  # noqa: N802
    """OpenGL camera-to-world (N, 4, 4) matrices of PyTorch3D ``(R, T)``; inverse of
    :func:`R_T_from_opengl_c2w`.

    Args:
      R: (N, 3, 3) float32 rotations; T: (N, 3) float32.

    Returns:
      (N, 4, 4) float32 ``[[R_c2w, C], [0, 1]]`` with ``C`` the camera centre.
    """
    args = broadcast_batches({"R": _strict("R", R, (3, 3)), "T": _strict("T", T, (3,))})
    R, T = args["R"], args["T"]
    centre = -jnp.linalg.solve(jnp.swapaxes(R, -1, -2), T[..., None])[..., 0]
    rotation = R * _FLIP_XZ[None, None, :]
    top = jnp.concatenate([rotation, centre[..., None]], axis=-1)
    bottom = jnp.broadcast_to(jnp.array([0.0, 0.0, 0.0, 1.0], R.dtype), (R.shape[0], 1, 4))
    return jnp.concatenate([top, bottom], axis=1)


def cameras_from_opengl_c2w(
    c2w, fov=60.0, degrees: bool = True, znear=0.1, zfar=100.0
) -> FoVPerspectiveCameras:
    """``FoVPerspectiveCameras`` from OpenGL / NeRF-Blender camera-to-world poses.

    Args:
      c2w: (N, 4, 4) or (N, 3, 4) float32 camera-to-world matrices.
      fov: scalar or (N,) field of view across the *shorter* image side (the side spanning
        NDC [-1, 1]); for a Blender ``camera_angle_x`` on a W x H image with W > H use
        ``2 atan(tan(camera_angle_x / 2) H / W)``.
      degrees: static; fov unit.
      znear, zfar: clipping planes (scalars or (N,)).

    Returns:
      FoVPerspectiveCameras with N cameras.
    """
    R, T = R_T_from_opengl_c2w(c2w)
    return FoVPerspectiveCameras(znear=znear, zfar=zfar, fov=fov, degrees=degrees, R=R, T=T)


def opengl_c2w_from_cameras(cameras) -> Array:
    """(N, 4, 4) OpenGL camera-to-world matrices of any jax3d cameras (extrinsics only)."""
    return opengl_c2w_from_R_T(cameras.R, cameras.T)
