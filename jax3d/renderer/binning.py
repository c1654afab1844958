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
    "bin_extents_xy",
    "face_bin_rects",
    "bin_counts",
    "bin_entries",
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


def check_max_per_bin(value, name: str = "max_faces_per_bin") -> None:
    """``ValueError`` naming ``name`` unless ``value`` is None or a positive int (a bin
    capacity: ``max_faces_per_bin`` / ``max_points_per_bin``)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be None or a positive int, got {value!r}")


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


def default_bin_size(H: int, W: int, blur_radius: float = 0.0) -> int:
    """Bin edge in pixels used when ``bin_size=None`` (tuned on 2 CPU cores).

    Blurred (soft) rasterization grows every face's box, so bins hold more candidates; smaller
    bins keep the (pixels x candidates) fine step small (cow, 256x256, K=50: 8 px bins search
    about 1.5x faster than 16 px ones).
    """
    if max(H, W) <= 64 or blur_radius > 0.0:
        return 8
    return 16


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


def _bin_span(lo, hi, ext_lo, ext_hi):
    """First and last bin (along one axis, extents decreasing with index) overlapping [lo, hi]."""
    nbins = ext_lo.shape[0]
    last = (ext_hi[None, :] >= lo[:, None]).sum(-1) - 1
    first = nbins - (ext_lo[None, :] <= hi[:, None]).sum(-1)
    return first, last


def face_bin_rects(bbox, valid, extents_x, extents_y):
    """Rectangle of bins each primitive's box overlaps.

    Args:
        bbox: (F, 4) float32 ``[xmin, xmax, ymin, ymax]`` NDC boxes (already expanded).
        valid: (F,) bool.
        extents_x: (BX, 2) float32 ``[lo, hi]`` NDC x of the pixel centres of each bin column.
        extents_y: (BY, 2) float32, same for bin rows.

    Returns:
        bx0, by0: (F,) int32 first bin column / row; nbx, nby: (F,) int32 extents (0 if none).
    """
    bx0, bx1 = _bin_span(bbox[:, 0], bbox[:, 1], extents_x[:, 0], extents_x[:, 1])
    by0, by1 = _bin_span(bbox[:, 2], bbox[:, 3], extents_y[:, 0], extents_y[:, 1])
    nbx = jnp.where(valid, jnp.maximum(bx1 - bx0 + 1, 0), 0)
    nby = jnp.where(valid, jnp.maximum(by1 - by0 + 1, 0), 0)
    nbx = jnp.where(nby > 0, nbx, 0)
    nby = jnp.where(nbx > 0, nby, 0)
    return bx0.astype(jnp.int32), by0.astype(jnp.int32), nbx.astype(jnp.int32), nby.astype(
        jnp.int32
    )


def bin_counts(bbox, valid, extents_x, extents_y):
    """(NB,) int32 number of primitives overlapping each bin, and the (F,) bins per primitive."""
    bx0, by0, nbx, nby = face_bin_rects(bbox, valid, extents_x, extents_y)
    BX, BY = extents_x.shape[0], extents_y.shape[0]
    cols = jnp.arange(BX)
    rows = jnp.arange(BY)
    in_x = (cols[None] >= bx0[:, None]) & (cols[None] < (bx0 + nbx)[:, None])  # (F, BX)
    in_y = (rows[None] >= by0[:, None]) & (rows[None] < (by0 + nby)[:, None])  # (F, BY)
    counts = jnp.einsum("fy,fx->yx", in_y.astype(jnp.int32), in_x.astype(jnp.int32))
    return counts.reshape(BY * BX), nbx * nby


def bin_entries(bbox, valid, extents_x, extents_y, capacity: int):
    """Candidate lists of all bins as one flat list sorted by (bin, primitive).

    Args:
        bbox, valid, extents_x, extents_y: as :func:`face_bin_rects` (one image).
        capacity: static E, size of the flat list (total overlaps beyond it are dropped).

    Returns:
        sorted_ids: (E,) int32 primitive ids grouped by bin, increasing inside a bin.
        starts: (NB,) int32 offset of each bin's group; counts: (NB,) int32 group sizes.
        total: () int32 true number of (bin, primitive) overlaps (``> E`` means overflow).
    """
    F = bbox.shape[0]
    BX, BY = extents_x.shape[0], extents_y.shape[0]
    NB = BX * BY
    bx0, by0, nbx, nby = face_bin_rects(bbox, valid, extents_x, extents_y)
    per = nbx * nby
    ends = jnp.cumsum(per)
    total = ends[-1] if F else jnp.int32(0)
    e = jnp.arange(capacity, dtype=jnp.int32)
    f = jnp.minimum(jnp.searchsorted(ends, e, side="right"), max(F - 1, 0)).astype(jnp.int32)
    local = e - (ends[f] - per[f])
    nbx_f = jnp.maximum(nbx[f], 1)
    bin_id = (by0[f] + local // nbx_f) * BX + bx0[f] + local % nbx_f
    bin_id = jnp.where(e < total, bin_id, NB).astype(jnp.int32)
    sorted_bin, sorted_ids = jax.lax.sort((bin_id, f), num_keys=2)
    counts = jnp.zeros(NB + 1, jnp.int32).at[sorted_bin].add(1)[:NB]
    starts = jnp.cumsum(counts) - counts
    return sorted_ids, starts.astype(jnp.int32), counts, total.astype(jnp.int32)


def bin_extents_xy(H: int, W: int, bin_size: int):
    """(BX, 2) and (BY, 2) float32 ``[lo, hi]`` NDC extents of bin columns and rows."""
    by, bx = bin_grid(H, W, bin_size)
    xs, ys = pixel_centers_ndc(H, W)
    c0 = np.arange(bx) * bin_size
    c1 = np.minimum(c0 + bin_size, W) - 1
    r0 = np.arange(by) * bin_size
    r1 = np.minimum(r0 + bin_size, H) - 1
    return np.stack([xs[c1], xs[c0]], -1), np.stack([ys[r1], ys[r0]], -1)


def unbin_pixels(x, H: int, W: int, bin_size: int):
    """(N, NB, P, ...) per-bin pixel values -> (N, H, W, ...) image (padding cropped)."""
    by, bx = bin_grid(H, W, bin_size)
    N = x.shape[0]
    rest = x.shape[3:]
    x = x.reshape(N, by, bx, bin_size, bin_size, *rest)
    x = jnp.moveaxis(x, 3, 2).reshape(N, by * bin_size, bx * bin_size, *rest)
    return x[:, :H, :W]
