"""chamfer_distance against a float64 brute-force reference (every option) and PyTorch3D."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from jax3d.loss import chamfer_distance

REDUCTIONS = [
    ("mean", "mean"),
    ("sum", "mean"),
    (None, "mean"),
    ("mean", "sum"),
    ("sum", "sum"),
    (None, "sum"),
    (None, None),
]


def _direction_naive(x, y, xl, yl, xn, yn, w, br, pr, norm, abs_cos):
    """One direction, float64, following PyTorch3D's definitions term by term."""
    n, p1, _ = x.shape
    cham = np.zeros((n, p1))
    cham_n = np.zeros((n, p1))
    for b in range(n):
        for i in range(xl[b]):
            if yl[b] == 0:  # no neighbour: distance 0, neighbour normal 0 -> cos 0
                cham_n[b, i] = 1.0
                continue
            diff = x[b, i][None] - y[b, : yl[b]]
            d = (diff**2).sum(-1) if norm == 2 else np.abs(diff).sum(-1)
            j = int(np.argmin(d))
            cham[b, i] = d[j]
            if xn is not None:
                a, c = xn[b, i], yn[b, j]
                cos = a @ c / (max(np.linalg.norm(a), 1e-6) * max(np.linalg.norm(c), 1e-6))
                cham_n[b, i] = 1 - (abs(cos) if abs_cos else cos)
    if w is not None:
        cham, cham_n = cham * w[:, None], cham_n * w[:, None]
    if pr is None:
        return cham, cham_n
    cham, cham_n = cham.sum(1), cham_n.sum(1)
    if pr == "mean":
        cham, cham_n = cham / np.maximum(xl, 1), cham_n / np.maximum(xl, 1)
    if br is not None:
        cham, cham_n = cham.sum(), cham_n.sum()
        if br == "mean":
            div = w.sum() if w is not None else n
            cham, cham_n = cham / div, cham_n / div
    return cham, cham_n


def chamfer_naive(x, y, xl, yl, xn, yn, w, br, pr, norm, single, abs_cos):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    xn = None if xn is None else np.asarray(xn, np.float64)
    yn = None if yn is None else np.asarray(yn, np.float64)
    cx, nx = _direction_naive(x, y, xl, yl, xn, yn, w, br, pr, norm, abs_cos)
    if single:
        return cx, (nx if xn is not None else None)
    cy, ny = _direction_naive(y, x, yl, xl, yn, xn, w, br, pr, norm, abs_cos)
    if pr is None:
        return (cx, cy), ((nx, ny) if xn is not None else None)
    return cx + cy, (nx + ny if xn is not None else None)


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3, 13, 3)).astype(np.float32)
    y = rng.normal(size=(3, 11, 3)).astype(np.float32)
    xn = rng.normal(size=(3, 13, 3)).astype(np.float32)
    yn = rng.normal(size=(3, 11, 3)).astype(np.float32)
    xl = np.array([13, 6, 0])
    yl = np.array([11, 4, 5])
    w = np.array([0.5, 2.0, 1.0], np.float32)
    return x, y, xn, yn, xl, yl, w


def _assert_close(out, ref):
    if ref is None:
        assert out is None
    elif isinstance(ref, tuple):
        assert isinstance(out, tuple) and len(out) == len(ref)
        for o, r in zip(out, ref):
            np.testing.assert_allclose(o, r, rtol=2e-5, atol=2e-6)
    else:
        np.testing.assert_allclose(out, ref, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize(
    "br, pr, norm, single, normals, abs_cos, weighted",
    [
        (br, pr, *rest)
        for (br, pr), *rest in itertools.product(
            REDUCTIONS, [1, 2], [False, True], [False, True], [True, False], [False, True]
        )
        if rest[2] or rest[3]  # abs_cosine only matters with normals
    ],
)
def test_every_option_matches_naive(br, pr, norm, single, normals, abs_cos, weighted):
    x, y, xn, yn, xl, yl, w = _data()
    xn, yn = (xn, yn) if normals else (None, None)
    w = w if weighted else None
    out = chamfer_distance(x, y, xl, yl, xn, yn, w, br, pr, norm, single, abs_cos)
    ref = chamfer_naive(x, y, xl, yl, xn, yn, w, br, pr, norm, single, abs_cos)
    _assert_close(out[0], ref[0])
    _assert_close(out[1], ref[1])


def test_pytorch3d_reference(reference):
    ref = reference("losses")
    args = (ref["x"], ref["y"], ref["x_lengths"], ref["y_lengths"])
    np.testing.assert_allclose(chamfer_distance(*args)[0], ref["chamfer"], rtol=1e-5)
    loss, _ = chamfer_distance(*args, point_reduction="sum", single_directional=True)
    np.testing.assert_allclose(loss, ref["chamfer_sum_single"], rtol=1e-5)


def test_jit_matches_eager():
    x, y, xn, yn, xl, yl, w = _data(1)

    def f(x, y, xl, yl, xn, yn, w):
        return chamfer_distance(x, y, xl, yl, xn, yn, w, norm=1, abs_cosine=False)

    eager = f(x, y, xl, yl, xn, yn, w)
    jitted = jax.jit(f)(x, y, xl, yl, xn, yn, w)
    for a, b in zip(eager, jitted):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_batch_equals_per_item():
    x, y, _, _, xl, yl, _ = _data(2)
    per_pair, _ = chamfer_distance(x, y, xl, yl, batch_reduction=None)
    for b in range(3):
        one, _ = chamfer_distance(x[b : b + 1, : xl[b]], y[b : b + 1, : yl[b]])
        np.testing.assert_allclose(one, per_pair[b], rtol=1e-6)


def test_gradients():
    rng = np.random.default_rng(3)
    y = jnp.asarray(rng.permutation(np.arange(18.0)).reshape(1, 6, 3).astype(np.float32))
    x = y[:, :5] + 0.25
    xn = jnp.asarray(rng.normal(size=(1, 5, 3)).astype(np.float32))
    yn = jnp.asarray(rng.normal(size=(1, 6, 3)).astype(np.float32))

    def f(x, y, xn, yn):
        loss, loss_n = chamfer_distance(x, y, x_normals=xn, y_normals=yn, abs_cosine=False)
        return loss + loss_n

    check_grads(jax.jit(f), (x, y, xn, yn), order=1, modes=["rev"], atol=2e-2, rtol=2e-2)


def test_empty_clouds_give_zero_not_nan():
    x = jnp.zeros((2, 4, 3))
    y = jnp.ones((2, 5, 3))
    xl, yl = jnp.array([0, 0]), jnp.array([0, 5])
    loss, _ = chamfer_distance(x, y, xl, yl)
    assert float(loss) == 0.0  # empty source: no terms; empty target: distance 0 (PyTorch3D)
    g = jax.jit(jax.grad(lambda a: chamfer_distance(a, y, xl, yl)[0]))(x)
    assert np.isfinite(g).all()
    both_empty, _ = chamfer_distance(x, y, xl, jnp.array([0, 0]))
    assert float(both_empty) == 0.0


def test_zero_normals_no_nan_grad():
    x = jnp.ones((1, 3, 3))
    n0 = jnp.zeros((1, 3, 3))
    g = jax.jit(jax.grad(lambda n: chamfer_distance(x, x, x_normals=n, y_normals=n)[1]))(n0)
    assert np.isfinite(g).all()


def test_zero_weights_give_zero():
    x, y, _, _, xl, yl, _ = _data(4)
    w = np.zeros(3, np.float32)
    loss, _ = chamfer_distance(x, y, xl, yl, weights=w)
    assert float(loss) == 0.0
    per, _ = chamfer_distance(x, y, xl, yl, weights=w, batch_reduction=None)
    np.testing.assert_array_equal(per, 0.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(x_lengths=np.array([14, 1, 1])), "too long"),
        (dict(batch_reduction="max"), "batch_reduction"),
        (dict(point_reduction="max"), "point_reduction"),
        (dict(point_reduction=None), "batch_reduction must be None"),
        (dict(norm=3), "norm"),
        (dict(weights=np.array([1.0, -1.0, 1.0])), "negative"),
        (dict(weights=np.ones(2)), "weights must have shape"),
        (dict(x_normals=np.zeros((3, 13, 2)), y_normals=np.zeros((3, 11, 3))), "x_normals"),
    ],
)
def test_validation(kwargs, match):
    x, y, *_ = _data()
    with pytest.raises(ValueError, match=match):
        chamfer_distance(x, y, **kwargs)


def test_mismatched_clouds_raise():
    with pytest.raises(ValueError, match="y must have shape"):
        chamfer_distance(np.zeros((2, 3, 3)), np.zeros((1, 3, 3)))


def test_pointclouds_input_matches_padded():
    structures = pytest.importorskip("jax3d.structures")
    if not hasattr(structures, "Pointclouds"):
        pytest.skip("Pointclouds not available yet")
    x, y, xn, yn, xl, yl, _ = _data(5)
    px = structures.Pointclouds(
        [x[b, : xl[b]] for b in range(3)], normals=[xn[b, : xl[b]] for b in range(3)]
    )
    py = structures.Pointclouds(
        [y[b, : yl[b]] for b in range(3)], normals=[yn[b, : yl[b]] for b in range(3)]
    )
    got = chamfer_distance(px, py)
    want = chamfer_distance(x, y, xl, yl, xn, yn)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)


@given(seed=st.integers(0, 2**16))
def test_extra_padding_and_permutation_do_not_change_the_loss(seed):
    extra = 4  # one padded shape (one compilation); the padding values vary with the seed
    x, y, xn, yn, xl, yl, _ = _data(seed)
    base = chamfer_distance(x, y, xl, yl, xn, yn)
    rng = np.random.default_rng(seed)
    xp = np.concatenate([x, rng.normal(size=(3, extra, 3)).astype(np.float32)], axis=1)
    xnp = np.concatenate([xn, rng.normal(size=(3, extra, 3)).astype(np.float32)], axis=1)
    perm = rng.permutation(11)  # y is full-length only for cloud 0: permute that one
    yp, ynp = y.copy(), yn.copy()
    yp[0], ynp[0] = y[0, perm], yn[0, perm]
    moved = chamfer_distance(xp, yp, xl, yl, xnp, ynp)
    np.testing.assert_allclose(moved[0], base[0], rtol=1e-5)
    np.testing.assert_allclose(moved[1], base[1], rtol=1e-5)
