"""Camera matrices as plain arrays, in the row-vector convention ``[x, y, z, 1] @ M``.

Every builder returns ``(N, 4, 4) float32`` matrices ready for ``Transform3d(matrix=...)``. The
projection matrices are written the way PyTorch3D documents them (column form ``K``) and
transposed once at the end, so a reader can compare them line by line with the docs.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from jax3d.safe_math import homogeneous_divide

Array = jax.Array


def _from_column_form(K: Array) -> Array:
    """(N, 4, 4) column-vector matrices -> the row-vector matrices jax3d applies."""
    return jnp.swapaxes(K, -1, -2)


@jax.jit
def world_to_view_matrix(R: Array, T: Array) -> Array:
    """The rigid world-to-view matrix of ``X_view = X_world @ R + T``.

    Args:
      R: (N, 3, 3) float32 rotations (row-vector convention).
      T: (N, 3) float32 translations.

    Returns:
      (N, 4, 4) float32 with ``M[:, :3, :3] = R``, ``M[:, 3, :3] = T``, ``M[:, 3, 3] = 1``.
    """
    n = R.shape[0]
    top = jnp.concatenate([R, jnp.zeros((n, 3, 1), R.dtype)], axis=-1)
    bottom = jnp.concatenate([T, jnp.ones((n, 1), T.dtype)], axis=-1)[:, None]
    return jnp.concatenate([top, bottom], axis=1)


@jax.jit
def fov_perspective_matrix(znear: Array, zfar: Array, fov_rad: Array, aspect_ratio: Array) -> Array:
    """PyTorch3D's symmetric-frustum perspective matrix (depth mapped to [0, 1] on [znear, zfar]).

    Column form, with ``s = 1 / tan(fov / 2)``::

        K = [[s / aspect_ratio, 0, 0,                       0],
             [0,                s, 0,                       0],
             [0,                0, zfar / (zfar - znear),   -zfar * znear / (zfar - znear)],
             [0,                0, 1,                       0]]

    Args:
      znear, zfar, fov_rad, aspect_ratio: (N,) float32; ``fov_rad`` in radians, ``aspect_ratio``
        is the pixel aspect ratio (width / height of a pixel).

    Returns:
      (N, 4, 4) float32 row-form matrix.
    """
    s = 1.0 / jnp.tan(fov_rad / 2.0)
    depth = zfar - znear
    K = jnp.zeros(znear.shape + (4, 4), znear.dtype)
    K = K.at[:, 0, 0].set(s / aspect_ratio)
    K = K.at[:, 1, 1].set(s)
    K = K.at[:, 2, 2].set(zfar / depth)
    K = K.at[:, 2, 3].set(-(zfar * znear) / depth)
    K = K.at[:, 3, 2].set(1.0)
    return _from_column_form(K)


@jax.jit
def fov_orthographic_matrix(
    znear: Array,
    zfar: Array,
    max_x: Array,
    min_x: Array,
    max_y: Array,
    min_y: Array,
    scale_xyz: Array,
) -> Array:
    """PyTorch3D's orthographic matrix mapping the box to NDC (depth to [0, 1] on [znear, zfar]).

    Column form::

        K = [[2 sx / (max_x - min_x), 0, 0, -(max_x + min_x) / (max_x - min_x)],
             [0, 2 sy / (max_y - min_y), 0, -(max_y + min_y) / (max_y - min_y)],
             [0, 0, sz / (zfar - znear),    -znear / (zfar - znear)],
             [0, 0, 0,                      1]]

    Args:
      znear, zfar, max_x, min_x, max_y, min_y: (N,) float32.
      scale_xyz: (N, 3) float32 per-axis scales ``(sx, sy, sz)``.

    Returns:
      (N, 4, 4) float32 row-form matrix.
    """
    width = max_x - min_x
    height = max_y - min_y
    depth = zfar - znear
    K = jnp.zeros(znear.shape + (4, 4), znear.dtype)
    K = K.at[:, 0, 0].set(2.0 / width * scale_xyz[:, 0])
    K = K.at[:, 1, 1].set(2.0 / height * scale_xyz[:, 1])
    K = K.at[:, 0, 3].set(-(max_x + min_x) / width)
    K = K.at[:, 1, 3].set(-(max_y + min_y) / height)
    K = K.at[:, 2, 2].set(scale_xyz[:, 2] / depth)
    K = K.at[:, 2, 3].set(-znear / depth)
    K = K.at[:, 3, 3].set(1.0)
    return _from_column_form(K)


@partial(jax.jit, static_argnames="orthographic")
def sfm_matrix(focal_length: Array, principal_point: Array, *, orthographic: bool) -> Array:
    """The multi-view-geometry matrix of ``PerspectiveCameras`` / ``OrthographicCameras``.

    Column form, ``(fx, fy) = focal_length``, ``(px, py) = principal_point``::

        perspective:  [[fx, 0, px, 0], [0, fy, py, 0], [0, 0, 0, 1], [0, 0, 1, 0]]
        orthographic: [[fx, 0, 0, px], [0, fy, 0, py], [0, 0, 1, 0], [0, 0, 0, 1]]

    so a perspective camera sends a view point to ``(fx X / Z + px, fy Y / Z + py, 1 / Z)``.

    Args:
      focal_length: (N, 2) float32.
      principal_point: (N, 2) float32.
      orthographic: static flag choosing the second form.

    Returns:
      (N, 4, 4) float32 row-form matrix.
    """
    n = focal_length.shape[0]
    K = jnp.zeros((n, 4, 4), focal_length.dtype)
    K = K.at[:, 0, 0].set(focal_length[:, 0])
    K = K.at[:, 1, 1].set(focal_length[:, 1])
    if orthographic:
        K = K.at[:, :2, 3].set(principal_point)
        K = K.at[:, 2, 2].set(1.0)
        K = K.at[:, 3, 3].set(1.0)
    else:
        K = K.at[:, :2, 2].set(principal_point)
        K = K.at[:, 3, 2].set(1.0)
        K = K.at[:, 2, 3].set(1.0)
    return _from_column_form(K)


@partial(jax.jit, static_argnames="with_xyflip")
def ndc_to_screen_matrix(image_size: Array, *, with_xyflip: bool) -> Array:
    """PyTorch3D NDC (+X left, +Y up) to screen (pixels, origin at the top-left image corner).

    With ``s = min(H, W) / 2`` the shorter image side spans NDC [-1, 1]. Without the flip
    ``x_out = s x - W / 2``; with it (the usual image convention, +X right, +Y down)
    ``x_screen = W / 2 - s x_ndc`` and ``y_screen = H / 2 - s y_ndc``. Depth is unchanged.
    The centre of pixel column ``i`` is at ``x_screen = i + 0.5``.

    Args:
      image_size: (B, 2) float32 ``(height, width)``.
      with_xyflip: static; flip x and y (True for image coordinates).

    Returns:
      (B, 4, 4) float32 row-form matrix.
    """
    height, width = image_size[:, 0], image_size[:, 1]
    scale = jnp.minimum(height, width) / 2.0
    sign = -1.0 if with_xyflip else 1.0
    M = jnp.zeros(scale.shape + (4, 4), image_size.dtype)
    M = M.at[:, 0, 0].set(sign * scale)
    M = M.at[:, 1, 1].set(sign * scale)
    M = M.at[:, 3, 0].set(-sign * width / 2.0)
    M = M.at[:, 3, 1].set(-sign * height / 2.0)
    M = M.at[:, 2, 2].set(1.0)
    return M.at[:, 3, 3].set(1.0)


@partial(jax.jit, static_argnames="with_xyflip")
def screen_to_ndc_matrix(image_size: Array, *, with_xyflip: bool) -> Array:
    """The exact inverse of :func:`ndc_to_screen_matrix`, in closed form.

    Args:
      image_size: (B, 2) float32 ``(height, width)``.
      with_xyflip: static; the input uses image axes (+X right, +Y down).

    Returns:
      (B, 4, 4) float32 row-form matrix.
    """
    height, width = image_size[:, 0], image_size[:, 1]
    inv_scale = 2.0 / jnp.minimum(height, width)
    sign = -1.0 if with_xyflip else 1.0
    M = jnp.zeros(inv_scale.shape + (4, 4), image_size.dtype)
    M = M.at[:, 0, 0].set(sign * inv_scale)
    M = M.at[:, 1, 1].set(sign * inv_scale)
    M = M.at[:, 3, 0].set(width / 2.0 * inv_scale)
    M = M.at[:, 3, 1].set(height / 2.0 * inv_scale)
    M = M.at[:, 2, 2].set(1.0)
    return M.at[:, 3, 3].set(1.0)


@jax.jit
def translation_matrix(xy: Array) -> Array:
    """(N, 4, 4) row-form translation by ``(x, y, 0)`` for ``xy: (N, 2)``."""
    n = xy.shape[0]
    M = jnp.broadcast_to(jnp.eye(4, dtype=xy.dtype), (n, 4, 4))
    return M.at[:, 3, :2].set(xy)


def apply_matrix(matrix: Array, points: Array, eps: float | None = None) -> Array:
    """Apply row-form homogeneous matrices to points, dividing by the homogeneous coordinate.

    Follows PyTorch3D's ``Transform3d.transform_points``: ``(P, 3)`` points are shared by all
    ``N`` matrices; the divisor keeps its sign but its magnitude is clamped to at least ``eps``
    (a zero divisor counts as positive), which keeps gradients finite for points near the
    camera plane. ``eps=None`` clamps at 1e-8 (:func:`jax3d.safe_math.homogeneous_divide`)
    where PyTorch3D divides exactly: a point on the camera plane of a perspective camera
    (view depth 0) gives large finite coordinates and finite gradients instead of inf / NaN.

    Args:
      matrix: (N, 4, 4) float32 row-form matrices.
      points: (P, 3) or (B, P, 3) float32 with B equal to N or 1 (or N == 1).
      eps: clamp of the homogeneous divisor's magnitude (None: 1e-8).

    Returns:
      (P, 3) when ``points`` is (P, 3) and N == 1, else (max(N, B), P, 3).
    """
    b, n = (points.shape[0] if points.ndim == 3 else 1), matrix.shape[0]
    if b != n and 1 not in (b, n):
        raise ValueError(f"cannot apply {n} camera matrices to a batch of {b} point sets")
    return _apply_matrix_jit(matrix, points, None if eps is None else float(eps))


def apply_matrix_unchecked(matrix: Array, points: Array, eps: float | None) -> Array:
    """:func:`apply_matrix` without the batch check (for use inside jitted code)."""
    batch = points[None] if points.ndim == 2 else points
    ones = jnp.ones(batch.shape[:-1] + (1,), batch.dtype)
    out = jnp.matmul(jnp.concatenate([batch, ones], axis=-1), matrix)
    out = homogeneous_divide(out[..., :3], out[..., 3:], eps)
    if points.ndim == 2 and out.shape[0] == 1:
        out = out[0]
    return out


_apply_matrix_jit = partial(jax.jit, static_argnames="eps")(apply_matrix_unchecked)
