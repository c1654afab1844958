"""ResBlock: shapes per resample mode, the block's structure against a lax.conv composition,
and the resampling layers against PyTorch's definitions written in NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.nn import STATS_COLLECTION, ResBlock
from jax3d.nn._layers import downsample_avg, upsample_bilinear
from tests.nn._init import jit_apply, numpy_init, output_shapes


def avg_pool_3x3_s2_naive(x, count_include_pad=True):
    """PyTorch's AvgPool2d(3, stride=2, padding=1) on (B, H, W, C), by loops."""
    b, h, w, c = x.shape
    out = np.zeros((b, (h - 1) // 2 + 1, (w - 1) // 2 + 1, c))
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            ys = [y for y in range(2 * i - 1, 2 * i + 2) if 0 <= y < h]
            xs = [x_ for x_ in range(2 * j - 1, 2 * j + 2) if 0 <= x_ < w]
            window = x[:, ys][:, :, xs]
            count = 9 if count_include_pad else len(ys) * len(xs)
            out[:, i, j] = window.sum(axis=(1, 2)) / count
    return out


def upsample_bilinear_naive(x):
    """PyTorch's Upsample(scale_factor=2, mode="bilinear", align_corners=False), by loops."""
    b, h, w, c = x.shape
    out = np.zeros((b, 2 * h, 2 * w, c))
    for i in range(2 * h):
        for j in range(2 * w):
            sy, sx = max((i + 0.5) / 2 - 0.5, 0.0), max((j + 0.5) / 2 - 0.5, 0.0)
            y0, x0 = int(sy), int(sx)
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            fy, fx = sy - y0, sx - x0
            out[:, i, j] = (
                (1 - fy) * ((1 - fx) * x[:, y0, x0] + fx * x[:, y0, x1])
                + fy * ((1 - fx) * x[:, y1, x0] + fx * x[:, y1, x1])
            )
    return out


def test_resampling_matches_pytorch_definitions():
    x = np.random.default_rng(0).standard_normal((1, 5, 6, 2)).astype(np.float32)
    np.testing.assert_allclose(downsample_avg(x), avg_pool_3x3_s2_naive(x), atol=1e-6)
    np.testing.assert_allclose(
        downsample_avg(x, count_include_pad=False), avg_pool_3x3_s2_naive(x, False), atol=1e-6
    )
    np.testing.assert_allclose(upsample_bilinear(x), upsample_bilinear_naive(x), atol=1e-6)


def _conv(x, kernel, bias, pad):
    y = jax.lax.conv_general_dilated(
        x, kernel, (1, 1), [(pad, pad)] * 2, dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    return y + bias


def test_down_block_structure_matches_manual_composition():
    x = np.random.default_rng(1).standard_normal((2, 6, 6, 3)).astype(np.float32)
    block = ResBlock(4, resample="down", norm="none")
    variables = numpy_init(block, x, train=False)
    y = jit_apply(block, variables, x, train=False)
    p = variables["params"]
    h = _conv(jax.nn.relu(x), p["conv_a"]["kernel"], p["conv_a"]["bias"], 1)
    h = _conv(jax.nn.relu(h), p["conv_b"]["kernel"], p["conv_b"]["bias"], 1)
    skip = _conv(x, p["skip"]["kernel"], p["skip"]["bias"], 0)
    expected = avg_pool_3x3_s2_naive(np.asarray(h)) + avg_pool_3x3_s2_naive(np.asarray(skip))
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)
    assert y.shape == (2, 3, 3, 4)


@pytest.mark.parametrize(
    "resample, norm, spectral, c_in, shape",
    [
        ("down", "batch", False, 3, (2, 4, 4, 4)),
        ("none", "batch", True, 4, (2, 8, 8, 4)),  # SynSin's feature-net block: identity skip
        ("up", "instance", False, 3, (2, 16, 16, 4)),
        ("none", "conditional_batch", False, 3, (2, 8, 8, 4)),
    ],
)
def test_block_shapes_and_state(resample, norm, spectral, c_in, shape):
    x = np.random.default_rng(2).standard_normal((2, 8, 8, c_in)).astype(np.float32)
    cond = np.ones((2, 5), np.float32) if norm == "conditional_batch" else None
    block = ResBlock(4, resample=resample, norm=norm, spectral_norm=spectral)
    variables = numpy_init(block, x, cond, train=False)
    assert ("skip" in variables["params"]) == (resample != "none" or c_in != 4)
    has_stats = norm in ("batch", "conditional_batch") or spectral
    assert (STATS_COLLECTION in variables) == has_stats
    y, upd = output_shapes(block, variables, x, cond, train=True, mutable=[STATS_COLLECTION])
    assert y == shape
    if spectral:
        assert upd[STATS_COLLECTION]["conv_a"]["spectral_norm"]["conv/kernel/u"] == (1, 4)


def test_block_rejects_bad_settings():
    x = jnp.zeros((1, 4, 4, 2))
    with pytest.raises(ValueError, match="resample"):
        numpy_init(ResBlock(2, resample="sideways"), x, train=False)
    with pytest.raises(ValueError, match="norm"):
        numpy_init(ResBlock(2, norm="group"), x, train=False)
    with pytest.raises(ValueError, match="needs cond"):
        numpy_init(ResBlock(2, norm="conditional_batch"), x, train=False)
    with pytest.raises(ValueError, match="NHWC"):
        numpy_init(ResBlock(2), jnp.zeros((4, 4, 2)), train=False)
