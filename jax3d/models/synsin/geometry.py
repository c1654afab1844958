"""SynSin's camera geometry: normalised intrinsics, unprojection, relative poses, reprojection.

Conventions (used by the whole `jax3d.models.synsin` package and its datasets):

- Camera frame: OpenCV's, +X right, +Y down, +Z forward (the frame of RealEstate10K's and
  KITTI's poses). Depth is the z coordinate in that frame (not the distance along the ray).
- Normalised image coordinates: `u_n = 2 u / W - 1`, `v_n = 2 v / H - 1` for pixel coordinates
  `(u, v)` whose origin is the image's top-left corner, so the image spans `[-1, 1]` on both
  axes whatever its size and the centre of pixel `(row i, column j)` is
  `((2 j + 1) / W - 1, (2 i + 1) / H - 1)`.
- Intrinsics `K` (B, 3, 3) map camera points to normalised coordinates:
  `[u_n z, v_n z, z] = K X`. They do not depend on the resolution, so one model runs at 64 px
  and at 256 px (`normalize_intrinsics` converts OpenCV pixel intrinsics). The book's `K = I`
  is a 90 degree field of view.
- Relative pose `RT` (B, 4, 4) (or (B, 3, 4)) maps source-camera points to target-camera
  points, column vectors: `X_tgt = R X_src + t`. With world-to-camera poses `P_src`, `P_tgt`
  (RealEstate10K's), `RT = P_tgt P_src^-1` (`relative_pose`).
- `to_ndc` maps normalised coordinates to the point rasterizer's NDC (PyTorch3D's: +X left,
  +Y up, the shorter image side spanning [-1, 1]).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "book_pose",
    "check_intrinsics",
    "check_pose",
    "normalize_intrinsics",
    "pixel_grid",
    "pose_matrix",
    "relative_pose",
    "reproject",
    "to_ndc",
    "transform_points",
    "unproject",
]

_Z_EPS = 1e-2  # points nearer than this to the target camera plane are dropped (as SynSin)


def pixel_grid(height: int, width: int) -> np.ndarray:
    """Normalised coordinates of the pixel centres.

    Returns:
        (H, W, 2) float32 `(u_n, v_n)`: `[i, j] = ((2 j + 1) / W - 1, (2 i + 1) / H - 1)`.
    """
    u = (2.0 * np.arange(width, dtype=np.float64) + 1.0) / width - 1.0
    v = (2.0 * np.arange(height, dtype=np.float64) + 1.0) / height - 1.0
    uu, vv = np.meshgrid(u, v)
    return np.stack([uu, vv], -1).astype(np.float32)


def check_intrinsics(K, batch: int | None = None, name: str = "K") -> jax.Array:
    """`K` as a (B, 3, 3) float32 array (a (3, 3) matrix is broadcast to `batch`)."""
    K = jnp.asarray(K, jnp.float32)
    if K.shape == (3, 3) and batch is not None:
        K = jnp.broadcast_to(K, (batch, 3, 3))
    if K.ndim != 3 or K.shape[1:] != (3, 3) or (batch is not None and K.shape[0] != batch):
        want = f"({batch if batch is not None else 'B'}, 3, 3)"
        raise ValueError(f"{name} must be {want} normalised intrinsics, got {tuple(K.shape)}")
    return K


def check_pose(RT, batch: int | None = None, name: str = "RT") -> jax.Array:
    """`RT` as a (B, 4, 4) float32 array; (B, 3, 4) gets the row `[0, 0, 0, 1]`, a single
    (4, 4) or (3, 4) pose is broadcast to `batch`."""
    RT = jnp.asarray(RT, jnp.float32)
    if RT.ndim == 2 and batch is not None:
        RT = jnp.broadcast_to(RT, (batch, *RT.shape))
    if RT.ndim != 3 or RT.shape[1:] not in ((4, 4), (3, 4)):
        raise ValueError(f"{name} must be (B, 4, 4) or (B, 3, 4), got {tuple(RT.shape)}")
    if batch is not None and RT.shape[0] != batch:
        raise ValueError(f"{name} must have batch size {batch}, got {tuple(RT.shape)}")
    if RT.shape[1] == 3:
        last = jnp.broadcast_to(jnp.array([0.0, 0.0, 0.0, 1.0]), (RT.shape[0], 1, 4))
        RT = jnp.concatenate([RT, last], axis=1)
    return RT


def normalize_intrinsics(K_pixels, height: int, width: int) -> np.ndarray:
    """OpenCV pixel intrinsics `[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]` -> normalised ones.

    Args:
        K_pixels: (..., 3, 3) intrinsics of an (height, width) image, pixel origin at the
            top-left corner of the top-left pixel.

    Returns:
        (..., 3, 3) float32 `[[2 fx / W, 0, 2 cx / W - 1], [0, 2 fy / H, 2 cy / H - 1], [0, 0, 1]]`.
    """
    K = np.asarray(K_pixels, np.float64)
    if K.shape[-2:] != (3, 3):
        raise ValueError(f"K_pixels must be (..., 3, 3), got {K.shape}")
    scale = np.array([[2.0 / width, 0.0, -1.0], [0.0, 2.0 / height, -1.0], [0.0, 0.0, 1.0]])
    return (scale @ K).astype(np.float32)


def unproject(depth, K) -> jax.Array:
    """Camera-frame points of every pixel: `X = depth * K^-1 [u_n, v_n, 1]`.

    Args:
        depth: (B, H, W) or (B, H, W, 1) z-depth per pixel.
        K: (B, 3, 3) normalised intrinsics.

    Returns:
        (B, H, W, 3) float32 points in the camera frame.
    """
    depth = jnp.asarray(depth, jnp.float32)
    if depth.ndim == 4 and depth.shape[-1] == 1:
        depth = depth[..., 0]
    if depth.ndim != 3:
        raise ValueError(f"depth must be (B, H, W) or (B, H, W, 1), got {tuple(depth.shape)}")
    B, H, W = depth.shape
    K = check_intrinsics(K, B)
    grid = jnp.asarray(pixel_grid(H, W))
    homo = jnp.concatenate([grid, jnp.ones((H, W, 1), jnp.float32)], -1)  # (H, W, 3)
    rays = jnp.einsum("bij,hwj->bhwi", jnp.linalg.inv(K), homo)
    return rays * depth[..., None]


def transform_points(points, RT) -> jax.Array:
    """`R X + t` for (B, ..., 3) points and (B, 4, 4) / (B, 3, 4) poses."""
    points = jnp.asarray(points, jnp.float32)
    RT = check_pose(RT, points.shape[0])
    flat = points.reshape(points.shape[0], -1, 3)
    out = jnp.einsum("bij,bpj->bpi", RT[:, :3, :3], flat) + RT[:, None, :3, 3]
    return out.reshape(points.shape)


def to_ndc(uv_n, height: int, width: int) -> jax.Array:
    """Normalised image coordinates (..., 2) -> the rasterizer's NDC (..., 2).

    `x_ndc = -u_n W / s`, `y_ndc = -v_n H / s` with `s = min(H, W)`, so pixel centres land on
    `jax3d.renderer`'s pixel centres.
    """
    s = float(min(height, width))
    scale = jnp.array([-width / s, -height / s], jnp.float32)
    return jnp.asarray(uv_n, jnp.float32) * scale


def reproject(points, K, height: int, width: int) -> jax.Array:
    """Project target-camera points to rasterizer input: `(x_ndc, y_ndc, z)`.

    Args:
        points: (B, P, 3) points in the target camera frame.
        K: (B, 3, 3) normalised intrinsics of the target camera.
        height, width: the target image size.

    Returns:
        (B, P, 3) float32: NDC x, y and depth z; points with `z < 0.01` (behind or on the
        camera plane) get `z = -1`, which the rasterizer skips, and finite x, y.
    """
    points = jnp.asarray(points, jnp.float32)
    K = check_intrinsics(K, points.shape[0])
    proj = jnp.einsum("bij,bpj->bpi", K, points)
    z = proj[..., 2:3]
    valid = z >= _Z_EPS
    z_safe = jnp.where(valid, z, 1.0)
    uv = jnp.where(valid, proj[..., :2] / z_safe, 0.0)
    xy = to_ndc(uv, height, width)
    return jnp.concatenate([xy, jnp.where(valid, z, -1.0)], -1)


def pose_matrix(R, t) -> jax.Array:
    """(B, 4, 4) pose from (B, 3, 3) rotations and (B, 3) translations."""
    R = jnp.asarray(R, jnp.float32)
    t = jnp.asarray(t, jnp.float32)
    B = R.shape[0]
    top = jnp.concatenate([R, t[..., None]], -1)
    last = jnp.broadcast_to(jnp.array([0.0, 0.0, 0.0, 1.0], jnp.float32), (B, 1, 4))
    return jnp.concatenate([top, last], 1)


def relative_pose(P_src, P_tgt) -> jax.Array:
    """`P_tgt @ inv(P_src)`: source-camera to target-camera, from world-to-camera poses.

    Args:
        P_src, P_tgt: (B, 4, 4) or (B, 3, 4) world-to-camera poses (OpenCV frame).

    Returns:
        (B, 4, 4) float32 relative pose `RT`.
    """
    P_src = check_pose(P_src, name="P_src")
    P_tgt = check_pose(P_tgt, P_src.shape[0], name="P_tgt")
    R, t = P_src[:, :3, :3], P_src[:, :3, 3]
    Rt = jnp.swapaxes(R, 1, 2)
    inv = pose_matrix(Rt, -jnp.einsum("bij,bj->bi", Rt, t))
    return P_tgt @ inv


def _rotvec_to_matrix(v: np.ndarray) -> np.ndarray:
    """Rodrigues' formula, float64, (3,) -> (3, 3)."""
    theta = float(np.linalg.norm(v))
    if theta < 1e-12:
        return np.eye(3)
    k = v / theta
    Kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(theta) * Kx + (1 - np.cos(theta)) * Kx @ Kx


def book_pose(theta: float = 0.0, phi: float = 0.0, tx: float = 0.0, ty: float = 0.0,
              tz: float = 0.0) -> np.ndarray:
    """The book's relative pose (chapter 9's `inference`) in this package's OpenCV frame.

    The book builds `RT = [R | t]` with `R` the rotation of the rotation vector
    `(phi, theta, 0)` and `t = (tx, ty, tz)`, in SynSin's camera frame (+X right, +Y up,
    looking along -Z, OpenGL's): `theta` turns about the vertical axis, `phi` about the
    horizontal one, positive `tz` moves the scene towards the camera (the camera forward).
    The same motion in the OpenCV frame is `F RT F` with `F = diag(1, -1, -1)`, i.e. the
    rotation vector `(phi, -theta, 0)` and the translation `(tx, -ty, -tz)`.

    Returns:
        (4, 4) float32 pose mapping source-camera points to target-camera points.
    """
    R = _rotvec_to_matrix(np.array([phi, -theta, 0.0], np.float64))
    out = np.eye(4)
    out[:3, :3] = R
    out[:3, 3] = [tx, -ty, -tz]
    return out.astype(np.float32)
