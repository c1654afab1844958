"""psnr: closed forms, float64 reference, masks, batching, jit, gradients, validation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from jax3d.metrics import psnr


def psnr_naive(pred, target, max_val=1.0, mask=None):
    pred = np.asarray(pred, np.float64)
    target = np.asarray(target, np.float64)
    out = np.empty(pred.shape[:-3])
    for idx in np.ndindex(*pred.shape[:-3]):
        sq = (pred[idx] - target[idx]) ** 2
        if mask is None:
            mse = sq.mean()
        else:
            m = np.asarray(mask, np.float64)[idx].reshape(sq.shape[:2] + (1,))
            mse = (sq * m).sum() / (m.sum() * sq.shape[-1])
        out[idx] = 10 * np.log10(max_val**2 / mse)
    return out


def _images(seed, shape=(2, 3, 9, 7, 3)):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=shape).astype(np.float32), rng.uniform(size=shape).astype(np.float32)


def test_identical_is_inf():
    x, _ = _images(0)
    assert np.all(np.isinf(psnr(x, x))) and np.all(psnr(x, x) > 0)


@pytest.mark.parametrize("shift, max_val", [(0.1, 1.0), (0.01, 1.0), (5.0, 255.0)])
def test_constant_shift_closed_form(shift, max_val):
    x, _ = _images(1)
    got = psnr(x + np.float32(shift), x, max_val=max_val)
    want = 20 * np.log10(max_val) - 20 * np.log10(shift)
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_matches_naive_and_jit():
    p, t = _images(2)
    want = psnr_naive(p, t)
    np.testing.assert_allclose(psnr(p, t), want, rtol=1e-5)
    np.testing.assert_allclose(jax.jit(psnr)(p, t), want, rtol=1e-5)
    per_item = jax.vmap(jax.vmap(psnr))(p, t)
    np.testing.assert_allclose(per_item, want, rtol=1e-5)


def test_mask_selects_pixels():
    p, t = _images(3, (2, 8, 8, 3))
    mask = np.zeros((2, 8, 8), bool)
    mask[:, 2:6, 1:5] = True
    want = psnr_naive(p, t, mask=mask)
    np.testing.assert_allclose(psnr(p, t, mask=mask), want, rtol=1e-5)
    np.testing.assert_allclose(psnr(p, t, mask=mask[..., None]), want, rtol=1e-5)
    # pixels outside the mask do not matter
    p2 = np.where(mask[..., None], p, 0.0).astype(np.float32)
    np.testing.assert_allclose(psnr(p2, t, mask=mask), want, rtol=1e-5)
    assert not np.allclose(psnr(p2, t), psnr(p, t))


def test_gradients():
    p, t = _images(4, (5, 4, 3))
    with jax.enable_x64(True):
        t64 = jnp.asarray(t, jnp.float64)
        check_grads(lambda a: psnr(a, t64), (jnp.asarray(p, jnp.float64),), order=1, modes=["rev"])


@given(st.floats(0.5, 4.0), st.integers(0, 10_000))
def test_scale_invariance(scale, seed):
    """Scaling both images and max_val by s leaves PSNR unchanged."""
    p, t = _images(seed, (6, 5, 2))
    a = psnr(p, t)
    b = psnr(p * np.float32(scale), t * np.float32(scale), max_val=scale)
    np.testing.assert_allclose(a, b, rtol=1e-4)


def test_validation():
    p, t = _images(5, (4, 4, 3))
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(p, t[:3])
    with pytest.raises(TypeError, match="pred must be a float"):
        psnr(p.astype(np.int32), t)
    with pytest.raises(ValueError, match="max_val"):
        psnr(p, t, max_val=0.0)
    with pytest.raises(ValueError, match="mask must be"):
        psnr(p, t, mask=np.ones((3, 4)))
