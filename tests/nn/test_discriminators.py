"""DCGAN and multi-scale PatchGAN discriminators: layer structure, output and feature shapes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.nn import STATS_COLLECTION, DCGANDiscriminator, MultiScalePatchGAN, PatchGAN
from jax3d.nn._layers import downsample_avg
from tests.nn._init import numpy_init


def test_dcgan_matches_giraffe_layout():
    x = np.random.default_rng(0).uniform(size=(3, 16, 16, 3)).astype(np.float32)
    disc = DCGANDiscriminator(image_size=16, n_feat=16)
    variables = numpy_init(disc, x)
    p = variables["params"]
    # L = log2(16) - 2 = 2 layers: 3 -> 8 -> 16 channels, no biases, then 4x4 valid -> 1.
    assert {k: v["kernel"].shape for k, v in p.items()} == {
        "conv_0": (4, 4, 3, 8), "conv_1": (4, 4, 8, 16), "conv_out": (4, 4, 16, 1)
    }
    assert all(set(v) == {"kernel"} for v in p.values())
    logits = jax.jit(disc.apply)(variables, x)
    # Manual: conv4x4/2 pad 1 + leaky 0.2, twice, then valid 4x4.
    def conv(h, k, stride, pad):
        return jax.lax.conv_general_dilated(
            h, k, (stride, stride), [(pad, pad)] * 2, dimension_numbers=("NHWC", "HWIO", "NHWC")
        )

    h = jax.nn.leaky_relu(conv(x, p["conv_0"]["kernel"], 2, 1), 0.2)
    h = jax.nn.leaky_relu(conv(h, p["conv_1"]["kernel"], 2, 1), 0.2)
    expected = conv(h, p["conv_out"]["kernel"], 1, 0).reshape(3, 1)
    assert logits.shape == (3, 1)
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="power of two"):
        numpy_init(DCGANDiscriminator(image_size=12), jnp.zeros((1, 12, 12, 3)))
    with pytest.raises(ValueError, match=r"x must be \(B, 16, 16, 3\)"):
        numpy_init(disc, jnp.zeros((1, 16, 16, 4)))


def test_multiscale_patchgan_shapes_features_and_scales():
    x = np.random.default_rng(1).standard_normal((2, 16, 16, 3)).astype(np.float32)
    disc = MultiScalePatchGAN(n_scales=2, features=4, n_layers=3, norm="instance",
                              spectral_norm=True)
    variables = numpy_init(disc, x, train=False)
    out, _ = jax.jit(
        lambda v: disc.apply(v, x, train=True, mutable=[STATS_COLLECTION])
    )(variables)
    # k4 pad 2: stride 2 -> H // 2 + 1, stride 1 -> H + 1.
    # Scale 0: 16 -> 9 -> 5 -> 6 (stride 1) -> logits 7. Scale 1 (8 x 8): 5 -> 3 -> 4 -> 5.
    assert [f.shape for f in out.features[0]] == [(2, 9, 9, 4), (2, 5, 5, 8), (2, 6, 6, 16)]
    assert [f.shape for f in out.features[1]] == [(2, 5, 5, 4), (2, 3, 3, 8), (2, 4, 4, 16)]
    assert [lg.shape for lg in out.logits] == [(2, 7, 7, 1), (2, 5, 5, 1)]
    # Spectral norm and no bias on the middle (normed) layers only.
    assert set(variables[STATS_COLLECTION]["scale_0"]) == {"conv_1", "conv_2"}
    assert set(variables["params"]["scale_0"]["conv_1"]["conv"]) == {"kernel"}
    assert "bias" in variables["params"]["scale_0"]["conv_0"]
    # Scale 1 is a PatchGAN with its own parameters on the average-pooled image.
    single = PatchGAN(features=4, n_layers=3, norm="instance", spectral_norm=True)
    sub = {k: v["scale_1"] for k, v in variables.items()}
    pooled = downsample_avg(jnp.asarray(x), count_include_pad=False)
    logits_1, _ = jax.jit(lambda v: single.apply(v, pooled, train=False))(sub)
    # train=True above ran one power iteration from the same u as this eval call does.
    np.testing.assert_allclose(out.logits[1], logits_1, rtol=1e-4, atol=1e-5)
