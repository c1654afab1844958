"""Umeyama alignment and ICP: exact recovery of random similarities, convergence."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy.spatial.transform import Rotation

from jax3d.ops import (
    SimilarityTransform,
    corresponding_points_alignment,
    iterative_closest_point,
)


def _random_similarity(seed, n, reflect=False):
    rng = np.random.default_rng(seed)
    R = Rotation.random(n, random_state=seed).as_matrix().astype(np.float32)
    if reflect:
        R = R * np.array([1, 1, -1], np.float32)
    T = rng.normal(size=(n, 3)).astype(np.float32)
    s = rng.uniform(0.5, 2.0, size=n).astype(np.float32)
    return R, T, s


def umeyama_naive(x, y):
    """Float64 textbook Umeyama with scale (row-vector convention y = s x R + t)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    xm, ym = x.mean(0), y.mean(0)
    cov = (x - xm).T @ (y - ym) / len(x)
    u, sv, vt = np.linalg.svd(cov)
    e = np.ones(3)
    e[-1] = np.sign(np.linalg.det(u @ vt))
    R = u @ np.diag(e) @ vt
    s = (e * sv).sum() / ((x - xm) ** 2).sum(-1).mean()
    return R, ym - s * xm @ R, s


@pytest.mark.parametrize("estimate_scale", [False, True])
def test_recovers_random_similarity(estimate_scale):
    R, T, s = _random_similarity(0, 4)
    if not estimate_scale:
        s = np.ones_like(s)
    x = np.random.default_rng(1).normal(size=(4, 30, 3)).astype(np.float32)
    y = s[:, None, None] * np.einsum("npi,nij->npj", x, R) + T[:, None]
    out = corresponding_points_alignment(x, y, estimate_scale=estimate_scale)
    np.testing.assert_allclose(out.R, R, atol=1e-4)
    np.testing.assert_allclose(out.T, T, atol=1e-4)
    np.testing.assert_allclose(out.s, s, rtol=1e-4)


def test_matches_naive_on_noisy_points():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 25, 3)).astype(np.float32)
    y = rng.normal(size=(1, 25, 3)).astype(np.float32)
    out = corresponding_points_alignment(x, y, estimate_scale=True)
    R, T, s = umeyama_naive(x[0], y[0])
    np.testing.assert_allclose(out.R[0], R, atol=1e-4)
    np.testing.assert_allclose(out.T[0], T, atol=1e-4)
    np.testing.assert_allclose(out.s[0], s, rtol=1e-4)


def test_reflection_handling():
    R, T, _ = _random_similarity(3, 1, reflect=True)
    x = np.random.default_rng(4).normal(size=(1, 20, 3)).astype(np.float32)
    y = np.einsum("npi,nij->npj", x, R) + T[:, None]
    proper = corresponding_points_alignment(x, y)
    assert np.linalg.det(np.asarray(proper.R[0])) > 0
    improper = corresponding_points_alignment(x, y, allow_reflection=True)
    np.testing.assert_allclose(improper.R, R, atol=1e-4)


def test_weights_select_points_and_padding_equals_list():
    R, T, s = _random_similarity(5, 1)
    x = np.random.default_rng(6).normal(size=(1, 12, 3)).astype(np.float32)
    y = np.einsum("npi,nij->npj", x, R) + T[:, None]
    y_bad = y.copy()
    y_bad[0, 8:] += 10.0  # outliers get zero weight
    w = np.array([[1.0] * 8 + [0.0] * 4], np.float32)
    out = corresponding_points_alignment(x, y_bad, weights=w)
    np.testing.assert_allclose(out.R, R, atol=1e-4)
    listed = corresponding_points_alignment(x, y_bad, weights=[w[0]])
    np.testing.assert_allclose(listed.R, out.R, atol=1e-6)


def test_jit_and_grad():
    R, T, _ = _random_similarity(7, 2)
    x = jnp.asarray(np.random.default_rng(8).normal(size=(2, 15, 3)).astype(np.float32))
    y = jnp.einsum("npi,nij->npj", x, R) + T[:, None]
    jitted = jax.jit(lambda a, b: corresponding_points_alignment(a, b, estimate_scale=True))(x, y)
    eager = corresponding_points_alignment(x, y, estimate_scale=True)
    np.testing.assert_allclose(jitted.R, eager.R, atol=1e-5)
    noisy = y + 0.1 * jnp.asarray(np.random.default_rng(9).normal(size=y.shape), jnp.float32)

    def f(b):
        out = corresponding_points_alignment(x, b, estimate_scale=True)
        return out.R, out.T, out.s

    check_grads(jax.jit(f), (noisy,), order=1, modes=["rev"], atol=2e-2, rtol=2e-2)


def test_validation():
    with pytest.raises(ValueError, match="same shape"):
        corresponding_points_alignment(np.zeros((1, 4, 3)), np.zeros((1, 5, 3)))
    with pytest.raises(ValueError, match="weights must have shape"):
        corresponding_points_alignment(np.ones((1, 4, 3)), np.ones((1, 4, 3)), np.ones((1, 3)))
    with pytest.raises(ValueError, match="init_transform"):
        iterative_closest_point(np.ones((1, 4, 3)), np.ones((1, 4, 3)), init_transform=(1, 2, 3))


def test_icp_converges_on_rotated_copy():
    rng = np.random.default_rng(9)
    y = rng.normal(size=(2, 300, 3)).astype(np.float32) * np.array([3.0, 1.5, 0.5], np.float32)
    angles = np.array([[0.15, -0.1, 0.2], [-0.2, 0.1, 0.05]])
    R = Rotation.from_euler("xyz", angles).as_matrix().astype(np.float32)
    T = np.array([[0.1, -0.2, 0.05], [0.0, 0.1, -0.1]], np.float32)
    # x = (y - T) R^T, so the solution maps x back to y: x R + T = y.
    x = np.einsum("npj,nij->npi", y - T[:, None], R).astype(np.float32)
    sol = iterative_closest_point(x, y, max_iterations=60)
    assert sol.converged and len(sol.t_history) <= 60
    np.testing.assert_allclose(sol.RTs.R, R, atol=1e-3)
    np.testing.assert_allclose(sol.RTs.T, T, atol=1e-3)
    assert float(sol.rmse.max()) < 1e-3
    np.testing.assert_allclose(sol.Xt, y, atol=2e-3)


def test_icp_init_transform_identity_solution():
    x = np.random.default_rng(10).normal(size=(1, 50, 3)).astype(np.float32)
    init = SimilarityTransform(np.eye(3, dtype=np.float32)[None], np.zeros((1, 3)), np.ones(1))
    sol = iterative_closest_point(x, x, init_transform=init, estimate_scale=True)
    assert sol.converged
    np.testing.assert_allclose(sol.RTs.R[0], np.eye(3), atol=1e-5)
    np.testing.assert_allclose(sol.RTs.s, 1.0, atol=1e-5)


def test_icp_heterogeneous_pointclouds_match_per_item():
    from jax3d.structures import Pointclouds

    rng = np.random.default_rng(11)
    y = [rng.normal(size=(n, 3)).astype(np.float32) * [2.0, 1.0, 0.5] for n in (80, 50)]
    R = Rotation.from_euler("z", [[0.1], [-0.15]]).as_matrix().astype(np.float32)
    x = [(y[i][: 60 - 20 * i] @ R[i].T).astype(np.float32) for i in range(2)]
    sol = iterative_closest_point(Pointclouds(x), Pointclouds(y), max_iterations=30)
    assert isinstance(sol.Xt, Pointclouds)
    for i in range(2):
        one = iterative_closest_point(x[i][None], y[i][None], max_iterations=30)
        np.testing.assert_allclose(sol.RTs.R[i], one.RTs.R[0], atol=1e-3)
        np.testing.assert_allclose(sol.RTs.R[i], R[i], atol=1e-3)
