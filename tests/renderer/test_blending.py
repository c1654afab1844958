"""hard_rgb_blend, sigmoid_alpha_blend and softmax_rgb_blend against float64 loops."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jax3d.renderer import (
    BlendParams,
    Fragments,
    hard_rgb_blend,
    sigmoid_alpha_blend,
    softmax_rgb_blend,
)


def _fragments(seed=0, shape=(2, 3, 4, 3)):
    rng = np.random.default_rng(seed)
    p2f = rng.integers(0, 10, size=shape).astype(np.int32)
    p2f[0, 0, 0] = -1  # empty pixel
    p2f[-1, -1, -1, 1:] = -1  # partially covered
    zbuf = np.sort(rng.uniform(1.5, 5.0, size=shape), axis=-1).astype(np.float32)
    dists = rng.uniform(-3e-4, 3e-4, size=shape).astype(np.float32)
    for a in (zbuf, dists):
        a[p2f < 0] = -1.0
    bary = np.full(shape + (3,), 1.0 / 3, np.float32)
    colors = rng.random(shape + (3,)).astype(np.float32)
    frags = Fragments(*(jnp.asarray(x) for x in (p2f, zbuf, bary, dists)))
    return frags, colors


def softmax_naive(colors, frags, sigma, gamma, bg, znear, zfar, eps=1e-10):
    p2f, zbuf, dists = (np.asarray(x, np.float64) for x in (frags.pix_to_face, frags.zbuf,
                                                            frags.dists))  # fmt: skip
    out = np.zeros(p2f.shape[:3] + (4,))
    for idx in np.ndindex(*p2f.shape[:3]):
        hit = p2f[idx] >= 0
        prob = np.where(hit, 1 / (1 + np.exp(dists[idx] / sigma)), 0.0)
        z_inv = np.where(hit, (zfar - zbuf[idx]) / (zfar - znear), 0.0)
        z_max = max(z_inv.max(), eps)
        w = prob * np.exp((z_inv - z_max) / gamma)
        delta = max(np.exp((eps - z_max) / gamma), eps)
        rgb = (np.sum(w[:, None] * colors[idx], 0) + delta * np.asarray(bg)) / (w.sum() + delta)
        out[idx] = [*rgb, 1 - np.prod(1 - prob)]
    return out


def test_hard_rgb_blend_vs_naive():
    frags, colors = _fragments()
    bp = BlendParams(background_color=(0.1, 0.2, 0.3))
    got = np.asarray(hard_rgb_blend(colors, frags, bp))
    p2f = np.asarray(frags.pix_to_face)
    for idx in np.ndindex(*p2f.shape[:3]):
        if p2f[idx][0] < 0:
            np.testing.assert_allclose(got[idx], [0.1, 0.2, 0.3, 0.0], rtol=1e-6)
        else:
            np.testing.assert_allclose(got[idx], [*colors[idx][0], 1.0], rtol=1e-6)


def test_sigmoid_alpha_is_one_minus_product():
    frags, colors = _fragments(1)
    got = np.asarray(sigmoid_alpha_blend(colors, frags, BlendParams(sigma=1e-4)))
    p2f, d = np.asarray(frags.pix_to_face), np.asarray(frags.dists, np.float64)
    prob = np.where(p2f >= 0, 1 / (1 + np.exp(d / 1e-4)), 0.0)
    np.testing.assert_allclose(got[..., 3], 1 - np.prod(1 - prob, -1), atol=1e-6)
    np.testing.assert_allclose(got[..., :3], colors[..., 0, :], atol=1e-6)
    assert got[0, 0, 0, 3] == 0.0


@pytest.mark.parametrize("znear,zfar", [(1.0, 100.0), (np.array([0.5, 1.0]), np.array([10., 8.]))])
def test_softmax_rgb_blend_vs_naive(znear, zfar):
    frags, colors = _fragments(2)
    bp = BlendParams(sigma=1e-4, gamma=1e-2, background_color=(0.2, 0.4, 0.6))
    got = np.asarray(softmax_rgb_blend(colors, frags, bp, znear=znear, zfar=zfar))
    for n in range(2):
        zn = znear if np.ndim(znear) == 0 else znear[n]
        zf = zfar if np.ndim(zfar) == 0 else zfar[n]
        sub = Fragments(*(x[n : n + 1] for x in (frags.pix_to_face, frags.zbuf,
                                                  frags.bary_coords, frags.dists)))  # fmt: skip
        want = softmax_naive(colors[n : n + 1], sub, 1e-4, 1e-2, bp.background_color, zn, zf)
        np.testing.assert_allclose(got[n : n + 1], want, atol=2e-5)
    np.testing.assert_allclose(got[0, 0, 0], [0.2, 0.4, 0.6, 0.0], atol=1e-6)  # empty


def test_jit_and_vmap_match_eager():
    frags, colors = _fragments(3)
    bp = BlendParams(gamma=1e-2)
    eager = softmax_rgb_blend(colors, frags, bp)
    jitted = jax.jit(softmax_rgb_blend, static_argnums=2)(colors, frags, bp)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), atol=1e-6)
    per_item = jax.vmap(lambda c, f: softmax_rgb_blend(c[None], jax.tree.map(lambda x: x[None], f),
                                                       bp)[0])(colors, frags)  # fmt: skip
    np.testing.assert_allclose(np.asarray(per_item), np.asarray(eager), atol=1e-6)


def test_gradients():
    frags, colors = _fragments(4, shape=(1, 2, 2, 3))
    bp = BlendParams(sigma=1e-4, gamma=1e-1)

    def f(colors, dists, zbuf):
        fr = frags.replace(dists=dists, zbuf=zbuf)
        return softmax_rgb_blend(colors, fr, bp, znear=1.0, zfar=10.0)

    check_grads(jax.jit(f), (jnp.asarray(colors), frags.dists, frags.zbuf), order=1,
                modes=["rev"], eps=1e-6, atol=5e-2, rtol=5e-2)  # fmt: skip
    g = jax.grad(lambda d: jnp.sum(sigmoid_alpha_blend(colors, frags.replace(dists=d), bp)))(
        frags.dists)
    assert np.all(np.isfinite(np.asarray(g)))
    assert np.all(np.asarray(g)[np.asarray(frags.pix_to_face) < 0] == 0)


def test_validation():
    frags, colors = _fragments()
    with pytest.raises(ValueError, match="colors"):
        hard_rgb_blend(colors[..., 0, :], frags, BlendParams())
    with pytest.raises(ValueError, match="background_color"):
        hard_rgb_blend(colors[..., :2], frags, BlendParams())
    with pytest.raises(ValueError, match="sigma"):
        BlendParams(sigma=0.0)
    with pytest.raises(ValueError, match="gamma"):
        BlendParams(gamma=-1.0)


def test_blend_params_namedtuple_api():
    """PyTorch3D's `blend_params._replace(sigma=...)` idiom ports unchanged, validated."""
    bp = BlendParams(sigma=1e-3, background_color=(0, 0, 0))
    new = bp._replace(sigma=1e-5)
    assert new.sigma == 1e-5 and new.gamma == bp.gamma and new.background_color == (0.0, 0.0, 0.0)
    assert bp.sigma == 1e-3  # a copy, the original is unchanged
    assert bp._asdict() == {"sigma": 1e-3, "gamma": 1e-4, "background_color": (0.0, 0.0, 0.0)}
    assert BlendParams._fields == tuple(f.name for f in dataclasses.fields(BlendParams))
    with pytest.raises(ValueError, match="sigma"):
        bp._replace(sigma=-1.0)
    with pytest.raises(ValueError, match="unknown field"):
        bp._replace(sigmaa=1.0)
