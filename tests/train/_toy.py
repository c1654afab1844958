"""A tiny regression problem shared by the training-toolkit tests (and their subprocesses)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jax3d.train import TrainState


class MLP(nn.Module):
    hidden: int = 16
    batch_norm: bool = False
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x, *, train: bool = True, key=None):
        x = nn.Dense(self.hidden, use_bias=not self.batch_norm)(x)  # BN cancels a bias
        if self.batch_norm:
            x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
        x = nn.tanh(x)
        if self.dropout and key is not None:
            keep = jax.random.bernoulli(key, 1.0 - self.dropout, x.shape)
            x = jnp.where(keep, x / (1.0 - self.dropout), 0.0)
        return nn.Dense(1)(x)[..., 0]


def data(n=32, seed=0):
    """`{"x": (n, 3), "y": (n,)}` float32."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (np.sin(x[:, 0]) + x[:, 1] * x[:, 2]).astype(np.float32)
    return {"x": x, "y": y}


def make_state(model=None, *, seed=0, ema_decay=None, lr=1e-2):
    model = model or MLP()
    variables = model.init(jax.random.PRNGKey(seed), jnp.zeros((2, 3)), train=False)
    params = variables["params"]
    mutable = {k: v for k, v in variables.items() if k != "params"}
    return TrainState.create(params=params, tx=optax.adam(lr), key=jax.random.PRNGKey(seed + 1),
                             mutable=mutable, ema_decay=ema_decay)


def loss_fn_for(model):
    """The toolkit's loss convention for `model` (with dropout drawn from the step's key)."""

    def loss_fn(params, batch, key):
        pred = model.apply({"params": params}, batch["x"], key=key)
        err = jnp.mean((pred - batch["y"]) ** 2)
        return err, {"mse": err}

    def loss_fn_bn(params, batch, key, mutable):
        pred, new = model.apply({"params": params, **mutable}, batch["x"], key=key,
                                mutable=list(mutable))
        err = jnp.mean((pred - batch["y"]) ** 2)
        return err, ({"mse": err}, new)

    return loss_fn_bn if model.batch_norm else loss_fn


def batch_for_step(step, n=8, seed=0):
    """Deterministic batches indexed by the step (what `fit` needs for exact resume)."""
    return data(n, seed=1000 * seed + step)
