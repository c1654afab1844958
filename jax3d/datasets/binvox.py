"""Reading and writing binvox voxel files (ShapeNet's `model.binvox` / `.presolid.binvox`).

The format: five ASCII header lines (`#binvox 1`, `dim D D D`, `translate tx ty tz`,
`scale s`, `data`) then run-length pairs of bytes `(value, count)`, value 0 or 1, count 1..255,
covering the D^3 voxels with the x index slowest, then z, then y (binvox's order). Files are
untrusted: the reader refuses non-regular files, files above `max_bytes`, grids above
`max_dim`, malformed headers and runs that do not cover the grid exactly, naming the file.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

from jax3d.io.files import read_limited

__all__ = ["Binvox", "read_binvox", "write_binvox"]

MAX_BINVOX_BYTES = 64 << 20  # a 256^3 grid of alternating voxels needs 32 MiB
MAX_BINVOX_DIM = 512


class Binvox(NamedTuple):
    """A binvox grid.

    occupancy: (D, D, D) bool indexed [z, y, x] (jax3d's voxel order).
    translate: (3,) float64; scale: float. binvox maps voxel (x, y, z) to the model's
        coordinates `translate + scale * (index + 0.5) / D`.
    """

    occupancy: np.ndarray
    translate: np.ndarray
    scale: float

    def coords(self) -> np.ndarray:
        """(N, 3) int64 (x, y, z) indices of the occupied voxels in binvox's storage order
        (Mesh R-CNN's `read_binvox_coords`)."""
        D = self.occupancy.shape[0]
        flat = np.flatnonzero(self.occupancy.transpose(2, 0, 1))  # x slowest, then z, then y
        x, rest = np.divmod(flat, D * D)
        z, y = np.divmod(rest, D)
        return np.stack([x, y, z], -1)


def _header(data: bytes, path: str, max_dim: int):
    """(D, translate, scale, offset of the data) from the five header lines."""
    pos = 0

    def line(n: int, what: str) -> bytes:
        nonlocal pos
        end = data.find(b"\n", pos, pos + 256)
        if end < 0:
            raise ValueError(f"{path}, header line {n}: expected {what}, got end of file")
        text, pos = data[pos:end].strip(), end + 1
        return text

    def numbers(text: bytes, key: bytes, n: int, cast) -> list | None:
        parts = text.split()
        if len(parts) != n + 1 or parts[0] != key:
            return None
        try:
            values = [cast(v) for v in parts[1:]]
        except ValueError:
            return None
        return values if np.all(np.isfinite(values)) else None

    def fail(n: int, what: str, text: bytes):
        raise ValueError(f"{path}, header line {n}: expected {what}, got {text[:40]!r}")

    if (text := line(1, "'#binvox 1'")) != b"#binvox 1":
        fail(1, "'#binvox 1'", text)
    d = numbers(text := line(2, "'dim D D D'"), b"dim", 3, int)
    if d is None or len(set(d)) != 1 or not 1 <= d[0] <= max_dim:
        fail(2, f"'dim D D D' with equal D in [1, {max_dim}]", text)
    t = numbers(text := line(3, "'translate tx ty tz'"), b"translate", 3, float)
    if t is None:
        fail(3, "'translate tx ty tz'", text)
    s = numbers(text := line(4, "'scale s'"), b"scale", 1, float)
    if s is None:
        fail(4, "'scale s'", text)
    if (text := line(5, "'data'")) != b"data":
        fail(5, "'data'", text)
    return d[0], np.array(t, np.float64), s[0], pos


def read_binvox(
    path, *, max_bytes: int = MAX_BINVOX_BYTES, max_dim: int = MAX_BINVOX_DIM
) -> Binvox:
    """Read a binvox file.

    Args:
        path: the file.
        max_bytes: refuse larger files.
        max_dim: refuse grids with more than `max_dim` voxels per side.

    Returns:
        `Binvox(occupancy (D, D, D) bool [z, y, x], translate (3,), scale)`.

    Raises:
        ValueError: naming the file and the problem (not a regular file, too large, bad
            header, bad run values, runs not covering exactly D^3 voxels).
        OSError: the file cannot be opened.
    """
    path = os.fspath(path)
    data = read_limited(path, max_bytes=max_bytes, what="binvox file")
    D, translate, scale, start = _header(data, path, max_dim)
    runs = np.frombuffer(data, np.uint8, offset=start)
    if len(runs) % 2:
        raise ValueError(f"{path}: binvox data has an odd number of bytes ({len(runs)})")
    values, counts = runs[0::2], runs[1::2].astype(np.int64)
    if np.any(values > 1):
        pos = start + 2 * int(np.argmax(values > 1))
        raise ValueError(f"{path}, byte {pos}: binvox run value {values.max()} is not 0 or 1")
    if np.any(counts == 0):
        pos = start + 2 * int(np.argmax(counts == 0)) + 1
        raise ValueError(f"{path}, byte {pos}: binvox run of length 0")
    total = int(counts.sum())
    if total != D**3:
        raise ValueError(f"{path}: binvox runs cover {total} voxels, the grid has {D**3}")
    flat = np.repeat(values.astype(bool), counts)  # x slowest, then z, then y
    occupancy = flat.reshape(D, D, D).transpose(1, 2, 0)  # [x, z, y] -> [z, y, x]
    return Binvox(np.ascontiguousarray(occupancy), translate, float(scale))


def write_binvox(path, occupancy, translate=(0.0, 0.0, 0.0), scale: float = 1.0) -> None:
    """Write a cubic occupancy grid `(D, D, D)` indexed [z, y, x] as a binvox file."""
    occ = np.asarray(occupancy).astype(bool)
    if occ.ndim != 3 or len(set(occ.shape)) != 1:
        raise ValueError(f"occupancy must be (D, D, D), got {occ.shape}")
    D = occ.shape[0]
    flat = occ.transpose(2, 0, 1).reshape(-1)  # [z, y, x] -> [x, z, y]
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    starts = np.concatenate([[0], change])
    lengths = np.diff(np.concatenate([starts, [flat.size]]))
    pairs = []
    for s, n in zip(starts, lengths):
        full, rest = divmod(int(n), 255)
        pairs += [(int(flat[s]), 255)] * full + ([(int(flat[s]), rest)] if rest else [])
    t = " ".join(repr(float(v)) for v in np.asarray(translate, np.float64).reshape(3))
    header = f"#binvox 1\ndim {D} {D} {D}\ntranslate {t}\nscale {float(scale)!r}\ndata\n"
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(np.asarray(pairs, np.uint8).tobytes())
