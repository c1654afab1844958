"""Checkerboards: PyTorch3D's ``checkerboard`` mesh (coloured squares in the xy-plane) and
``checkerboard_image``, an RGB image, e.g. as a texture map for UV-mapped meshes."""

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


def checkerboard_image(
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


def checkerboard_verts_faces(radius: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """``(verts ((2r + 1)^2, 3) float32, faces (8 r^2, 3) int32)`` of a ``2r x 2r`` grid of
    unit squares in the xy-plane centred at the origin, two triangles per square.

    Vertex ``iy (2r + 1) + ix`` is at ``(ix - r, iy - r, 0)``. Square ``(i, j)`` (row ``i``
    along y, column ``j`` along x, row-major) with corner vertex ``v`` has faces
    ``2 (i 2r + j)`` = ``(v, v + 1, v + n + 1)`` and ``+ 1`` = ``(v, v + n + 1, v + n)``,
    ``n = 2r + 1`` (PyTorch3D's layout).
    """
    radius = check_int("radius", radius, 1)
    n = 2 * radius + 1
    coords = np.arange(-radius, radius + 1, dtype=np.float32)
    gy, gx = np.meshgrid(coords, coords, indexing="ij")
    verts = np.stack([gx, gy, np.zeros_like(gx)], -1).reshape(-1, 3)
    i, j = np.meshgrid(np.arange(n - 1), np.arange(n - 1), indexing="ij")
    v = (i * n + j).reshape(-1)
    top = np.stack([v, v + 1, v + n + 1], -1)
    bottom = np.stack([v, v + n + 1, v + n], -1)
    faces = np.stack([top, bottom], 1).reshape(-1, 3).astype(np.int32)
    return verts, faces


def checkerboard(radius: int = 4, color1=(0.0, 0.0, 0.0), color2=(1.0, 1.0, 1.0), device=None):
    """PyTorch3D's ``checkerboard``: a ``Meshes`` of one mesh, ``2r x 2r`` unit squares in the
    xy-plane (see :func:`checkerboard_verts_faces`) with a ``TexturesAtlas`` (R = 1):
    square ``(i, j)`` has ``color2`` when ``i + j`` is odd, else ``color1``.

    Args:
        radius: r, squares on each side of the origin (int >= 1).
        color1, color2: colours (same number of channels C).
        device: placement (``jax3d.device`` meaning).

    Returns:
        ``Meshes`` with ``(2r + 1)^2`` vertices, ``8 r^2`` faces and an ``(1, F, 1, 1, C)``
        atlas. For an RGB image instead, see :func:`checkerboard_image`.
    """
    from jax3d.device import device_put
    from jax3d.renderer.mesh.textures import TexturesAtlas
    from jax3d.structures import Meshes

    verts, faces = checkerboard_verts_faces(radius)
    c1, c2 = (np.asarray(c, np.float32).reshape(-1) for c in (color1, color2))
    if c1.shape != c2.shape:
        raise ValueError(f"color1 and color2 must have the same channels, got {c1.shape} and "
                         f"{c2.shape}")  # fmt: skip
    n = 2 * radius
    square = np.arange(len(faces)) // 2
    odd = (square // n + square % n) % 2 == 1
    atlas = np.where(odd[:, None], c2, c1)[:, None, None, :]
    meshes = Meshes([verts], [faces], textures=TexturesAtlas([atlas]))
    return device_put(meshes, device)
