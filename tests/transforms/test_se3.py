"""Tests for jax3d.transforms.se3 against scipy's float64 matrix exponential."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from jax.test_util import check_grads
from scipy.linalg import expm

from jax3d import transforms as T
from tests.transforms.rotation_naive import axis_angles, hat_naive


def se3_exp_map_naive(log_transform):
    """expm of the 4x4 twist [[hat(w), v], [0, 0]] (column convention), transposed to rows."""
    out = []
    for x in np.asarray(log_transform, np.float64).reshape(-1, 6):
        twist = np.zeros((4, 4))
        twist[:3, :3] = hat_naive(x[3:])
        twist[:3, 3] = x[:3]
        out.append(expm(twist).T)
    return np.stack(out)


AXIS = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
ANGLES = [0.0, 1e-6, 1e-3, 0.49, 0.51, 1.5, np.pi - 1e-2, np.pi - 1e-4]


def _log(angle, v=(0.4, -1.0, 2.0)):
    return np.concatenate([np.asarray(v), AXIS * angle]).astype(np.float32)


def test_se3_exp_map_matches_expm_and_layout():
    x = np.stack([_log(a) for a in ANGLES])
    M = np.asarray(T.se3_exp_map(x))
    np.testing.assert_allclose(M, se3_exp_map_naive(x), atol=2e-6)
    # PyTorch3D's layout: rotation transposed in the top-left block, translation in row 3.
    np.testing.assert_allclose(M[:, :3, :3], np.swapaxes(T.so3_exp_map(x[:, 3:]), 1, 2))
    np.testing.assert_array_equal(M[:, :3, 3], 0.0)
    np.testing.assert_array_equal(M[:, 3, 3], 1.0)
    # Pure translation: the log translation is the translation.
    np.testing.assert_allclose(M[0, 3, :3], x[0, :3], atol=1e-7)
    # Usable as a Transform3d: points -> points R^T + T.
    pts = np.random.default_rng(0).normal(size=(len(x), 5, 3)).astype(np.float32)
    out = T.Transform3d(matrix=M).transform_points(pts)
    np.testing.assert_allclose(out, pts @ M[:, :3, :3] + M[:, 3:, :3], atol=1e-5)


@pytest.mark.parametrize("angle", ANGLES)
def test_se3_log_map_inverts_exp(angle):
    x = _log(angle)[None]
    M = se3_exp_map_naive(x).astype(np.float32)
    np.testing.assert_allclose(T.se3_log_map(M), x, atol=2e-5, rtol=1e-5)
    np.testing.assert_allclose(T.se3_exp_map(T.se3_log_map(M)), M, atol=2e-6)


def test_get_se3_log_of_transform3d():
    rng = np.random.default_rng(1)
    R = np.asarray(T.random_rotations(3, key=jax.random.key(0)))
    t = T.Rotate(R).translate(rng.normal(size=(3, 3)).astype(np.float32))
    log = jax.jit(lambda tt: tt.get_se3_log())(t)  # a Transform3d goes through jit
    np.testing.assert_allclose(_EXP(log), t.get_matrix(), atol=2e-6)


def test_validation():
    M = np.tile(np.eye(4, dtype=np.float32), (2, 1, 1))
    M[1, 0, 3] = 0.5
    with pytest.raises(ValueError, match=r"\[\.\.\., :3, 3\]"):
        T.se3_log_map(M)
    with pytest.raises(ValueError, match="transform must"):
        T.se3_log_map(np.eye(3))
    with pytest.raises(ValueError, match="log_transform must"):
        T.se3_exp_map(np.zeros((2, 3)))


@jax.jit
def _round_trip(x):
    M = T.se3_exp_map(x)
    return M, T.se3_log_map(M)


@given(aa=axis_angles(batch=4), aa2=axis_angles(batch=4))
def test_round_trip_property(aa, aa2):
    # Translation parts drawn from a second batch of vectors (any size works).
    x = np.concatenate([aa2 * 2.0, aa], axis=-1).astype(np.float32)
    M, log = _round_trip(x)
    np.testing.assert_allclose(M, se3_exp_map_naive(x), atol=1e-5)
    np.testing.assert_allclose(log, x, atol=5e-5)
    R = np.asarray(M)[:, :3, :3].astype(np.float64)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-5)


def test_jit_vmap_and_leading_dims():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 6)).astype(np.float32)
    eager = T.se3_exp_map(x)
    assert eager.shape == (2, 3, 4, 4)
    np.testing.assert_allclose(jax.jit(T.se3_exp_map)(x), eager, atol=1e-6)
    flat = x.reshape(-1, 6)
    jitted = jax.jit(lambda v: T.se3_log_map(T.se3_exp_map(v)))
    loop = np.stack([jitted(v) for v in flat])
    np.testing.assert_allclose(jax.jit(jax.vmap(jitted))(flat), loop, atol=1e-5)


_LOG_EXP = jax.jit(lambda v: T.se3_log_map(T.se3_exp_map(v)))
_EXP = jax.jit(T.se3_exp_map)
_JAC_LOG_EXP = jax.jit(jax.jacrev(_LOG_EXP))
_GRAD_LOG = jax.jit(jax.grad(lambda m: jnp.sum(T.se3_log_map(m) * jnp.arange(1.0, 7.0))))


@pytest.mark.parametrize("angle", [0.0, 1e-5, 1.0, np.pi - 1e-2])
def test_grads(angle):
    x = jnp.asarray(_log(angle))
    check_grads(_EXP, (x,), order=1, modes=["rev"], eps=1e-3)
    # d log(exp(x)) / dx = I: checks the log map's derivative exactly.
    jac = _JAC_LOG_EXP(x)
    np.testing.assert_allclose(jac, np.eye(6), atol=2e-3)


@pytest.mark.parametrize("angle", [0.0, np.pi])
def test_finite_gradients_at_singular_points(angle):
    M = jnp.asarray(se3_exp_map_naive(_log(angle)[None])[0], jnp.float32)
    g = _GRAD_LOG(M)
    assert np.all(np.isfinite(g))
