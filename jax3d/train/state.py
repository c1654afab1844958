"""`TrainState`: everything a training run carries from one step to the next, as one pytree."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

__all__ = ["TrainState", "ema_update", "key_for_step"]


def key_for_step(key: jax.Array, step) -> jax.Array:
    """The PRNG key of step `step`: `fold_in(key, step)`.

    Every step's randomness is a pure function of the run's key and the step number, so a run
    resumed from a checkpoint at step `k` draws exactly what the uninterrupted run drew.
    """
    return jax.random.fold_in(key, step)


def ema_update(ema: Any, params: Any, decay: float) -> Any:
    """Exponential moving average `decay * ema + (1 - decay) * params`, leaf by leaf."""
    def mix(e, p):
        return decay * e + (1.0 - decay) * jnp.asarray(p, jnp.result_type(e))

    return jax.tree.map(mix, ema, params)


@struct.dataclass
class TrainState:
    """One model's training state.

    Attributes:
        step: () int32, the number of optimizer updates applied so far.
        params: the parameter pytree (e.g. `variables["params"]` of a Flax module).
        opt_state: the optax state of `tx` for `params`.
        key: (2,) uint32 raw PRNG key of the run (`jax.random.PRNGKey(seed)`); step `i` uses
            `key_for_step(key, i)` (see :meth:`step_key`).
        ema_params: exponential moving average of `params` (None unless `ema_decay` is set).
        mutable: the module's mutable collections other than `params`, e.g.
            `{"batch_stats": ...}` for BatchNorm statistics or spectral-norm power-iteration
            vectors; `{}` when the model has none. A step whose state carries a non-empty
            `mutable` calls the loss with it and stores what the loss returns.
        tx: the optax transformation (static: not a leaf, not checkpointed).
        ema_decay: the EMA decay (static), or None.
    """

    step: jax.Array
    params: Any
    opt_state: optax.OptState
    key: jax.Array
    ema_params: Any = None
    mutable: Any = struct.field(default_factory=dict)
    tx: optax.GradientTransformation = struct.field(pytree_node=False, default=None)
    ema_decay: float | None = struct.field(pytree_node=False, default=None)

    @classmethod
    def create(
        cls,
        *,
        params: Any,
        tx: optax.GradientTransformation,
        key: jax.Array,
        mutable: Any = None,
        ema_decay: float | None = None,
    ) -> TrainState:
        """A state at step 0: `tx.init(params)`, EMA initialised to `params` when `ema_decay`.

        Args:
            params: parameter pytree.
            tx: optax transformation.
            key: PRNG key (raw `(2,) uint32` or a typed key, stored raw so checkpoints hold
                plain arrays).
            mutable: mutable collections (dict), or None for none.
            ema_decay: keep an EMA of the parameters with this decay in [0, 1), or None.
        """
        if not isinstance(tx, optax.GradientTransformation):
            raise TypeError(f"tx must be an optax.GradientTransformation, got {type(tx)}")
        if ema_decay is not None and not 0.0 <= float(ema_decay) < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) or None, got {ema_decay!r}")
        key = jnp.asarray(key)
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jax.random.key_data(key)
        if key.shape != (2,) or key.dtype != jnp.uint32:
            raise ValueError(f"key must be a PRNG key (2,) uint32, got {key.shape} {key.dtype}")
        ema = jax.tree.map(jnp.array, params) if ema_decay is not None else None
        return cls(
            step=jnp.zeros((), jnp.int32),
            params=params,
            opt_state=tx.init(params),
            key=key,
            ema_params=ema,
            mutable={} if mutable is None else mutable,
            tx=tx,
            ema_decay=None if ema_decay is None else float(ema_decay),
        )

    def step_key(self) -> jax.Array:
        """This step's PRNG key, `key_for_step(self.key, self.step)`."""
        return key_for_step(self.key, self.step)

    @property
    def has_mutable(self) -> bool:
        """Whether the state carries mutable collections (the loss is then called with them)."""
        return bool(jax.tree.leaves(self.mutable))

    def apply_gradients(self, grads: Any, *, mutable: Any = None) -> TrainState:
        """One optimizer update: new params, optax state, EMA, mutable collections, step + 1.

        Args:
            grads: gradients, the structure of `params`.
            mutable: new mutable collections (None keeps the current ones).
        """
        updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
        params = optax.apply_updates(self.params, updates)
        ema = self.ema_params
        if self.ema_decay is not None:
            ema = ema_update(ema, params, self.ema_decay)
        return self.replace(
            step=self.step + 1,
            params=params,
            opt_state=opt_state,
            ema_params=ema,
            mutable=self.mutable if mutable is None else mutable,
        )

    def variables(self, *, ema: bool = False) -> dict:
        """`{"params": params (or the EMA), **mutable}`: what `module.apply` takes."""
        params = self.ema_params if ema else self.params
        if ema and params is None:
            raise ValueError("this TrainState keeps no EMA (create it with ema_decay=...)")
        return {"params": params, **self.mutable}
