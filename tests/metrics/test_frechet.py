"""frechet_distance, feature statistics, statistics files and KID against references."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given
from hypothesis import strategies as st

from jax3d.metrics import (
    compute_statistics,
    feature_statistics,
    frechet_distance,
    kernel_inception_distance,
    load_statistics,
    polynomial_mmd2,
    save_statistics,
)


def frechet_distance_naive(mu1, sigma1, mu2, sigma2):
    """pytorch-fid's formula: scipy's sqrtm of the (non-symmetric) product, real part."""
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    diff = mu1 - mu2
    return diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean.real)


def random_spd(rng, d, cond=10.0):
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return (q * np.geomspace(1.0, 1.0 / cond, d)) @ q.T


@pytest.mark.parametrize("d", [1, 3, 16, 64])
def test_matches_scipy_sqrtm_on_random_spd(d):
    rng = np.random.default_rng(d)
    for _ in range(3):
        mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
        s1, s2 = random_spd(rng, d), random_spd(rng, d, cond=100.0) * 2.0
        got = frechet_distance(mu1, s1, mu2, s2)
        np.testing.assert_allclose(got, frechet_distance_naive(mu1, s1, mu2, s2), rtol=1e-9)


@given(m1=st.floats(-5, 5), m2=st.floats(-5, 5), s1=st.floats(1e-3, 10), s2=st.floats(1e-3, 10))
def test_one_dimensional_closed_form(m1, m2, s1, s2):
    want = (m1 - m2) ** 2 + s1 + s2 - 2 * np.sqrt(s1 * s2)
    got = frechet_distance([m1], [[s1]], [m2], [[s2]])
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_identical_zero_symmetric_and_diagonal_closed_form():
    rng = np.random.default_rng(0)
    mu, s = rng.standard_normal(8), random_spd(rng, 8)
    assert abs(frechet_distance(mu, s, mu, s)) < 1e-10
    mu2, s2 = rng.standard_normal(8), random_spd(rng, 8)
    np.testing.assert_allclose(
        frechet_distance(mu, s, mu2, s2), frechet_distance(mu2, s2, mu, s), rtol=1e-10
    )
    a, b = rng.uniform(0.1, 2, 8), rng.uniform(0.1, 2, 8)  # commuting: sum (sqrt a - sqrt b)^2
    want = np.sum((mu - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    np.testing.assert_allclose(frechet_distance(mu, np.diag(a), mu2, np.diag(b)), want, rtol=1e-10)


def test_singular_covariance_exact_warns_and_optional_offset():
    rng = np.random.default_rng(1)
    feats1, feats2 = rng.standard_normal((5, 12)), rng.standard_normal((6, 12)) + 0.5
    (mu1, s1), (mu2, s2) = feature_statistics(feats1), feature_statistics(feats2)  # rank 4, 5
    with pytest.warns(RuntimeWarning, match="singular covariance"):
        exact = frechet_distance(mu1, s1, mu2, s2)
    # exact: what pytorch-fid gives when scipy's sqrtm of the singular product stays finite
    # (its usual case; then it adds no offset), and the limit of a vanishing offset
    np.testing.assert_allclose(exact, frechet_distance_naive(mu1, s1, mu2, s2), rtol=1e-6)
    with pytest.warns(RuntimeWarning):
        tiny = frechet_distance(mu1, s1 + 1e-12 * np.eye(12), mu2, s2 + 1e-12 * np.eye(12))
    np.testing.assert_allclose(exact, tiny, rtol=1e-5)
    # eps > 0: pytorch-fid's fallback, eps * I added to both covariances
    with pytest.warns(RuntimeWarning, match=r"adding 1e-06 \* I"):
        got = frechet_distance(mu1, s1, mu2, s2, eps=1e-6)
    offset = 1e-6 * np.eye(12)
    want = frechet_distance_naive(mu1, s1 + offset, mu2, s2 + offset)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert 1e-4 < abs(got - exact) < 12 * 2e-3  # the offset biases: O(sqrt(eps)) per dimension
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # well-conditioned: no warning
        frechet_distance(mu1, s1 + np.eye(12), mu2, s2 + np.eye(12))


def test_validation():
    s = np.eye(3)
    with pytest.raises(ValueError, match="sigma1 must be"):
        frechet_distance(np.zeros(3), np.eye(2), np.zeros(3), s)
    with pytest.raises(ValueError, match="differ in dimension"):
        frechet_distance(np.zeros(3), s, np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="not symmetric"):
        frechet_distance(np.zeros(3), s + np.triu(np.ones((3, 3)), 1), np.zeros(3), s)
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.full(3, np.nan), s, np.zeros(3), s)


def test_statistics_batched_equal_direct():
    rng = np.random.default_rng(2)
    images = rng.uniform(size=(23, 4, 4, 3)).astype(np.float32) + 100.0  # large mean: stability
    proj = rng.standard_normal((48, 5))
    seen = []

    def feature_fn(batch):
        seen.append(batch.shape)
        return batch.reshape(batch.shape[0], -1) @ proj

    mu, sigma = compute_statistics(images, feature_fn, batch_size=10)
    assert seen == [(10, 4, 4, 3)] * 3  # the last batch is padded, not re-shaped
    want_mu, want_sigma = feature_statistics(images.reshape(23, -1).astype(np.float64) @ proj)
    np.testing.assert_allclose(mu, want_mu, rtol=1e-12)
    np.testing.assert_allclose(sigma, want_sigma, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(want_sigma, np.cov((images.reshape(23, -1) @ proj).T), rtol=1e-5)
    batches = [images[:7], images[7:]]  # an iterable of batches, used as given
    mu2, sigma2 = compute_statistics(iter(batches), feature_fn)
    np.testing.assert_allclose(mu2, want_mu, rtol=1e-12)
    np.testing.assert_allclose(sigma2, want_sigma, rtol=1e-8, atol=1e-10)
    with pytest.raises(ValueError, match="at least 2 images"):
        compute_statistics(images[:1], feature_fn)


def test_statistics_files(tmp_path):
    rng = np.random.default_rng(3)
    mu, sigma = feature_statistics(rng.standard_normal((20, 6)))
    save_statistics(tmp_path / "stats.npz", mu, sigma)
    got_mu, got_sigma = load_statistics(tmp_path / "stats.npz")
    np.testing.assert_array_equal(got_mu, mu)
    np.testing.assert_array_equal(got_sigma, sigma)
    np.savez(tmp_path / "giraffe.npz", m=mu, s=sigma)  # GIRAFFE's precalc_fid.py keys
    np.testing.assert_array_equal(load_statistics(tmp_path / "giraffe.npz")[1], sigma)
    np.savez(tmp_path / "bad_shape.npz", mu=mu, sigma=sigma[:3])
    with pytest.raises(ValueError, match=r"bad_shape\.npz: sigma must be \(6, 6\)"):
        load_statistics(tmp_path / "bad_shape.npz")
    np.savez(tmp_path / "keys.npz", mean=mu, cov=sigma)
    with pytest.raises(ValueError, match="keys.npz: expected arrays 'mu' and 'sigma'"):
        load_statistics(tmp_path / "keys.npz")
    np.savez(tmp_path / "objects.npz", mu=np.array([{"evil": 1}], dtype=object), sigma=sigma)
    with pytest.raises(ValueError, match="objects.npz"):
        load_statistics(tmp_path / "objects.npz")  # allow_pickle=False
    np.save(tmp_path / "single.npy", mu)
    with pytest.raises(ValueError, match="not an .npz archive"):
        load_statistics(tmp_path / "single.npy")


def polynomial_mmd2_naive(x, y):
    m, d = x.shape
    k = lambda a, b: (a @ b / d + 1.0) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return (xx + yy) / (m * (m - 1)) - 2 * xy / m**2


def test_kid_against_naive_double_loop():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((12, 5)), rng.standard_normal((15, 5)) + 0.3
    np.testing.assert_allclose(polynomial_mmd2(x, y[:12]), polynomial_mmd2_naive(x, y[:12]))
    # the subsets: m = min(subset_size, N1, N2) rows without replacement, x's draw first
    got = kernel_inception_distance(x, y, seed=7, num_subsets=4, subset_size=10)
    rng = np.random.default_rng(7)
    want = []
    for _ in range(4):
        xi = x[rng.choice(12, 10, replace=False)]
        yi = y[rng.choice(15, 10, replace=False)]
        want.append(polynomial_mmd2_naive(xi, yi))
    np.testing.assert_allclose(got.mean, np.mean(want), rtol=1e-10)
    np.testing.assert_allclose(got.std, np.std(want), rtol=1e-8)
    # a subset as large as both sets is a permutation of them: the full unbiased MMD^2
    full = kernel_inception_distance(x, y[:12], seed=0, num_subsets=2, subset_size=1000)
    np.testing.assert_allclose(full.mean, polynomial_mmd2_naive(x, y[:12]), rtol=1e-10)
    assert full.std < 1e-12


def test_kid_same_distribution_near_zero_and_validation():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((200, 8)), rng.standard_normal((200, 8))
    same = kernel_inception_distance(a, b, seed=0, num_subsets=10, subset_size=100)
    shifted = kernel_inception_distance(a, b + 1.0, seed=0, num_subsets=10, subset_size=100)
    assert abs(same.mean) < 3 * same.std + 1e-3 and shifted.mean > 10 * abs(same.mean)
    with pytest.raises(ValueError, match="features must be"):
        kernel_inception_distance(a, b[:, :3], seed=0)
