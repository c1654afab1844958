"""ssim: float64 reference (scipy), closed forms, batching, jit, gradients, validation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads
from scipy.signal import correlate2d

from jax3d.metrics import ssim


def ssim_naive(pred, target, max_val=1.0, filter_size=11, sigma=1.5, k1=0.01, k2=0.03):
    """Float64 SSIM of one (H, W, C) pair with a 2-D Gaussian window (Wang et al. 2004)."""
    x = np.arange(filter_size) - (filter_size - 1) / 2
    g = np.exp(-(x[:, None] ** 2 + x[None] ** 2) / (2 * sigma**2))
    g /= g.sum()
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    maps = []
    for c in range(pred.shape[-1]):
        a = np.asarray(pred[..., c], np.float64)
        b = np.asarray(target[..., c], np.float64)

        def f(z):
            return correlate2d(z, g, mode="valid")

        mu_a, mu_b = f(a), f(b)
        va, vb = f(a * a) - mu_a**2, f(b * b) - mu_b**2
        cov = f(a * b) - mu_a * mu_b
        maps.append(
            (2 * mu_a * mu_b + c1) * (2 * cov + c2) / ((mu_a**2 + mu_b**2 + c1) * (va + vb + c2))
        )
    return float(np.mean(maps))


def _noisy(seed, shape=(24, 20, 3), noise=0.1):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]] / 10.0
    base = 0.5 + 0.4 * np.sin(yy + 2 * xx)[..., None] * np.linspace(0.5, 1, shape[2])
    noisy = base + noise * rng.normal(size=shape)
    return base.astype(np.float32), noisy.astype(np.float32)


def test_identical_is_one():
    a, b = _noisy(0)
    np.testing.assert_allclose(ssim(a, a), 1.0, atol=1e-6)
    np.testing.assert_allclose(ssim(b, b), 1.0, atol=1e-6)


def test_constant_images_closed_form():
    """Flat images have zero variance, so SSIM = (2ab + c1) / (a^2 + b^2 + c1)."""
    a, b = 0.3, 0.7
    pa = np.full((16, 16, 1), a, np.float32)
    pb = np.full((16, 16, 1), b, np.float32)
    c1 = 0.01**2
    np.testing.assert_allclose(ssim(pa, pb), (2 * a * b + c1) / (a * a + b * b + c1), rtol=1e-5)


@pytest.mark.parametrize(
    "noise, kwargs",
    [(0.05, {}), (0.2, {}), (0.1, {"filter_size": 7, "filter_sigma": 1.0}), (0.1, {"k2": 0.1})],
)
def test_matches_naive(noise, kwargs):
    a, b = _noisy(1, noise=noise)
    want = ssim_naive(
        a,
        b,
        filter_size=kwargs.get("filter_size", 11),
        sigma=kwargs.get("filter_sigma", 1.5),
        k2=kwargs.get("k2", 0.03),
    )
    np.testing.assert_allclose(ssim(a, b, **kwargs), want, rtol=2e-4, atol=2e-5)


def test_known_values_decrease_with_noise():
    """Values of the float64 reference for increasing noise, which ssim must reproduce."""
    got, want = [], []
    for noise in (0.0, 0.02, 0.1, 0.3):
        a, b = _noisy(2, noise=noise)
        got.append(float(ssim(a, b)))
        want.append(ssim_naive(a, b))
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5)
    assert want[0] == pytest.approx(1.0) and np.all(np.diff(want) < 0) and want[-1] < 0.6


def test_batch_jit_vmap_and_max_val():
    imgs = [_noisy(s, noise=0.1 * (s + 1)) for s in range(4)]
    a = np.stack([i[0] for i in imgs]).reshape(2, 2, 24, 20, 3)
    b = np.stack([i[1] for i in imgs]).reshape(2, 2, 24, 20, 3)
    want = np.array(
        [ssim_naive(x, y) for x, y in zip(a.reshape(4, 24, 20, 3), b.reshape(4, 24, 20, 3))]
    )
    got = ssim(a, b)
    assert got.shape == (2, 2)
    np.testing.assert_allclose(got.reshape(4), want, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(jax.jit(ssim)(a, b), got, rtol=1e-5)
    np.testing.assert_allclose(jax.vmap(ssim)(a, b), got, rtol=1e-5)
    np.testing.assert_allclose(ssim(a * 255, b * 255, max_val=255.0), got, rtol=1e-3)


@given(st.integers(0, 10_000))
def test_symmetric_and_bounded(seed):
    a, b = _noisy(seed, (12, 13, 2), noise=0.3)
    s1, s2 = ssim(a, b, filter_size=5), ssim(b, a, filter_size=5)
    np.testing.assert_allclose(s1, s2, rtol=1e-5)
    assert -1.0 <= float(s1) <= 1.0


def test_gradients():
    a, b = _noisy(3, (11, 12, 1))
    with jax.enable_x64(True):
        check_grads(
            lambda x: ssim(x, jnp.asarray(b, jnp.float64)),
            (jnp.asarray(a, jnp.float64),),
            order=1,
            modes=["rev"],
        )


def test_validation():
    a, b = _noisy(4, (12, 12, 3))
    with pytest.raises(ValueError, match="smaller than filter_size"):
        ssim(a[:8], b[:8])
    with pytest.raises(ValueError, match="odd"):
        ssim(a, b, filter_size=4)
    with pytest.raises(ValueError, match=r"\(\.\.\., H, W, C\)"):
        ssim(a[..., 0], b[..., 0])
    with pytest.raises(ValueError, match="shapes differ"):
        ssim(a, b[:, :11])
