"""Tests for jax3d.transforms.transform3d against float64 NumPy references."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from jax3d.transforms import Rotate, RotateAxisAngle, Scale, Transform3d, Translate

# ---------------------------------------------------------------- naive references (float64)


def transform_points_naive(points, mats, eps=None):
    """Loop over batch and points: [p, 1] @ M, then divide by the (guarded) w."""
    points = np.asarray(points, np.float64)
    mats = np.asarray(mats, np.float64)
    squeeze = points.ndim == 2
    pts = points[None] if squeeze else points
    n = max(len(pts), len(mats))
    out = np.zeros((n, pts.shape[1], 3))
    for b in range(n):
        m = mats[b if len(mats) > 1 else 0]
        for p in range(pts.shape[1]):
            h = np.append(pts[b if len(pts) > 1 else 0, p], 1.0) @ m
            w = h[3]
            if eps is not None and abs(w) < eps:
                w = eps if w >= 0 else -eps
            out[b, p] = h[:3] / w
    return out[0] if squeeze and n == 1 else out


def random_rotation_naive(rng, n):
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=-2,
    )


def random_affine(rng, n):
    mats = np.tile(np.eye(4), (n, 1, 1))
    mats[:, :3, :3] = rng.normal(size=(n, 3, 3)) * 0.3 + np.eye(3)
    mats[:, 3, :3] = rng.normal(size=(n, 3))
    return mats.astype(np.float32)


# ---------------------------------------------------------------- construction


def test_default_is_identity():
    t = Transform3d()
    assert len(t) == 1
    np.testing.assert_array_equal(t.get_matrix(), np.eye(4)[None])


def test_single_matrix_is_batch_of_one():
    m = np.eye(4)
    m[3, :3] = [1, 2, 3]
    t = Transform3d(matrix=m)
    assert t.get_matrix().shape == (1, 4, 4)
    assert t.get_matrix().dtype == jnp.float32
    out = t.transform_points(jnp.zeros((5, 3)))
    np.testing.assert_allclose(out, np.tile([1, 2, 3], (5, 1)))


@pytest.mark.parametrize("shape", [(4,), (3, 3), (2, 4, 3), (1, 2, 4, 4)])
def test_bad_matrix_shape_raises(shape):
    with pytest.raises(ValueError, match="matrix"):
        Transform3d(matrix=np.zeros(shape, np.float32))


def test_translate_scale_matrices():
    t = Translate(1.0, 2.0, 3.0).get_matrix()
    expected = np.eye(4)
    expected[3, :3] = [1, 2, 3]
    np.testing.assert_allclose(t[0], expected)
    xyz = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32)
    np.testing.assert_allclose(Translate(xyz).get_matrix()[:, 3, :3], xyz)
    # (N,) and scalar coordinates broadcast.
    tb = Translate(jnp.array([1.0, 2.0]), 0.0, 5.0).get_matrix()
    np.testing.assert_allclose(tb[:, 3, :3], [[1, 0, 5], [2, 0, 5]])
    np.testing.assert_allclose(Scale(2.0).get_matrix()[0], np.diag([2, 2, 2, 1]))
    np.testing.assert_allclose(Scale(1.0, 2.0, 3.0).get_matrix()[0], np.diag([1, 2, 3, 1]))
    np.testing.assert_allclose(
        Scale(jnp.array([1.0, 2.0])).get_matrix(), [np.diag([1, 1, 1, 1]), np.diag([2, 2, 2, 1])]
    )


def test_translate_scale_input_errors():
    with pytest.raises(ValueError, match="Translate"):
        Translate(1.0)
    with pytest.raises(ValueError, match="Translate"):
        Translate(np.zeros((2, 3)), 1.0)
    with pytest.raises(ValueError, match="Scale"):
        Scale(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="batch size"):
        Translate(jnp.zeros(2), jnp.zeros(3), 0.0)


def test_rotate_stores_r_as_is():
    rng = np.random.default_rng(0)
    R = random_rotation_naive(rng, 3).astype(np.float32)
    t = Rotate(R)
    np.testing.assert_allclose(t.get_matrix()[:, :3, :3], R)
    pts = rng.normal(size=(3, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(t.transform_points(pts), pts @ R, atol=1e-5)
    with pytest.raises(ValueError, match="R must be"):
        Rotate(np.zeros((3, 4)))
    with pytest.warns(UserWarning, match="not a valid rotation"):
        Rotate(2.0 * np.eye(3))


@pytest.mark.parametrize(
    "axis, expected",
    [("X", [[1, 0, 0], [0, 0, 1], [0, -1, 0]]), ("Y", [[0, 0, -1], [0, 1, 0], [1, 0, 0]]),
     ("z", [[0, 1, 0], [-1, 0, 0], [0, 0, 1]])],
)
def test_rotate_axis_angle_90(axis, expected):
    # Rows are the images of the basis vectors: x -> y for a +90 degree turn about Z, etc.
    t = RotateAxisAngle(90.0, axis=axis)
    np.testing.assert_allclose(t.transform_points(np.eye(3, dtype=np.float32)), expected,
                               atol=1e-6)
    r = RotateAxisAngle(np.pi / 2, axis=axis, degrees=False)
    np.testing.assert_allclose(r.get_matrix(), t.get_matrix(), atol=1e-6)


def test_rotate_axis_angle_batch_and_errors():
    t = RotateAxisAngle(jnp.array([0.0, 90.0, 180.0]), axis="Y")
    assert len(t) == 3
    np.testing.assert_allclose(t.get_matrix()[0], np.eye(4), atol=1e-7)
    with pytest.raises(ValueError, match="axis"):
        RotateAxisAngle(1.0, axis="W")
    with pytest.raises(ValueError, match="angle"):
        RotateAxisAngle(np.zeros((2, 2)))


# ---------------------------------------------------------------- points and normals


@pytest.mark.parametrize("n_pts, n_tf", [(1, 1), (1, 4), (4, 1), (4, 4)])
def test_transform_points_matches_naive(n_pts, n_tf):
    rng = np.random.default_rng(1)
    mats = random_affine(rng, n_tf)
    mats[:, :, 3] = rng.normal(size=(n_tf, 4)) * 0.1 + [0, 0, 0, 1]  # projective part
    pts = rng.normal(size=(n_pts, 9, 3)).astype(np.float32)
    got = Transform3d(matrix=mats).transform_points(pts)
    np.testing.assert_allclose(got, transform_points_naive(pts, mats), rtol=1e-4, atol=1e-4)
    assert got.shape == (max(n_pts, n_tf), 9, 3)


def test_transform_points_unbatched_shapes():
    rng = np.random.default_rng(2)
    pts = rng.normal(size=(6, 3)).astype(np.float32)
    assert Translate(1.0, 2.0, 3.0).transform_points(pts).shape == (6, 3)
    out = Translate(jnp.ones((2, 3))).transform_points(pts)
    assert out.shape == (2, 6, 3)
    np.testing.assert_allclose(out[1], pts + 1.0, atol=1e-6)


def test_transform_points_eps_guard():
    mat = np.eye(4, dtype=np.float32)
    mat[:, 3] = [0.0, 0.0, 1.0, 0.0]  # w = z: perspective-like divide
    pts = np.array([[1.0, 2.0, 0.0], [1.0, 2.0, -1e-9], [1.0, 2.0, 0.5]], np.float32)
    t = Transform3d(matrix=mat)
    got = t.transform_points(pts, eps=1e-2)
    np.testing.assert_allclose(got, transform_points_naive(pts, mat[None], eps=1e-2), rtol=1e-5)
    np.testing.assert_allclose(got[0], [100.0, 200.0, 0.0], rtol=1e-5)
    np.testing.assert_allclose(got[1, :2], [-100.0, -200.0], rtol=1e-5)
    assert np.all(np.isfinite(got))
    # eps=None clamps at 1e-8 where PyTorch3D divides exactly (inf): finite, else the same
    np.testing.assert_allclose(t.transform_points(pts),
                               transform_points_naive(pts, mat[None], eps=1e-8), rtol=1e-5)
    assert np.all(np.isfinite(t.transform_points(pts)))


def test_transform_points_errors():
    t = Translate(jnp.zeros((3, 3)))
    with pytest.raises(ValueError, match="points"):
        t.transform_points(jnp.zeros((5, 2)))
    with pytest.raises(ValueError, match="batch sizes"):
        t.transform_points(jnp.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match="normals"):
        t.transform_normals(jnp.zeros((1, 2, 5, 3)))


def test_transform_normals_stay_perpendicular():
    rng = np.random.default_rng(3)
    mats = random_affine(rng, 2)
    t = Transform3d(matrix=mats)
    a, b = rng.normal(size=(2, 2, 10, 3)).astype(np.float32)
    normals = np.cross(a, b)
    # Tangents transform with the linear part; normals with its inverse-transpose.
    ta = t.transform_points(a) - t.transform_points(np.zeros_like(a))
    tb = t.transform_points(b) - t.transform_points(np.zeros_like(b))
    tn = t.transform_normals(normals)
    np.testing.assert_allclose(np.sum(tn * ta, -1), 0.0, atol=1e-3)
    np.testing.assert_allclose(np.sum(tn * tb, -1), 0.0, atol=1e-3)
    expected = normals @ np.linalg.inv(np.swapaxes(mats[:, :3, :3], 1, 2).astype(np.float64))
    np.testing.assert_allclose(tn, expected, rtol=1e-4, atol=1e-4)
    assert Translate(1.0, 2.0, 3.0).transform_normals(normals[0]).shape == (10, 3)


# ---------------------------------------------------------------- group laws, batching


def test_compose_order_row_vectors():
    # Rotate by 90 about Z first, then translate: (1, 0, 0) -> (0, 1, 0) -> (1, 1, 0).
    t = Transform3d().rotate_axis_angle(90.0, "Z").translate(1.0, 0.0, 0.0)
    np.testing.assert_allclose(t.transform_points(jnp.array([[1.0, 0.0, 0.0]])), [[1, 1, 0]],
                               atol=1e-6)
    s = Scale(2.0).compose(Translate(1.0, 1.0, 1.0), Rotate(np.eye(3)))
    np.testing.assert_allclose(s.transform_points(jnp.ones((1, 3))), [[3, 3, 3]])


def test_compose_broadcast_and_errors():
    rng = np.random.default_rng(4)
    a = Transform3d(matrix=random_affine(rng, 1))
    b = Transform3d(matrix=random_affine(rng, 5))
    ab = a.compose(b).get_matrix()
    assert ab.shape == (5, 4, 4)
    np.testing.assert_allclose(ab, a.get_matrix() @ b.get_matrix(), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="batch sizes"):
        b.compose(Transform3d(matrix=random_affine(rng, 3)))
    with pytest.raises(TypeError, match="Transform3d"):
        a.compose(np.eye(4))


@given(seed=st.integers(0, 2**31 - 1), n=st.sampled_from([1, 3]))
def test_group_laws(seed, n):
    rng = np.random.default_rng(seed)
    a, b, c = (Transform3d(matrix=random_affine(rng, n)) for _ in range(3))
    left = a.compose(b).compose(c).get_matrix()
    right = a.compose(b.compose(c)).get_matrix()
    np.testing.assert_allclose(left, right, rtol=1e-4, atol=1e-4)
    eye = np.tile(np.eye(4), (n, 1, 1))
    np.testing.assert_allclose(a.compose(a.inverse()).get_matrix(), eye, atol=1e-4)
    np.testing.assert_allclose(a.inverse().compose(a).get_matrix(), eye, atol=1e-4)
    inv_ab = a.compose(b).inverse().get_matrix()
    np.testing.assert_allclose(inv_ab, b.inverse().compose(a.inverse()).get_matrix(),
                               rtol=1e-3, atol=1e-3)
    pts = rng.normal(size=(n, 4, 3)).astype(np.float32)
    back = a.inverse().transform_points(a.transform_points(pts))
    np.testing.assert_allclose(back, pts, atol=1e-4)


def test_inverse_of_rigid_closed_form():
    rng = np.random.default_rng(5)
    R = random_rotation_naive(rng, 4).astype(np.float32)
    T = rng.normal(size=(4, 3)).astype(np.float32)
    t = Rotate(R).translate(T)
    inv = t.inverse().get_matrix()
    np.testing.assert_allclose(inv[:, :3, :3], np.swapaxes(R, 1, 2), atol=1e-5)
    np.testing.assert_allclose(inv[:, 3, :3], -np.einsum("nj,nkj->nk", T, R), atol=1e-5)


def test_getitem_len_stack():
    rng = np.random.default_rng(6)
    mats = random_affine(rng, 5)
    t = Transform3d(matrix=mats)
    assert len(t) == 5
    np.testing.assert_array_equal(t[2].get_matrix(), mats[2:3])
    np.testing.assert_array_equal(t[-1].get_matrix(), mats[4:5])
    np.testing.assert_array_equal(t[1:3].get_matrix(), mats[1:3])
    np.testing.assert_array_equal(t[[0, 4]].get_matrix(), mats[[0, 4]])
    mask = np.array([True, False, True, False, False])
    np.testing.assert_array_equal(t[jnp.asarray(mask)].get_matrix(), mats[mask])
    with pytest.raises(IndexError):
        t[5]
    s = t[0].stack(t[1:3], Translate(1.0, 2.0, 3.0))
    assert len(s) == 4
    np.testing.assert_array_equal(s.get_matrix()[:3], mats[:3])


def test_jit_matches_eager_and_is_pytree():
    rng = np.random.default_rng(7)
    t = Transform3d(matrix=random_affine(rng, 3))
    pts = rng.normal(size=(3, 8, 3)).astype(np.float32)

    def f(t, p):
        return t.inverse().compose(Scale(2.0)).transform_points(p, eps=1e-6)

    np.testing.assert_allclose(jax.jit(f)(t, pts), f(t, pts), rtol=1e-5, atol=1e-5)
    doubled = jax.tree.map(lambda m: 2 * m, t)
    assert isinstance(doubled, Transform3d)
    np.testing.assert_allclose(doubled.get_matrix(), 2 * t.get_matrix())

    @jax.jit
    def build(angle, xyz):
        return RotateAxisAngle(angle, "Y").translate(xyz).get_matrix()

    np.testing.assert_allclose(
        build(30.0, jnp.ones((1, 3))),
        RotateAxisAngle(30.0, "Y").translate(jnp.ones((1, 3))).get_matrix(), atol=1e-6)


def test_vmap_matches_loop():
    rng = np.random.default_rng(8)
    mats = random_affine(rng, 4)
    pts = rng.normal(size=(4, 6, 3)).astype(np.float32)
    t = Transform3d(matrix=mats)
    vmapped = jax.vmap(lambda tt, p: tt.transform_points(p))(t, pts)
    looped = np.stack([t[i].transform_points(pts[i]) for i in range(4)])
    np.testing.assert_allclose(vmapped, looped, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(vmapped, t.transform_points(pts), rtol=1e-5, atol=1e-5)


def test_grads():
    rng = np.random.default_rng(9)
    mats = jnp.asarray(random_affine(rng, 2))
    pts = jnp.asarray(rng.normal(size=(2, 5, 3)).astype(np.float32))

    def f(m, p):
        return Transform3d(matrix=m).transform_points(p, eps=1e-4)

    check_grads(jax.jit(f), (mats, pts), order=1, modes=["rev"], eps=1e-3)

    def g(m, n):
        return Transform3d(matrix=m).transform_normals(n)

    check_grads(jax.jit(g), (mats, pts), order=1, modes=["rev"], eps=1e-3)
