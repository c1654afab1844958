"""Chunked evaluation of a radiance field over many rays, and full-image rendering."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.renderer.implicit.raybundle import RayBundle
from jax3d.renderer.implicit.raymarching import EmissionAbsorptionRaymarcher

__all__ = ["batched_forward", "render_image", "render_rays"]


def _check_bundle(ray_bundle) -> None:
    if not isinstance(ray_bundle, RayBundle):
        raise TypeError(f"ray_bundle must be a RayBundle, got {type(ray_bundle).__name__}")


def batched_forward(
    fn: Callable[[RayBundle], Any], ray_bundle: RayBundle, *, chunk_size: int = 4096
) -> Any:
    """Evaluate `fn` on `chunk_size` rays at a time and reassemble the outputs.

    The rays of `ray_bundle` (`origins (B, ..., 3)`, `lengths (B, ..., S)`) are flattened to
    `N = B * prod(...)` rays, padded (by repeating the last ray) to a multiple of `chunk_size`,
    and `fn` is mapped (`jax.lax.map`, so memory is bounded by one chunk) over bundles of shape
    `origins (1, chunk_size, 3)`. Every leaf of `fn`'s output must have shape
    `(1, chunk_size, *rest)`; the result has leaves `(B, ..., *rest)` and equals
    `fn(ray_bundle)` for any per-ray function.

    Args:
        fn: RayBundle -> pytree of per-ray arrays, e.g. `lambda rb: model.apply(params, rb)`.
        ray_bundle: the rays.
        chunk_size: rays per evaluation (static).

    Returns:
        `fn`'s outputs for all the rays, shaped like the bundle's ray layout.
    """
    _check_bundle(ray_bundle)
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
    layout = ray_bundle.origins.shape[:-1]  # (B, ...)
    n = int(np.prod(layout))
    n_chunks = -(-n // chunk_size)
    pad = n_chunks * chunk_size - n

    def split(x):
        flat = x.reshape((n,) + x.shape[len(layout) :])
        flat = jnp.pad(flat, [(0, pad)] + [(0, 0)] * (flat.ndim - 1), mode="edge")
        return flat.reshape((n_chunks, 1, chunk_size) + flat.shape[1:])

    chunks = jax.tree.map(split, ray_bundle)
    out = jax.lax.map(fn, chunks)

    def merge(y):
        y = y.reshape((n_chunks * chunk_size,) + y.shape[3:])[:n]
        return y.reshape(layout + y.shape[1:])

    return jax.tree.map(merge, out)


def _renders_itself(apply_fn) -> bool:
    """Whether `apply_fn` is a `PaperNeRF`'s, which composites its own samples."""
    from jax3d.models.nerf.paper import PaperNeRF

    return isinstance(getattr(apply_fn, "__self__", None), PaperNeRF)


def render_rays(apply_fn, params, ray_bundle: RayBundle, raymarcher=None) -> jax.Array:
    """Render rays with a field whose `apply_fn(params, bundle)` gives (densities, colours).

    A `PaperNeRF`'s `apply` is also accepted: it renders its rays itself (coarse + fine,
    deterministic fine samples) and its fine colour and opacity are returned.

    Args:
        apply_fn: e.g. `NeuralRadianceField().apply`, returning `(..., S, 1)` opacities and
            `(..., S, C)` features.
        params: the field's parameters.
        ray_bundle: rays with `origins (B, ..., 3)`.
        raymarcher: defaults to `EmissionAbsorptionRaymarcher()`.

    Returns:
        (B, ..., C + 1) float32: composited features, then the opacity (silhouette).
    """
    _check_bundle(ray_bundle)
    if _renders_itself(apply_fn):
        out = apply_fn(params, ray_bundle)
        return jnp.concatenate([out.rgb_fine, out.opacity_fine], axis=-1)
    raymarcher = EmissionAbsorptionRaymarcher() if raymarcher is None else raymarcher
    densities, colors = apply_fn(params, ray_bundle)
    return raymarcher(rays_densities=densities, rays_features=colors, ray_bundle=ray_bundle)


@functools.partial(jax.jit, static_argnames=("apply_fn", "raymarcher"))
def _render_chunk(apply_fn, params, bundle, raymarcher):
    return render_rays(apply_fn, params, bundle, raymarcher)


@functools.partial(jax.jit, static_argnames=("raysampler",))
def _grid_rays(raysampler, cameras):
    return raysampler(cameras, stratified_sampling=False)


def render_image(
    apply_fn, params, cameras, raysampler, *, raymarcher=None, chunk_size: int = 4096
) -> tuple[jax.Array, jax.Array]:
    """Full images of a radiance field, rendered `chunk_size` rays at a time.

    The rays are cut into chunks of exactly `chunk_size` rays (the last one padded), each
    rendered by one jitted function compiled once per (field, chunk size), whatever the number
    or size of the images; peak memory is that of one chunk. For a jittable, differentiable
    version use `batched_forward(lambda rb: render_rays(...), bundle)`.

    Args:
        apply_fn, params: as in `render_rays`.
        cameras: B cameras.
        raysampler: a grid sampler (`NDCMultinomialRaysampler(image_width=W, image_height=H,
            ...)`) giving `origins (B, H, W, 3)`; a stratified one is used without jitter.
        raymarcher: defaults to `EmissionAbsorptionRaymarcher()`.
        chunk_size: rays per evaluation.

    Returns:
        `images (B, H, W, C)` and `silhouettes (B, H, W)` float32.
    """
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
    raymarcher = EmissionAbsorptionRaymarcher() if raymarcher is None else raymarcher
    bundle = _grid_rays(raysampler, cameras)
    layout = bundle.origins.shape[:-1]
    n = int(np.prod(layout))
    pad = -n % chunk_size
    flat = jax.tree.map(
        lambda x: jnp.pad(x.reshape((n, x.shape[-1])), [(0, pad), (0, 0)], mode="edge").reshape(
            (-1, 1, chunk_size, x.shape[-1])
        ),
        bundle,
    )
    outs = [
        _render_chunk(apply_fn, params, jax.tree.map(lambda x, i=i: x[i], flat), raymarcher)
        for i in range(flat.origins.shape[0])
    ]
    out = jnp.concatenate(outs, axis=1)[0, :n].reshape(layout + outs[0].shape[-1:])
    return out[..., :-1], out[..., -1]
