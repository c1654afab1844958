"""image_grid: placement vs a per-cell loop, derived grid sizes, padding."""

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jax3d.vis import image_grid


def image_grid_naive(images, rows, cols, pad, pad_value):
    n, h, w = images.shape[:3]
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, *images.shape[3:]), pad_value)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        out[y : y + h, x : x + w] = images[i]
    return out


@given(
    n=st.integers(1, 7),
    extra_rows=st.integers(0, 2),
    cols=st.integers(1, 4),
    pad=st.integers(0, 3),
    channels=st.sampled_from([None, 1, 3]),
)
def test_matches_naive(n, extra_rows, cols, pad, channels):
    rows = -(-n // cols) + extra_rows
    shape = (n, 3, 5) if channels is None else (n, 3, 5, channels)
    images = np.random.default_rng(n).uniform(size=shape).astype(np.float32)
    grid = image_grid(images, rows, cols, pad=pad, pad_value=0.5)
    np.testing.assert_array_equal(grid, image_grid_naive(images, rows, cols, pad, 0.5))
    assert grid.dtype == np.float32


def test_derived_grid_sizes_and_jax_input():
    images = jnp.ones((5, 2, 3, 3))
    assert image_grid(images).shape == (2 * 2, 3 * 3, 3)  # cols = ceil(sqrt(5)) = 3, rows = 2
    assert image_grid(images, rows=1).shape == (2, 15, 3)
    assert image_grid(images, cols=2).shape == (6, 6, 3)


@pytest.mark.parametrize(
    "args, kwargs, err, name",
    [
        ((np.zeros((2, 3)),), {}, ValueError, "images"),
        ((np.zeros((0, 3, 3)),), {}, ValueError, "images"),
        ((np.zeros((5, 3, 3)), 2, 2), {}, ValueError, "cannot hold"),
        ((np.zeros((2, 3, 3)), 0), {}, ValueError, "rows"),
        ((np.zeros((2, 3, 3)), None, 1.5), {}, TypeError, "cols"),
        ((np.zeros((2, 3, 3)),), {"pad": -1}, ValueError, "pad"),
    ],
)
def test_invalid(args, kwargs, err, name):
    with pytest.raises(err, match=name):
        image_grid(*args, **kwargs)
