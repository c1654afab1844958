"""Flax's own initialisation of the modules (the other tests use tests/nn/_init.numpy_init):
same variable tree, PyTorch's kernel init bound, spectral-norm state."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.nn import STATS_COLLECTION, DCGANDiscriminator, ResBlock
from tests.nn._init import numpy_init


def _key():
    # The "rbg" PRNG compiles far faster on CPU than the default threefry.
    return jax.random.key(0, impl="rbg")


def test_dcgan_init_uses_pytorch_kernel_bound():
    x = jnp.zeros((1, 8, 8, 3))
    disc = DCGANDiscriminator(image_size=8, n_feat=8)
    variables = jax.jit(disc.init)(_key(), x)
    kernels = {k: np.asarray(v["kernel"]) for k, v in variables["params"].items()}
    assert jax.tree_util.tree_structure(variables) == jax.tree_util.tree_structure(
        numpy_init(disc, x)
    )
    for name, k in kernels.items():
        bound = 1.0 / np.sqrt(np.prod(k.shape[:-1]))  # U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        assert np.abs(k).max() <= bound, name
        assert np.abs(k).max() > 0.5 * bound, name  # spread over the range
        assert abs(k.std() - bound / np.sqrt(3)) < 0.35 * bound / np.sqrt(3), name


@pytest.mark.slow
def test_resblock_init_tree_and_spectral_state():
    x = jnp.zeros((2, 8, 8, 3))
    block = ResBlock(4, resample="down", norm="batch", spectral_norm=True)
    variables = jax.jit(lambda k: block.init(k, x, train=False))(_key())
    assert jax.tree_util.tree_structure(variables) == jax.tree_util.tree_structure(
        numpy_init(block, x, train=False)
    )
    sn = variables[STATS_COLLECTION]["conv_a"]["spectral_norm"]
    assert float(sn["conv/kernel/sigma"]) == 1.0  # Flax starts sigma at 1, u ~ N(0, 1)
    assert float(jnp.linalg.norm(sn["conv/kernel/u"])) > 0
    np.testing.assert_array_equal(variables[STATS_COLLECTION]["norm_a"]["var"], np.ones(3))
