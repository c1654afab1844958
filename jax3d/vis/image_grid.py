"""Tile a batch of images into one image."""

from __future__ import annotations

import math

import numpy as np


def _grid_shape(n: int, rows: int | None, cols: int | None) -> tuple[int, int]:
    for name, value in (("rows", rows), ("cols", cols)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"{name} must be an int or None, got {type(value).__name__}")
        if value is not None and value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if rows is None and cols is None:
        cols = math.ceil(math.sqrt(n))
    if rows is None:
        rows = math.ceil(n / cols)
    if cols is None:
        cols = math.ceil(n / rows)
    if rows * cols < n:
        raise ValueError(f"rows * cols = {rows * cols} cells cannot hold {n} images")
    return rows, cols


def image_grid(
    images,
    rows: int | None = None,
    cols: int | None = None,
    *,
    pad: int = 0,
    pad_value: float = 1.0,
) -> np.ndarray:
    """Tile images row by row into one image (PyTorch3D's `image_grid` draws a figure instead;
    this returns the array, ready for `save_image`).

    Args:
        images: (N, H, W) or (N, H, W, C) array (NumPy or JAX), N >= 1.
        rows, cols: grid size; a missing one is derived from N (both missing: a near-square
            grid with `cols = ceil(sqrt(N))`). `rows * cols` must be >= N; spare cells are
            filled with `pad_value`.
        pad: int >= 0, pixels of `pad_value` between cells and around the grid.
        pad_value: float, the fill value of padding and spare cells.

    Returns:
        (rows * (H + pad) + pad, cols * (W + pad) + pad[, C]) array of the images' dtype;
        image `i` occupies cell `(i // cols, i % cols)`.
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4) or images.shape[0] < 1:
        raise ValueError(
            f"images must be (N, H, W) or (N, H, W, C) with N >= 1, got {images.shape}"
        )
    if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
        raise ValueError(f"pad must be an int >= 0, got {pad!r}")
    n, height, width = images.shape[:3]
    rows, cols = _grid_shape(n, rows, cols)
    cells = np.full((rows * cols, *images.shape[1:]), pad_value, dtype=images.dtype)
    cells[:n] = images
    pad_width = [(0, 0), (pad, 0), (pad, 0)] + [(0, 0)] * (images.ndim - 3)
    cells = np.pad(cells, pad_width, constant_values=pad_value)  # pad above and left of each
    cells = cells.reshape(rows, cols, height + pad, width + pad, *images.shape[3:])
    grid = np.swapaxes(cells, 1, 2).reshape(rows * (height + pad), cols * (width + pad), -1)
    grid = np.pad(grid, [(0, pad), (0, pad), (0, 0)], constant_values=pad_value)
    return grid if images.ndim == 4 else grid[..., 0]
