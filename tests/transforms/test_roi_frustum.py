"""Mesh R-CNN's ROI frame: closed form against the authors' construction, round trips."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.transforms.roi_frustum import camera_to_roi, roi_to_camera

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
