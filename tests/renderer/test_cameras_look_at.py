"""look_at_view_transform, look_at_rotation, camera_position_from_spherical_angles,
get_world_to_view_transform."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from jax3d.renderer import (
    FoVPerspectiveCameras,
    camera_position_from_spherical_angles,
    get_world_to_view_transform,
    look_at_rotation,
    look_at_view_transform,
)


def look_at_naive(eye, at, up):
    """float64 reference: columns of R are the view x (left), y (up), z (forward) axes."""
    eye, at, up = (np.asarray(v, np.float64) for v in (eye, at, up))
    z = (at - eye) / np.linalg.norm(at - eye)
    x = np.cross(up, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z], axis=1)
    return R, -eye @ R


def test_default_camera_on_plus_z_looks_along_minus_z():
    R, T = look_at_view_transform(dist=2.5)
    np.testing.assert_allclose(R, [np.diag([-1.0, 1.0, -1.0])], atol=1e-6)
    np.testing.assert_allclose(T, [[0.0, 0.0, 2.5]], atol=1e-6)
    cams = FoVPerspectiveCameras(R=R, T=T)
    np.testing.assert_allclose(cams.get_camera_center(), [[0.0, 0.0, 2.5]], atol=1e-6)
    # the world origin is straight ahead, at view depth 2.5; world +X appears on the image right
    view = cams.get_world_to_view_transform().transform_points(jnp.array([[0.0, 0, 0], [1, 0, 0]]))
    np.testing.assert_allclose(view[0], [0.0, 0.0, 2.5], atol=1e-6)
    assert view[1, 0] < 0  # view +X is left, so world +X (seen from +Z) is on the right


@pytest.mark.parametrize("seed", range(4))
def test_look_at_against_naive(seed):
    rng = np.random.default_rng(seed)
    eye, at = rng.normal(size=(5, 3)) * 3, rng.normal(size=(5, 3))
    R, T = look_at_view_transform(eye=eye, at=at)
    for i in range(5):
        R_ref, T_ref = look_at_naive(eye[i], at[i], (0, 1, 0))
        np.testing.assert_allclose(R[i], R_ref, atol=1e-5)
        np.testing.assert_allclose(T[i], T_ref, atol=1e-4)


def test_spherical_positions_and_broadcast():
    pos = camera_position_from_spherical_angles(2.0, [0.0, 90.0, 0.0], [0.0, 0.0, 90.0])
    np.testing.assert_allclose(pos, [[0, 0, 2], [0, 2, 0], [2, 0, 0]], atol=1e-6)
    rad = camera_position_from_spherical_angles([1.0], np.pi / 2, 0.0, degrees=False)
    np.testing.assert_allclose(rad, [[0, 1, 0]], atol=1e-6)
    R, T = look_at_view_transform(dist=[1.0, 2.0, 3.0], elev=10.0, azim=[20.0], at=(0.5, 0, 0))
    assert R.shape == (3, 3, 3) and T.shape == (3, 3)
    with pytest.raises(ValueError, match="batch size"):
        look_at_view_transform(dist=[1.0, 2.0], elev=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="at must be"):
        look_at_view_transform(at=np.zeros((1, 2)))


@given(st.floats(-89, 89), st.floats(-180, 180), st.floats(0.5, 10.0))
def test_look_at_is_a_rotation_pointing_at_target(elev, azim, dist):
    at = np.array([0.3, -0.2, 0.1])
    R, T = look_at_view_transform(dist, elev, azim, at=at)
    R = np.asarray(R[0], np.float64)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-5)
    assert abs(np.linalg.det(R) - 1.0) < 1e-5
    view_at = at @ R + np.asarray(T[0])
    np.testing.assert_allclose(view_at, [0.0, 0.0, dist], atol=1e-4 * max(1.0, dist))


def test_up_parallel_to_view_direction_is_finite():
    R = look_at_rotation(camera_position=(0.0, 3.0, 0.0), up=(0.0, 1.0, 0.0))
    assert np.all(np.isfinite(R))
    grad = jax.grad(lambda p: look_at_rotation(p, up=(0.0, 1.0, 0.0)).sum())(
        jnp.array([[0.0, 3.0, 0.0]])
    )
    assert np.all(np.isfinite(grad))
    # nearly parallel: the fallback still returns a proper rotation
    R = np.asarray(look_at_rotation(camera_position=(1e-9, 3.0, 0.0))[0], np.float64)
    assert np.all(np.isfinite(R))


def test_look_at_grads():
    def f(dist, elev, azim):
        R, T = look_at_view_transform(dist, elev, azim)
        return jnp.concatenate([R.reshape(-1), T.reshape(-1)])

    args = (jnp.array([2.5]), jnp.array([25.0]), jnp.array([40.0]))
    check_grads(jax.jit(f), args, order=1, modes=["rev"], atol=1e-2, rtol=1e-2)
    eye = jnp.array([[1.0, 2.0, 3.0]])
    check_grads(
        jax.jit(lambda e: look_at_view_transform(eye=e)[0]),
        (eye,),
        order=1,
        modes=["rev"],
        atol=1e-2,
        rtol=1e-2,
    )


def test_jit_matches_eager():
    f = jax.jit(lambda d, e, a: look_at_view_transform(d, e, a))
    args = (jnp.array([1.0, 2.0]), jnp.array([10.0, -30.0]), jnp.array([0.0, 120.0]))
    for a, b in zip(f(*args), look_at_view_transform(*args)):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_get_world_to_view_transform():
    R, T = look_at_view_transform(eye=[[1.0, 2.0, 3.0], [-2.0, 0.5, 1.0]])
    t = get_world_to_view_transform(R=R, T=T)
    m = np.asarray(t.get_matrix())
    assert m.shape == (2, 4, 4)
    np.testing.assert_allclose(m[:, :3, :3], R)
    np.testing.assert_allclose(m[:, 3, :3], T)
    np.testing.assert_allclose(m[:, :, 3], [[0, 0, 0, 1]] * 2)
    np.testing.assert_allclose(get_world_to_view_transform().get_matrix(), [np.eye(4)])
    with pytest.raises(ValueError, match="R must be"):
        get_world_to_view_transform(R=np.eye(4), T=np.zeros(3))
    with pytest.raises(ValueError, match="batch size"):
        get_world_to_view_transform(R=np.tile(np.eye(3), (2, 1, 1)), T=np.zeros((3, 3)))
