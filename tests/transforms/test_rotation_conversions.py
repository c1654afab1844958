"""Tests for jax3d.transforms.rotation_conversions: PyTorch3D parity, float64 references,
round trips (hypothesis), jit / vmap and gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads
from scipy.spatial.transform import Rotation

from jax3d import transforms as T
from tests.transforms.rotation_naive import (
    ALL_CONVENTIONS,
    axis_angle_to_matrix_naive,
    axis_angles,
    euler_to_matrix_naive,
    quaternion_to_matrix_naive,
)


def assert_rotation(R, atol=1e-5):
    R = np.asarray(R, np.float64)
    eye = np.broadcast_to(np.eye(3), R.shape)
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), eye, atol=atol)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=atol)


def random_quats_naive(rng, n):
    q = rng.normal(size=(n, 4))
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


# ---------------------------------------------------------------- PyTorch3D parity


def test_pytorch3d_reference(reference):
    ref = reference("transforms")
    aa, mat = ref["axis_angle"], ref["matrix"]
    np.testing.assert_allclose(T.axis_angle_to_matrix(aa), mat, atol=2e-6)
    np.testing.assert_allclose(T.axis_angle_to_quaternion(aa), ref["quaternion"], atol=2e-6)
    np.testing.assert_allclose(T.quaternion_to_matrix(ref["quaternion"]), mat, atol=2e-6)
    np.testing.assert_allclose(T.matrix_to_quaternion(mat), ref["quaternion"], atol=2e-6)
    np.testing.assert_allclose(T.matrix_to_axis_angle(mat), aa, atol=5e-6)
    np.testing.assert_allclose(T.quaternion_to_axis_angle(ref["quaternion"]), aa, atol=5e-6)
    np.testing.assert_allclose(T.matrix_to_euler_angles(mat, "ZYX"), ref["euler_ZYX"], atol=2e-6)
    np.testing.assert_allclose(T.euler_angles_to_matrix(ref["euler_ZYX"], "ZYX"), mat, atol=2e-6)
    np.testing.assert_allclose(T.matrix_to_rotation_6d(mat), ref["rotation_6d"], atol=1e-7)
    np.testing.assert_allclose(T.rotation_6d_to_matrix(ref["rotation_6d"]), mat, atol=2e-6)


# ---------------------------------------------------------------- float64 references


def test_axis_angle_to_matrix_matches_naive_and_scipy():
    rng = np.random.default_rng(0)
    dirs = rng.normal(size=(8, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    angles = np.array([0.0, 1e-8, 1e-4, 0.05, 1.0, 2.5, np.pi - 1e-4, np.pi])
    aa = (dirs * angles[:, None]).astype(np.float32)
    got = T.axis_angle_to_matrix(aa)
    np.testing.assert_allclose(got, axis_angle_to_matrix_naive(aa), atol=1e-6)
    np.testing.assert_allclose(got, Rotation.from_rotvec(aa).as_matrix(), atol=1e-6)
    assert_rotation(got)


def test_quaternion_to_matrix_matches_naive():
    rng = np.random.default_rng(1)
    q = random_quats_naive(rng, 16)
    np.testing.assert_allclose(T.quaternion_to_matrix(q), quaternion_to_matrix_naive(q), atol=1e-6)
    # Non-unit quaternions are normalised; scipy takes (x, y, z, w).
    np.testing.assert_allclose(T.quaternion_to_matrix(3.0 * q),
                               Rotation.from_quat(q[:, [1, 2, 3, 0]]).as_matrix(), atol=1e-6)


@pytest.mark.parametrize("convention", ALL_CONVENTIONS)
def test_euler_all_conventions(convention):
    rng = np.random.default_rng(2)
    angles = rng.uniform(-np.pi, np.pi, size=(20, 3))
    # The ranges of the decomposition: middle in [-pi/2, pi/2] (Tait-Bryan) or [0, pi] (proper).
    if convention[0] == convention[2]:
        angles[:, 1] = rng.uniform(0.05, np.pi - 0.05, size=20)
    else:
        angles[:, 1] = rng.uniform(-np.pi / 2 + 0.05, np.pi / 2 - 0.05, size=20)
    angles = angles.astype(np.float32)
    mats = T.euler_angles_to_matrix(angles, convention)
    np.testing.assert_allclose(mats, euler_to_matrix_naive(angles, convention), atol=1e-6)
    np.testing.assert_allclose(mats, Rotation.from_euler(convention, angles).as_matrix(),
                               atol=1e-6)
    np.testing.assert_allclose(T.matrix_to_euler_angles(mats, convention), angles, atol=1e-5)


@pytest.mark.parametrize("convention", ["XYZ", "ZXZ"])
def test_euler_gimbal_lock_is_finite_and_consistent(convention):
    middle = np.pi / 2 if convention == "XYZ" else 0.0
    angles = np.array([[0.3, middle, -0.4]], np.float32)
    mats = T.euler_angles_to_matrix(angles, convention)
    back = T.matrix_to_euler_angles(mats, convention)
    assert np.all(np.isfinite(back))
    np.testing.assert_allclose(T.euler_angles_to_matrix(back, convention), mats, atol=1e-5)


@pytest.mark.parametrize("bad", ["XXY", "XY", "ABC", "XYY", 3])
def test_invalid_convention(bad):
    with pytest.raises(ValueError, match="convention"):
        T.euler_angles_to_matrix(jnp.zeros(3), bad)
    with pytest.raises(ValueError, match="convention"):
        T.matrix_to_euler_angles(jnp.eye(3), bad)


def test_quaternion_algebra_matches_matrices():
    rng = np.random.default_rng(3)
    a, b = random_quats_naive(rng, 10), random_quats_naive(rng, 10)
    ma, mb = quaternion_to_matrix_naive(a), quaternion_to_matrix_naive(b)
    ab = T.quaternion_multiply(a, b)
    assert np.all(np.asarray(ab)[:, 0] >= 0)
    np.testing.assert_allclose(T.quaternion_to_matrix(ab), ma @ mb, atol=1e-5)
    raw = T.quaternion_raw_multiply(a, b)
    np.testing.assert_allclose(np.abs(raw), np.abs(ab), atol=1e-6)
    ident = T.quaternion_raw_multiply(a, T.quaternion_invert(a))
    np.testing.assert_allclose(ident, np.tile([1.0, 0, 0, 0], (10, 1)), atol=1e-6)
    pts = rng.normal(size=(10, 3)).astype(np.float32)
    np.testing.assert_allclose(T.quaternion_apply(a, pts), np.einsum("nij,nj->ni", ma, pts),
                               atol=1e-5)
    std = T.standardize_quaternion(-a)
    np.testing.assert_array_equal(std, a * np.sign(a[:, :1]))
    assert np.all(np.asarray(std)[:, 0] >= 0)


def test_quaternion_to_axis_angle_conventions():
    # w < 0 keeps PyTorch3D's angle in (pi, 2 pi]; standardising first gives the short way.
    aa = np.array([0.0, 0.0, 0.5], np.float32)
    q = np.asarray(T.axis_angle_to_quaternion(aa))
    long_way = T.quaternion_to_axis_angle(-q)
    np.testing.assert_allclose(long_way, [0, 0, 0.5 - 2 * np.pi], atol=1e-5)
    np.testing.assert_allclose(T.quaternion_to_axis_angle(T.standardize_quaternion(-q)), aa,
                               atol=1e-6)
    # Degenerate w = -1 (rotation by 2 pi) and w = 1: finite.
    for qq in ([-1.0, 0, 0, 0], [1.0, 0, 0, 0]):
        np.testing.assert_allclose(T.quaternion_to_axis_angle(jnp.array(qq)), np.zeros(3))


def test_random_quaternions_and_rotations():
    key = jax.random.key(0)
    q = T.random_quaternions(4000, key=key)
    assert q.shape == (4000, 4) and q.dtype == jnp.float32
    np.testing.assert_allclose(jnp.linalg.norm(q, axis=-1), 1.0, atol=1e-6)
    assert np.all(np.asarray(q)[:, 0] >= 0)
    np.testing.assert_array_equal(q, T.random_quaternions(4000, key=key))
    R = T.random_rotations(4000, key=jax.random.key(1))
    assert_rotation(R)
    # Haar measure: E[R] = 0 and the angle density is (1 - cos t) / pi, mean pi/2 + 2/pi.
    np.testing.assert_allclose(np.mean(np.asarray(R), axis=0), np.zeros((3, 3)), atol=0.05)
    angles = np.asarray(T.so3_rotation_angle(R))
    np.testing.assert_allclose(angles.mean(), np.pi / 2 + 2 / np.pi, atol=0.05)
    assert T.random_rotation(key=key).shape == (3, 3)
    with pytest.raises(ValueError, match="n must"):
        T.random_quaternions(-1, key=key)


# ---------------------------------------------------------------- round trips (hypothesis)


@jax.jit
def _round_trip_outputs(aa):
    R = T.axis_angle_to_matrix(aa)
    q = T.axis_angle_to_quaternion(aa)
    out = {
        "R": R,
        "aa_from_R": T.matrix_to_axis_angle(R),
        "aa_from_q": T.quaternion_to_axis_angle(q),
        "R_from_q": T.quaternion_to_matrix(q),
        "q_from_R": T.matrix_to_quaternion(R),
        "std_q": T.standardize_quaternion(q),
        "R_from_q_from_R": T.quaternion_to_matrix(T.matrix_to_quaternion(R)),
        "R_from_6d": T.rotation_6d_to_matrix(T.matrix_to_rotation_6d(R)),
    }
    for convention in ("XYZ", "ZYX", "ZXZ", "YXY"):
        e = T.matrix_to_euler_angles(R, convention)
        out["R_from_euler_" + convention] = T.euler_angles_to_matrix(e, convention)
    return out


@given(aa=axis_angles(batch=4))
def test_round_trips(aa):
    aa = aa.astype(np.float32)
    out = _round_trip_outputs(aa)
    assert_rotation(out["R"])
    R_naive = axis_angle_to_matrix_naive(aa)
    np.testing.assert_allclose(out["R"], R_naive, atol=1e-6)
    # axis-angle -> matrix -> axis-angle (|aa| < pi); near pi the float32 matrix itself
    # only determines the angle to ~1e-6.
    np.testing.assert_allclose(out["aa_from_R"], aa, atol=1e-5)
    np.testing.assert_allclose(out["aa_from_q"], aa, atol=1e-5)
    np.testing.assert_allclose(out["q_from_R"], out["std_q"], atol=1e-6)
    for key in out:
        if key.startswith("R_from"):
            # Euler angles near gimbal lock are ill-conditioned in float32: first and last
            # angle errors ~ 6e-8 / cos(middle) partly cancel in the matrix.
            atol = 3e-5 if "euler" in key else 1e-6
            np.testing.assert_allclose(out[key], R_naive, atol=atol, err_msg=key)


@given(d6=st.lists(st.floats(-10, 10), min_size=6, max_size=6))
def test_rotation_6d_gives_rotation(d6):
    d6 = np.asarray(d6, np.float32)
    a1, a2 = d6[:3], d6[3:]
    n1, n2 = np.linalg.norm(a1), np.linalg.norm(a2)
    sin_angle = np.linalg.norm(np.cross(a1, a2)) / max(n1 * n2, 1e-30)
    if min(n1, n2) < 1e-2 or sin_angle < 1e-2:
        return  # degenerate 6D input: no well-defined frame
    R = T.rotation_6d_to_matrix(d6)
    # Gram-Schmidt in float32 loses orthogonality like eps / sin(angle between a1 and a2)
    # (a hypothesis case at sin ~ 0.01 was off by 1.2e-5).
    assert_rotation(R, atol=max(1e-5, 4 * float(np.finfo(np.float32).eps) / sin_angle))
    np.testing.assert_allclose(R[0], a1 / np.linalg.norm(a1), atol=1e-5)


# ---------------------------------------------------------------- batching, jit, vmap


FUNCS = {
    "axis_angle_to_matrix": (T.axis_angle_to_matrix, 3),
    "axis_angle_to_quaternion": (T.axis_angle_to_quaternion, 3),
    "quaternion_to_matrix": (T.quaternion_to_matrix, 4),
    "quaternion_to_axis_angle": (T.quaternion_to_axis_angle, 4),
    "standardize_quaternion": (T.standardize_quaternion, 4),
    "rotation_6d_to_matrix": (T.rotation_6d_to_matrix, 6),
    "euler_angles_to_matrix": (lambda e: T.euler_angles_to_matrix(e, "XZY"), 3),
}
MATRIX_FUNCS = {
    "matrix_to_quaternion": T.matrix_to_quaternion,
    "matrix_to_axis_angle": T.matrix_to_axis_angle,
    "matrix_to_rotation_6d": T.matrix_to_rotation_6d,
    "matrix_to_euler_angles": lambda m: T.matrix_to_euler_angles(m, "YZY"),
}


def _inputs(dim, shape=(2, 3)):
    rng = np.random.default_rng(4)
    return rng.normal(size=shape + (dim,)).astype(np.float32)


def _check_batching(fn, x):
    eager = fn(x)
    np.testing.assert_allclose(jax.jit(fn)(x), eager, rtol=1e-5, atol=1e-6)
    flat = x.reshape((-1,) + x.shape[2:])
    vm = jax.vmap(fn)(flat)
    loop = np.stack([fn(xi) for xi in flat])
    np.testing.assert_allclose(vm, loop, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(eager.reshape(vm.shape), vm, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_jit_vmap_leading_dims(name):
    fn, dim = FUNCS[name]
    _check_batching(fn, _inputs(dim))


@pytest.mark.parametrize("name", sorted(MATRIX_FUNCS))
def test_jit_vmap_leading_dims_matrix_input(name):
    R = np.asarray(T.axis_angle_to_matrix(_inputs(3)))
    _check_batching(MATRIX_FUNCS[name], R)


@pytest.mark.parametrize(
    "fn, shape, arg",
    [
        (T.axis_angle_to_matrix, (3, 4), "axis_angle"),
        (T.quaternion_to_matrix, (3,), "quaternions"),
        (T.matrix_to_quaternion, (3, 4), "matrix"),
        (T.rotation_6d_to_matrix, (5,), "d6"),
        (lambda x: T.quaternion_apply(x, jnp.zeros(3)), (3,), "quaternion"),
        (lambda x: T.quaternion_apply(jnp.array([1.0, 0, 0, 0]), x), (4,), "point"),
    ],
)
def test_shape_validation(fn, shape, arg):
    with pytest.raises(ValueError, match=arg):
        fn(jnp.zeros(shape))


# ---------------------------------------------------------------- gradients


@pytest.mark.parametrize("aa", [[0.0, 0.0, 0.0], [1e-5, -2e-5, 1e-5], [0.3, -1.2, 0.5],
                                [0.0, 0.0, np.pi - 1e-3]])
def test_grads_axis_angle(aa):
    aa = jnp.asarray(aa, jnp.float32)
    check_grads(jax.jit(T.axis_angle_to_matrix), (aa,), order=1, modes=["fwd", "rev"], eps=1e-3)
    check_grads(jax.jit(T.axis_angle_to_quaternion), (aa,), order=1, modes=["rev"], eps=1e-3)


def test_grads_other_conversions():
    rng = np.random.default_rng(5)
    q = jnp.asarray(random_quats_naive(rng, 3))
    R = T.quaternion_to_matrix(q)
    d6 = jnp.asarray(rng.normal(size=(3, 6)), jnp.float32)
    cases = [
        (T.quaternion_to_matrix, q),
        (T.quaternion_to_axis_angle, q),
        (T.matrix_to_quaternion, R),
        (lambda m: T.matrix_to_euler_angles(m, "ZYX"), R),
        (lambda e: T.euler_angles_to_matrix(e, "ZXZ"), q[:, 1:]),
        (T.rotation_6d_to_matrix, d6),
    ]
    for fn, x in cases:
        check_grads(jax.jit(fn), (x,), order=1, modes=["rev"], eps=1e-3)


@pytest.mark.parametrize(
    "fn, x",
    [
        (T.axis_angle_to_matrix, jnp.zeros(3)),
        (T.axis_angle_to_quaternion, jnp.zeros(3)),
        (T.quaternion_to_axis_angle, jnp.array([1.0, 0, 0, 0])),
        (T.quaternion_to_axis_angle, jnp.array([-1.0, 0, 0, 0])),
        (T.matrix_to_quaternion, jnp.eye(3)),
        (T.matrix_to_quaternion, jnp.diag(jnp.array([1.0, -1.0, -1.0]))),  # pi about X
        (T.matrix_to_axis_angle, jnp.eye(3)),
        (T.matrix_to_axis_angle, jnp.diag(jnp.array([-1.0, 1.0, -1.0]))),
        (lambda m: T.matrix_to_euler_angles(m, "XYZ"), jnp.eye(3)),
        (T.rotation_6d_to_matrix, jnp.zeros(6)),
    ],
)
def test_finite_gradients_at_degenerate_inputs(fn, x):
    g = jax.jit(jax.grad(lambda v: jnp.sum(fn(v) * jnp.arange(1.0, fn(v).size + 1).reshape(
        fn(v).shape))))
    assert np.all(np.isfinite(g(x)))


@jax.jit
def _quaternion_outputs(q):
    """Matrices, axis-angles and the gradient of a weighted sum of each matrix, per row."""
    weights = jnp.arange(9.0).reshape(3, 3)
    grad = jax.vmap(jax.grad(lambda x: jnp.sum(T.quaternion_to_matrix(x) * weights)))(q)
    return T.quaternion_to_matrix(q), T.quaternion_to_axis_angle(q), grad


def test_quaternions_are_scale_invariant_and_zero_is_the_identity():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(32, 4)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    scales = (10.0 ** rng.uniform(-20.0, 3.0, (32, 1))).astype(np.float32)
    mats, angles, grads = _quaternion_outputs(np.concatenate([q, q * scales, np.zeros((2, 4))]))
    np.testing.assert_allclose(mats[32:64], mats[:32], atol=2e-6)
    np.testing.assert_allclose(angles[32:64], angles[:32], atol=2e-5)
    assert np.all(np.isfinite(grads))
    # the rotation is scale-invariant, so the gradient scales as 1 / c
    np.testing.assert_allclose(grads[32:64] * scales, grads[:32], rtol=1e-3, atol=1e-4)
    # the zero quaternion (PyTorch3D: NaN) is the identity, with a zero gradient
    np.testing.assert_array_equal(mats[64:], np.broadcast_to(np.eye(3), (2, 3, 3)))
    np.testing.assert_array_equal(angles[64:], 0.0)
    np.testing.assert_array_equal(grads[64:], 0.0)
