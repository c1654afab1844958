"""Mesh R-CNN's ROI frame: closed form against the authors' construction, round trips."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.transforms.roi_frustum import camera_to_roi, resample_roi_grid, roi_to_camera

K = np.array([[80.0, 0.0, 48.0], [0.0, 70.0, 40.0], [0.0, 0.0, 1.0]])
BOX = np.array([20.0, 10.0, 60.0, 70.0])
ZR = np.array([2.0, 3.5])


def _frustum_corner_naive(sx, sy, sz):
    """The corner of the box's frustum at box side (sx, sy) in {0, 1} and depth index sz, from
    the ray through the box corner (the authors' box2D_to_cuboid3D, in OpenCV's frame)."""
    u = BOX[0] if sx == 0 else BOX[2]
    v = BOX[1] if sy == 0 else BOX[3]
    z = ZR[sz]
    return np.array([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z])


def test_frustum_corners_map_to_cube_corners():
    for sx in (0, 1):
        for sy in (0, 1):
            for sz in (0, 1):
                p = _frustum_corner_naive(sx, sy, sz)
                r = camera_to_roi(p[None], BOX, K, ZR)[0]
                np.testing.assert_allclose(r, [2 * sx - 1, 2 * sy - 1, 2 * sz - 1], atol=1e-9)


def test_round_trip_and_projective():
    rng = np.random.default_rng(0)
    roi = rng.uniform(-1.2, 1.2, (50, 3))
    cam = roi_to_camera(roi, BOX, K, ZR)
    np.testing.assert_allclose(camera_to_roi(cam, BOX, K, ZR), roi, atol=1e-9)
    # straight lines stay straight (a projective map): midpoints of camera segments lie on
    # the ROI segment
    a, b = cam[:25], cam[25:]
    mid = camera_to_roi(0.5 * (a + b), BOX, K, ZR)
    ra, rb = roi[:25], roi[25:]
    cross = np.cross(mid - ra, rb - ra)
    assert np.abs(cross).max() < 1e-9


def test_batched_jax_matches_numpy():
    rng = np.random.default_rng(1)
    pts = rng.uniform([-1, -1, 2], [1, 1, 4], (3, 7, 3))
    boxes = np.stack([BOX, BOX + 3.0, BOX * 0.5 + 1.0])
    Ks = np.broadcast_to(K, (3, 3, 3))
    zr = np.stack([ZR, ZR + 1.0, ZR * 2.0])
    ref = np.stack([camera_to_roi(pts[i], boxes[i], Ks[i], zr[i]) for i in range(3)])
    got = jax.jit(camera_to_roi)(*(jnp.asarray(x, jnp.float32) for x in (pts, boxes, Ks, zr)))
    assert isinstance(got, jax.Array)
    np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-4, atol=1e-4)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="points"):
        camera_to_roi(np.zeros((4, 2)), BOX, K, ZR)
    with pytest.raises(ValueError, match="boxes"):
        camera_to_roi(np.zeros((4, 3)), BOX[:3], K, ZR)
    with pytest.raises(ValueError, match="K"):
        roi_to_camera(np.zeros((4, 3)), BOX, K[:2], ZR)
    with pytest.raises(ValueError, match="zrange"):
        roi_to_camera(np.zeros((4, 3)), BOX, K, ZR[:1])


def _resample_naive(grid, bf, bt, Go):
    G = grid.shape[0]
    out = np.zeros((Go, Go, Go), grid.dtype)
    c = 2.0 * np.arange(Go) / (Go - 1) - 1.0
    for k in range(Go):
        for j in range(Go):
            for i in range(Go):
                # the output cell centre, through the camera (any depth), into the input frame
                cam = roi_to_camera(np.array([[c[i], c[j], c[k]]]), bt, K, ZR)
                r = camera_to_roi(cam, bf, K, ZR)[0]
                idx = np.round(0.5 * (G - 1) * (r + 1.0)).astype(int)
                if np.all((idx >= 0) & (idx < G)):
                    out[k, j, i] = grid[idx[2], idx[1], idx[0]]
    return out


def test_resample_roi_grid_matches_naive_and_identity():
    rng = np.random.default_rng(2)
    grid = rng.random((6, 6, 6)) < 0.4
    other = BOX + np.array([-7.0, 5.0, 9.0, -4.0])
    for Go in (6, 4):
        got = resample_roi_grid(grid, BOX, other, size=Go)
        np.testing.assert_array_equal(got, _resample_naive(grid, BOX, other, Go))
    np.testing.assert_array_equal(resample_roi_grid(grid, BOX, BOX), grid)
    # batched under jit equals the loop
    grids = rng.random((3, 6, 6, 6)) < 0.5
    bf = np.stack([BOX, BOX + 2.0, BOX * 1.1])
    bt = np.stack([other, BOX, BOX - 3.0])
    f = jax.jit(resample_roi_grid, static_argnames="size")
    got = np.asarray(f(jnp.asarray(grids), jnp.asarray(bf, jnp.float32),
                       jnp.asarray(bt, jnp.float32), size=5))  # fmt: skip
    ref = np.stack([resample_roi_grid(grids[i], bf[i], bt[i], size=5) for i in range(3)])
    np.testing.assert_array_equal(got, ref)
    with pytest.raises(ValueError, match="grid"):
        resample_roi_grid(np.zeros((4, 4, 5)), BOX, BOX)
