"""Pixel grids in NDC and coarse binning, shared by the mesh and the point rasterizers.

The image is cut into square bins of ``bin_size`` pixels. The coarse pass lists, for each bin,
the primitives (faces or points) whose expanded NDC bounding box overlaps the pixel centres of
that bin; the fine pass then tests only those candidates against the bin's pixels. Shapes stay
static: each bin holds at most ``max_per_bin`` candidates and the true counts are returned so
that overflow is always detected by the caller.

Conventions (PyTorch3D's): pixel ``(y=0, x=0)`` is the top-left of the image and has the largest
``+X`` and ``+Y`` NDC values; the shorter image side spans ``[-1, 1]``; pixel centres.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "parse_image_size",
    "non_square_ndc_range",
    "pixel_centers_ndc",
    "default_bin_size",
    "bin_grid",
    "bin_pixel_coords",
    "coarse_bins",
    "unbin_pixels",
]


def parse_image_size(image_size) -> tuple[int, int]:
    """``int`` or ``(H, W)`` -> ``(H, W)`` of positive Python ints, else ``ValueError``."""
    if isinstance(image_size, (int, np.integer)):
        size = (int(image_size), int(image_size))
    elif isinstance(image_size, (tuple, list)) and len(image_size) == 2:
        size = tuple(int(s) for s in image_size)
    else:
        raise ValueError(f"image_size must be an int or (H, W), got {image_size!r}")
    if min(size) <= 0:
        raise ValueError(f"image_size must be positive, got {image_size!r}")
    return size


def non_square_ndc_range(s1: int, s2: int) -> float:
    """NDC extent (2 for the shorter side) of an image side of ``s1`` pixels next to ``s2``."""
    return 2.0 * s1 / s2 if s1 > s2 else 2.0


def pixel_centers_ndc(H: int, W: int) -> tuple[np.ndarray, np.ndarray]:
    """NDC coordinates of pixel centres.

    Returns:
        xs: (W,) float32, ``xs[x]`` is the NDC x of column ``x`` (decreasing: +X is left).
        ys: (H,) float32, ``ys[y]`` is the NDC y of row ``y`` (decreasing: +Y is up).
    """

    def centres(s1, s2):
        rng = np.float32(non_square_ndc_range(s1, s2))
        half = rng / np.float32(2.0)
        idx = np.arange(s1 - 1, -1, -1, dtype=np.float32)  # flipped: pixel 0 is +extreme
        return (-half + (rng * idx + half) / np.float32(s1)).astype(np.float32)

    return centres(W, H), centres(H, W)


def default_bin_size(H: int, W: int) -> int:
    """Bin edge in pixels used when ``bin_size=None`` (tuned on 2 CPU cores)."""
    return 8 if max(H, W) <= 64 else 16


def bin_grid(H: int, W: int, bin_size: int) -> tuple[int, int]:
    """Number of bins ``(BY, BX)`` covering an ``(H, W)`` image."""
    return math.ceil(H / bin_size), math.ceil(W / bin_size)


def bin_pixel_coords(H: int, W: int, bin_size: int):
    """Pixel centres of every bin, padded to whole bins.

    Returns:
        px, py: (NB, P) float32 NDC coordinates of the ``P = bin_size**2`` pixels of each of the
            ``NB = BY * BX`` bins (row-major inside a bin; padding pixels outside the image get
            extrapolated coordinates and are dropped by :func:`unbin_pixels`).
        extents: (NB, 4) float32 ``[xlo, xhi, ylo, yhi]`` of the real pixel centres of each bin.
    """
    by, bx = bin_grid(H, W, bin_size)
    xs, ys = pixel_centers_ndc(H, W)
    step = np.float32(2.0 / min(H, W))
    xpad = np.concatenate([xs, xs[-1] - step * np.arange(1, bx * bin_size - W + 1)])
    ypad = np.concatenate([ys, ys[-1] - step * np.arange(1, by * bin_size - H + 1)])
    xb = xpad.astype(np.float32).reshape(bx, 1, bin_size)
    yb = ypad.astype(np.float32).reshape(by, bin_size, 1)
    px = np.broadcast_to(xb[None], (by, bx, bin_size, bin_size)).reshape(by * bx, -1)
    py = np.broadcast_to(yb[:, None], (by, bx, bin_size, bin_size)).reshape(by * bx, -1)
    c0 = np.arange(bx) * bin_size
    c1 = np.minimum(c0 + bin_size, W) - 1
    r0 = np.arange(by) * bin_size
    r1 = np.minimum(r0 + bin_size, H) - 1
    ext_x = np.stack([xs[c1], xs[c0]], -1)  # (BX, 2) lo, hi
    ext_y = np.stack([ys[r1], ys[r0]], -1)  # (BY, 2)
    extents = np.concatenate(
        [np.broadcast_to(ext_x[None], (by, bx, 2)), np.broadcast_to(ext_y[:, None], (by, bx, 2))],
        -1,
    ).reshape(by * bx, 4)
    return px, py, extents.astype(np.float32)


def coarse_bins(bbox, valid, extents, max_per_bin: int, chunk: int = 2048):
    """Candidate lists per bin from bounding-box overlap (order of primitives preserved).

    Args:
        bbox: (N, F, 4) float32 ``[xmin, xmax, ymin, ymax]`` NDC boxes (already expanded).
        valid: (N, F) bool, primitives that can be hit at all.
        extents: (NB, 4) float32 bin extents from :func:`bin_pixel_coords`.
        max_per_bin: static M, the capacity of each bin's list.
        chunk: static number of primitives tested per scan step (bounds memory to N*NB*chunk).

    Returns:
        bin_ids: (N, NB, M) int32, ``bin_ids[n, b, m] = f`` is the m-th candidate of bin b in
            increasing f, -1 padding; entries past M are dropped.
        counts: (N, NB) int32 true number of candidates (``> M`` means overflow).
    """
    N, F = valid.shape
    NB = extents.shape[0]
    M = max_per_bin
    chunk = max(1, min(chunk, F))
    n_chunks = -(-F // chunk)
    pad = n_chunks * chunk - F
    bbox = jnp.pad(bbox, ((0, 0), (0, pad), (0, 0)))
    valid = jnp.pad(valid, ((0, 0), (0, pad)))
    bbox_c = bbox.reshape(N, n_chunks, chunk, 4).transpose(1, 0, 2, 3)
    valid_c = valid.reshape(N, n_chunks, chunk).transpose(1, 0, 2)
    ext = jnp.asarray(extents)

    def step(carry, xs):
        ids, counts = carry
        bb, ok, c = xs
        ov = (
            ok[:, None, :]
            & (bb[:, None, :, 1] >= ext[None, :, None, 0])
            & (bb[:, None, :, 0] <= ext[None, :, None, 1])
            & (bb[:, None, :, 3] >= ext[None, :, None, 2])
            & (bb[:, None, :, 2] <= ext[None, :, None, 3])
        )  # (N, NB, chunk)
        pos = counts[..., None] + jnp.cumsum(ov, axis=-1, dtype=jnp.int32) - 1
        pos = jnp.where(ov, pos, M)
        fid = jnp.broadcast_to(c * chunk + jnp.arange(chunk, dtype=jnp.int32), pos.shape)
        put = jax.vmap(jax.vmap(lambda row, p, v: row.at[p].set(v, mode="drop")))
        ids = put(ids, pos, fid)
        return (ids, counts + ov.sum(-1, dtype=jnp.int32)), None

    init = (jnp.full((N, NB, M), -1, jnp.int32), jnp.zeros((N, NB), jnp.int32))
    (ids, counts), _ = jax.lax.scan(
        step, init, (bbox_c, valid_c, jnp.arange(n_chunks, dtype=jnp.int32))
    )
    return ids, counts


def unbin_pixels(x, H: int, W: int, bin_size: int):
    """(N, NB, P, ...) per-bin pixel values -> (N, H, W, ...) image (padding cropped)."""
    by, bx = bin_grid(H, W, bin_size)
    N = x.shape[0]
    rest = x.shape[3:]
    x = x.reshape(N, by, bx, bin_size, bin_size, *rest)
    x = jnp.moveaxis(x, 3, 2).reshape(N, by * bin_size, bx * bin_size, *rest)
    return x[:, :H, :W]
