"""Cameras: project/unproject round trips, jit vs eager, vmap vs loop, gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from jax3d.renderer import (
    FoVOrthographicCameras,
    FoVPerspectiveCameras,
    OrthographicCameras,
    PerspectiveCameras,
    get_screen_to_ndc_transform,
    look_at_view_transform,
)
from tests.renderer.test_cameras import random_scene

IMAGE_SIZES = [(64, 64), (48, 80), (90, 40)]  # square, wide, tall (height, width)


def make_cameras(kind: str, R, T, image_size=(64, 64)):
    """One camera batch of each model, with non-trivial intrinsics."""
    n = len(R)
    if kind == "fov_persp":
        return FoVPerspectiveCameras(fov=np.linspace(40, 70, n), znear=0.5, zfar=20.0, R=R, T=T)
    if kind == "fov_ortho":
        return FoVOrthographicCameras(
            znear=0.5,
            zfar=20.0,
            max_x=2.0,
            min_x=-1.5,
            max_y=1.2,
            min_y=-1.8,
            scale_xyz=(1.1, 0.9, 1.0),
            R=R,
            T=T,
        )
    if kind == "persp_ndc":
        return PerspectiveCameras(focal_length=((1.5, 1.7),), principal_point=(0.1, -0.2), R=R, T=T)
    if kind == "persp_screen":
        h, w = image_size
        return PerspectiveCameras(
            focal_length=((1.2 * w, 1.1 * w),),
            principal_point=(0.45 * w, 0.55 * h),
            in_ndc=False,
            image_size=image_size,
            R=R,
            T=T,
        )
    if kind == "ortho_ndc":
        return OrthographicCameras(focal_length=0.4, principal_point=(0.2, 0.1), R=R, T=T)
    if kind == "ortho_screen":
        h, w = image_size
        return OrthographicCameras(
            focal_length=0.3 * w,
            principal_point=(0.5 * w, 0.4 * h),
            in_ndc=False,
            image_size=image_size,
            R=R,
            T=T,
        )
    raise ValueError(kind)


KINDS = ["fov_persp", "fov_ortho", "persp_ndc", "persp_screen", "ortho_ndc", "ortho_screen"]


def view_naive(cams, world):
    """float64 ``world @ R + T`` per camera."""
    R, T = np.asarray(cams.R, np.float64), np.asarray(cams.T, np.float64)
    return np.einsum("npi,nij->npj", world, R) + T[:, None]


def _view_depth(cams, world):
    return view_naive(cams, world)[..., 2:]


@pytest.mark.parametrize("kind", KINDS)
def test_project_unproject_roundtrip(kind):
    R, T, world = random_scene(20, n=2, p=16)
    cams = make_cameras(kind, R, T, image_size=(48, 80))
    depth = _view_depth(cams, world)
    xy = np.asarray(cams.transform_points(world))[..., :2]
    back = cams.unproject_points(np.concatenate([xy, depth], -1), world_coordinates=True)
    np.testing.assert_allclose(back, world, atol=2e-4)
    view = cams.unproject_points(np.concatenate([xy, depth], -1), world_coordinates=False)
    np.testing.assert_allclose(view, view_naive(cams, world), atol=2e-4)


@pytest.mark.parametrize("kind", ["fov_persp", "fov_ortho"])
def test_unproject_scaled_depth(kind):
    R, T, world = random_scene(21, n=2)
    cams = make_cameras(kind, R, T)
    ndc = cams.transform_points(world)  # z is the [0, 1] scaled depth
    np.testing.assert_allclose(
        cams.unproject_points(ndc, scaled_depth_input=True), world, atol=2e-4
    )


@pytest.mark.parametrize("image_size", IMAGE_SIZES)
@pytest.mark.parametrize("kind", KINDS)
def test_screen_roundtrip(kind, image_size):
    """world -> screen pixels -> NDC (flip) -> unproject(from_ndc) -> world."""
    R, T, world = random_scene(22, n=2, p=12)
    cams = make_cameras(kind, R, T, image_size=image_size)
    screen = np.asarray(cams.transform_points_screen(world, image_size=image_size))
    to_ndc = get_screen_to_ndc_transform(cams, with_xyflip=True, image_size=image_size)
    m = np.asarray(to_ndc.get_matrix(), np.float64)  # affine: no homogeneous divide needed
    ndc_xy = (np.einsum("npi,nij->npj", screen, m[:, :3, :3]) + m[:, None, 3, :3])[..., :2]
    np.testing.assert_allclose(
        ndc_xy, cams.transform_points_ndc(world, image_size=image_size)[..., :2], atol=1e-4
    )
    xyd = np.concatenate([ndc_xy, _view_depth(cams, world)], -1)
    if kind.startswith("fov"):
        back = cams.unproject_points(xyd)
    else:
        back = cams.unproject_points(xyd, from_ndc=True, image_size=image_size)
    np.testing.assert_allclose(back, world, atol=5e-4)


@given(
    st.floats(-80, 80),
    st.floats(-180, 180),
    st.floats(1.5, 6.0),
    st.floats(-0.6, 0.6),
    st.floats(-0.6, 0.6),
    st.floats(0.5, 3.0),
)
def test_roundtrip_property(elev, azim, dist, x, y, depth):
    """Any NDC point at any depth in front of a look_at camera unprojects onto its ray."""
    R, T = look_at_view_transform(dist, elev, azim)
    cams = PerspectiveCameras(focal_length=1.3, R=R, T=T)
    xyd = np.array([[x, y, depth]], np.float32)  # view depth in [0.5, 3]
    world = cams.unproject_points(xyd)
    np.testing.assert_allclose(cams.transform_points(world)[:, :2], xyd[:, :2], atol=1e-4)


def test_points_at_depth_zero_with_eps_are_finite():
    cams = FoVPerspectiveCameras()
    pts = jnp.array([[0.3, 0.2, 0.0], [0.1, -0.2, 1e-9]])
    # eps=None clamps at 1e-8 (PyTorch3D divides exactly and gives inf there): finite
    exact = cams.transform_points(pts)
    assert np.all(np.isfinite(exact)) and np.abs(exact[:, :2]).max() > 1e6
    grad = jax.grad(lambda p: cams.transform_points(p).sum())(pts)
    assert np.all(np.isfinite(grad))
    out = cams.transform_points(pts, eps=1e-4)
    assert np.all(np.isfinite(out))
    grad = jax.grad(lambda p: cams.transform_points(p, eps=1e-4).sum())(pts)
    assert np.all(np.isfinite(grad))


# ----------------------------------------------------------------------------- jit / vmap
@pytest.mark.parametrize("kind", KINDS)
def test_jit_matches_eager(kind):
    R, T, world = random_scene(23, n=2)
    cams = make_cameras(kind, R, T)

    def run(c, p):
        return (
            c.transform_points(p),
            c.transform_points_screen(p, image_size=(64, 64)),
            c.get_camera_center(),
        )

    for a, b in zip(jax.jit(run)(cams, world), run(cams, world)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)


def test_jit_with_traced_overrides():
    R, T, world = random_scene(24, n=3)
    cams = FoVPerspectiveCameras()
    f = jax.jit(lambda r, t, fov, p: cams.transform_points(p, R=r, T=t, fov=fov))
    want = FoVPerspectiveCameras(R=R, T=T, fov=[30.0, 50.0, 70.0]).transform_points(world)
    np.testing.assert_allclose(f(R, T, jnp.array([30.0, 50.0, 70.0]), world), want, rtol=1e-5)


def test_vmap_matches_loop():
    R, T, world = random_scene(25, n=4)
    focal = np.array([[1.0, 1.2], [1.5, 1.5], [2.0, 1.8], [0.8, 0.9]], np.float32)

    def project_one(r, t, f, p):
        cams = PerspectiveCameras(focal_length=f[None], R=r[None], T=t[None])
        return cams.transform_points_screen(p, image_size=(32, 48))

    vmapped = jax.vmap(project_one)(R, T, focal, world)
    for i in range(4):
        np.testing.assert_allclose(
            vmapped[i], project_one(R[i], T[i], focal[i], world[i]), rtol=1e-5, atol=1e-4
        )
    batched = PerspectiveCameras(focal_length=focal, R=R, T=T)
    np.testing.assert_allclose(
        vmapped, batched.transform_points_screen(world, image_size=(32, 48)), rtol=1e-5, atol=1e-4
    )


# ----------------------------------------------------------------------------- gradients
def _grad_scene():
    R, T, world = random_scene(26, n=1, p=5)
    return jnp.asarray(R), jnp.asarray(T), jnp.asarray(world)


def test_grads_fov_perspective():
    R, T, world = _grad_scene()

    def f(r, t, fov):
        cams = FoVPerspectiveCameras(fov=fov, znear=0.5, R=r, T=t)
        return cams.transform_points_screen(world, image_size=(40, 60)) / 40.0

    check_grads(jax.jit(f), (R, T, jnp.array([55.0])), order=1, modes=["rev"], atol=2e-2, rtol=2e-2)


def test_grads_screen_perspective_intrinsics():
    R, T, world = _grad_scene()

    def f(r, t, focal, pp):
        cams = PerspectiveCameras(
            focal_length=focal, principal_point=pp, in_ndc=False, image_size=(40, 60), R=r, T=t
        )
        return cams.transform_points_screen(world) / 40.0

    args = (R, T, jnp.array([[50.0, 45.0]]), jnp.array([[30.0, 20.0]]))
    check_grads(jax.jit(f), args, order=1, modes=["rev"], atol=2e-2, rtol=2e-2)


def test_grads_unproject_and_orthographic():
    R, T, world = _grad_scene()

    def f(r, t, focal):
        ortho = OrthographicCameras(focal_length=focal, R=r, T=t).transform_points(world)
        persp = PerspectiveCameras(focal_length=focal, R=r, T=t)
        lifted = persp.unproject_points(jnp.concatenate([ortho[..., :2], ortho[..., 2:] + 3], -1))
        return ortho.sum() + 0.1 * lifted.sum()

    check_grads(jax.jit(f), (R, T, jnp.array([1.3])), order=1, modes=["rev"], atol=2e-2, rtol=2e-2)
