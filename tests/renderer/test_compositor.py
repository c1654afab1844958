"""Point compositors against their formulas written out by hand."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jax3d.renderer.points import (
    AlphaCompositor,
    NormWeightedCompositor,
    alpha_composite,
    norm_weighted_sum,
    weighted_sum,
)


def composite_naive(idx, alphas, feats, mode):
    """Per-pixel loops over k (PyTorch3D's kernels), float64."""
    N, K, H, W = idx.shape
    C = feats.shape[0]
    out = np.zeros((N, C, H, W))
    for n in range(N):
        for y in range(H):
            for x in range(W):
                valid = [k for k in range(K) if idx[n, k, y, x] >= 0]
                a = alphas[n, :, y, x].astype(np.float64)
                if mode == "norm":
                    total = max(sum(a[k] for k in valid), 1e-4)
                for k in valid:
                    f = feats[:, idx[n, k, y, x]]
                    if mode == "alpha":
                        out[n, :, y, x] += np.prod(1 - a[:k]) * a[k] * f
                    elif mode == "norm":
                        out[n, :, y, x] += a[k] * f / total
                    else:
                        out[n, :, y, x] += a[k] * f
    return out


def random_inputs(seed=0, N=2, K=4, H=3, W=5, C=3, P=7):
    rng = np.random.default_rng(seed)
    idx = rng.integers(-1, P, (N, K, H, W))
    idx = -np.sort(-idx, axis=1)  # valid ids first, -1 padding at the end like the rasterizer
    alphas = rng.uniform(0, 1, (N, K, H, W)).astype(np.float32)
    feats = rng.normal(size=(C, P)).astype(np.float32)
    return idx, alphas, feats


@pytest.mark.parametrize("mode, fn", [("alpha", alpha_composite), ("norm", norm_weighted_sum),
                                      ("sum", weighted_sum)])
def test_matches_naive(mode, fn):
    idx, alphas, feats = random_inputs()
    np.testing.assert_allclose(np.asarray(fn(idx, alphas, feats)),
                               composite_naive(idx, alphas, feats, mode), atol=1e-5)


def test_background_color_on_empty_pixels_and_alpha_channel():
    idx, alphas, feats = random_inputs(1, C=4)
    idx[:, :, 0, 0] = -1
    out = np.asarray(AlphaCompositor(background_color=(0.1, 0.2, 0.3))(idx, alphas, feats))
    np.testing.assert_allclose(out[:, :, 0, 0], [[0.1, 0.2, 0.3, 1.0]] * 2, atol=1e-7)
    plain = np.asarray(alpha_composite(idx, alphas, feats))
    np.testing.assert_allclose(out[:, :, 1:], plain[:, :, 1:])
    out2 = np.asarray(NormWeightedCompositor()(idx, alphas, feats, background_color=0.5))
    np.testing.assert_allclose(out2[:, :, 0, 0], 0.5)
    with pytest.raises(ValueError, match="channels"):
        AlphaCompositor(background_color=(1.0, 1.0))(idx, alphas, feats)


def test_all_empty_gives_zero_and_finite_grads():
    idx = -np.ones((1, 3, 2, 2), np.int64)
    alphas = np.zeros((1, 3, 2, 2), np.float32)
    feats = np.ones((2, 4), np.float32)
    for fn in (alpha_composite, norm_weighted_sum):
        assert (np.asarray(fn(idx, alphas, feats)) == 0).all()
        g = jax.grad(lambda a, f, fn=fn: fn(idx, a, f).sum(), argnums=(0, 1))(alphas, feats)
        assert all(np.isfinite(np.asarray(x)).all() for x in g)


@pytest.mark.parametrize("fn", [alpha_composite, norm_weighted_sum, weighted_sum])
def test_check_grads(fn):
    idx, alphas, feats = random_inputs(2, H=2, W=2)
    check_grads(lambda a, f: fn(idx, a, f), (jnp.asarray(alphas), jnp.asarray(feats)),
                order=1, modes=["rev"], eps=1e-3, atol=1e-2, rtol=1e-2)


def test_jit_and_validation():
    idx, alphas, feats = random_inputs(3)
    a = jax.jit(alpha_composite)(idx, alphas, feats)
    np.testing.assert_allclose(np.asarray(a), np.asarray(alpha_composite(idx, alphas, feats)),
                               atol=1e-6)
    with pytest.raises(ValueError, match="fragments and alphas"):
        alpha_composite(idx, alphas[:, :2], feats)
    with pytest.raises(ValueError, match="ptclds"):
        alpha_composite(idx, alphas, feats[0])
