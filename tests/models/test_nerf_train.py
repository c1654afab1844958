"""NeRF training: target sampling convention, Huber, overfitting one ray batch, resume."""

from __future__ import annotations

import chex
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jax3d.models.nerf import (
    NeRFTrainConfig,
    NeuralRadianceField,
    huber,
    load_checkpoint,
    render_rays,
    sample_images_at_xys,
    train,
)
from jax3d.renderer.cameras import FoVPerspectiveCameras, look_at_view_transform
from jax3d.renderer.implicit.raybundle import RayBundle
from jax3d.renderer.implicit.raysampling import NDCMultinomialRaysampler
from jax3d.train import read_jsonl


def bilinear_naive(image, x_ndc, y_ndc):
    """Float64 bilinear lookup with PyTorch3D's NDC (+X left, +Y up, pixel centres)."""
    h, w = image.shape[:2]
    rx, ry = max(w / h, 1.0), max(h / w, 1.0)
    col = np.clip((rx - x_ndc) * w / (2 * rx) - 0.5, 0, w - 1)
    row = np.clip((ry - y_ndc) * h / (2 * ry) - 0.5, 0, h - 1)
    c0, r0 = min(int(np.floor(col)), w - 2), min(int(np.floor(row)), h - 2)
    fc, fr = col - c0, row - r0
    top = image[r0, c0] * (1 - fc) + image[r0, c0 + 1] * fc
    bottom = image[r0 + 1, c0] * (1 - fc) + image[r0 + 1, c0 + 1] * fc
    return top * (1 - fr) + bottom * fr


@pytest.mark.parametrize("h, w", [(6, 6), (5, 8), (8, 5)])
def test_sample_images_at_pixel_centres_and_between(h, w):
    rng = np.random.default_rng(h * w)
    images = rng.uniform(size=(2, h, w, 3)).astype(np.float32)
    grid = NDCMultinomialRaysampler(image_width=w, image_height=h, n_pts_per_ray=2,
                                    min_depth=1.0, max_depth=2.0).xy_grid()  # fmt: skip
    xys = jnp.broadcast_to(grid.reshape(1, -1, 2), (2, h * w, 2))
    got = sample_images_at_xys(images, xys)
    np.testing.assert_allclose(got, images.reshape(2, -1, 3), atol=1e-6)
    pts = rng.uniform(-1.2, 1.2, size=(2, 9, 2)).astype(np.float32)
    got = sample_images_at_xys(images, pts)
    want = [[bilinear_naive(images[b].astype(np.float64), *pts[b, r]) for r in range(9)]
            for b in range(2)]  # fmt: skip
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_huber_closed_form():
    x = np.array([0.0, 0.05, 0.3, -2.0], np.float32)
    want = 0.1 * (np.sqrt(1 + (x / 0.1) ** 2) - 1)
    np.testing.assert_allclose(huber(x, np.zeros_like(x)), want, rtol=1e-5, atol=1e-7)
    # quadratic for small errors, linear for large ones
    np.testing.assert_allclose(huber(1e-3, 0.0), 0.5 * 1e-6 / 0.1, rtol=1e-2)
    np.testing.assert_allclose(huber(5.0, 0.0) - huber(4.0, 0.0), 1.0, rtol=1e-2)


def _rays(seed, n_rays=64, n_pts=16):
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(1, n_rays, 3))
    return RayBundle(
        origins=jnp.asarray(-2.0 * d / np.linalg.norm(d, axis=-1, keepdims=True), jnp.float32),
        directions=jnp.asarray(d / np.linalg.norm(d, axis=-1, keepdims=True), jnp.float32),
        lengths=jnp.broadcast_to(jnp.linspace(0.5, 3.5, n_pts), (1, n_rays, n_pts)),
        xys=jnp.zeros((1, n_rays, 2), jnp.float32),
    )


def test_tiny_model_overfits_one_ray_batch():
    model = NeuralRadianceField(n_harmonic_functions=4, n_hidden_neurons=32, omega_0=1.0)
    rays = _rays(0)
    params = model.init(jax.random.PRNGKey(0), rays)
    rng = np.random.default_rng(1)
    target = jnp.asarray(rng.uniform(0.2, 0.8, size=(1, 64, 4)), jnp.float32)
    opt = optax.adam(1e-2)

    def loss_fn(p):
        return jnp.mean((render_rays(model.apply, p, rays) - target) ** 2)

    @jax.jit
    def fit(p):
        def body(carry, _):
            p, s = carry
            loss, g = jax.value_and_grad(loss_fn)(p)
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), loss

        (p, _), losses = jax.lax.scan(body, (p, opt.init(p)), None, length=400)
        return p, losses

    params, losses = fit(params)
    assert float(loss_fn(params)) < float(losses[0]) / 10.0


@pytest.fixture(scope="module")
def views():
    n = 4
    R, T = look_at_view_transform(dist=2.7, elev=0.0, azim=jnp.linspace(-180, 180, n + 1)[:n])
    cams = FoVPerspectiveCameras(R=R, T=T, znear=0.1)
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(n, 8, 8, 3)).astype(np.float32)
    sil = (rng.uniform(size=(n, 8, 8)) > 0.5).astype(np.float32)
    return cams, images, sil


CONFIG = NeRFTrainConfig(n_iter=5, batch_size=2, n_rays_per_image=16, n_pts_per_ray=8)
MODEL = NeuralRadianceField(n_harmonic_functions=3, n_hidden_neurons=8)


@pytest.mark.slow
def test_resume_gives_identical_next_losses(views, tmp_path):
    cams, images, sil = views
    key = jax.random.PRNGKey(3)
    full, hist_full = train(MODEL, cams, images, sil, key=key, config=CONFIG, progress=False)
    steps = []

    def stop_at_3(step, state, losses):
        steps.append(step)
        return step == 3

    run = tmp_path / "run"
    part, hist_part = train(MODEL, cams, images, sil, key=key, config=CONFIG, progress=False,
                            callback=stop_at_3, directory=run)  # fmt: skip
    assert steps == [1, 2, 3] and int(part.step) == 3
    np.testing.assert_allclose(hist_part["loss"], hist_full["loss"][:3], rtol=1e-6)
    template = jax.tree.map(jnp.zeros_like, part)
    loaded = load_checkpoint(run / "checkpoints", template)
    for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(part)):
        np.testing.assert_array_equal(a, b)
    # the run folder resumes by itself, bit for bit
    resumed, hist_resumed = train(MODEL, cams, images, sil, key=key, config=CONFIG,
                                  progress=False, directory=run)  # fmt: skip
    assert int(resumed.step) == 5
    np.testing.assert_allclose(hist_resumed["loss"], hist_full["loss"][3:], rtol=1e-6)
    for a, b in zip(jax.tree.leaves(resumed.params), jax.tree.leaves(full.params)):
        np.testing.assert_array_equal(a, b)
    assert [r["step"] for r in read_jsonl(run / "metrics.jsonl")] == [1, 2, 3, 4, 5]


def test_old_msgpack_checkpoints_still_load(views, tmp_path):
    """jax3d 0.1 wrote {step, params, opt_state} with flax.serialization (msgpack)."""
    cams, images, sil = views
    state, _ = train(MODEL, cams, images, sil, key=jax.random.PRNGKey(1),
                     config=CONFIG, progress=False)  # fmt: skip
    old = {"step": state.step, "params": state.params, "opt_state": state.opt_state}
    path = tmp_path / "checkpoint.msgpack"
    path.write_bytes(flax.serialization.to_bytes(jax.device_get(old)))
    template = jax.tree.map(jnp.zeros_like, state)
    loaded = load_checkpoint(path, template)
    assert int(loaded.step) == 5
    chex.assert_trees_all_equal(loaded.params, state.params)
    chex.assert_trees_all_equal(loaded.opt_state, state.opt_state)
    chex.assert_trees_all_equal(loaded.key, template.key)  # those files held no key
    path.write_bytes(flax.serialization.msgpack_serialize({"params": {}}))
    with pytest.raises(ValueError, match="not a NeRF msgpack checkpoint"):
        load_checkpoint(path, template)


def test_train_validation(views, tmp_path):
    cams, images, sil = views
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="images must be"):
        train(MODEL, cams, images[:3], sil, key=key, config=CONFIG, progress=False)
    with pytest.raises(ValueError, match="silhouettes must be"):
        train(MODEL, cams, images, sil[..., :4], key=key, config=CONFIG, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        cfg = NeRFTrainConfig(n_iter=1, batch_size=9, n_rays_per_image=4, n_pts_per_ray=4)
        train(MODEL, cams, images, sil, key=key, config=cfg, progress=False)
    with pytest.raises(ValueError, match="n_iter"):
        NeRFTrainConfig(n_iter=0)
    with pytest.raises(FileNotFoundError, match="no NeRF checkpoint"):
        load_checkpoint(tmp_path / "missing.msgpack", None)


def test_lr_schedule_divides_by_ten():
    cfg = NeRFTrainConfig(n_iter=100, lr=1e-3)
    sched = optax.piecewise_constant_schedule(cfg.lr, {75: 0.1})
    opt = cfg.optimizer()
    p = {"w": jnp.ones(())}
    s = opt.init(p)
    g = {"w": jnp.ones(())}
    deltas = []
    for _ in range(80):
        u, s = opt.update(g, s, p)
        deltas.append(float(-u["w"]))
    # Adam with a constant gradient steps by ~lr; the step drops 10x at 75%.
    np.testing.assert_allclose(deltas[10], sched(10), rtol=1e-3)
    np.testing.assert_allclose(deltas[79], sched(79), rtol=1e-3)
    assert deltas[74] / deltas[76] == pytest.approx(10.0, rel=1e-3)


def test_lr_warmup_ramps_then_decays_at_the_same_step():
    cfg = NeRFTrainConfig(n_iter=100, lr=1e-3, warmup_steps=10)
    opt = cfg.optimizer()
    p, g = {"w": jnp.ones(())}, {"w": jnp.ones(())}
    s = opt.init(p)
    deltas = []
    for _ in range(80):
        u, s = opt.update(g, s, p)
        deltas.append(float(-u["w"]))
    # Adam with a constant gradient steps by the schedule's value: lr/10 ... lr over 10 steps,
    # then lr, then lr / 10 from step 75 on (as without warm-up).
    np.testing.assert_allclose(deltas[0], 1e-4, rtol=1e-3)
    np.testing.assert_allclose(deltas[5], 1e-4 + 5 * (1e-3 - 1e-4) / 10, rtol=1e-3)
    assert np.all(np.diff(deltas[:11]) > 0)
    np.testing.assert_allclose(deltas[10:75], 1e-3, rtol=1e-3)
    np.testing.assert_allclose(deltas[75:], 1e-4, rtol=1e-3)
    # no warm-up: the book's schedule exactly
    plain = NeRFTrainConfig(n_iter=100).schedule()
    assert float(plain(0)) == pytest.approx(1e-3) and float(plain(75)) == pytest.approx(1e-4)
    for bad in (-1, 75, 2.5):
        with pytest.raises(ValueError, match="warmup_steps"):
            NeRFTrainConfig(n_iter=100, warmup_steps=bad)
