"""GAN losses: each against its formula on hand-computed values, gradients, multi-scale input."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.test_util import check_grads

from jax3d.loss import (
    feature_matching_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
    nonsaturating_discriminator_loss,
    nonsaturating_generator_loss,
    r1_penalty,
)
from jax3d.nn import DCGANDiscriminator
from tests.nn._init import numpy_init

LN3 = math.log(3.0)


def test_nonsaturating_generator_hand_case():
    # softplus(-0) = ln 2 = 0.693147; softplus(-ln 3) = ln(1 + 1/3) = ln(4/3) = 0.287682;
    # mean = (ln 2 + ln 4/3) / 2 = ln(8/3) / 2 = 0.490415.
    loss = nonsaturating_generator_loss(jnp.array([[0.0], [LN3]]))
    np.testing.assert_allclose(loss, 0.490415, rtol=1e-5)


def test_nonsaturating_discriminator_hand_case():
    # real ln 3: BCE(., 1) = softplus(-ln 3) = ln(4/3); fake 0: BCE(., 0) = softplus(0) = ln 2;
    # total = ln(8/3) = 0.980829.
    loss = nonsaturating_discriminator_loss(jnp.array([LN3]), jnp.array([0.0]))
    np.testing.assert_allclose(loss, math.log(8.0 / 3.0), rtol=1e-6)


def test_nonsaturating_matches_optax_bce_and_is_stable():
    rng = np.random.default_rng(0)
    real = jnp.asarray(5.0 * rng.standard_normal((4, 3, 3, 1)), jnp.float32)
    fake = jnp.asarray(5.0 * rng.standard_normal((4, 3, 3, 1)), jnp.float32)

    @jax.jit
    def both(real, fake):
        bce = optax.sigmoid_binary_cross_entropy
        ref_d = jnp.mean(bce(real, jnp.ones_like(real))) + jnp.mean(bce(fake, jnp.zeros_like(fake)))
        ref_g = jnp.mean(bce(fake, jnp.ones_like(fake)))
        return (
            nonsaturating_discriminator_loss(real, fake),
            ref_d,
            nonsaturating_generator_loss(fake),
            ref_g,
        )

    d, ref_d, g, ref_g = both(real, fake)
    np.testing.assert_allclose(d, ref_d, rtol=1e-5)
    np.testing.assert_allclose(g, ref_g, rtol=1e-5)
    # Extreme logits stay finite (log(sigmoid(-1e4)) would be -inf): softplus(1e4) = 1e4.
    extreme = jnp.array([1e4, -1e4])
    value, grad = jax.value_and_grad(nonsaturating_generator_loss)(extreme)
    np.testing.assert_allclose(value, 0.5e4, rtol=1e-6)
    np.testing.assert_allclose(grad, [0.0, -0.5], atol=1e-7)


def test_hinge_hand_case():
    # D: real [2, 0.5]: relu(1 - 2) = 0, relu(1 - 0.5) = 0.5, mean 0.25;
    #    fake [-3, 0]: relu(1 - 3) = 0, relu(1 + 0) = 1, mean 0.5; total 0.75.
    d = hinge_discriminator_loss(jnp.array([2.0, 0.5]), jnp.array([-3.0, 0.0]))
    np.testing.assert_allclose(d, 0.75)
    # G: -mean([1, -3]) = 1.
    np.testing.assert_allclose(hinge_generator_loss(jnp.array([1.0, -3.0])), 1.0)


def test_multi_scale_logits_average_over_scales():
    # Scale 0: hinge D = 0.75 (above); scale 1: real [[1]] -> 0, fake [[1]] -> 2; mean 1.375.
    real = [jnp.array([2.0, 0.5]), jnp.array([[1.0]])]
    fake = [jnp.array([-3.0, 0.0]), jnp.array([[1.0]])]
    np.testing.assert_allclose(hinge_discriminator_loss(real, fake), 1.375)
    np.testing.assert_allclose(hinge_generator_loss(fake), (1.5 - 1.0) / 2)
    expected = (nonsaturating_generator_loss(fake[0]) + nonsaturating_generator_loss(fake[1])) / 2
    np.testing.assert_allclose(nonsaturating_generator_loss(tuple(fake)), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="equal length"):
        hinge_discriminator_loss(real, fake[:1])
    with pytest.raises(ValueError, match="equal length"):
        hinge_discriminator_loss(real[0], fake)


def test_smooth_losses_check_grads():
    real = jnp.array([[0.3, -1.2], [2.0, 0.1]])
    fake = jnp.array([[-0.7, 0.4], [1.5, -2.2]])
    check_grads(jax.jit(nonsaturating_discriminator_loss), (real, fake), order=1, modes=["rev"])
    # Hinge D away from its kinks (|1 -+ l| > 0.1): gradient -1/n on active real, +1/n fake.
    g_real, g_fake = jax.grad(hinge_discriminator_loss, argnums=(0, 1))(real, fake)
    np.testing.assert_allclose(g_real, [[-0.25, -0.25], [0.0, -0.25]])
    np.testing.assert_allclose(g_fake, [[0.25, 0.25], [0.25, 0.0]])


def test_r1_linear_and_quadratic_discriminators():
    # D(x) = x . w with w = (3, 4): grad_x = w for every sample, ||w||^2 = 25.
    w = jnp.array([3.0, 4.0])
    x = jnp.array([[1.0, 2.0], [0.0, 3.0]])
    np.testing.assert_allclose(jax.jit(r1_penalty, static_argnums=0)(lambda im: im @ w, x), 25.0)
    # D(x) = a / 2 ||x||^2: grad = a x; x_0 = (1, 2) -> 5 a^2, x_1 = (0, 3) -> 9 a^2;
    # penalty = 7 a^2; at a = 1.5: 15.75, d/da = 14 a = 21.
    images = x.reshape(2, 1, 1, 2)  # (B, H, W, C): summed over pixels and channels

    def penalty(a):
        return r1_penalty(lambda im: 0.5 * a * jnp.sum(im**2, axis=(1, 2, 3)), images)

    value, grad = jax.jit(jax.value_and_grad(penalty))(1.5)  # double backprop
    np.testing.assert_allclose(value, 15.75, rtol=1e-6)
    np.testing.assert_allclose(grad, 21.0, rtol=1e-6)


def test_r1_has_aux_returns_the_forward_pass():
    x = jnp.arange(6.0).reshape(3, 2)

    def disc(im):
        logits = jnp.sum(im, axis=1, keepdims=True) * 2.0  # grad = 2 per pixel
        return logits, logits

    penalty, logits = r1_penalty(disc, x, has_aux=True)
    np.testing.assert_allclose(penalty, 8.0)  # 2 pixels x 2^2
    np.testing.assert_allclose(logits[:, 0], [2.0, 10.0, 18.0])
    with pytest.raises(ValueError, match="float"):
        r1_penalty(lambda im: im, jnp.arange(3))


def _dcgan_and_batch():
    disc = DCGANDiscriminator(image_size=8, n_feat=4)
    x = jnp.asarray(np.random.default_rng(1).uniform(size=(2, 8, 8, 3)), jnp.float32)
    return disc, x, numpy_init(disc, x, seed=2)


def test_r1_on_dcgan_discriminator_equals_per_sample_gradients():
    disc, x, params = _dcgan_and_batch()

    @jax.jit
    def run(p, x):
        per = jax.vmap(jax.grad(lambda im: disc.apply(p, im[None])[0, 0]))(x)
        return r1_penalty(lambda im: disc.apply(p, im), x), jnp.mean(jnp.sum(per**2, (1, 2, 3)))

    value, expected = run(params, x)
    np.testing.assert_allclose(value, expected, rtol=1e-5)


@pytest.mark.slow
def test_r1_on_dcgan_discriminator_double_backprop():
    disc, x, params = _dcgan_and_batch()
    loss = lambda p, x: 10.0 * r1_penalty(lambda im: disc.apply(p, im), x)  # noqa: E731
    grads = jax.jit(jax.grad(loss))(params, x)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree_util.tree_leaves(grads))
    assert any(float(jnp.max(jnp.abs(g))) > 0 for g in jax.tree_util.tree_leaves(grads))


def test_feature_matching_hand_case():
    # Scale 0: layer 0 |[1, 3] - [0, 1]| = [1, 2] -> mean 1.5; layer 1 |[2] - [2.5]| -> 0.5;
    # sum 2.0. Scale 1: one layer |[0, 0, 0, 4] - 0| -> mean 1.0. Mean over scales: 1.5.
    real = [[jnp.array([0.0, 1.0]), jnp.array([2.5])], [jnp.zeros((1, 2, 2, 1))]]
    fake = [
        [jnp.array([1.0, 3.0]), jnp.array([2.0])],
        [jnp.array([0.0, 0, 0, 4]).reshape(1, 2, 2, 1)],
    ]
    # Real features are held fixed: no gradient; fake gets sign(f - r) / n / n_scales.
    fm = jax.jit(jax.value_and_grad(feature_matching_loss, argnums=(0, 1)))
    value, (g_real, g_fake) = fm(real, fake)
    np.testing.assert_allclose(value, 1.5)
    chex.assert_trees_all_close(g_real, jax.tree_util.tree_map(jnp.zeros_like, real))
    np.testing.assert_allclose(g_fake[0][0], [0.25, 0.25])
    np.testing.assert_allclose(g_fake[0][1], [-0.5])
    # A flat list is one scale.
    np.testing.assert_allclose(feature_matching_loss(real[0], fake[0]), 2.0)
    with pytest.raises(ValueError, match="shapes differ"):
        feature_matching_loss([[jnp.zeros(2)]], [[jnp.zeros(3)]])
    with pytest.raises(ValueError, match="number of scales"):
        feature_matching_loss(real, fake[:1])
