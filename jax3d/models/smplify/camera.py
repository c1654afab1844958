"""SMPLify's camera: a pinhole with fixed focal length, centred on the image, identity rotation.

Projection uses jax3d's screen-space `PerspectiveCameras` (PyTorch3D conventions: view +X
left, +Y up, +Z into the screen; pixels +x right, +y down), so a body upright in SMPL's frame
(+Y up) that faces the camera has global orientation pi about +Y (SMPLify's OpenCV-camera
code uses pi about +X instead).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jax3d.renderer import PerspectiveCameras


def smplify_cameras(camera_t: jax.Array, image_size: jax.Array, focal_length: float = 5000.0):
    """Screen-space `PerspectiveCameras` with ``R = I``, ``T = camera_t``, principal point at
    the image centre.

    Args:
        camera_t: (B, 3) float32 translation of the bodies into the camera frame.
        image_size: (B, 2) float32 ``(height, width)`` in pixels.
        focal_length: pixels.
    """
    camera_t = jnp.asarray(camera_t, jnp.float32)
    image_size = jnp.asarray(image_size, jnp.float32)
    b = camera_t.shape[0]
    return PerspectiveCameras(
        focal_length=jnp.full((b, 2), focal_length, jnp.float32),
        principal_point=image_size[:, ::-1] / 2.0,
        R=jnp.broadcast_to(jnp.eye(3, dtype=jnp.float32), (b, 3, 3)),
        T=camera_t,
        in_ndc=False,
        image_size=image_size,
    )


def project_points(
    points: jax.Array, camera_t: jax.Array, image_size: jax.Array, focal_length: float = 5000.0
) -> jax.Array:
    """Project model-frame points to pixels: ``u = W/2 - f X/Z``, ``v = H/2 - f Y/Z`` for
    ``(X, Y, Z) = p + camera_t``.

    The same numbers as ``smplify_cameras(...).transform_points_screen(points)[..., :2]``
    (tested), written out so that the fitting loops compile to a small graph. Depths are
    clamped at 1e-6 so points on the camera plane give large but finite pixels.

    Args:
        points: (B, P, 3) float32. camera_t: (B, 3) float32. image_size: (B, 2) ``(H, W)``.
        focal_length: pixels.

    Returns:
        (B, P, 2) float32 pixel coordinates (+x right, +y down).
    """
    points = jnp.asarray(points, jnp.float32)
    if points.ndim != 3 or points.shape[-1] != 3:
        raise ValueError(f"points must be (B, P, 3), got {points.shape}")
    view = points + jnp.asarray(camera_t, jnp.float32)[:, None]
    z = view[..., 2:3]
    z = jnp.where(jnp.abs(z) < 1e-6, jnp.where(z < 0, -1e-6, 1e-6), z)
    center = jnp.asarray(image_size, jnp.float32)[:, None, ::-1] / 2.0  # (B, 1, 2) (W/2, H/2)
    return center - focal_length * view[..., :2] / z


def depth_from_torso(joints_3d: jax.Array, joints_2d: jax.Array, focal_length: float = 5000.0):
    """SMPLify's camera depth by similar triangles: ``f * mean 3D / mean 2D torso height``.

    The torso heights are the left and right shoulder-to-hip distances.

    Args:
        joints_3d: (B, 14, 3) model LSP joints. joints_2d: (B, 14, 2) detected LSP joints.

    Returns:
        (B,) float32 depths (the 2D height is clamped at 1 px).
    """

    def height(j):
        d = jnp.stack([j[:, 9] - j[:, 3], j[:, 8] - j[:, 2]], axis=1)  # shoulder - hip
        return jnp.mean(jnp.sqrt(jnp.sum(d * d, axis=-1) + 1e-12), axis=1)

    return focal_length * height(joints_3d) / jnp.maximum(height(joints_2d), 1.0)
