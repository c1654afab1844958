"""TrainState, the jitted step (gradient accumulation, mutable collections) and the GAN step."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jax3d.train import GANState, TrainState, ema_update, make_gan_step, make_train_step
from tests.train._toy import MLP, batch_for_step, data, loss_fn_for, make_state


def test_apply_gradients_is_optax_and_ema_is_its_formula():
    state = make_state(ema_decay=0.9)
    grads = jax.tree.map(jnp.ones_like, state.params)
    new = state.apply_gradients(grads)
    updates, _ = optax.adam(1e-2).update(grads, optax.adam(1e-2).init(state.params), state.params)
    chex.assert_trees_all_close(new.params, optax.apply_updates(state.params, updates))
    want = jax.tree.map(lambda e, p: 0.9 * e + 0.1 * p, state.params, new.params)
    chex.assert_trees_all_close(new.ema_params, want)
    assert int(new.step) == 1 and new.tx is state.tx
    chex.assert_trees_all_close(ema_update({"a": 2.0}, {"a": 4.0}, 0.75), {"a": 2.5})


def test_create_validates_and_stores_raw_keys():
    params = {"w": jnp.ones(2)}
    with pytest.raises(TypeError, match="tx must be"):
        TrainState.create(params=params, tx="adam", key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="ema_decay"):
        TrainState.create(params=params, tx=optax.sgd(1.0), key=jax.random.PRNGKey(0),
                          ema_decay=1.0)
    state = TrainState.create(params=params, tx=optax.sgd(1.0), key=jax.random.key(3))
    assert state.key.dtype == jnp.uint32 and state.key.shape == (2,)
    with pytest.raises(ValueError, match="no EMA"):
        state.variables(ema=True)
    # the step's key is fold_in(key, step): a pure function of the run key and the step
    np.testing.assert_array_equal(state.replace(step=jnp.int32(5)).step_key(),
                                  jax.random.fold_in(state.key, 5))


def test_step_matches_a_hand_written_update_and_lowers_the_loss():
    model = MLP()
    loss_fn = loss_fn_for(model)
    state = make_state(model)
    batch = data(16)
    step = make_train_step(loss_fn)
    new, metrics = step(state, batch)
    grads = jax.grad(lambda p: loss_fn(p, batch, state.step_key())[0])(state.params)
    chex.assert_trees_all_close(new.params, state.apply_gradients(grads).params, atol=1e-6)
    assert set(metrics) == {"loss", "mse"}
    losses = [float(metrics["loss"])]
    for _ in range(30):
        new, metrics = step(new, batch)
        losses.append(float(metrics["loss"]))
    assert losses[-1] < 0.5 * losses[0]


def test_gradient_accumulation_equals_the_whole_batch():
    model = MLP()
    state = make_state(model)
    batch = data(16)
    one, m1 = make_train_step(loss_fn_for(model))(state, batch)
    four, m4 = make_train_step(loss_fn_for(model), accum_steps=4)(state, batch)
    chex.assert_trees_all_close(m1, m4, rtol=1e-5)
    chex.assert_trees_all_close(one.params, four.params, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="multiple of accum_steps"):
        make_train_step(loss_fn_for(model), accum_steps=3)(state, batch)
    with pytest.raises(ValueError, match="accum_steps"):
        make_train_step(loss_fn_for(model), accum_steps=0)


def test_mutable_collections_are_threaded_through_micro_batches():
    model = MLP(batch_norm=True)
    state = make_state(model)
    assert state.has_mutable and "batch_stats" in state.mutable
    batch = data(8)
    new, _ = make_train_step(loss_fn_for(model), accum_steps=2)(state, batch)
    # two BatchNorm updates (momentum 0.9) with the micro-batches' means, in order
    h = np.asarray(batch["x"]) @ np.asarray(state.params["Dense_0"]["kernel"])
    mean = np.zeros(16)
    for i in range(2):
        mean = 0.9 * mean + 0.1 * h[i::2].mean(0)
    np.testing.assert_allclose(new.mutable["batch_stats"]["BatchNorm_0"]["mean"], mean,
                               rtol=1e-5, atol=1e-6)


def test_step_randomness_comes_from_the_state_key():
    model = MLP(dropout=0.5)
    step = make_train_step(loss_fn_for(model))
    state = make_state(model)
    a, _ = step(state, batch_for_step(0))
    b, _ = step(state, batch_for_step(0))
    chex.assert_trees_all_equal(a.params, b.params)
    c, _ = step(state.replace(key=jax.random.PRNGKey(9)), batch_for_step(0))
    assert not np.allclose(a.params["Dense_1"]["kernel"], c.params["Dense_1"]["kernel"])


def _gan_losses():
    """A 1-D GAN: G shifts noise by a learnt offset, D is logistic on x; data ~ N(3, 1)."""

    def g_apply(gp, z):
        return z + gp["shift"]

    def d_apply(dp, x):
        return dp["w"] * x + dp["b"]

    def g_loss(gp, batch, key, disc: TrainState):
        z = jax.random.normal(key, batch["x"].shape)
        loss = jnp.mean(jax.nn.softplus(-d_apply(disc.params, g_apply(gp, z))))
        return loss, {"shift": gp["shift"]}

    def d_loss(dp, batch, key, gen: TrainState):
        z = jax.random.normal(key, batch["x"].shape)
        fake = g_apply(gen.params, z)
        loss = jnp.mean(jax.nn.softplus(-d_apply(dp, batch["x"])))
        loss += jnp.mean(jax.nn.softplus(d_apply(dp, fake)))
        return loss, {}

    return g_loss, d_loss


def _gan_state(g_every=1):
    gen = TrainState.create(params={"shift": jnp.zeros(())}, tx=optax.sgd(0.1),
                            key=jax.random.PRNGKey(0), ema_decay=0.5)
    disc = TrainState.create(params={"w": jnp.zeros(()), "b": jnp.zeros(())},
                             tx=optax.sgd(0.1), key=jax.random.PRNGKey(1))
    return GANState.create(gen, disc, jax.random.PRNGKey(2))


def test_gan_step_updates_both_players_in_order_and_ratio():
    g_loss, d_loss = _gan_losses()
    x = jnp.asarray(np.random.default_rng(0).normal(3.0, 1.0, size=(64,)), jnp.float32)
    state = _gan_state()
    step = make_gan_step(g_loss, d_loss, generator_every=2)
    s1, m1 = step(state, {"x": x})
    # call 0: G updates first (against the untrained D: zero gradient), then D
    assert int(s1.generator.step) == 1 and int(s1.discriminator.step) == 1
    assert {"g_loss", "g_shift", "d_loss"} <= set(m1)
    s2, m2 = step(s1, {"x": x})
    assert int(s2.generator.step) == 1 and int(s2.discriminator.step) == 2  # G skipped
    assert float(m2["g_loss"]) == 0.0 and int(s2.step) == 2
    for _ in range(60):
        s2, m = step(s2, {"x": x})
    assert float(s2.generator.params["shift"]) > 1.0  # G moved towards the data
    assert s2.generator.ema_params is not None
    with pytest.raises(ValueError, match="order"):
        make_gan_step(g_loss, d_loss, order=("generator", "generator"))
    with pytest.raises(ValueError, match="generator_every"):
        make_gan_step(g_loss, d_loss, generator_every=0)
