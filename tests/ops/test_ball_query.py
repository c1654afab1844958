"""ball_query against a float64 brute-force reference with PyTorch3D's padding."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jax3d.ops import ball_query
from jax3d.ops.ball_query import ball_query_idx


def ball_query_naive(p1, p2, l1, l2, K, radius):
    """First K indices (index order) with squared distance < radius^2; -1 / 0 padding."""
    p1 = np.asarray(p1, np.float64)
    p2 = np.asarray(p2, np.float64)
    n, np1, _ = p1.shape
    idx = -np.ones((n, np1, K), np.int64)
    dists = np.zeros((n, np1, K))
    for b in range(n):
        for i in range(int(l1[b])):
            d = ((p1[b, i][None] - p2[b, : int(l2[b])]) ** 2).sum(-1)
            hits = np.nonzero(d < radius**2)[0][:K]
            idx[b, i, : hits.size] = hits
            dists[b, i, : hits.size] = d[hits]
    return dists, idx


def _clouds(seed, n, p1, p2):
    rng = np.random.default_rng(seed)
    return (
        rng.uniform(size=(n, p1, 3)).astype(np.float32),
        rng.uniform(size=(n, p2, 3)).astype(np.float32),
    )


@pytest.mark.parametrize("K, radius", [(1, 0.3), (5, 0.3), (40, 0.5)])
def test_matches_naive(K, radius):
    p1, p2 = _clouds(0, 3, 31, 57)
    l1 = np.array([31, 10, 0])
    l2 = np.array([57, 8, 57])
    out = ball_query(p1, p2, l1, l2, K=K, radius=radius)
    d_ref, i_ref = ball_query_naive(p1, p2, l1, l2, K, radius)
    np.testing.assert_array_equal(out.idx, i_ref)
    np.testing.assert_allclose(out.dists, d_ref, rtol=1e-5, atol=1e-6)
    gathered = np.where(
        i_ref[..., None] >= 0,
        np.take_along_axis(p2[:, None], np.maximum(i_ref, 0)[..., None], axis=2),
        0.0,
    )
    np.testing.assert_allclose(out.knn, gathered, atol=1e-7)


def test_many_tiles():
    p1, p2 = _clouds(1, 2, 77, 40)
    idx = ball_query_idx(p1, p2, jnp.array([40, 13]), 0.4, k=6, tile_pairs=100)
    _, i_ref = ball_query_naive(p1, p2, [77, 77], [40, 13], 6, 0.4)
    np.testing.assert_array_equal(idx, i_ref)


def test_jit_matches_eager_and_batch_matches_items():
    p1, p2 = _clouds(2, 2, 20, 30)
    l1, l2 = np.array([20, 7]), np.array([30, 11])
    eager = ball_query(p1, p2, l1, l2, K=4, radius=0.35)
    jitted = jax.jit(lambda a, b, r: ball_query(a, b, l1, l2, K=4, radius=r))(p1, p2, 0.35)
    np.testing.assert_array_equal(eager.idx, jitted.idx)
    np.testing.assert_allclose(eager.dists, jitted.dists, rtol=1e-6)
    for b in range(2):
        one = ball_query(p1[b : b + 1, : l1[b]], p2[b : b + 1, : l2[b]], K=4, radius=0.35)
        np.testing.assert_array_equal(one.idx, eager.idx[b : b + 1, : l1[b]])


def test_gradients():
    p2 = jnp.asarray(np.arange(15.0, dtype=np.float32).reshape(1, 5, 3) / 10.0)
    p1 = p2[:, :3] + 0.02

    def f(a, b):
        return ball_query(a, b, K=2, radius=0.3).dists

    check_grads(f, (p1, p2), order=1, modes=["rev"], atol=1e-2, rtol=1e-2)


def test_radius_is_strict_and_validation():
    p1 = jnp.zeros((1, 1, 3))
    p2 = jnp.array([[[1.0, 0.0, 0.0], [0.5, 0.0, 0.0]]])
    out = ball_query(p1, p2, K=2, radius=1.0)
    np.testing.assert_array_equal(out.idx, [[[1, -1]]])
    with pytest.raises(ValueError, match="radius"):
        ball_query(p1, p2, radius=0.0)
    with pytest.raises(ValueError, match="K must be"):
        ball_query(p1, p2, K=-1)
    with pytest.raises(ValueError, match="batch size"):
        ball_query(p1, jnp.zeros((2, 2, 3)))
