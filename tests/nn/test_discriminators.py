"""DCGAN and multi-scale PatchGAN discriminators: layer structure, output and feature shapes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.nn import STATS_COLLECTION, DCGANDiscriminator, MultiScalePatchGAN, PatchGAN
from tests.nn._init import jit_apply, numpy_init, output_shapes
from tests.nn.test_resnet_blocks import avg_pool_3x3_s2_naive


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
    logits = jit_apply(disc, variables, x)
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


def test_multiscale_patchgan_shapes_and_state():
    x = np.zeros((2, 16, 16, 3), np.float32)
    disc = MultiScalePatchGAN(n_scales=2, features=4, n_layers=3, norm="instance",
                              spectral_norm=True)
    variables = numpy_init(disc, x, train=False)
    out, upd = output_shapes(disc, variables, x, train=True, mutable=[STATS_COLLECTION])
    # k4 pad 2: stride 2 -> H // 2 + 1, stride 1 -> H + 1.
    # Scale 0: 16 -> 9 -> 5 -> 6 (stride 1) -> logits 7. Scale 1 (8 x 8): 5 -> 3 -> 4 -> 5.
    assert out.features[0] == ((2, 9, 9, 4), (2, 5, 5, 8), (2, 6, 6, 16))
    assert out.features[1] == ((2, 5, 5, 4), (2, 3, 3, 8), (2, 4, 4, 16))
    assert out.logits == ((2, 7, 7, 1), (2, 5, 5, 1))
    # Spectral norm and no bias on the middle (normed) layers only.
    assert set(upd[STATS_COLLECTION]["scale_0"]) == {"conv_1", "conv_2"}
    assert set(variables["params"]["scale_0"]["conv_1"]["conv"]) == {"kernel"}
    assert "bias" in variables["params"]["scale_0"]["conv_0"]
    with pytest.raises(ValueError, match="n_layers"):
        numpy_init(PatchGAN(n_layers=1), x, train=False)


def test_second_scale_sees_the_average_pooled_image():
    x = np.random.default_rng(1).standard_normal((2, 8, 8, 3)).astype(np.float32)
    disc = MultiScalePatchGAN(n_scales=2, features=4, n_layers=2, norm="none")
    variables = numpy_init(disc, x, train=False)
    out = jit_apply(disc, variables, x, train=False)
    single = PatchGAN(features=4, n_layers=2, norm="none")
    pooled = avg_pool_3x3_s2_naive(x, count_include_pad=False).astype(np.float32)
    logits_1, feats_1 = jit_apply(single, {"params": variables["params"]["scale_1"]}, pooled,
                                  train=False)
    np.testing.assert_allclose(out.logits[1], logits_1, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out.features[1][-1], feats_1[-1], rtol=1e-4, atol=1e-5)
