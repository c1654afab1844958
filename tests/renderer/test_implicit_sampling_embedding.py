"""sample_pdf / importance_sample_ray_bundle and HarmonicEmbedding."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.renderer.implicit import (
    HarmonicEmbedding,
    RayBundle,
    importance_sample_ray_bundle,
    sample_pdf,
)


def sample_pdf_naive(bins, weights, u, eps=1e-5):
    """float64 inverse-CDF sampling, row by row (PyTorch3D's algorithm)."""
    bins, weights, u = (np.asarray(x, np.float64) for x in (bins, weights, u))
    out = np.zeros(u.shape)
    for r in range(len(bins)):
        w = weights[r] + eps
        cdf = np.r_[0.0, np.cumsum(w / w.sum())]
        for j, uu in enumerate(u[r]):
            i = np.searchsorted(cdf, uu, side="right")
            lo, hi = max(i - 1, 0), min(i, len(cdf) - 1)
            den = cdf[hi] - cdf[lo]
            den = 1.0 if den < eps else den
            out[r, j] = bins[r, lo] + (uu - cdf[lo]) / den * (bins[r, hi] - bins[r, lo])
    return out


def test_sample_pdf_det_vs_naive():
    rng = np.random.default_rng(0)
    bins = np.sort(rng.uniform(0, 5, (6, 9)), -1).astype(np.float32)
    weights = rng.uniform(0, 1, (6, 8)).astype(np.float32)
    weights[2] = 0.0  # empty histogram: uniform
    got = sample_pdf(None, bins, weights, 11, det=True)
    ref = sample_pdf_naive(bins, weights, np.tile(np.linspace(0, 1, 11), (6, 1)))
    np.testing.assert_allclose(got, ref, atol=1e-4)
    assert np.all(np.diff(np.asarray(got), axis=-1) >= -1e-6)


def test_sample_pdf_random_matches_histogram():
    bins = np.array([[0.0, 1.0, 2.0, 3.0, 4.0]], np.float32)
    weights = np.array([[0.0, 3.0, 1.0, 0.0]], np.float32)
    s = np.asarray(sample_pdf(jax.random.key(0), bins, weights, 20000))
    counts = np.histogram(s, bins=bins[0])[0] / s.size
    np.testing.assert_allclose(counts, [0.0, 0.75, 0.25, 0.0], atol=0.015)
    # within a bin the samples are uniform
    in1 = s[(s >= 1) & (s < 2)]
    np.testing.assert_allclose(in1.mean(), 1.5, atol=0.02)
    # jit and batch dims
    many = jax.jit(sample_pdf, static_argnums=3)(jax.random.key(1), np.tile(bins, (2, 3, 1)),
                                                 np.tile(weights, (2, 3, 1)), 5)
    assert many.shape == (2, 3, 5)
    with pytest.raises(ValueError, match="key"):
        sample_pdf(None, bins, weights, 3)
    with pytest.raises(ValueError, match="bins"):
        sample_pdf(None, bins, weights[:, :2], 3, det=True)


def test_importance_sample_ray_bundle():
    lengths = jnp.broadcast_to(jnp.linspace(1.0, 3.0, 11), (2, 3, 11))
    rb = RayBundle(jnp.zeros((2, 3, 3)), jnp.ones((2, 3, 3)), lengths, jnp.zeros((2, 3, 2)))
    weights = jnp.zeros((2, 3, 11)).at[..., 5].set(1.0)  # mass around depth 2.0
    fine = importance_sample_ray_bundle(jax.random.key(0), rb, weights, 32)
    assert fine.lengths.shape == (2, 3, 43)
    assert np.all(np.diff(np.asarray(fine.lengths), axis=-1) >= 0)
    new = np.setdiff1d(np.round(np.asarray(fine.lengths), 6), np.round(np.asarray(lengths), 6))
    assert np.mean((new > 1.85) & (new < 2.15)) > 0.9
    only = importance_sample_ray_bundle(None, rb, weights, 8, det=True, add_input_samples=False)
    assert only.lengths.shape == (2, 3, 8)
    with pytest.raises(ValueError, match="weights"):
        importance_sample_ray_bundle(None, rb, weights[..., :4], 8, det=True)


def harmonic_naive(x, n, omega0=1.0, append=True):
    x = np.asarray(x, np.float64)
    freqs = omega0 * 2.0 ** np.arange(n)
    sins = [np.sin(f * x[..., d]) for d in range(x.shape[-1]) for f in freqs]
    coss = [np.cos(f * x[..., d]) for d in range(x.shape[-1]) for f in freqs]
    parts = sins + coss + ([x[..., d] for d in range(x.shape[-1])] if append else [])
    return np.stack(parts, -1)


def test_harmonic_embedding(reference):
    ref = reference("volumetric")
    np.testing.assert_allclose(HarmonicEmbedding(n_harmonic_functions=4)(ref["harmonic_x"]),
                               ref["harmonic_4"], atol=1e-5)


def test_harmonic_embedding_naive_and_options():
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype(np.float32)
    emb = HarmonicEmbedding(n_harmonic_functions=6, omega_0=0.5)
    out = emb(x)
    assert out.shape == (2, 5, emb.get_output_dim(3)) == (2, 5, 39)
    np.testing.assert_allclose(out, harmonic_naive(x, 6, 0.5), atol=1e-5)
    no_in = HarmonicEmbedding(3, append_input=False)(x)
    np.testing.assert_allclose(no_in, harmonic_naive(x, 3, append=False), atol=1e-5)
    lin = HarmonicEmbedding(4, logspace=False)
    np.testing.assert_allclose(lin.frequencies, [1.0, 10 / 3, 17 / 3, 8.0], rtol=1e-6)
    np.testing.assert_allclose(jax.jit(emb)(x), out, atol=1e-6)
    # diag_cov = 0 changes nothing; a large covariance kills the high frequencies
    np.testing.assert_allclose(emb(x, diag_cov=np.zeros_like(x)), out, atol=1e-6)
    damped = np.asarray(emb(x, diag_cov=np.full_like(x, 100.0)))
    assert np.abs(damped[..., :36]).max() < 1e-4
    with pytest.raises(ValueError, match="diag_cov"):
        emb(x, diag_cov=x[..., :2])
    with pytest.raises(ValueError, match="n_harmonic_functions"):
        HarmonicEmbedding(-1)
