"""knn_points / knn_gather against a float64 brute-force reference and PyTorch3D outputs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from jax3d.ops import KNN, knn_gather, knn_points
from jax3d.ops.knn import knn_search_idx


def knn_naive(p1, p2, lengths1, lengths2, K, norm=2):
    """Float64 brute force with PyTorch3D's zero padding: (dists, idx) each (N, P1, K)."""
    p1 = np.asarray(p1, np.float64)
    p2 = np.asarray(p2, np.float64)
    n, np1, _ = p1.shape
    dists = np.zeros((n, np1, K))
    idx = np.zeros((n, np1, K), np.int64)
    for b in range(n):
        for i in range(int(lengths1[b])):
            diff = p1[b, i][None] - p2[b, : int(lengths2[b])]
            d = (diff**2).sum(-1) if norm == 2 else np.abs(diff).sum(-1)
            order = np.argsort(d, kind="stable")[:K]
            dists[b, i, : order.size] = d[order]
            idx[b, i, : order.size] = order
    return dists, idx


def _clouds(seed, n, p1, p2, d=3):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(n, p1, d)).astype(np.float32),
        rng.normal(size=(n, p2, d)).astype(np.float32),
    )


@pytest.mark.parametrize("K", [1, 3, 8])
@pytest.mark.parametrize("norm", [1, 2])
def test_matches_naive_with_lengths(K, norm):
    p1, p2 = _clouds(0, 4, 37, 45)
    l1 = np.array([37, 20, 0, 5])
    l2 = np.array([45, 5, 3, 0])  # K > lengths2 and an empty cloud
    out = knn_points(p1, p2, l1, l2, K=K, norm=norm, return_nn=True)
    d_ref, i_ref = knn_naive(p1, p2, l1, l2, K, norm)
    np.testing.assert_allclose(out.dists, d_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(out.idx, i_ref)
    nn_ref = np.take_along_axis(p2[:, None], i_ref[..., None], axis=2)
    k_ok = np.arange(K)[None, None, :, None] < l2[:, None, None, None]
    np.testing.assert_allclose(out.knn, np.where(k_ok, nn_ref, 0.0), atol=1e-6)
    assert out.idx.dtype == jnp.int32 and out.dists.dtype == jnp.float32


def test_pytorch3d_reference(reference):
    ref = reference("losses")
    out = knn_points(ref["x"], ref["y"], ref["x_lengths"], ref["y_lengths"], K=3)
    np.testing.assert_allclose(out.dists, ref["knn_dists"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out.idx, ref["knn_idx"])


@pytest.mark.parametrize("K", [1, 5])
def test_many_tiles_and_blocks(K):
    """Small tiles and odd sizes: several row tiles, padded rows, partial last block."""
    p1, p2 = _clouds(1, 2, 203, 151)
    l2 = jnp.array([151, 17], jnp.int32)
    idx = knn_search_idx(p1, p2, l2, k=K, block=8, tile_pairs=600)
    _, i_ref = knn_naive(p1, p2, [203, 203], [151, 17], K)
    np.testing.assert_array_equal(idx, i_ref)


def test_fewer_points_than_k_is_minus_one_in_search():
    p1, p2 = _clouds(2, 1, 4, 3)
    idx = knn_search_idx(p1, p2, jnp.array([2], jnp.int32), k=4)
    assert (np.asarray(idx)[..., 2:] == -1).all() and (np.asarray(idx)[..., :2] >= 0).all()


def test_far_from_origin_no_cancellation():
    """Centring keeps the expansion exact enough far from the origin."""
    rng = np.random.default_rng(3)
    p2 = (1e4 + rng.uniform(size=(1, 500, 3))).astype(np.float32)
    p1 = (p2[:, :100] + 1e-3 * rng.normal(size=(1, 100, 3))).astype(np.float32)
    out = knn_points(p1, p2, K=2)
    d_ref, i_ref = knn_naive(p1, p2, [100], [500], 2)
    np.testing.assert_array_equal(out.idx, i_ref)
    np.testing.assert_allclose(out.dists, d_ref, rtol=1e-2, atol=1e-6)


def test_jit_matches_eager_and_batch_matches_items():
    p1, p2 = _clouds(4, 3, 30, 25)
    l1 = np.array([30, 12, 7])
    l2 = np.array([25, 9, 2])
    eager = knn_points(p1, p2, l1, l2, K=3)
    jitted = jax.jit(lambda a, b, c, d: knn_points(a, b, c, d, K=3))(p1, p2, l1, l2)
    np.testing.assert_array_equal(eager.idx, jitted.idx)
    np.testing.assert_allclose(eager.dists, jitted.dists, rtol=1e-6)
    for b in range(3):
        one = knn_points(p1[b : b + 1, : l1[b]], p2[b : b + 1, : l2[b]], K=3)
        np.testing.assert_array_equal(one.idx, eager.idx[b : b + 1, : l1[b]])
        np.testing.assert_allclose(one.dists, eager.dists[b : b + 1, : l1[b]], rtol=1e-6)


@pytest.mark.parametrize("norm", [1, 2])
def test_gradients(norm):
    """check_grads through the distances; neighbours stay fixed under the small steps."""
    rng = np.random.default_rng(5)
    p2 = jnp.asarray(rng.permutation(np.arange(24.0)).reshape(1, 8, 3).astype(np.float32))
    p1 = jnp.asarray((np.asarray(p2)[:, :6] + 0.3).astype(np.float32))

    def f(a, b):
        return knn_points(a, b, K=2, norm=norm).dists

    check_grads(f, (p1, p2), order=1, modes=["rev"], atol=2e-2, rtol=2e-2)


def test_gradient_matches_analytic():
    p1, p2 = _clouds(6, 2, 20, 15)
    l1 = jnp.array([20, 9])
    l2 = jnp.array([15, 2])
    g1, g2 = jax.grad(lambda a, b: knn_points(a, b, l1, l2, K=3).dists.sum(), (0, 1))(p1, p2)
    _, idx = knn_naive(p1, p2, l1, l2, 3)
    e1 = np.zeros_like(p1, np.float64)
    e2 = np.zeros_like(p2, np.float64)
    for b in range(2):
        for i in range(int(l1[b])):
            for k in range(min(3, int(l2[b]))):
                diff = 2.0 * (p1[b, i] - p2[b, idx[b, i, k]])
                e1[b, i] += diff
                e2[b, idx[b, i, k]] -= diff
    np.testing.assert_allclose(g1, e1, atol=1e-4)
    np.testing.assert_allclose(g2, e2, atol=1e-4)
    assert np.isfinite(g1).all() and np.isfinite(g2).all()


def test_identical_points_zero_distance_finite_grad():
    p = jnp.ones((1, 4, 3))
    out = knn_points(p, p, K=2)
    np.testing.assert_array_equal(out.dists, 0.0)
    g = jax.grad(lambda a: knn_points(a, p, K=2, norm=1).dists.sum())(p)
    assert np.isfinite(g).all()


def test_knn_gather_masks_and_negative_indices():
    x = jnp.arange(2 * 5 * 2, dtype=jnp.float32).reshape(2, 5, 2)
    idx = jnp.array([[[0, 4, 1]], [[2, -1, 3]]])
    out = knn_gather(x, idx, jnp.array([5, 2]))
    np.testing.assert_array_equal(out[0, 0], np.asarray(x)[0, [0, 4, 1]])
    np.testing.assert_array_equal(out[1, 0, 0], np.asarray(x)[1, 2])
    np.testing.assert_array_equal(out[1, 0, 1:], 0.0)  # k >= lengths and idx == -1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(p1=np.zeros((2, 3, 3)), p2=np.zeros((1, 3, 3))), "batch size"),
        (dict(p1=np.zeros((1, 3, 3)), p2=np.zeros((1, 3, 2))), "point dimension"),
        (dict(p1=np.zeros((3, 3)), p2=np.zeros((1, 3, 3))), "p1 must have shape"),
        (dict(p1=np.zeros((1, 3, 3)), p2=np.zeros((1, 3, 3)), K=0), "K must be"),
        (dict(p1=np.zeros((1, 3, 3)), p2=np.zeros((1, 3, 3)), norm=3), "norm"),
        (dict(p1=np.zeros((1, 3, 3)), p2=np.zeros((1, 3, 3)), lengths2=np.array([4])), "too long"),
        (dict(p1=np.zeros((1, 3, 3)), p2=np.zeros((1, 3, 3)), lengths1=np.array([1, 2])), "shape"),
    ],
)
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        knn_points(**kwargs)


def test_knn_gather_validation():
    with pytest.raises(ValueError, match="batch size"):
        knn_gather(jnp.zeros((2, 3, 1)), jnp.zeros((1, 3, 1), jnp.int32))
    with pytest.raises(TypeError, match="integer"):
        knn_gather(jnp.zeros((1, 3, 1)), jnp.zeros((1, 3, 1)))


def test_returns_named_tuple():
    p1, p2 = _clouds(7, 1, 4, 4)
    out = knn_points(p1, p2)
    assert isinstance(out, KNN) and out.knn is None and out.dists.shape == (1, 4, 1)


@given(seed=st.integers(0, 2**16), shift=st.floats(-5, 5))
def test_invariant_to_p2_permutation_and_translation(seed, shift):
    p1, p2 = _clouds(seed, 1, 12, 10)
    base = knn_points(p1, p2, K=4)
    perm = np.random.default_rng(seed).permutation(10)
    moved = knn_points(p1 + shift, p2[:, perm] + shift, K=4)
    np.testing.assert_allclose(moved.dists, base.dists, rtol=1e-3, atol=1e-4)
    np.testing.assert_array_equal(perm[np.asarray(moved.idx)], base.idx)


def test_zero_sized_clouds():
    out = knn_points(np.zeros((2, 4, 3)), np.zeros((2, 0, 3)), K=2, return_nn=True)
    assert out.dists.shape == (2, 4, 2) and out.knn.shape == (2, 4, 2, 3)
    np.testing.assert_array_equal(out.dists, 0.0)
    np.testing.assert_array_equal(out.idx, 0)
    empty = knn_points(np.zeros((2, 0, 3)), np.zeros((2, 5, 3)), K=2)
    assert empty.dists.shape == (2, 0, 2)
