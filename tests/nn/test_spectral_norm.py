"""Spectral normalisation: after enough power iterations the normalised kernel's largest
singular value is 1, checked against `numpy.linalg.svd` of the reshaped kernel."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jax3d.nn import STATS_COLLECTION, SNConv, SNDense
from tests.nn._init import numpy_init


@functools.partial(jax.jit, static_argnums=0)
def _power_iterate(model, variables, x):
    """30 training calls, feeding the updated stats back (a lax loop: one compile)."""

    def step(_, stats):
        _, upd = model.apply(
            {"params": variables["params"], STATS_COLLECTION: stats},
            x,
            update_stats=True,
            mutable=[STATS_COLLECTION],
        )
        return upd[STATS_COLLECTION]

    stats = jax.lax.fori_loop(0, 30, step, variables[STATS_COLLECTION])
    evaluated = {"params": variables["params"], STATS_COLLECTION: stats}
    y, after_eval = model.apply(evaluated, x, update_stats=False, mutable=[STATS_COLLECTION])
    return stats, y, after_eval[STATS_COLLECTION]


def test_sn_dense_normalised_kernel_has_unit_spectral_norm():
    model = SNDense(3, use_bias=False)
    x = jnp.eye(5)  # y = I @ (W / sigma): the normalised kernel itself
    variables = numpy_init(model, x, update_stats=False, seed=1)
    kernel = np.asarray(variables["params"]["dense"]["kernel"], np.float64)
    stats, y, after_eval = _power_iterate(model, variables, x)
    sigma_true = np.linalg.svd(kernel, compute_uv=False)[0]
    np.testing.assert_allclose(np.linalg.svd(np.asarray(y), compute_uv=False)[0], 1.0, rtol=1e-4)
    np.testing.assert_allclose(y, kernel / sigma_true, rtol=1e-4, atol=1e-6)
    sn = stats["spectral_norm"]
    np.testing.assert_allclose(sn["dense/kernel/sigma"], sigma_true, rtol=1e-4)
    assert sn["dense/kernel/u"].shape == (1, 3)
    # Evaluation (update_stats=False) leaves the stored state alone.
    jax.tree_util.tree_map(np.testing.assert_array_equal, after_eval, stats)


def test_sn_conv_uses_kernel_over_its_largest_singular_value():
    model = SNConv(4, kernel_size=(3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 6, 6, 2)), jnp.float32)
    variables = numpy_init(model, x, update_stats=False, seed=2)
    params = variables["params"]["conv"]
    kernel = np.asarray(params["kernel"], np.float64)  # (3, 3, 2, 4)
    stats, y, _ = _power_iterate(model, variables, x)
    sigma_true = np.linalg.svd(kernel.reshape(-1, 4), compute_uv=False)[0]
    np.testing.assert_allclose(
        stats["spectral_norm"]["conv/kernel/sigma"], sigma_true, rtol=1e-4
    )
    plain = nn.Conv(4, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    normalised = {"params": {"kernel": params["kernel"] / sigma_true, "bias": params["bias"]}}
    np.testing.assert_allclose(y, plain.apply(normalised, x), rtol=1e-4, atol=1e-5)
    assert y.shape == (2, 3, 3, 4)
