"""Ray samplers: which rays to cast from a batch of cameras, and at which depths to sample them.

PyTorch3D's conventions: a ray is defined by the NDC point ``xy`` it passes through; its origin
and direction come from unprojecting ``xy`` at depths 1 and 2 (``direction = p2 - p1``,
``origin = p1 - direction``, the camera centre for perspective cameras), so ``lengths`` are view
depths when the directions are not normalised. Samplers are frozen dataclasses of static
settings; random ones take a ``jax.random`` ``key``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jax3d.renderer.implicit.raybundle import HeterogeneousRayBundle, RayBundle

__all__ = [
    "GridRaysampler",
    "MonteCarloRaysampler",
    "MultinomialRaysampler",
    "NDCGridRaysampler",
    "NDCMultinomialRaysampler",
    "jiggle_within_stratas",
    "xy_to_ray_bundle",
]


def jiggle_within_stratas(key: jax.Array, bin_centers: jax.Array) -> jax.Array:
    """Stratified sampling: one uniform sample in each stratum around ``bin_centers``.

    The stratum of centre ``s`` spans the midpoints to its neighbours (the first and last
    strata end at the first and last centres). ``bin_centers: (..., S)`` -> ``(..., S)``.
    """
    mids = 0.5 * (bin_centers[..., 1:] + bin_centers[..., :-1])
    upper = jnp.concatenate([mids, bin_centers[..., -1:]], axis=-1)
    lower = jnp.concatenate([bin_centers[..., :1], mids], axis=-1)
    u = jax.random.uniform(key, lower.shape, lower.dtype)
    return lower + (upper - lower) * u


def xy_to_ray_bundle(cameras, xy_grid: jax.Array, min_depth: float, max_depth: float,
                     n_pts_per_ray: int, *, unit_directions: bool = False,
                     stratified_key: jax.Array | None = None) -> RayBundle:
    """Rays through the NDC points ``xy_grid: (B, ..., 2)`` of ``cameras`` (batch ``B``).

    Returns a ``RayBundle`` with ``origins``/``directions`` ``(B, ..., 3)``, ``lengths``
    ``(B, ..., n_pts_per_ray)`` = ``linspace(min_depth, max_depth)`` (jiggled within strata
    when ``stratified_key`` is given) and ``xys = xy_grid``.
    """
    b, spatial = xy_grid.shape[0], xy_grid.shape[1:-1]
    xy = xy_grid.reshape(b, -1, 2).astype(jnp.float32)
    r = xy.shape[1]
    depth = jnp.concatenate([jnp.ones((b, r, 1)), jnp.full((b, r, 1), 2.0)], axis=1)
    to_unproject = jnp.concatenate([jnp.concatenate([xy, xy], axis=1), depth], axis=-1)
    world = cameras.unproject_points(to_unproject, world_coordinates=True, from_ndc=True)
    plane1, plane2 = world[:, :r], world[:, r:]
    directions = plane2 - plane1
    origins = plane1 - directions
    if unit_directions:
        norm = jnp.linalg.norm(directions, axis=-1, keepdims=True)
        directions = directions / jnp.maximum(norm, 1e-12)
    depths = jnp.linspace(min_depth, max_depth, n_pts_per_ray, dtype=jnp.float32)
    lengths = jnp.broadcast_to(depths, (b, r, n_pts_per_ray))
    if stratified_key is not None and n_pts_per_ray > 1:
        lengths = jiggle_within_stratas(stratified_key, lengths)
    return RayBundle(
        origins=origins.reshape(b, *spatial, 3),
        directions=directions.reshape(b, *spatial, 3),
        lengths=lengths.reshape(b, *spatial, n_pts_per_ray),
        xys=xy_grid.astype(jnp.float32),
    )


def _check_cameras(cameras) -> int:
    if not hasattr(cameras, "unproject_points") or not hasattr(cameras, "R"):
        raise TypeError(f"cameras must be a jax3d camera batch, got {type(cameras).__name__}")
    return int(cameras.R.shape[0])


def _check_depths(min_depth, max_depth, n_pts_per_ray) -> None:
    if not isinstance(n_pts_per_ray, int) or n_pts_per_ray < 1:
        raise ValueError(f"n_pts_per_ray must be an int >= 1, got {n_pts_per_ray!r}")
    if not float(min_depth) <= float(max_depth):
        raise ValueError(f"min_depth ({min_depth}) must be <= max_depth ({max_depth})")


def _need_key(key, what: str) -> jax.Array:
    if key is None:
        raise ValueError(f"{what} is random: pass key=jax.random.key(...)")
    return key


def _heterogeneous(key, cameras, n_rays_total: int, sample) -> HeterogeneousRayBundle:
    """PyTorch3D's ``n_rays_total``: ``n_rays_total`` rays from cameras drawn uniformly with
    replacement. ``sample(camera_ids, n_rays, key)`` casts ``n_rays`` rays from each listed
    camera; each camera keeps as many as it was drawn. Eager only (the per-camera counts are
    data-dependent).

    Returns:
      ``HeterogeneousRayBundle`` with rays ``(n_rays_total, 1, ...)`` grouped by camera, and
      ``camera_ids`` / ``camera_counts`` ``(C,) int32``.
    """
    if not isinstance(n_rays_total, int) or n_rays_total < 1:
        raise ValueError(f"n_rays_total must be an int >= 1, got {n_rays_total!r}")
    k_ids, k_rays = jax.random.split(_need_key(key, "n_rays_total sampling"))
    ids = np.asarray(jax.random.randint(k_ids, (n_rays_total,), 0, _check_cameras(cameras)))
    unique, counts = np.unique(ids, return_counts=True)
    most = int(counts.max())
    bundle = sample(unique, most, k_rays)
    keep = np.concatenate([i * most + np.arange(c) for i, c in enumerate(counts)])

    def pack(x):
        return x.reshape(len(unique) * most, *x.shape[2:])[keep][:, None]

    return HeterogeneousRayBundle(
        origins=pack(bundle.origins), directions=pack(bundle.directions),
        lengths=pack(bundle.lengths), xys=pack(bundle.xys),
        camera_ids=jnp.asarray(unique, jnp.int32), camera_counts=jnp.asarray(counts, jnp.int32),
    )


def _select_rays(key: jax.Array, xy_grid: jax.Array, n_rays: int, mask) -> jax.Array:
    """``(B, H, W, 2)`` -> ``(B, n_rays, 2)``: a random subset without replacement, each image
    independently, pixels weighted by ``mask: (B, H, W)`` (PyTorch3D's multinomial sampling)."""
    b = xy_grid.shape[0]
    flat = xy_grid.reshape(b, -1, 2)
    if n_rays > flat.shape[1]:
        raise ValueError(f"n_rays_per_image ({n_rays}) exceeds the {flat.shape[1]} pixels")
    if mask is None:
        weights = jnp.ones(flat.shape[:2], jnp.float32)
    else:
        mask = jnp.asarray(mask, jnp.float32)
        if mask.shape != xy_grid.shape[:-1]:
            raise ValueError(f"mask must be {xy_grid.shape[:-1]}, got {mask.shape}")
        weights = mask.reshape(b, -1) + 1e-12  # an all-zero mask falls back to uniform

    def one(k, w, xy):
        idx = jax.random.choice(k, w.shape[0], (n_rays,), replace=False, p=w / jnp.sum(w))
        return xy[idx]

    return jax.vmap(one)(jax.random.split(key, b), weights, flat)


@struct.dataclass
class MultinomialRaysampler:
    """Rays through a regular ``image_height x image_width`` grid of NDC points.

    ``xys[b, i, j] = (x_j, y_i)`` with ``x = linspace(max_x, min_x, image_width)`` and
    ``y = linspace(max_y, min_y, image_height)`` (PyTorch3D's ordering); every ray has
    ``n_pts_per_ray`` depths ``linspace(min_depth, max_depth)``, jiggled within their strata
    when ``stratified_sampling``. With ``n_rays_per_image`` a random subset of the grid is cast
    per camera (``xys (B, n_rays_per_image, 2)``); with ``n_rays_total`` that many rays in
    all, from cameras drawn with replacement (a ``HeterogeneousRayBundle``, eager only). All
    settings are static.

    Call: ``raysampler(cameras, key=None, *, mask=None, min_depth=None, max_depth=None,
    n_rays_per_image=None, n_pts_per_ray=None, stratified_sampling=None, n_rays_total=None)
    -> RayBundle`` with ``origins (B, H, W, 3)``, ``lengths (B, H, W, S)`` (or
    ``(B, R, ...)`` for a subset); the keyword values override the settings for this call;
    ``mask: (B, H, W)`` weights the random subset. ``key`` is needed when sampling is random.
    """

    min_x: float = struct.field(pytree_node=False)
    max_x: float = struct.field(pytree_node=False)
    min_y: float = struct.field(pytree_node=False)
    max_y: float = struct.field(pytree_node=False)
    image_width: int = struct.field(pytree_node=False)
    image_height: int = struct.field(pytree_node=False)
    n_pts_per_ray: int = struct.field(pytree_node=False)
    min_depth: float = struct.field(pytree_node=False)
    max_depth: float = struct.field(pytree_node=False)
    n_rays_per_image: int | None = struct.field(pytree_node=False, default=None)
    n_rays_total: int | None = struct.field(pytree_node=False, default=None)
    unit_directions: bool = struct.field(pytree_node=False, default=False)
    stratified_sampling: bool = struct.field(pytree_node=False, default=False)

    def __post_init__(self):
        if self.n_rays_per_image is not None and self.n_rays_total is not None:
            raise ValueError("n_rays_per_image and n_rays_total cannot both be set")
        for name in ("image_width", "image_height"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        _check_depths(self.min_depth, self.max_depth, self.n_pts_per_ray)

    def xy_grid(self) -> jax.Array:
        """``(image_height, image_width, 2) float32`` NDC ``(x, y)`` of the grid's rays."""
        y = jnp.linspace(self.max_y, self.min_y, self.image_height, dtype=jnp.float32)
        x = jnp.linspace(self.max_x, self.min_x, self.image_width, dtype=jnp.float32)
        yy, xx = jnp.meshgrid(y, x, indexing="ij")
        return jnp.stack([xx, yy], axis=-1)

    def __call__(self, cameras, key=None, *, mask=None, min_depth=None, max_depth=None,
                 n_rays_per_image=None, n_pts_per_ray=None, stratified_sampling=None,
                 n_rays_total=None, **kwargs) -> RayBundle | HeterogeneousRayBundle:
        b = _check_cameras(cameras)
        min_depth = self.min_depth if min_depth is None else min_depth
        max_depth = self.max_depth if max_depth is None else max_depth
        n_pts = self.n_pts_per_ray if n_pts_per_ray is None else n_pts_per_ray
        n_rays = self.n_rays_per_image if n_rays_per_image is None else n_rays_per_image
        strat = self.stratified_sampling if stratified_sampling is None else stratified_sampling
        n_total = self.n_rays_total if n_rays_total is None else n_rays_total
        if n_total:
            if n_rays is not None:
                raise ValueError("n_rays_per_image and n_rays_total cannot both be set")

            def sample(ids, m, k):
                return self(cameras[ids], k, mask=None if mask is None else jnp.asarray(mask)[ids],
                            min_depth=min_depth, max_depth=max_depth, n_rays_per_image=m,
                            n_pts_per_ray=n_pts, stratified_sampling=strat, n_rays_total=0)

            return _heterogeneous(key, cameras, n_total, sample)
        _check_depths(min_depth, max_depth, n_pts)
        xy = jnp.broadcast_to(self.xy_grid(), (b, self.image_height, self.image_width, 2))
        key_rays = key_strat = None
        if n_rays is not None or mask is not None or strat:
            key_rays, key_strat = jax.random.split(_need_key(key, "ray subsampling"))
        if n_rays is not None or mask is not None:
            n = self.image_height * self.image_width if n_rays is None else n_rays
            xy = _select_rays(key_rays, xy, n, mask)
        return xy_to_ray_bundle(cameras, xy, min_depth, max_depth, n_pts,
                                unit_directions=self.unit_directions,
                                stratified_key=key_strat if strat else None)


def NDCMultinomialRaysampler(image_width: int, image_height: int, n_pts_per_ray: int,
                             min_depth: float, max_depth: float, *,
                             n_rays_per_image: int | None = None, n_rays_total: int | None = None,
                             unit_directions: bool = False,
                             stratified_sampling: bool = False) -> MultinomialRaysampler:
    """A ``MultinomialRaysampler`` whose rays pass through the pixel centres of an
    ``image_height x image_width`` image in NDC (the shorter side spans ``[-1, 1]``; +X left,
    +Y up, so ``xys[:, 0, 0]`` is the top-left pixel at positive x and y). The keyword
    arguments are the other ``MultinomialRaysampler`` settings."""
    if not isinstance(image_width, int) or not isinstance(image_height, int):
        raise ValueError(f"image_width and image_height must be ints, got {image_width!r}, "
                         f"{image_height!r}")
    range_x = max(image_width / image_height, 1.0)
    range_y = max(image_height / image_width, 1.0)
    half_w, half_h = range_x / image_width, range_y / image_height
    return MultinomialRaysampler(
        min_x=-range_x + half_w, max_x=range_x - half_w,
        min_y=-range_y + half_h, max_y=range_y - half_h,
        image_width=image_width, image_height=image_height, n_pts_per_ray=n_pts_per_ray,
        min_depth=min_depth, max_depth=max_depth, n_rays_per_image=n_rays_per_image,
        n_rays_total=n_rays_total, unit_directions=unit_directions,
        stratified_sampling=stratified_sampling,
    )


GridRaysampler = MultinomialRaysampler
NDCGridRaysampler = NDCMultinomialRaysampler


@struct.dataclass
class MonteCarloRaysampler:
    """``n_rays_per_image`` rays per camera through uniformly random NDC points of
    ``[min_x, max_x] x [min_y, max_y]``, each with ``n_pts_per_ray`` depths in
    ``[min_depth, max_depth]``. Call ``raysampler(cameras, key) -> RayBundle`` with
    ``origins (B, R, 3)``, ``lengths (B, R, S)``, ``xys (B, R, 2)``; with ``n_rays_total``,
    that many rays in all from cameras drawn with replacement (a ``HeterogeneousRayBundle``,
    eager only). Settings are static."""

    min_x: float = struct.field(pytree_node=False)
    max_x: float = struct.field(pytree_node=False)
    min_y: float = struct.field(pytree_node=False)
    max_y: float = struct.field(pytree_node=False)
    n_rays_per_image: int = struct.field(pytree_node=False)
    n_pts_per_ray: int = struct.field(pytree_node=False)
    min_depth: float = struct.field(pytree_node=False)
    max_depth: float = struct.field(pytree_node=False)
    n_rays_total: int | None = struct.field(pytree_node=False, default=None)
    unit_directions: bool = struct.field(pytree_node=False, default=False)
    stratified_sampling: bool = struct.field(pytree_node=False, default=False)

    def __post_init__(self):
        if not isinstance(self.n_rays_per_image, int) or self.n_rays_per_image < 1:
            raise ValueError(f"n_rays_per_image must be an int >= 1, got "
                             f"{self.n_rays_per_image!r}")
        _check_depths(self.min_depth, self.max_depth, self.n_pts_per_ray)

    def __call__(self, cameras, key=None, *, stratified_sampling=None, n_rays_total=None,
                 **kwargs) -> RayBundle | HeterogeneousRayBundle:
        b = _check_cameras(cameras)
        n_total = self.n_rays_total if n_rays_total is None else n_rays_total
        if n_total:
            def sample(ids, m, k):
                sub = self.replace(n_rays_per_image=m, n_rays_total=None)
                return sub(cameras[ids], k, stratified_sampling=stratified_sampling)

            return _heterogeneous(key, cameras, n_total, sample)
        key_xy, key_strat = jax.random.split(_need_key(key, "MonteCarloRaysampler"))
        lo = jnp.array([self.min_x, self.min_y], jnp.float32)
        hi = jnp.array([self.max_x, self.max_y], jnp.float32)
        u = jax.random.uniform(key_xy, (b, self.n_rays_per_image, 2), jnp.float32)
        strat = self.stratified_sampling if stratified_sampling is None else stratified_sampling
        return xy_to_ray_bundle(cameras, lo + (hi - lo) * u, self.min_depth, self.max_depth,
                                self.n_pts_per_ray, unit_directions=self.unit_directions,
                                stratified_key=key_strat if strat else None)
