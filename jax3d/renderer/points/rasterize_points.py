"""Differentiable coarse-to-fine point rasterization with PyTorch3D's semantics.

Same design as the mesh rasterizer: a non-differentiable binned SEARCH for the K nearest (in
z) points whose disc of radius r covers each pixel centre, then a differentiable RECOMPUTE of
``zbuf`` and the squared NDC distances from the gathered points.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.renderer.binned_search import (
    RasterPlan,
    binned_search,
    map_fine,
    plan_search,
    warn_overflow,
)
from jax3d.renderer.binning import (
    bin_counts,
    bin_extents_xy,
    check_max_per_bin,
    default_bin_size,
    parse_image_size,
    pixel_centers_ndc,
)
from jax3d.validation import is_traced

__all__ = ["rasterize_points", "rasterize_points_padded", "plan_points_rasterization"]


def points_bin_keys(px, py, cand, cand_ids):
    """Depth keys of every (pixel, candidate) pair of one bin.

    Args:
        px, py: (P,) float32 pixel centres; cand: (M, 5) ``[x, y, z, r, ok]``; cand_ids: (M,).

    Returns:
        key: (P, M) float32 z where the point's disc covers the pixel centre, +inf otherwise;
        ids: (P, M) int32 point ids.
    """
    x, y, z, r, ok = (cand[None, :, i] for i in range(5))
    d2 = (px[:, None] - x) ** 2 + (py[:, None] - y) ** 2
    keep = (ok > 0) & (z >= 0) & (d2 < r * r) & (cand_ids[None, :] >= 0)
    key = jnp.where(keep, z, jnp.inf)
    return key, jnp.broadcast_to(cand_ids[None, :], key.shape).astype(jnp.int32)


def fine_points_bin(px, py, cand, cand_ids, *, points_per_pixel):
    """Nearest K covering points for the P pixels of one bin.

    Args:
        px, py: (P,) float32 pixel centres; cand: (M, 5) ``[x, y, z, r, ok]``; cand_ids: (M,).

    Returns:
        (P, K) int32 point ids sorted by z (ties: lower id), -1 when empty.
    """
    key, ids = points_bin_keys(px, py, cand, cand_ids)
    k = min(points_per_pixel, key.shape[1])
    if k == 1:
        j = jnp.argmin(key, axis=1)[:, None]
        val = jnp.take_along_axis(key, j, axis=1)
    else:
        neg, j = jax.lax.top_k(-key, k)
        val = -neg
    out = jnp.where(jnp.isfinite(val), jnp.take_along_axis(ids, j, axis=1), -1)
    pad = points_per_pixel - out.shape[1]
    return jnp.pad(out, ((0, 0), (0, pad)), constant_values=-1).astype(jnp.int32)


def _point_table(points, num_points, radius):
    """(N, P, 5) table ``[x, y, z, r, ok]`` and (N, P, 4) boxes."""
    P = points.shape[1]
    ok = (jnp.arange(P)[None, :] < num_points[:, None]) & (points[..., 2] >= 0)
    pts = jax.lax.stop_gradient(points)
    r = jnp.broadcast_to(jax.lax.stop_gradient(radius), ok.shape)
    table = jnp.concatenate([pts, r[..., None], ok[..., None].astype(pts.dtype)], -1)
    bbox = jnp.stack([pts[..., 0] - r, pts[..., 0] + r, pts[..., 1] - r, pts[..., 1] + r], -1)
    return table, bbox, ok


_STATIC = ("image_size", "points_per_pixel", "plan")


@functools.partial(jax.jit, static_argnames=_STATIC)
def _rasterize_points_core(points, num_points, radius, *, image_size, points_per_pixel, plan):
    """The one path, eagerly and under ``jit``: the search sized by ``plan`` (no gradient),
    then zbuf and distances recomputed from the points found (differentiable); plus the
    search's overflow report (the caller warns: no host callback in the compiled core)."""
    N, P = points.shape[:2]
    H, W = image_size
    table, bbox, ok = _point_table(points, num_points, radius)
    run = functools.partial(map_fine, functools.partial(fine_points_bin,
                                                        points_per_pixel=points_per_pixel))
    idx, report = binned_search(table, bbox, ok, image_size, plan, points_per_pixel, run,
                                points_bin_keys)
    idx = jax.lax.stop_gradient(idx)
    hit = idx >= 0
    pts = jax.vmap(lambda p, i: p[i])(points, jnp.maximum(idx, 0))  # (N, H, W, K, 3)
    xs, ys = pixel_centers_ndc(H, W)
    d2 = (pts[..., 0] - jnp.asarray(xs)[None, None, :, None]) ** 2 + (
        pts[..., 1] - jnp.asarray(ys)[None, :, None, None]
    ) ** 2
    first = jnp.cumsum(num_points) - num_points
    packed = jnp.where(hit, idx + first[:, None, None, None], -1).astype(jnp.int32)
    return packed, jnp.where(hit, pts[..., 2], -1.0), jnp.where(hit, d2, -1.0), report


@functools.partial(jax.jit, static_argnames=("image_size", "bin_size"))
def _point_counts(points, num_points, radius, *, image_size, bin_size):
    _, bbox, ok = _point_table(points, num_points, radius)
    ext_x, ext_y = (jnp.asarray(a) for a in bin_extents_xy(*image_size, bin_size))
    counts, per = jax.vmap(lambda b, o: bin_counts(b, o, ext_x, ext_y))(bbox, ok)
    return counts, per.sum(-1)


def check_radius(radius) -> None:
    """``ValueError`` unless every value of ``radius`` (a scalar or an array) is >= 0 (NaN
    fails too). A traced radius (under ``jit``) cannot be inspected and is not checked."""
    if not isinstance(radius, (int, float, list, tuple, np.ndarray, np.generic, jax.Array)):
        return  # e.g. a placeholder leaf while JAX rebuilds settings from their pytree
    if any(isinstance(r, jax.core.Tracer) for r in jax.tree.leaves(radius)):
        return
    try:
        r = np.asarray(radius, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"radius must be a float or an array of floats, got {radius!r}") from err
    if not np.all(r >= 0.0):
        bad = r[~(r >= 0.0)].ravel()[0] if r.ndim else r
        raise ValueError(f"radius must be >= 0 (an NDC disc radius), got {bad!r}")


def _parse_radius(radius, N, P):
    r = jnp.asarray(radius, jnp.float32)
    if r.ndim == 0:
        return jnp.broadcast_to(r, (N, P))
    if r.shape == (N, P):
        return r
    raise ValueError(f"radius must be a scalar or (N, P) = ({N}, {P}), got {r.shape}")


def plan_points_rasterization(points, num_points, image_size=256, radius=0.01,
                              bin_size: int | None = None,
                              max_points_per_bin: int | None = None) -> RasterPlan:
    """The :class:`RasterPlan` of a point rasterization: from the true bin counts when the
    points, lengths and radius are concrete, from the settings under ``jit`` / ``vmap``
    (:func:`jax3d.renderer.binned_search.plan_search`). The only place where the two differ.

    Args:
        points: (N, P, 3) float32; num_points: (N,) int; radius: scalar or (N, P) float32;
            the rest as :func:`rasterize_points`.
    """
    points = jnp.asarray(points, jnp.float32)
    num_points = jnp.asarray(num_points).astype(jnp.int32)
    N, P = points.shape[:2]
    H, W = parse_image_size(image_size)
    bs = default_bin_size(H, W) if bin_size is None else (bin_size or max(H, W))
    radius = _parse_radius(radius, N, P)
    primal = jax.lax.stop_gradient((points, num_points, radius))
    common = dict(num_primitives=P, batch=N, image_size=(H, W), bin_size=int(bs),
                  max_per_bin=max_points_per_bin, name="max_points_per_bin")
    if any(is_traced(x) for x in primal):
        return plan_search(None, None, **common)
    counts, totals = _point_counts(*primal, image_size=(H, W), bin_size=int(bs))
    return plan_search(counts, totals, **common)


def rasterize_points_padded(points, num_points, image_size=256, radius=0.01,
                            points_per_pixel: int = 8, bin_size: int | None = None,
                            max_points_per_bin: int | None = None, *,
                            plan: RasterPlan | None = None):
    """Rasterize padded NDC point clouds (array-level core of :func:`rasterize_points`).

    Args:
        points: (N, P, 3) float32 NDC x, y and view depth z; rows ``p >= num_points[n]`` ignored.
        num_points: (N,) int.
        radius: scalar or (N, P) float32 NDC disc radius per point, >= 0 (checked when
            concrete; ValueError).
        plan: None (computed by :func:`plan_points_rasterization`) or a
            :class:`~jax3d.renderer.binned_search.RasterPlan` for the same image and batch
            (e.g. computed eagerly, reused under ``jit``); its ``bin_size`` replaces
            ``bin_size``. A plan too small for the data still gives exact results (and a
            warning).
        Others as :func:`rasterize_points`.
    """
    points = jnp.asarray(points)
    if points.ndim != 3 or points.shape[-1] != 3:
        raise ValueError(f"points must be (N, P, 3), got {points.shape}")
    num_points = jnp.asarray(num_points).astype(jnp.int32)
    N, P = points.shape[:2]
    if num_points.shape != (N,):
        raise ValueError(f"num_points must be ({N},), got {num_points.shape}")
    if not isinstance(points_per_pixel, (int, np.integer)) or points_per_pixel < 1:
        raise ValueError(f"points_per_pixel must be a positive int, got {points_per_pixel!r}")
    check_max_per_bin(max_points_per_bin, "max_points_per_bin")
    check_radius(radius)
    H, W = parse_image_size(image_size)
    radius = _parse_radius(radius, N, P)
    points = points.astype(jnp.float32)
    if P == 0:
        neg = -jnp.ones((N, H, W, points_per_pixel), jnp.float32)
        return neg.astype(jnp.int32), neg, neg
    if plan is None:
        plan = plan_points_rasterization(points, num_points, (H, W), radius, bin_size,
                                         max_points_per_bin)
    elif not isinstance(plan, RasterPlan):
        raise TypeError(f"plan must be a RasterPlan or None, got {type(plan)}")
    else:
        plan.check((H, W), N)
    *fragments, report = _rasterize_points_core(points, num_points, radius, image_size=(H, W),
                                                points_per_pixel=int(points_per_pixel),
                                                plan=plan)  # fmt: skip
    warn_overflow(report, plan)  # eagerly in Python: the compiled core has no callback
    return tuple(fragments)


def rasterize_points(pointclouds, image_size=256, radius=0.01, points_per_pixel: int = 8,
                     bin_size: int | None = None, max_points_per_bin: int | None = None):
    """Rasterize point clouds whose points are already in NDC (PyTorch3D semantics).

    Args:
        pointclouds: ``Pointclouds`` of N clouds, x, y in NDC (+X left, +Y up, shorter image
            side spanning [-1, 1]) and z the view depth (points with z < 0 are skipped).
        image_size: int or (H, W).
        radius: NDC disc radius >= 0 (ValueError when concrete and negative): a scalar, or
            per point (P_packed,) or padded (N, P).
        points_per_pixel: K, the nearest points kept per pixel.
        bin_size: bin edge in pixels (0: one bin); max_points_per_bin: capacity used under
            ``jit`` (eagerly it comes from the true counts; overflow falls back to all points).

    Returns:
        idx: (N, H, W, K) int32 packed point index (``cloud_to_packed_first_idx[n] + p``) of
            the k-th nearest point covering pixel (y, x), -1 where fewer points cover it.
        zbuf: (N, H, W, K) float32 z of those points, -1 where empty.
        dists: (N, H, W, K) float32 squared NDC distance from pixel centre to point, -1 where
            empty.
    """
    points = pointclouds.points_padded()
    num_points = pointclouds.num_points_per_cloud()
    r = jnp.asarray(radius, jnp.float32)
    if r.ndim == 1:  # packed per-point radius -> padded
        N, P = points.shape[:2]
        if not is_traced(num_points) and r.shape[0] != int(np.asarray(num_points).sum()):
            raise ValueError(f"packed radius must be (P_packed,), got {r.shape}")
        first = jnp.cumsum(num_points) - num_points
        pos = jnp.clip(first[:, None] + jnp.arange(P)[None], 0, r.shape[0] - 1)
        r = jnp.where(jnp.arange(P)[None] < num_points[:, None], r[pos], 0.0)
    return rasterize_points_padded(points, num_points, image_size, r, points_per_pixel,
                                   bin_size, max_points_per_bin)
