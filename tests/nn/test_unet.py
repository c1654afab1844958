"""UNet: output shapes, channel widths per level, output activation, state, bad sizes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.nn import STATS_COLLECTION, UNet
from tests.nn._init import jit_apply, numpy_init, output_shapes


def test_unet_shapes_widths_and_activation():
    x = np.random.default_rng(0).standard_normal((2, 16, 16, 2)).astype(np.float32)
    model = UNet(out_channels=3, features=2, depth=4, max_multiplier=2, norm="batch")
    variables = numpy_init(model, x, train=False)
    p = variables["params"]
    # c_i = 2 * min(2**i, 2) = [2, 4, 4, 4]; encoder convs 4x4/2, decoder 3x3 on concatenations.
    assert [p[f"down_{i}"]["kernel"].shape for i in range(4)] == [
        (4, 4, 2, 2), (4, 4, 2, 4), (4, 4, 4, 4), (4, 4, 4, 4)
    ]
    assert [p[f"up_{i}"]["kernel"].shape for i in range(3)] == [
        (3, 3, 8, 2), (3, 3, 8, 4), (3, 3, 4, 4)
    ]
    assert p["out"]["kernel"].shape == (3, 3, 4, 3)
    # Norm on the inner encoder levels and every decoder level but the output.
    assert set(variables[STATS_COLLECTION]) == {
        "down_norm_1", "down_norm_2", "up_norm_0", "up_norm_1", "up_norm_2"
    }
    assert output_shapes(model, variables, x, train=False) == (2, 16, 16, 3)


def test_unet_spectral_depth1_and_bad_sizes():
    x = np.random.default_rng(1).standard_normal((1, 4, 6, 3)).astype(np.float32)
    model = UNet(out_channels=1, features=2, depth=1, norm="none", spectral_norm=True,
                 output_activation="sigmoid")
    variables = numpy_init(model, x, train=False)
    y, upd = jit_apply(model, variables, x, train=True, mutable=[STATS_COLLECTION])
    assert y.shape == (1, 4, 6, 1)
    assert bool(jnp.all((y > 0) & (y < 1)))
    assert set(upd[STATS_COLLECTION]) == {"down_0", "out"}
    with pytest.raises(ValueError, match="multiples of 2"):
        numpy_init(UNet(depth=2), x, train=False)
    with pytest.raises(ValueError, match="output_activation"):
        numpy_init(UNet(depth=1, output_activation="relu"), x, train=False)


def test_unet_input_skip_reaches_the_output_convolution():
    x = np.random.default_rng(2).standard_normal((1, 8, 8, 3)).astype(np.float32)
    model = UNet(out_channels=3, features=2, depth=2, norm="none", input_skip=True)
    variables = numpy_init(model, x, train=False)
    # the output conv sees the decoder (2 + skip 2 channels) and the input (3)
    assert variables["params"]["out"]["kernel"].shape == (3, 3, 4 + 3, 3)
    # an output pixel depends on the input 1 px away through the skip alone when the coarse
    # path is silenced: zero every kernel but the output conv's input-skip channels
    p = jax.tree_util.tree_map(jnp.zeros_like, variables["params"])
    k = np.zeros((3, 3, 7, 3), np.float32)
    k[1, 1, 4:, :] = np.eye(3)  # centre tap, the skip channels -> identity
    p["out"]["kernel"] = jnp.asarray(k)
    y = model.apply({"params": p}, x, train=False)
    np.testing.assert_allclose(y, x, atol=1e-6)
