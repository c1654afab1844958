"""Jitted training steps built from a loss function: one player, or a generator/discriminator pair.

The loss convention, shared by every model of jax3d:

    loss_fn(params, batch, key) -> (loss, aux)

`loss` is a () float scalar (a mean over the batch), `aux` a dict of () scalars to log. When the
state carries mutable collections (`TrainState.mutable`, e.g. BatchNorm statistics or
spectral-norm vectors), the loss is called as `loss_fn(params, batch, key, mutable)` and returns
`(loss, (aux, new_mutable))`. Randomness comes only from `key`, which the step derives from the
state's key and step number, so training is reproducible and resumes bit-exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from jax.sharding import Mesh

from jax3d.train.parallel import DATA_AXIS, data_sharding, replicated_sharding
from jax3d.train.state import TrainState, key_for_step

__all__ = ["GANState", "accumulate_gradients", "make_gan_step", "make_train_step"]


def _loss_and_grads(loss_fn, params, mutable, batch, key, extra):
    """(loss, aux, grads, new_mutable) of one (micro-)batch."""
    if jax.tree.leaves(mutable):
        def f(p):
            loss, (aux, new_mutable) = loss_fn(p, batch, key, *extra, mutable)
            return loss, (aux, new_mutable)

        (loss, (aux, new_mutable)), grads = jax.value_and_grad(f, has_aux=True)(params)
    else:
        (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch, key, *extra)
        new_mutable = mutable
    return loss, _as_dict(aux), grads, new_mutable


def _as_dict(aux) -> dict:
    if aux is None:
        return {}
    if not isinstance(aux, dict):
        raise TypeError(f"the loss's aux must be a dict of scalars (or None), got {type(aux)}")
    return aux


def _micro_batches(batch, accum_steps: int):
    """`(A, B / A, ...)` leaves: micro-batch `i` holds rows `i, i + A, i + 2A, ...`.

    Strided rows keep each micro-batch spread over the data axis when `B` is sharded.
    """

    def split(x):
        if x.shape[0] % accum_steps:
            raise ValueError(f"batch leading axis {x.shape[0]} is not a multiple of "
                             f"accum_steps={accum_steps}")  # fmt: skip
        x = x.reshape((x.shape[0] // accum_steps, accum_steps) + x.shape[1:])
        return jnp.moveaxis(x, 1, 0)

    return jax.tree.map(split, batch)


def accumulate_gradients(loss_fn, params, mutable, batch, key, accum_steps: int = 1, extra=()):
    """Mean loss, aux and gradients over `accum_steps` micro-batches (a `lax.scan`).

    Micro-batch `i` takes rows `i::accum_steps` of every batch leaf and the key
    `fold_in(key, i)`; mutable collections are threaded through the micro-batches in order.
    For a loss that is a mean over equally sized micro-batches the result equals one pass over
    the whole batch (with the whole batch's key when `accum_steps == 1`).

    Returns:
        `(loss, aux, grads, new_mutable)`.
    """
    if accum_steps == 1:
        return _loss_and_grads(loss_fn, params, mutable, batch, key, extra)
    micro = _micro_batches(batch, accum_steps)
    first = jax.tree.map(lambda x: x[0], micro)
    shapes = jax.eval_shape(
        lambda: _loss_and_grads(loss_fn, params, mutable, first, key, extra)
    )
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes[:3])

    def body(carry, inputs):
        total, mut = carry
        i, mb = inputs
        loss, aux, grads, mut = _loss_and_grads(
            loss_fn, params, mut, mb, jax.random.fold_in(key, i), extra
        )
        total = jax.tree.map(jnp.add, total, (loss, aux, grads))
        return (total, mut), None

    (total, mutable), _ = jax.lax.scan(
        body, (zeros, mutable), (jnp.arange(accum_steps), micro)
    )
    loss, aux, grads = jax.tree.map(lambda t: t / accum_steps, total)
    return loss, aux, grads, mutable


def _jit(step, mesh: Mesh | None, axis: str, donate: bool, n_state_args: int = 1):
    donate_argnums = tuple(range(n_state_args)) if donate else ()
    if mesh is None:
        return jax.jit(step, donate_argnums=donate_argnums)
    rep, dat = replicated_sharding(mesh), data_sharding(mesh, axis=axis)
    return jax.jit(
        step,
        in_shardings=(rep,) * n_state_args + (dat,),
        out_shardings=(rep, rep),
        donate_argnums=donate_argnums,
    )


def make_train_step(
    loss_fn: Callable,
    *,
    accum_steps: int = 1,
    mesh: Mesh | None = None,
    axis: str = DATA_AXIS,
    donate: bool = False,
) -> Callable[[TrainState, Any], tuple[TrainState, dict]]:
    """`step(state, batch) -> (state, metrics)`: one jitted optimizer update.

    Args:
        loss_fn: `loss_fn(params, batch, key) -> (loss, aux)` (see the module docstring; with
            mutable collections `loss_fn(params, batch, key, mutable) -> (loss, (aux, mut))`).
        accum_steps: split the batch into this many micro-batches and average their gradients
            (:func:`accumulate_gradients`); the batch's leading axis must be a multiple of it.
        mesh: a device mesh (:func:`jax3d.train.make_data_mesh`): the batch's leading axis is
            split over `axis`, the state replicated. None: default placement (one device).
        axis: the mesh axis of the batch.
        donate: donate the input state's buffers to the output (saves memory on accelerators;
            the state passed in must not be used again).

    Returns:
        A jitted function. `metrics` holds `loss` and the aux entries, averaged over the
        micro-batches, as () arrays.
    """
    if not isinstance(accum_steps, int) or accum_steps < 1:
        raise ValueError(f"accum_steps must be an int >= 1, got {accum_steps!r}")

    def step(state: TrainState, batch):
        loss, aux, grads, mutable = accumulate_gradients(
            loss_fn, state.params, state.mutable, batch, state.step_key(), accum_steps
        )
        return state.apply_gradients(grads, mutable=mutable), {"loss": loss, **aux}

    return _jit(step, mesh, axis, donate)


@struct.dataclass
class GANState:
    """Two players trained against each other.

    Attributes:
        generator: the generator's `TrainState` (give it `ema_decay` for an EMA generator).
        discriminator: the discriminator's `TrainState`.
        step: () int32, completed calls of the GAN step (each player's own `step` counts its
            updates, which differ when a player updates less often).
        key: (2,) uint32 raw PRNG key; call `i` uses `fold_in(key, i)`.
    """

    generator: TrainState
    discriminator: TrainState
    step: jax.Array
    key: jax.Array

    @classmethod
    def create(cls, generator: TrainState, discriminator: TrainState, key) -> GANState:
        key = jnp.asarray(key)
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jax.random.key_data(key)
        return cls(generator, discriminator, jnp.zeros((), jnp.int32), key)


def _player_update(state: TrainState, loss_fn, batch, key, other, every: int, step, accum: int):
    """Update `state` when `step % every == 0`; metrics are NaN-free zeros otherwise."""

    def update(_):
        loss, aux, grads, mutable = accumulate_gradients(
            loss_fn, state.params, state.mutable, batch, key, accum, extra=(other,)
        )
        return state.apply_gradients(grads, mutable=mutable), {"loss": loss, **aux}

    if every == 1:
        return update(None)
    shapes = jax.eval_shape(update, None)[1]

    def skip(_):
        return state, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

    return jax.lax.cond(step % every == 0, update, skip, None)


def make_gan_step(
    generator_loss_fn: Callable,
    discriminator_loss_fn: Callable,
    *,
    generator_every: int = 1,
    discriminator_every: int = 1,
    order: tuple[str, str] = ("generator", "discriminator"),
    accum_steps: int = 1,
    mesh: Mesh | None = None,
    axis: str = DATA_AXIS,
    donate: bool = False,
) -> Callable[[GANState, Any], tuple[GANState, dict]]:
    """`step(gan_state, batch) -> (gan_state, metrics)`: one jitted round of both players.

    The players update in `order` (the generator first by default, as GIRAFFE does), the
    second one seeing the first one's new state. Update ratio: a player updates on the calls
    whose index is a multiple of its `*_every` (e.g. `generator_every=2` trains the
    discriminator twice as often).

    Args:
        generator_loss_fn: `g_loss(g_params, batch, key, discriminator_state) -> (loss, aux)`;
            `discriminator_state` is the discriminator's `TrainState` (use
            `discriminator_state.variables()` to apply it). With mutable collections in the
            generator's state: `g_loss(g_params, batch, key, disc_state, g_mutable)` returning
            `(loss, (aux, new_g_mutable))`.
        discriminator_loss_fn: `d_loss(d_params, batch, key, generator_state) -> (loss, aux)`,
            likewise (`generator_state.variables(ema=False)` makes the fakes).
        generator_every, discriminator_every: update ratio (ints >= 1).
        order: which player goes first.
        accum_steps, mesh, axis, donate: as in :func:`make_train_step`.

    Returns:
        A jitted function; `metrics` has `g_loss`, `d_loss` and the players' aux entries
        prefixed `g_` / `d_` (zeros on calls where that player did not update).
    """
    for name, every in (("generator_every", generator_every),
                        ("discriminator_every", discriminator_every)):  # fmt: skip
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"{name} must be an int >= 1, got {every!r}")
    if sorted(order) != ["discriminator", "generator"]:
        raise ValueError(f"order must name 'generator' and 'discriminator' once each: {order!r}")

    def step(state: GANState, batch):
        key = key_for_step(state.key, state.step)
        players = {"generator": state.generator, "discriminator": state.discriminator}
        settings = {
            "generator": (generator_loss_fn, generator_every, "g_", 0),
            "discriminator": (discriminator_loss_fn, discriminator_every, "d_", 1),
        }
        metrics = {}
        for name in order:
            loss_fn, every, prefix, tag = settings[name]
            other = players["discriminator" if name == "generator" else "generator"]
            players[name], m = _player_update(
                players[name], loss_fn, batch, jax.random.fold_in(key, tag), other, every,
                state.step, accum_steps,
            )  # fmt: skip
            metrics.update({prefix + k: v for k, v in m.items()})
        new = state.replace(generator=players["generator"],
                            discriminator=players["discriminator"], step=state.step + 1)
        return new, metrics

    return _jit(step, mesh, axis, donate)
