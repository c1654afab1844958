"""Fast test initialisation of Flax modules: shapes from `jax.eval_shape(model.init)` (nothing
is compiled), values drawn with NumPy. Flax's own `init` compiles one PRNG program per kernel
shape, which costs seconds per shape on the shared CPU; these tests check the modules' maths,
not Flax's initialisers (tests/nn/test_init.py runs the real path)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np


def numpy_init(model, *args, seed: int = 0, **kwargs):
    """Variables shaped like `model.init(key, *args, **kwargs)`: kernels and embeddings
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (embeddings N(1, 0.2)), biases N(0, 0.1), batch-norm
    scale / var and spectral-norm sigma 1, means 0, spectral-norm u N(0, 1)."""
    init = functools.partial(model.init, **kwargs)
    shapes = jax.eval_shape(init, jax.random.key(0), *args)
    rng = np.random.default_rng(seed)

    def leaf(path, spec):
        name = str(getattr(path[-1], "key", path[-1]))
        shape = spec.shape
        if name in ("scale", "var") or name.endswith("/sigma"):
            value = np.ones(shape)
        elif name == "mean":
            value = np.zeros(shape)
        elif name == "bias":
            value = 0.1 * rng.standard_normal(shape)
        elif name.endswith("/u"):
            value = rng.standard_normal(shape)
        elif name == "embedding":
            value = 1.0 + 0.2 * rng.standard_normal(shape)
        else:
            bound = 1.0 / np.sqrt(max(1, int(np.prod(shape[:-1]))))
            value = rng.uniform(-bound, bound, shape)
        return jnp.asarray(value, spec.dtype)

    return jax.tree_util.tree_map_with_path(leaf, shapes)


def jit_apply(model, variables, *args, **kwargs):
    """`model.apply(variables, *args, **kwargs)` compiled once, the arrays passed as arguments
    (closing over them would make XLA constant-fold the whole network)."""
    return jax.jit(functools.partial(model.apply, **kwargs))(variables, *args)


def output_shapes(model, variables, *args, **kwargs):
    """Shapes of `model.apply(variables, *args, **kwargs)`, traced, not compiled."""
    out = jax.eval_shape(functools.partial(model.apply, **kwargs), variables, *args)
    return jax.tree_util.tree_map(lambda s: s.shape, out)
