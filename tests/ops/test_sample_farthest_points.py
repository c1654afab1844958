"""sample_farthest_points against a float64 loop reference (PyTorch3D's naive version)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.ops import sample_farthest_points


def fps_naive(points, lengths, K, starts):
    points = np.asarray(points, np.float64)
    n = points.shape[0]
    ks = np.full(n, K) if np.isscalar(K) else np.asarray(K)
    out = -np.ones((n, int(ks.max())), np.int64)
    for b in range(n):
        count = min(int(lengths[b]), int(ks[b]))
        if count == 0:
            continue
        sel = int(starts[b])
        out[b, 0] = sel
        closest = np.full(int(lengths[b]), np.inf)
        for i in range(1, count):
            d = ((points[b, : lengths[b]] - points[b, sel]) ** 2).sum(-1)
            closest = np.minimum(closest, d)
            sel = int(np.argmax(closest))
            out[b, i] = sel
    return out


def _points(seed, n=3, p=40):
    return np.random.default_rng(seed).normal(size=(n, p, 3)).astype(np.float32)


def test_matches_naive_with_lengths():
    pts = _points(0)
    lengths = np.array([40, 7, 0])
    sel, idx = sample_farthest_points(pts, lengths, K=10)
    ref = fps_naive(pts, lengths, 10, [0, 0, 0])
    np.testing.assert_array_equal(idx, ref)
    want = np.where(
        ref[..., None] >= 0, np.take_along_axis(pts, np.maximum(ref, 0)[..., None], 1), 0
    )
    np.testing.assert_allclose(sel, want)


def test_per_cloud_k():
    pts = _points(1)
    lengths = np.array([40, 30, 5])
    _, idx = sample_farthest_points(pts, lengths, K=[3, 8, 8])
    np.testing.assert_array_equal(idx, fps_naive(pts, lengths, [3, 8, 8], [0, 0, 0]))


def test_random_start_is_valid_and_reproducible():
    pts = _points(2)
    lengths = np.array([40, 6, 1])
    key = jax.random.PRNGKey(0)
    _, a = sample_farthest_points(pts, lengths, K=4, random_start_point=True, key=key)
    _, b = sample_farthest_points(pts, lengths, K=4, random_start_point=True, key=key)
    np.testing.assert_array_equal(a, b)
    a = np.asarray(a)
    np.testing.assert_array_equal(a, fps_naive(pts, lengths, 4, a[:, 0]))
    assert (a[:, 0] < lengths).all()


def test_jit_matches_eager_and_spreads_out():
    pts = _points(3, 1, 200)
    eager = sample_farthest_points(pts, K=16)[1]
    jitted = jax.jit(lambda p: sample_farthest_points(p, K=16)[1])(pts)
    np.testing.assert_array_equal(eager, jitted)
    assert len(set(np.asarray(eager)[0].tolist())) == 16  # distinct samples


def test_gradient_flows_to_selected_points():
    pts = jnp.asarray(_points(4, 1, 20))
    g = jax.grad(lambda p: sample_farthest_points(p, K=5)[0].sum())(pts)
    _, idx = sample_farthest_points(pts, K=5)
    expected = np.zeros((1, 20, 3))
    expected[0, np.asarray(idx)[0]] = 1.0
    np.testing.assert_array_equal(g, expected)


def test_validation():
    pts = _points(5)
    with pytest.raises(ValueError, match="key"):
        sample_farthest_points(pts, K=2, random_start_point=True)
    with pytest.raises(ValueError, match="K must be"):
        sample_farthest_points(pts, K=0)
    with pytest.raises(ValueError, match="too long"):
        sample_farthest_points(pts, np.array([41, 1, 1]), K=2)
    with pytest.raises(ValueError, match="points must have shape"):
        sample_farthest_points(pts[0], K=2)
