"""Procedural RGB textures (NumPy): checkerboards, stripes, bricks, planks, tiles, dots, noise.

Every texture is a pure function of a NumPy `Generator` and a size, returns `(S, S, 3)` float32
RGB in [0, 1], and tiles seamlessly (features repeat an integer number of times across the
square), so a texture can repeat over a wall. `random_texture(rng, size)` picks a kind and
its colours at random; `texture_atlas` packs several into one image for `TexturesUV`.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "TEXTURE_KINDS",
    "atlas_uvs",
    "random_texture",
    "texture_atlas",
]


def _palette(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` distinct-ish colours: a random hue, spread hues, random saturation and value."""
    h0 = rng.uniform()
    hues = (h0 + np.arange(n) / n + rng.uniform(-0.08, 0.08, n)) % 1.0
    sat = rng.uniform(0.2, 0.9, n)
    val = rng.uniform(0.25, 1.0, n)
    return _hsv_to_rgb(np.stack([hues, sat, val], -1))


def _hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    i = np.floor(h * 6.0).astype(int) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = np.stack([
        np.stack([v, t, p], -1), np.stack([q, v, p], -1), np.stack([p, v, t], -1),
        np.stack([p, q, v], -1), np.stack([t, p, v], -1), np.stack([v, p, q], -1),
    ])  # fmt: skip
    return np.take_along_axis(table, i[None, ..., None], 0)[0].astype(np.float32)


def _grid(size: int):
    c = (np.arange(size, dtype=np.float32) + 0.5) / size
    return np.meshgrid(c, c)  # x (columns), y (rows), in (0, 1)


def _mix(a, b, t):
    return a * (1.0 - t[..., None]) + b * t[..., None]


def _value_noise(rng, size: int, cells: int) -> np.ndarray:
    """Tileable smooth value noise in [0, 1]: a random `cells x cells` lattice, wrapped,
    cubic-interpolated."""
    lattice = rng.uniform(size=(cells, cells)).astype(np.float32)
    x = np.arange(size, dtype=np.float32) * cells / size
    i0 = np.floor(x).astype(int)
    f = x - i0
    f = f * f * (3 - 2 * f)
    i1 = (i0 + 1) % cells
    i0 %= cells
    rows = lattice[i0] * (1 - f)[:, None] + lattice[i1] * f[:, None]  # (size, cells)
    return rows[:, i0] * (1 - f)[None, :] + rows[:, i1] * f[None, :]


def _fbm(rng, size: int, base: int = 4, octaves: int = 4) -> np.ndarray:
    out = np.zeros((size, size), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        cells = min(base * 2**o, size)
        out += amp * _value_noise(rng, size, cells)
        total += amp
        amp *= 0.5
    return out / total


def _checker(rng, size):
    n = int(rng.choice([2, 4]))
    x, y = _grid(size)
    t = ((np.floor(x * n) + np.floor(y * n)) % 2).astype(np.float32)
    a, b = _palette(rng, 2)
    return _mix(np.broadcast_to(a, (size, size, 3)), b, t)


def _stripes(rng, size):
    n = int(rng.integers(1, 4))
    x, y = _grid(size)
    coord = [x, y, (x + y) % 1.0][int(rng.integers(3))]
    cols = _palette(rng, int(rng.integers(2, 4)))
    band = np.floor(coord * n * len(cols)).astype(int) % len(cols)
    return cols[band]


def _bricks(rng, size):
    rows = int(rng.choice([2, 4]))
    x, y = _grid(size)
    r = np.floor(y * rows)
    xs = (x * rows / 2 + 0.5 * (r % 2)) % 1.0
    ys = (y * rows) % 1.0
    mortar = (xs < 0.06) | (ys < 0.1)
    brick, mortar_c = _palette(rng, 2)
    shade = 0.75 + 0.25 * _fbm(rng, size, 4, 3)
    img = brick * shade[..., None]
    return np.where(mortar[..., None], mortar_c * 0.9, img)


def _planks(rng, size):
    n = int(rng.choice([2, 3]))
    x, y = _grid(size)
    noise = _fbm(rng, size, 2, 4)
    grain = 0.5 + 0.5 * np.sin((y * 8.0 + noise * 6.0) * np.pi)
    a, b = _palette(rng, 2)
    img = _mix(np.broadcast_to(a, (size, size, 3)), b * 0.8, grain * 0.6)
    gap = ((x * n) % 1.0) < 0.04
    return np.where(gap[..., None], img * 0.35, img)


def _tiles(rng, size):
    n = int(rng.choice([1, 2, 3]))
    x, y = _grid(size)
    cols = _palette(rng, 3)
    idx = rng.integers(0, 2, size=(n, n))
    cell = cols[idx[np.floor(y * n).astype(int) % n, np.floor(x * n).astype(int) % n]]
    grout = (((x * n) % 1.0) < 0.05) | (((y * n) % 1.0) < 0.05)
    return np.where(grout[..., None], cols[2], cell)


def _dots(rng, size):
    n = int(rng.choice([2, 3]))
    x, y = _grid(size)
    dx, dy = (x * n) % 1.0 - 0.5, (y * n) % 1.0 - 0.5
    inside = (dx * dx + dy * dy) < rng.uniform(0.05, 0.18)
    a, b = _palette(rng, 2)
    return np.where(inside[..., None], b, a)


def _marble(rng, size):
    x, y = _grid(size)
    noise = _fbm(rng, size, 2, 5)
    t = 0.5 + 0.5 * np.sin((x * 2.0 + noise * 3.0) * 2 * np.pi)
    a, b = _palette(rng, 2)
    return _mix(np.broadcast_to(a, (size, size, 3)), b, t)


def _noise(rng, size):
    a, b = _palette(rng, 2)
    return _mix(np.broadcast_to(a, (size, size, 3)), b, _fbm(rng, size, 2, 5))


_KINDS = {
    "checker": _checker,
    "stripes": _stripes,
    "bricks": _bricks,
    "planks": _planks,
    "tiles": _tiles,
    "dots": _dots,
    "marble": _marble,
    "noise": _noise,
}
TEXTURE_KINDS = tuple(_KINDS)


def random_texture(rng: np.random.Generator, size: int = 128, kind: str | None = None):
    """A seamless `(size, size, 3)` float32 texture in [0, 1] of `kind` (random if None;
    one of `TEXTURE_KINDS`), with random colours and scales."""
    if kind is None:
        kind = TEXTURE_KINDS[int(rng.integers(len(TEXTURE_KINDS)))]
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {TEXTURE_KINDS}, got {kind!r}")
    img = np.asarray(_KINDS[kind](rng, int(size)), np.float32)
    return np.clip(img, 0.0, 1.0)


def texture_atlas(tiles: list[np.ndarray], grid: int) -> np.ndarray:
    """Pack up to `grid**2` equal `(S, S, 3)` tiles row-major into a `(grid S, grid S, 3)` atlas
    (unused cells are grey)."""
    if not tiles or len(tiles) > grid * grid:
        raise ValueError(f"need 1 to {grid * grid} tiles, got {len(tiles)}")
    S = tiles[0].shape[0]
    atlas = np.full((grid * S, grid * S, 3), 0.5, np.float32)
    for t, tile in enumerate(tiles):
        if tile.shape != (S, S, 3):
            raise ValueError(f"tile {t} has shape {tile.shape}, expected {(S, S, 3)}")
        r, c = divmod(t, grid)
        atlas[r * S:(r + 1) * S, c * S:(c + 1) * S] = tile
    return atlas


def atlas_uvs(local_uv: np.ndarray, tile: int, grid: int, tile_size: int) -> np.ndarray:
    """Map tile-local UVs in [0, 1]^2 (u right, v up, PyTorch3D's convention) to atlas UVs of
    cell `tile` (row-major from the top-left), inset by one texel so bilinear sampling never
    reads a neighbouring tile."""
    r, c = divmod(int(tile), grid)
    inset = 1.0 / tile_size
    uv = inset + np.clip(np.asarray(local_uv, np.float32), 0.0, 1.0) * (1.0 - 2.0 * inset)
    u = (c + uv[..., 0]) / grid
    v = 1.0 - (r + 1.0 - uv[..., 1]) / grid
    return np.stack([u, v], -1).astype(np.float32)
