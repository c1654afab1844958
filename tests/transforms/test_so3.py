"""Tests for jax3d.transforms.so3: float64 references (scipy expm), accuracy and gradients at
the identity and near / at pi, hypothesis round trips, jit / vmap."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from jax.test_util import check_grads
from scipy.linalg import expm

from jax3d import transforms as T
from tests.transforms.rotation_naive import (
    axis_angle_to_matrix_naive,
    axis_angles,
    hat_naive,
    rotation_angle_naive,
)


def so3_exp_map_naive(w):
    return np.stack([expm(hat_naive(v)) for v in np.asarray(w, np.float64).reshape(-1, 3)])


def unit(v):
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v)


AXIS = unit([0.3, -0.5, 0.8])
# Angles where the maps switch branches or are singular in naive formulas.
CRITICAL_ANGLES = [0.0, 1e-7, 1e-4, 0.099, 0.101, 0.5, 1.0, 2.0, np.pi - 1e-2, np.pi - 1e-4]


def test_hat_and_hat_inv():
    rng = np.random.default_rng(0)
    v, u = rng.normal(size=(2, 4, 3)).astype(np.float32)
    H = T.hat(v)
    np.testing.assert_allclose(H, hat_naive(v), atol=0)
    np.testing.assert_allclose(np.einsum("nij,nj->ni", H, u), np.cross(v, u), atol=1e-5)
    np.testing.assert_array_equal(T.hat_inv(H), v)
    assert T.hat(jnp.zeros((2, 5, 3))).shape == (2, 5, 3, 3)
    with pytest.raises(ValueError, match="skew"):
        T.hat_inv(jnp.eye(3))
    with pytest.raises(ValueError, match="v must"):
        T.hat(jnp.zeros((4, 2)))
    with pytest.raises(ValueError, match="h must"):
        T.hat_inv(jnp.zeros((3, 4)))
    # Traced input skips the (data-dependent) skew check but still computes.
    np.testing.assert_array_equal(jax.jit(T.hat_inv)(H), v)


def test_so3_exp_map_matches_expm():
    w = np.stack([AXIS * a for a in CRITICAL_ANGLES] + [AXIS * np.pi]).astype(np.float32)
    R = T.so3_exp_map(w)
    np.testing.assert_allclose(R, so3_exp_map_naive(w), atol=1e-6)
    np.testing.assert_allclose(R, axis_angle_to_matrix_naive(w), atol=1e-6)
    with pytest.raises(ValueError, match="log_rot"):
        T.so3_exp_map(jnp.zeros((3, 4)))


@pytest.mark.parametrize("angle", CRITICAL_ANGLES)
def test_so3_log_map_accuracy(angle):
    w = AXIS * angle
    R = axis_angle_to_matrix_naive(w).astype(np.float32)  # exact rotation, rounded once
    got = np.asarray(T.so3_log_map(R))[0]
    np.testing.assert_allclose(got, w, atol=1e-5, rtol=1e-5)
    if angle < 1e-3:  # near the identity the relative accuracy is kept too
        np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-12)


def test_so3_log_map_exactly_pi():
    for axis in (AXIS, unit([1, 0, 0]), unit([0, 1, 1])):
        R = axis_angle_to_matrix_naive(axis * np.pi).astype(np.float32)
        got = np.asarray(T.so3_log_map(R))[0]
        # log is two-valued at pi: +-pi axis.
        sign = np.sign(got @ axis)
        np.testing.assert_allclose(got, sign * np.pi * axis, atol=1e-5)
        np.testing.assert_allclose(T.so3_exp_map(got), R[0], atol=1e-6)


def test_so3_log_map_validation():
    with pytest.raises(ValueError, match="trace"):
        T.so3_log_map(2.0 * jnp.eye(3))
    with pytest.raises(ValueError, match="R must"):
        T.so3_log_map(jnp.zeros((2, 3)))


@given(aa=axis_angles(batch=4))
def test_log_exp_round_trips(aa):
    w = aa.astype(np.float32)
    R = _exp_log(w)
    np.testing.assert_allclose(R["log_exp"], w, atol=1e-5)
    R_naive = axis_angle_to_matrix_naive(aa)
    np.testing.assert_allclose(R["exp"], R_naive, atol=1e-6)
    np.testing.assert_allclose(R["exp_log_exp"], R_naive, atol=1e-6)
    np.testing.assert_allclose(R["det"], 1.0, atol=1e-6)
    np.testing.assert_allclose(R["angle"], np.linalg.norm(aa, axis=-1), atol=1e-5)


@jax.jit
def _exp_log(w):
    R = T.so3_exp_map(w)
    log = T.so3_log_map(R)
    return {
        "exp": R,
        "log_exp": log,
        "exp_log_exp": T.so3_exp_map(log),
        "det": jnp.linalg.det(R),
        "angle": T.so3_rotation_angle(R),
    }


def test_rotation_angles():
    rng = np.random.default_rng(1)
    aa = rng.normal(size=(6, 3))
    R = axis_angle_to_matrix_naive(aa).astype(np.float32)
    angles = T.so3_rotation_angle(R)
    np.testing.assert_allclose(angles, rotation_angle_naive(R), atol=2e-5)
    np.testing.assert_allclose(T.so3_rotation_angle(R, cos_angle=True),
                               np.cos(rotation_angle_naive(R)), atol=1e-6)
    # Accurate where acos of the trace is not: 1e-4 and pi - 1e-4.
    for a in (1e-4, np.pi - 1e-4):
        Ra = axis_angle_to_matrix_naive(AXIS * a).astype(np.float32)
        np.testing.assert_allclose(T.so3_rotation_angle(Ra), [a], rtol=1e-3)
    R2 = T.so3_exp_map(rng.normal(size=(6, 3)).astype(np.float32) * 0.5)
    rel = T.so3_relative_angle(R, R2)
    np.testing.assert_allclose(rel, rotation_angle_naive(R @ np.swapaxes(R2, 1, 2)), atol=2e-5)
    np.testing.assert_allclose(T.so3_relative_angle(R, R), 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="trace"):
        T.so3_rotation_angle(-2.0 * jnp.eye(3))


def test_jit_and_vmap_match():
    rng = np.random.default_rng(2)
    w = (rng.normal(size=(2, 3, 3)) * 1.2).astype(np.float32)
    flat = w.reshape(-1, 3)
    for fn in (T.so3_exp_map, lambda x: T.so3_log_map(T.so3_exp_map(x)),
               lambda x: T.so3_rotation_angle(T.so3_exp_map(x))):
        eager = fn(w)
        jitted = jax.jit(fn)
        np.testing.assert_allclose(jitted(w), eager, atol=1e-6)
        loop = np.stack([jitted(x) for x in flat])
        np.testing.assert_allclose(jax.jit(jax.vmap(fn))(flat), loop, atol=1e-6)
        np.testing.assert_allclose(np.asarray(eager).reshape(loop.shape), loop, atol=1e-6)


# ---------------------------------------------------------------- gradients


_EXP = jax.jit(T.so3_exp_map)
_LOG_EXP = jax.jit(lambda v: T.so3_log_map(T.so3_exp_map(v)))
_JAC_LOG_EXP = jax.jit(jax.jacrev(_LOG_EXP))


@pytest.mark.parametrize("angle", [0.0, 1e-5, 0.3, 2.0, np.pi - 1e-2])
def test_check_grads_exp_log(angle):
    w = jnp.asarray(AXIS * angle, jnp.float32)
    check_grads(_EXP, (w,), order=1, modes=["rev"], eps=1e-3)
    # d log(exp(w)) / dw = I for |w| < pi: a sharp check of the log map's derivative.
    jac = _JAC_LOG_EXP(w)
    np.testing.assert_allclose(jac, np.eye(3), atol=5e-4)


def test_check_grads_log_wrt_matrix():
    R = jnp.asarray(axis_angle_to_matrix_naive(AXIS * 1.3)[0], jnp.float32)
    check_grads(jax.jit(T.so3_log_map), (R,), order=1, modes=["rev", "fwd"], eps=1e-3)
    check_grads(jax.jit(T.so3_rotation_angle), (R,), order=1, modes=["rev"], eps=1e-3)


_W = jnp.arange(1.0, 4.0)
_SINGULAR_GRADS = jax.jit(
    lambda R, w: [
        jax.grad(lambda m: jnp.sum(T.so3_log_map(m) * _W))(R),
        jax.grad(lambda m: T.so3_rotation_angle(m))(R),
        jax.grad(lambda m: T.so3_relative_angle(m, jnp.eye(3)))(R),
        jax.grad(lambda v: jnp.sum(T.so3_exp_map(v)[..., 0, :] * _W))(w),
        jax.grad(lambda v: jnp.sum(T.so3_log_map(T.so3_exp_map(v)) * _W))(w),
    ]
)


@pytest.mark.parametrize("angle", [0.0, 1e-6, np.pi - 1e-4, np.pi])
def test_finite_gradients_at_singular_points(angle):
    w = jnp.asarray(AXIS * angle, jnp.float32)
    R = jnp.asarray(axis_angle_to_matrix_naive(AXIS * angle)[0], jnp.float32)
    grads = _SINGULAR_GRADS(R, w)
    for g in grads:
        assert np.all(np.isfinite(g))
    if angle < np.pi:  # d log(exp(w)) / dw = I, so the last gradient is the weights
        np.testing.assert_allclose(grads[-1], _W, rtol=2e-3, atol=2e-3)
