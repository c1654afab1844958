"""OpenCV and OpenGL (NeRF/Blender) camera conversions."""

from __future__ import annotations

import numpy as np
import pytest

from jax3d.renderer import (
    FoVPerspectiveCameras,
    PerspectiveCameras,
    R_T_from_opengl_c2w,
    cameras_from_opencv_projection,
    cameras_from_opengl_c2w,
    opencv_from_cameras_projection,
    opengl_c2w_from_cameras,
    opengl_c2w_from_R_T,
)
from tests.renderer.test_cameras import random_rotations_naive


def opencv_project_naive(points, R, tvec, K):
    """float64 OpenCV pinhole projection (no distortion): pixels (u, v)."""
    cam = points @ R.T + tvec
    uvw = cam @ K.T
    return uvw[:, :2] / uvw[:, 2:]


def opencv_scene(seed, n=3, p=10):
    rng = np.random.default_rng(seed)
    R = random_rotations_naive(rng, n)
    tvec = rng.normal(size=(n, 3)) + [0, 0, 6]
    cam = rng.uniform([-1, -1, 3], [1, 1, 6], size=(n, p, 3))
    world = np.einsum("npj,nji->npi", cam - tvec[:, None], R)  # R^T (cam - t)
    sizes = np.array([[480, 640], [300, 200], [256, 256]])[:n]
    K = np.zeros((n, 3, 3))
    K[:, 0, 0] = rng.uniform(300, 600, n)
    K[:, 1, 1] = K[:, 0, 0] * rng.uniform(0.9, 1.1, n)
    K[:, :2, 2] = sizes[:, ::-1] * rng.uniform(0.4, 0.6, (n, 2))
    K[:, 2, 2] = 1
    return R, tvec, K, sizes, world


def test_opencv_cameras_project_like_opencv():
    R, tvec, K, sizes, world = opencv_scene(0)
    cams = cameras_from_opencv_projection(R, tvec, K, sizes)
    assert isinstance(cams, PerspectiveCameras) and cams.in_ndc() and len(cams) == 3
    screen = np.asarray(cams.transform_points_screen(world))
    for i in range(3):
        want = opencv_project_naive(world[i], R[i], tvec[i], K[i])
        np.testing.assert_allclose(screen[i, :, :2], want, rtol=1e-4, atol=2e-2)


def test_opencv_roundtrip_ndc_and_screen_cameras():
    R, tvec, K, sizes, world = opencv_scene(1)
    cams = cameras_from_opencv_projection(R, tvec, K, sizes)
    R2, t2, K2 = opencv_from_cameras_projection(cams, sizes)
    np.testing.assert_allclose(R2, R, atol=1e-5)
    np.testing.assert_allclose(t2, tvec, atol=1e-5)
    np.testing.assert_allclose(K2, K, rtol=1e-5, atol=1e-3)
    # screen-space cameras carry pixel intrinsics directly
    screen = PerspectiveCameras(
        focal_length=np.stack([K[:, 0, 0], K[:, 1, 1]], -1),
        principal_point=K[:, :2, 2],
        in_ndc=False,
        image_size=sizes,
        R=cams.R,
        T=cams.T,
    )
    np.testing.assert_allclose(
        screen.transform_points_screen(world),
        cams.transform_points_screen(world),
        rtol=1e-4,
        atol=2e-2,
    )
    R3, t3, K3 = opencv_from_cameras_projection(screen)
    np.testing.assert_allclose(K3, K, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(R3, R, atol=1e-5)
    np.testing.assert_allclose(t3, tvec, atol=1e-5)


def test_opencv_invalid_inputs():
    R, tvec, K, sizes, _ = opencv_scene(2)
    with pytest.raises(ValueError, match="camera_matrix"):
        cameras_from_opencv_projection(R, tvec, K[:, :2], sizes)
    with pytest.raises(ValueError, match="R must be"):
        cameras_from_opencv_projection(R[0], tvec, K, sizes)
    with pytest.raises(ValueError, match="image_size"):
        opencv_from_cameras_projection(PerspectiveCameras())
    with pytest.raises(TypeError):
        opencv_from_cameras_projection(FoVPerspectiveCameras(), sizes)


def nerf_ray_naive(c2w, i, j, w, h, camera_angle_x):
    """NeRF (Blender) ray through the centre of pixel (column i, row j): origin, direction."""
    focal = 0.5 * w / np.tan(0.5 * camera_angle_x)
    d_cam = np.array([(i + 0.5 - w / 2) / focal, -(j + 0.5 - h / 2) / focal, -1.0])
    return c2w[:3, 3], c2w[:3, :3] @ d_cam


def test_opengl_pose_matches_nerf_rays():
    rng = np.random.default_rng(3)
    c2w = np.zeros((2, 4, 4))
    c2w[:, :3, :3] = random_rotations_naive(rng, 2)
    c2w[:, :3, 3] = rng.normal(size=(2, 3)) * 4
    c2w[:, 3, 3] = 1
    angle_x, size = 0.69, 64
    cams = cameras_from_opengl_c2w(c2w, fov=angle_x, degrees=False)
    np.testing.assert_allclose(cams.get_camera_center(), c2w[:, :3, 3], atol=1e-4)
    for n in range(2):
        pix = [(5, 9), (40, 22), (63, 0)]
        pts = []
        for i, j in pix:
            o, d = nerf_ray_naive(c2w[n], i, j, size, size, angle_x)
            pts.append(o + 2.5 * d)
        screen = cams[n].transform_points_screen(np.array(pts), image_size=(size, size))
        np.testing.assert_allclose(screen[:, :2], np.array(pix) + 0.5, atol=2e-3)


def test_opengl_roundtrip():
    rng = np.random.default_rng(4)
    R = random_rotations_naive(rng, 3)
    T = rng.normal(size=(3, 3))
    c2w = opengl_c2w_from_R_T(R, T)
    assert c2w.shape == (3, 4, 4)
    np.testing.assert_allclose(c2w[:, 3], [[0, 0, 0, 1]] * 3)
    R2, T2 = R_T_from_opengl_c2w(c2w)
    np.testing.assert_allclose(R2, R, atol=1e-5)
    np.testing.assert_allclose(T2, T, atol=1e-5)
    R3, T3 = R_T_from_opengl_c2w(np.asarray(c2w)[:, :3])  # (N, 3, 4) is accepted
    np.testing.assert_allclose(R3, R, atol=1e-5)
    cams = FoVPerspectiveCameras(R=R, T=T)
    np.testing.assert_allclose(opengl_c2w_from_cameras(cams), c2w, atol=1e-6)
    with pytest.raises(ValueError, match="c2w"):
        R_T_from_opengl_c2w(np.eye(4))
