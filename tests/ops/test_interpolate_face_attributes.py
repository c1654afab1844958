"""interpolate_face_attributes against a float64 loop."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jax3d.ops import interpolate_face_attributes


def interpolate_naive(pix_to_face, bary, attrs):
    out = np.zeros((*pix_to_face.shape, attrs.shape[-1]))
    for idx in np.ndindex(pix_to_face.shape):
        f = pix_to_face[idx]
        if f >= 0:
            out[idx] = bary[idx] @ attrs[f].astype(np.float64)
    return out


def _inputs(seed, N=2, H=4, W=5, K=3, F=7, D=4):
    rng = np.random.default_rng(seed)
    p2f = rng.integers(-1, F, (N, H, W, K)).astype(np.int32)
    bary = rng.dirichlet(np.ones(3), (N, H, W, K)).astype(np.float32)
    attrs = rng.normal(size=(F, 3, D)).astype(np.float32)
    return p2f, bary, attrs


def test_matches_naive_and_empty_pixels_are_zero():
    p2f, bary, attrs = _inputs(0)
    out = interpolate_face_attributes(p2f, bary, attrs)
    np.testing.assert_allclose(out, interpolate_naive(p2f, bary, attrs), rtol=1e-5, atol=1e-6)
    assert np.all(np.asarray(out)[p2f < 0] == 0)


def test_vertex_barycentrics_pick_vertex_values():
    p2f, _, attrs = _inputs(1)
    bary = np.zeros((*p2f.shape, 3), np.float32)
    bary[..., 2] = 1.0
    out = np.asarray(interpolate_face_attributes(p2f, bary, attrs))
    valid = p2f >= 0
    np.testing.assert_allclose(out[valid], attrs[p2f[valid], 2], rtol=1e-6)


def test_jit_and_grads():
    p2f, bary, attrs = _inputs(2, N=1, H=2, W=2, K=2, F=3, D=2)
    eager = interpolate_face_attributes(p2f, bary, attrs)
    np.testing.assert_allclose(jax.jit(interpolate_face_attributes)(p2f, bary, attrs), eager)
    with jax.enable_x64(True):
        fn = lambda b, a: interpolate_face_attributes(p2f, b, a)  # noqa: E731
        check_grads(fn, (jnp.asarray(bary, jnp.float64), jnp.asarray(attrs, jnp.float64)), 1)


def test_no_faces_gives_zeros():
    p2f = -np.ones((1, 2, 2, 1), np.int32)
    out = interpolate_face_attributes(p2f, np.zeros((1, 2, 2, 1, 3)), np.zeros((0, 3, 5)))
    assert out.shape == (1, 2, 2, 1, 5) and not np.any(np.asarray(out))


def test_validation():
    p2f, bary, attrs = _inputs(3)
    with pytest.raises(ValueError, match="barycentric_coords"):
        interpolate_face_attributes(p2f, bary[..., :2], attrs)
    with pytest.raises(ValueError, match="face_attributes"):
        interpolate_face_attributes(p2f, bary, attrs[:, :2])
    with pytest.raises(TypeError, match="pix_to_face"):
        interpolate_face_attributes(p2f.astype(np.float32), bary, attrs)
