"""checkerboard: against a per-pixel loop, square sizes, colours, validation."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jax3d.utils import checkerboard_image


def checkerboard_naive(height, width, rows, cols, colors):
    img = np.zeros((height, width, 3))
    for y in range(height):
        for x in range(width):
            i = int((y + 0.5) * rows // height)
            j = int((x + 0.5) * cols // width)
            img[y, x] = colors[(i + j) % 2]
    return img


@given(
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    rows=st.integers(1, 9),
    cols=st.integers(1, 9),
)
def test_matches_naive(height, width, rows, cols):
    colors = ((0.9, 0.2, 0.1), (0.0, 0.5, 1.0))
    img = checkerboard_image((height, width), (rows, cols), colors)
    assert img.shape == (height, width, 3) and img.dtype == np.float32
    np.testing.assert_allclose(
        img, checkerboard_naive(height, width, rows, cols, colors), atol=1e-7
    )


def test_default_is_8x8_black_and_white_with_exact_squares():
    img = checkerboard_image()
    assert img.shape == (256, 256, 3)
    np.testing.assert_array_equal(img[0, 0], 1.0)  # top-left square is colors[0] (white)
    np.testing.assert_array_equal(img[0, 32], 0.0)
    blocks = img[..., 0].reshape(8, 32, 8, 32)
    assert np.all(blocks.min(axis=(1, 3)) == blocks.max(axis=(1, 3)))  # each square constant
    expected = (np.add.outer(np.arange(8), np.arange(8)) % 2 == 0).astype(np.float32)
    np.testing.assert_array_equal(blocks[:, 0, :, 0], expected)
    assert img.min() == 0.0 and img.max() == 1.0


def test_int_size_and_rectangular_squares():
    img = checkerboard_image(12, squares=(2, 3))
    assert img.shape == (12, 12, 3)
    np.testing.assert_array_equal(img[:6, :4, 0], 1.0)
    np.testing.assert_array_equal(img[:6, 4:8, 0], 0.0)
    np.testing.assert_array_equal(img[6:, :4, 0], 0.0)


@pytest.mark.parametrize(
    "kwargs, err, name",
    [
        ({"size": (0, 4)}, ValueError, "size"),
        ({"size": (4, 4, 4)}, ValueError, "size"),
        ({"size": 4.0}, TypeError, "size"),
        ({"squares": 0}, ValueError, "squares"),
        ({"colors": ((1, 1, 1),)}, ValueError, "colors"),
        ({"colors": ((2, 0, 0), (0, 0, 0))}, ValueError, "colors"),
        ({"colors": ((np.nan, 0, 0), (0, 0, 0))}, ValueError, "colors"),
    ],
)
def test_invalid_args(kwargs, err, name):
    with pytest.raises(err, match=name):
        checkerboard_image(**kwargs)
