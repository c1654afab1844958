"""PaperNeRF: architecture, coarse pass vs naive compositing, hierarchical samples, background."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.models.nerf import (
    NeRFMLP,
    NeRFTrainConfig,
    PaperNeRF,
    render_rays,
    train,
)
from jax3d.renderer.cameras import FoVPerspectiveCameras, look_at_view_transform
from jax3d.renderer.implicit.raybundle import RayBundle

N_COARSE, N_FINE = 8, 12


def _bundle(seed=0, n_rays=10):
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(2, n_rays, 3))
    z = np.sort(rng.uniform(0.5, 3.0, size=(2, n_rays, N_COARSE)), axis=-1)
    return RayBundle(
        origins=jnp.asarray(-1.5 * d / np.linalg.norm(d, axis=-1, keepdims=True), jnp.float32),
        directions=jnp.asarray(d, jnp.float32),
        lengths=jnp.asarray(z, jnp.float32),
        xys=jnp.zeros((2, n_rays, 2), jnp.float32),
    )


@pytest.fixture(scope="module")
def small():
    model = PaperNeRF(n_fine=N_FINE, width=16, depth=6)
    params = model.init(jax.random.PRNGKey(0), _bundle())
    return model, params, jax.jit(model.apply)


def test_paper_architecture_shapes():
    shapes = jax.eval_shape(PaperNeRF().init, jax.random.PRNGKey(0), _bundle())["params"]
    net = shapes["coarse"]
    gx, gd = 3 + 3 * 2 * 10, 3 + 3 * 2 * 4  # L = 10 and 4, input appended
    assert net["layer_0"]["kernel"].shape == (gx, 256)
    assert net["layer_4"]["kernel"].shape == (256, 256)
    assert net["layer_5"]["kernel"].shape == (256 + gx, 256)  # the skip
    assert net["layer_7"]["kernel"].shape == (256, 256) and "layer_8" not in net
    assert net["view"]["kernel"].shape == (256 + gd, 128)
    assert set(shapes) == {"coarse", "fine"}


def composite_naive(sigma, rgb, lengths, directions, background):
    """Float64 NeRF quadrature of one pass: alpha = 1 - exp(-sigma delta), T = prod(1 - alpha)."""
    delta = np.diff(lengths, axis=-1) * np.linalg.norm(directions, axis=-1, keepdims=True)
    delta = np.concatenate([delta, np.full(lengths.shape[:-1] + (1,), 1e10)], axis=-1)
    alpha = 1.0 - np.exp(-sigma * delta)
    trans = np.cumprod(np.concatenate([np.ones_like(alpha[..., :1]), 1 - alpha[..., :-1]], -1), -1)
    w = trans * alpha
    acc = w.sum(-1, keepdims=True)
    return (w[..., None] * rgb).sum(-2) + (1 - acc) * background, acc


@pytest.mark.parametrize("background", ["black", "white", (0.2, 0.4, 0.9)])
def test_coarse_pass_matches_naive(small, background):
    _, params, _ = small
    model = PaperNeRF(n_fine=N_FINE, width=16, depth=6, background=background)
    rb = _bundle(1)
    out = model.apply(params, rb)
    net = NeRFMLP(depth=6, width=16)
    pts = rb.origins[..., None, :] + rb.lengths[..., None] * rb.directions[..., None, :]
    sigma, rgb = net.apply({"params": params["params"]["coarse"]}, pts, rb.directions)
    assert float(sigma.min()) >= 0.0 and 0.0 < float(rgb.min()) and float(rgb.max()) < 1.0
    bg = {"black": (0, 0, 0), "white": (1, 1, 1)}.get(background, background)
    want_rgb, want_acc = composite_naive(
        *(np.asarray(x, np.float64) for x in (sigma, rgb, rb.lengths, rb.directions)),
        np.asarray(bg, np.float64),
    )
    np.testing.assert_allclose(out.rgb_coarse, want_rgb, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out.opacity_coarse, want_acc, rtol=1e-4, atol=1e-5)


def test_background_fills_transmittance(small):
    _, params, _ = small
    rb = _bundle(2)
    black = PaperNeRF(n_fine=N_FINE, width=16, depth=6).apply(params, rb)
    white = PaperNeRF(n_fine=N_FINE, width=16, depth=6, background="white").apply(params, rb)
    gap = np.broadcast_to(1.0 - black.opacity_fine, (2, 10, 3))
    np.testing.assert_allclose(white.rgb_fine - black.rgb_fine, gap,
                               atol=1e-5)  # fmt: skip
    # empty space (all densities 0): the background itself
    empty = jax.tree.map(lambda x: x, params)
    for net in ("coarse", "fine"):
        empty["params"][net]["sigma"]["bias"] = jnp.full((1,), -1e3)
    white_empty = PaperNeRF(n_fine=N_FINE, width=16, depth=6, background="white").apply(empty, rb)
    np.testing.assert_allclose(white_empty.rgb_fine, 1.0, atol=1e-6)
    np.testing.assert_allclose(white_empty.opacity_fine, 0.0, atol=1e-6)
    black_empty = PaperNeRF(n_fine=N_FINE, width=16, depth=6).apply(empty, rb)
    np.testing.assert_allclose(black_empty.rgb_coarse, 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="background"):
        PaperNeRF(width=16, depth=6, background="grey").apply(params, rb)


def test_hierarchical_samples(small):
    _, params, apply = small
    rb = _bundle(3)
    det = apply(params, rb)
    z = np.asarray(det.lengths_fine)
    assert z.shape == (2, 10, N_COARSE + N_FINE)
    assert np.all(np.diff(z, axis=-1) >= 0)
    assert np.all(z >= np.asarray(rb.lengths[..., :1]) - 1e-6)
    assert np.all(z <= np.asarray(rb.lengths[..., -1:]) + 1e-6)
    for s in range(N_COARSE):  # coarse depths are kept
        assert np.all(np.any(np.isclose(z, np.asarray(rb.lengths[..., s : s + 1])), axis=-1))
    again = apply(params, rb)
    np.testing.assert_array_equal(again.lengths_fine, z)  # deterministic without a key
    rand = apply(params, rb, jax.random.PRNGKey(1))
    assert not np.allclose(rand.lengths_fine, z)
    # render_rays understands PaperNeRF: fine colour and opacity
    out = render_rays(small[0].apply, params, rb)  # eager: fine depths differ by float32 ulps
    np.testing.assert_allclose(out[..., :3], det.rgb_fine, atol=5e-4)
    np.testing.assert_allclose(out[..., 3:], det.opacity_fine, atol=5e-4)


def test_fine_samples_follow_the_weights():
    """A single opaque slab: the fine samples concentrate around it."""
    bins = np.linspace(0.0, 1.0, 9)
    w = np.zeros(8)
    w[5] = 1.0
    from jax3d.renderer.implicit.sample_pdf import sample_pdf

    s = np.asarray(sample_pdf(None, jnp.asarray(bins), jnp.asarray(w), 32, det=True))
    assert np.mean((s >= bins[5]) & (s <= bins[6])) > 0.9


@pytest.mark.slow  # ~20 s: compiles the full coarse+fine training step
def test_train_paper_model_runs():
    n = 3
    R, T = look_at_view_transform(dist=2.7, elev=0.0, azim=jnp.array([0.0, 120.0, 240.0]))
    cams = FoVPerspectiveCameras(R=R, T=T, znear=0.1)
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(n, 6, 6, 3)).astype(np.float32)
    sil = np.ones((n, 6, 6), np.float32)
    cfg = NeRFTrainConfig(n_iter=3, batch_size=2, n_rays_per_image=8, n_pts_per_ray=N_COARSE,
                          stratified_sampling=True)  # fmt: skip
    model = PaperNeRF(n_fine=4, width=8, depth=6)
    state, hist = train(model, cams, images, sil, key=jax.random.PRNGKey(0), config=cfg,
                        progress=False)  # fmt: skip
    assert int(state.step) == 3 and np.all(np.isfinite(hist["loss"]))
    assert hist["color"][0] > 0 and hist["silhouette"][0] > 0
    assert math.isfinite(hist["loss"][-1])
