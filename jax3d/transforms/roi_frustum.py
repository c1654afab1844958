"""Mesh R-CNN's ROI frame: a box's viewing frustum between two depths, mapped onto [-1, 1]^3.

On Pix3D, Mesh R-CNN's voxel and mesh heads work in the frame of each region of interest, not
in camera coordinates: the frustum that a 2-D box `(x0, y0, x1, y1)` cuts out of the camera's
view, between the object's nearest and farthest depths `zrange = (z_near, z_far)`, mapped onto
the cube [-1, 1]^3 by a projective map (the authors' `box2D_to_cuboid3D` and
`cuboid3D_to_unitbox3D`). jax3d writes it in closed form:

    x_roi = 2 (u - x0) / (x1 - x0) - 1,   y_roi = 2 (v - y0) / (y1 - y0) - 1,
    z_roi = 2 (1/z_near - 1/z) / (1/z_near - 1/z_far) - 1,

with `(u, v) = (fx x / z + cx, fy y / z + cy)` the point's pixel position. So +x_roi runs to the
right of the image, +y_roi down, +z_roi away from the camera (linear in 1 / depth, like an NDC
depth), and a `(G, G, G)` grid indexed `[z, y, x]` has cell `i` at `2 i / (G - 1) - 1` on each
axis, the convention of `jax3d.transforms.r2n2`'s voxel frame.

The camera frame is OpenCV's: +X right, +Y down, +Z forward (visible points have z > 0), and
`K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]` in pixels, whose continuous coordinates put the
centre of pixel `(row i, column j)` at `(j + 0.5, i + 0.5)`. (Pix3D's and PyTorch3D's view frames
have +X left and +Y up: flip the signs of x and y.)

`resample_roi_grid` moves a grid from one box's ROI frame to another's (for instance ground-truth
voxels given for a ground-truth box, read in a proposal's frame as training targets).

Functions broadcast over leading axes and accept NumPy or JAX arrays (the array module follows
the input), so datasets use them on the host and models under `jax.jit`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["camera_to_roi", "resample_roi_grid", "roi_to_camera"]

_MIN_DEPTH = 1e-6


def _xp(*xs):
    return jnp if any(isinstance(x, jax.Array) for x in xs) else np


def _parts(xp, points, boxes, K, zrange, name):
    points, boxes, K, zrange = (xp.asarray(a) for a in (points, boxes, K, zrange))
    if points.shape[-1:] != (3,):
        raise ValueError(f"{name} must be (..., P, 3), got {points.shape}")
    if boxes.shape[-1:] != (4,):
        raise ValueError(f"boxes must be (..., 4), got {boxes.shape}")
    if K.shape[-2:] != (3, 3):
        raise ValueError(f"K must be (..., 3, 3), got {K.shape}")
    if zrange.shape[-1:] != (2,):
        raise ValueError(f"zrange must be (..., 2), got {zrange.shape}")
    b = boxes[..., None, :]  # (..., 1, 4) against (..., P)
    k = K[..., None, :, :]
    z = zrange[..., None, :]
    return points, b, k, z


def camera_to_roi(points, boxes, K, zrange):
    """Camera-frame points to the ROI frame of a box (see the module docstring).

    Args:
        points: (..., P, 3) float, OpenCV camera frame (depths below 1e-6 are clamped).
        boxes: (..., 4) float `(x0, y0, x1, y1)` in pixels (x1 > x0, y1 > y0).
        K: (..., 3, 3) float pixel intrinsics.
        zrange: (..., 2) float `(z_near, z_far)`, 0 < z_near < z_far.

    Returns:
        (..., P, 3) ROI coordinates: the box's frustum between the two depths is [-1, 1]^3.
    """
    xp = _xp(points, boxes, K, zrange)
    points, b, k, z = _parts(xp, points, boxes, K, zrange, "points")
    depth = xp.maximum(points[..., 2], _MIN_DEPTH)
    u = k[..., 0, 0] * points[..., 0] / depth + k[..., 0, 2]
    v = k[..., 1, 1] * points[..., 1] / depth + k[..., 1, 2]
    inv_near, inv_far = 1.0 / z[..., 0], 1.0 / z[..., 1]
    return xp.stack([
        2.0 * (u - b[..., 0]) / (b[..., 2] - b[..., 0]) - 1.0,
        2.0 * (v - b[..., 1]) / (b[..., 3] - b[..., 1]) - 1.0,
        2.0 * (inv_near - 1.0 / depth) / (inv_near - inv_far) - 1.0,
    ], -1)  # fmt: skip


def roi_to_camera(points_roi, boxes, K, zrange):
    """Inverse of `camera_to_roi`: ROI coordinates (..., P, 3) to OpenCV camera-frame points.

    Args:
        points_roi: (..., P, 3) float ROI coordinates.
        boxes, K, zrange: as in `camera_to_roi`.

    Returns:
        (..., P, 3) camera-frame points (z_roi = -1 at depth z_near, +1 at z_far).
    """
    xp = _xp(points_roi, boxes, K, zrange)
    p, b, k, z = _parts(xp, points_roi, boxes, K, zrange, "points_roi")
    inv_near, inv_far = 1.0 / z[..., 0], 1.0 / z[..., 1]
    depth = 1.0 / (inv_near - 0.5 * (p[..., 2] + 1.0) * (inv_near - inv_far))
    u = b[..., 0] + 0.5 * (p[..., 0] + 1.0) * (b[..., 2] - b[..., 0])
    v = b[..., 1] + 0.5 * (p[..., 1] + 1.0) * (b[..., 3] - b[..., 1])
    return xp.stack([
        (u - k[..., 0, 2]) * depth / k[..., 0, 0],
        (v - k[..., 1, 2]) * depth / k[..., 1, 1],
        depth,
    ], -1)  # fmt: skip


def resample_roi_grid(grid, boxes_from, boxes_to, *, size: int | None = None):
    """Values of ROI grids of `boxes_from` at the cell centres of the ROI frames of `boxes_to`.

    Both frames share the camera, `K` and `zrange`, so x_roi and y_roi change by the affine map
    between the boxes' pixel spans and z_roi does not change. Each output cell takes the value of
    the nearest input cell (round to the nearest index; 0 outside the input grid), as Mesh
    R-CNN's voxel targets are read for proposal boxes.

    Args:
        grid: (..., G, G, G) values indexed [z, y, x] in the ROI frame of `boxes_from`.
        boxes_from, boxes_to: (..., 4) `(x0, y0, x1, y1)` pixels.
        size: the output side G' (static; default G).

    Returns:
        (..., G', G', G') values (the dtype of `grid`) in the ROI frame of `boxes_to`.
    """
    xp = _xp(grid, boxes_from, boxes_to)
    grid, bf, bt = xp.asarray(grid), xp.asarray(boxes_from), xp.asarray(boxes_to)
    if grid.ndim < 3 or not grid.shape[-1] == grid.shape[-2] == grid.shape[-3]:
        raise ValueError(f"grid must be (..., G, G, G), got {grid.shape}")
    if bf.shape[-1:] != (4,) or bt.shape[-1:] != (4,):
        raise ValueError(f"boxes must be (..., 4), got {bf.shape} and {bt.shape}")
    G = grid.shape[-1]
    Go = G if size is None else int(size)
    if Go < 2:
        raise ValueError(f"size must be >= 2, got {size!r}")
    c = 2.0 * xp.arange(Go, dtype=xp.float32) / (Go - 1) - 1.0  # output cell centres

    def axis(lo, hi):  # (..., Go) input indices along x (lo, hi = 0, 2) or y (1, 3)
        pix = bt[..., lo, None] + 0.5 * (c + 1.0) * (bt[..., hi, None] - bt[..., lo, None])
        r = 2.0 * (pix - bf[..., lo, None]) / (bf[..., hi, None] - bf[..., lo, None]) - 1.0
        return xp.round(0.5 * (G - 1) * (r + 1.0)).astype(xp.int32)

    ix, iy = axis(0, 2), axis(1, 3)
    iz = xp.round(0.5 * (G - 1) * (c + 1.0)).astype(xp.int32)  # z_roi is unchanged
    ok_x, ok_y = (ix >= 0) & (ix < G), (iy >= 0) & (iy < G)
    ix, iy = xp.clip(ix, 0, G - 1), xp.clip(iy, 0, G - 1)
    batch = grid.shape[:-3]
    gz = xp.take(grid, iz, axis=-3)  # (..., Go, G, G)
    gy = xp.take_along_axis(gz, xp.broadcast_to(iy[..., None, :, None], batch + (Go, Go, G)), -2)
    gx = xp.take_along_axis(gy, xp.broadcast_to(ix[..., None, None, :], batch + (Go, Go, Go)), -1)
    ok = ok_y[..., None, :, None] & ok_x[..., None, None, :]
    return xp.where(ok, gx, xp.zeros((), grid.dtype))
