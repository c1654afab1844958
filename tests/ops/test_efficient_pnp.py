"""efficient_pnp: exact poses from noiseless 2D-3D correspondences, weights, checks."""

from __future__ import annotations

import numpy as np
import pytest

from jax3d.ops import efficient_pnp
from jax3d.transforms import euler_angles_to_matrix


def _problem(seed: int, n: int = 12, batch: int = 2):
    rng = np.random.default_rng(seed)
    R = np.asarray(euler_angles_to_matrix(rng.uniform(-np.pi, np.pi, (batch, 3)), "XYZ"))
    x = rng.uniform(-1, 1, (batch, n, 3))
    T = np.c_[rng.uniform(-0.5, 0.5, (batch, 2)), rng.uniform(4, 6, batch)]
    cam = np.einsum("bni,bij->bnj", x, R) + T[:, None]  # PyTorch3D rows: x R + T
    y = cam[..., :2] / cam[..., 2:]
    return x.astype(np.float32), y.astype(np.float32), R, T


@pytest.mark.parametrize("skip", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_recovers_the_pose_of_noiseless_correspondences(skip):
    x, y, R, T = _problem(0)
    sol = efficient_pnp(x, y, skip_quadratic_eq=skip)
    np.testing.assert_allclose(np.asarray(sol.R), R, atol=2e-3)
    np.testing.assert_allclose(np.asarray(sol.T), T, atol=2e-2)
    assert float(np.max(sol.err_2d)) < 1e-3
    posed = np.einsum("bni,bij->bnj", x, np.asarray(sol.R)) + np.asarray(sol.T)[:, None]
    np.testing.assert_allclose(np.asarray(sol.x_cam), posed, atol=2e-2)


def test_zero_weights_ignore_outliers():
    x, y, R, T = _problem(1)  # the shapes of the test above: no new compilation
    y[:, :2] += 0.5  # two wrong correspondences per problem
    w = np.ones(x.shape[:2], np.float32)
    w[:, :2] = 0.0
    sol = efficient_pnp(x, y, weights=w)
    np.testing.assert_allclose(np.asarray(sol.R), R, atol=2e-3)
    bad = efficient_pnp(x, y)
    assert np.all(np.asarray(bad.err_2d) > 10 * np.asarray(sol.err_2d))


def test_checks():
    x, y, _, _ = _problem(2, n=6, batch=1)
    with pytest.raises(ValueError, match="y must be"):
        efficient_pnp(x, y[:, :5])
    with pytest.raises(ValueError, match="at least 4"):
        efficient_pnp(x[:, :3], y[:, :3])
