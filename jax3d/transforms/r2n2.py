"""ShapeNet / 3D-R2N2 camera and Mesh R-CNN voxel-space conventions.

Mesh R-CNN's ShapeNet model works in three frames:

- **world** (ShapeNetCore v1 object frame): +Y up; an object's bounding box is centred at the
  origin with a unit diagonal, so it fits in a sphere of radius 0.5.
- **camera** (Blender's, OpenGL-like): +X right, +Y up, the camera at the origin looking down
  -Z, so visible points have `z < 0`. `r2n2_extrinsic_matrix(azimuth, elevation, distance)`
  maps world to camera (R2N2's render metadata; azimuth about world +Y, elevation above the
  horizon); the object's centre lands at `(0, 0, -distance)`.
- **NDC**: `project_verts(p, K)` with Blender's 4x4 projection `K`
  (`blender_intrinsic_matrix()`: focal 2.1875, clip planes 0.1 / 100), +X right, +Y up,
  `z_ndc = 1.002002 - 0.2002002 / depth`.
- **voxel** (`camera_to_voxel`): NDC with y flipped (so +y runs down the image, like rows) and
  `z_ndc` rescaled from the dataset-wide range `[zmin, zmax] = [0.67, 0.92]` to `[-1, 1]`. A
  `(G, G, G)` occupancy grid indexed `[z, y, x]` has voxel `i` at `2 i / (G - 1) - 1` on its
  axis; `jax3d.ops.cubify(..., align="topleft")` meshes it in this frame and
  `voxel_to_camera` brings the mesh back to camera coordinates.

Functions broadcast over leading axes and work on NumPy and JAX arrays alike (the array module
follows the input), so datasets use them on the host and models under `jax.jit`.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "BLENDER_FOCAL",
    "R2N2_MAX_CAMERA_DISTANCE",
    "SHAPENET_MAX_ZMAX",
    "SHAPENET_MIN_ZMIN",
    "VoxelSpace",
    "blender_intrinsic_matrix",
    "blender_ndc_to_camera",
    "camera_to_voxel",
    "project_verts",
    "r2n2_extrinsic_matrix",
    "voxel_to_camera",
]

# Blender's default camera (35 mm lens on a 32 mm sensor): x_ndc = 2.1875 x / -z.
BLENDER_FOCAL = 2.1875
_K22, _K23 = -1.002002, -0.2002002  # near 0.1, far 100
# The empirical NDC depth range of every R2N2 view of ShapeNet (Mesh R-CNN's constants).
SHAPENET_MIN_ZMIN = 0.67
SHAPENET_MAX_ZMAX = 0.92
# 3D-R2N2 stores a distance ratio; the camera distance is 1.75 times it.
R2N2_MAX_CAMERA_DISTANCE = 1.75


def _xp(x):
    return jnp if isinstance(x, jax.Array) else np


def blender_intrinsic_matrix(dtype=np.float32) -> np.ndarray:
    """Blender's camera-to-NDC projection (4, 4), applied as `project_verts(p, K)`.

    `K @ [x, y, z, 1] = [f x, f y, -1.002002 z - 0.2002002, -z]` with `f = 2.1875`.
    """
    f = BLENDER_FOCAL
    return np.array(
        [[f, 0.0, 0.0, 0.0], [0.0, f, 0.0, 0.0], [0.0, 0.0, _K22, _K23], [0.0, 0.0, -1.0, 0.0]],
        dtype,
    )


def r2n2_extrinsic_matrix(azimuth, elevation, distance, dtype=np.float32) -> np.ndarray:
    """World-to-camera matrices (..., 4, 4) of R2N2 views (angles in degrees).

    The camera sits at `distance` from the origin, `elevation` degrees above the world XZ
    plane, at azimuth 0 on world +X (azimuth 90 on +Z), and looks at the origin with world +Y
    projecting upwards. Equals Mesh R-CNN's `compute_extrinsic_matrix` (Blender's frame
    including the 90-degree OBJ-import rotation it compensates).

    Args:
        azimuth, elevation, distance: scalars or arrays broadcasting to a common shape (...).

    Returns:
        (..., 4, 4) NumPy array `RT` with `[x_cam, 1] = RT @ [x_world, 1]`.
    """
    az, el, d = np.broadcast_arrays(
        np.asarray(azimuth, np.float64), np.asarray(elevation, np.float64),
        np.asarray(distance, np.float64),
    )  # fmt: skip
    a, e = np.deg2rad(az), np.deg2rad(el)
    ca, sa, ce, se = np.cos(a), np.sin(a), np.cos(e), np.sin(e)
    zero, one = np.zeros_like(a), np.ones_like(a)
    # Rows are the camera's right, up and backward axes in world coordinates.
    right = np.stack([sa, zero, -ca], -1)
    up = np.stack([-ca * se, ce, -sa * se], -1)
    back = np.stack([ca * ce, se, sa * ce], -1)  # the camera sits at distance * back
    R = np.stack([right, up, back], -2)  # (..., 3, 3)
    T = np.stack([zero, zero, -d], -1)
    RT = np.concatenate([R, T[..., None]], -1)
    bottom = np.stack([zero, zero, zero, one], -1)[..., None, :]
    return np.concatenate([RT, bottom], -2).astype(dtype)


def project_verts(verts, P, eps: float = 0.1):
    """Apply a 4x4 projective transform: `(P @ [v, 1])[:3] / w`, |w| clamped to `eps`.

    As Mesh R-CNN's `project_verts`: the clamp keeps points at or behind the camera finite
    (`w = 0` counts as positive).

    Args:
        verts: (..., V, 3) points.
        P: (4, 4) or (..., 4, 4) matrices broadcasting against `verts`' leading axes.
        eps: the smallest |w|.

    Returns:
        (..., V, 3) projected points, the dtype of `verts`.
    """
    xp = _xp(verts) if not isinstance(P, jax.Array) else jnp
    verts, P = xp.asarray(verts), xp.asarray(P, dtype=xp.asarray(verts).dtype)
    if verts.shape[-1] != 3:
        raise ValueError(f"verts must be (..., V, 3), got {verts.shape}")
    if P.shape[-2:] != (4, 4):
        raise ValueError(f"P must be (..., 4, 4), got {P.shape}")
    hom = verts @ xp.swapaxes(P[..., :, :3], -1, -2) + P[..., None, :, 3]  # (..., V, 4)
    w = hom[..., 3:]
    w = xp.where(w < 0, -1.0, 1.0) * xp.maximum(xp.abs(w), eps)
    return hom[..., :3] / w


def blender_ndc_to_camera(points):
    """Inverse of `project_verts(., blender_intrinsic_matrix())` for points with z < 0.

    Args:
        points: (..., 3) NDC points (`z_ndc` < 1.002002).

    Returns:
        (..., 3) camera-space points.
    """
    xp = _xp(points)
    points = xp.asarray(points)
    x, y, zz = points[..., 0], points[..., 1], points[..., 2]
    z = _K23 / (-zz - _K22)  # from zz = (K22 z + K23) / -z
    return xp.stack([-x * z / BLENDER_FOCAL, -y * z / BLENDER_FOCAL, z], -1)


@dataclass(frozen=True)
class VoxelSpace:
    """The NDC depth range mapped to voxel z in [-1, 1] (Mesh R-CNN: 0.67 to 0.92)."""

    zmin: float = SHAPENET_MIN_ZMIN
    zmax: float = SHAPENET_MAX_ZMAX

    def __post_init__(self):
        if not 0.0 < self.zmin < self.zmax < 1.002002:
            raise ValueError(
                f"need 0 < zmin < zmax < 1.002002 (NDC depth), got {self.zmin}, {self.zmax}"
            )

    @property
    def depth_range(self) -> tuple[float, float]:
        """(nearest, farthest) camera distance covered by the grid."""
        return tuple(_K23 / (-z - _K22) * -1.0 for z in (self.zmin, self.zmax))


def _mb(space):
    space = VoxelSpace() if space is None else space
    m = 2.0 / (space.zmax - space.zmin)
    return m, -2.0 * space.zmin / (space.zmax - space.zmin) - 1.0


def camera_to_voxel(points, space: VoxelSpace | None = None):
    """Camera-space points (..., 3) to Mesh R-CNN voxel coordinates (..., 3) (see module doc).

    `space` is the grid's depth range, Mesh R-CNN's ShapeNet range by default."""
    xp = _xp(points)
    ndc = project_verts(xp.asarray(points)[..., None, :], blender_intrinsic_matrix())[..., 0, :]
    m, b = _mb(space)
    return xp.stack([ndc[..., 0], -ndc[..., 1], ndc[..., 2] * m + b], -1)


def voxel_to_camera(points, space: VoxelSpace | None = None):
    """Mesh R-CNN voxel coordinates (..., 3) to camera space (Mesh R-CNN's `voxel_to_world`)."""
    xp = _xp(points)
    points = xp.asarray(points)
    m, b = _mb(space)
    ndc = xp.stack([points[..., 0], -points[..., 1], (points[..., 2] - b) / m], -1)
    return blender_ndc_to_camera(ndc)
