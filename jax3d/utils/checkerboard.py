"""Checkerboard images, e.g. as texture maps for UV-mapped meshes."""

from __future__ import annotations

import numpy as np

from jax3d.utils._to_meshes import check_int


def _pair(name: str, value) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        return check_int(f"{name}[0]", value[0], 1), check_int(f"{name}[1]", value[1], 1)
    value = check_int(name, value, 1)
    return value, value


def _colors(colors) -> np.ndarray:
    colors = np.asarray(colors, dtype=np.float64)
    if colors.shape != (2, 3):
        raise ValueError(f"colors must be (2, 3) RGB in [0, 1], got shape {colors.shape}")
    if not np.all(np.isfinite(colors)) or colors.min() < 0.0 or colors.max() > 1.0:
        raise ValueError("colors must be finite and in [0, 1]")
    return colors


def checkerboard(
    size=(256, 256), squares=8, colors=((1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
) -> np.ndarray:
    """An RGB checkerboard image.

    Pixel `(y, x)` (centre at `y + 0.5, x + 0.5`) lies in square row
    `floor((y + 0.5) * rows / H)` and column `floor((x + 0.5) * cols / W)`; squares whose row +
    column is even take `colors[0]` (so the top-left square is `colors[0]`), the others
    `colors[1]`. When H (W) is a multiple of rows (cols), every square is exactly
    `H / rows` x `W / cols` pixels.

    Args:
        size: int or (H, W) ints >= 1, the image size in pixels.
        squares: int or (rows, cols) ints >= 1, number of squares along H and W.
        colors: (2, 3) floats in [0, 1], the two RGB colours; default white then black.

    Returns:
        (H, W, 3) float32 in [0, 1].
    """
    height, width = _pair("size", size)
    rows, cols = _pair("squares", squares)
    colors = _colors(colors)
    row = np.floor((np.arange(height) + 0.5) * rows / height).astype(np.int64)
    col = np.floor((np.arange(width) + 0.5) * cols / width).astype(np.int64)
    parity = (row[:, None] + col[None, :]) % 2  # (H, W)
    return colors[parity].astype(np.float32)
