"""Implicit and volume renderers: ray sampler -> volumetric function -> ray marcher.

Full images can be rendered in chunks of rays (``chunk_size``): the rays are split into
fixed-size chunks that ``lax.map`` evaluates one after the other, each under
``jax.checkpoint``, so peak memory scales with the chunk, not the image, in the forward and
the backward pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jax3d.renderer.implicit.raybundle import RayBundle
from jax3d.renderer.implicit.volume_sampler import VolumeSampler

__all__ = ["ImplicitRenderer", "VolumeRenderer", "march_rays", "march_rays_chunked"]


def march_rays(ray_bundle: RayBundle, volumetric_function: Callable, raymarcher: Callable,
               **kwargs) -> jax.Array:
    """``raymarcher(*volumetric_function(ray_bundle))`` for all rays at once.

    Returns the raymarcher's output, ``(B, ..., C_out)``.
    """
    densities, features = volumetric_function(ray_bundle=ray_bundle, **kwargs)
    return raymarcher(rays_densities=densities, rays_features=features, ray_bundle=ray_bundle,
                      **kwargs)


def _split(x: jax.Array, n_rays: int, n_chunks: int, chunk: int) -> jax.Array:
    """``(B, *spatial, k)`` -> ``(n_chunks, B, chunk, k)`` (the last chunk padded by edge rays)."""
    b, k = x.shape[0], x.shape[-1]
    flat = x.reshape(b, n_rays, k)
    flat = jnp.pad(flat, ((0, 0), (0, n_chunks * chunk - n_rays), (0, 0)), mode="edge")
    return jnp.moveaxis(flat.reshape(b, n_chunks, chunk, k), 1, 0)


def march_rays_chunked(ray_bundle: RayBundle, volumetric_function: Callable,
                       raymarcher: Callable, chunk_size: int, **kwargs) -> jax.Array:
    """Same result as :func:`march_rays`, evaluated ``chunk_size`` rays per camera at a time.

    Args:
      ray_bundle: rays with any spatial layout, ``origins (B, ..., 3)``.
      volumetric_function, raymarcher: as in :func:`march_rays`; the volumetric function is
        called with ``RayBundle``s of ``(B, chunk_size)`` rays.
      chunk_size: static number of rays per camera in a chunk.

    Returns:
      ``(B, ..., C_out)``. Jittable and differentiable; each chunk is rematerialised in the
      backward pass (``jax.checkpoint``), which bounds memory by one chunk's activations.
    """
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
    b, spatial = ray_bundle.origins.shape[0], ray_bundle.origins.shape[1:-1]
    n_rays = math.prod(spatial)
    chunk = min(chunk_size, n_rays)
    n_chunks = -(-n_rays // chunk)
    chunks = jax.tree.map(lambda x: _split(x, n_rays, n_chunks, chunk), ray_bundle)

    @jax.checkpoint
    def body(bundle: RayBundle) -> jax.Array:
        return march_rays(bundle, volumetric_function, raymarcher, **kwargs)

    out = jax.lax.map(body, chunks)  # (n_chunks, B, chunk, C_out)
    out = jnp.moveaxis(out, 0, 1).reshape(b, n_chunks * chunk, -1)[:, :n_rays]
    return out.reshape(b, *spatial, out.shape[-1])


@struct.dataclass
class ImplicitRenderer:
    """Renders a volumetric function (PyTorch3D's ``ImplicitRenderer``).

    ``ImplicitRenderer(raysampler, raymarcher, chunk_size=None)``; call
    ``renderer(cameras, volumetric_function, key=None, **kwargs) -> (images, ray_bundle)``:

    1. ``ray_bundle = raysampler(cameras, key, **kwargs)``;
    2. ``densities (B, ..., S, 1), features (B, ..., S, C) = volumetric_function(
       ray_bundle=ray_bundle, cameras=cameras, **kwargs)``;
    3. ``images = raymarcher(rays_densities=..., rays_features=..., ray_bundle=..., **kwargs)``,
       ``(B, H, W, C + 1)`` for an image-grid sampler (``(B, R, C + 1)`` for ray subsets).

    With ``chunk_size`` (static) steps 2-3 run ``chunk_size`` rays per camera at a time
    (:func:`march_rays_chunked`). The volumetric function may be any callable; pass it as a
    pytree (e.g. a ``flax.struct`` dataclass such as ``VolumeSampler``) to jit through it.
    """

    raysampler: Any
    raymarcher: Any
    chunk_size: int | None = struct.field(pytree_node=False, default=None)

    def __call__(self, cameras, volumetric_function: Callable, key: jax.Array | None = None,
                 **kwargs) -> tuple[jax.Array, RayBundle]:
        if not callable(volumetric_function):
            raise TypeError("volumetric_function must be callable, got "
                            f"{type(volumetric_function).__name__}")
        ray_bundle = self.raysampler(cameras, key, **kwargs)
        if self.chunk_size is None:
            images = march_rays(ray_bundle, volumetric_function, self.raymarcher,
                                cameras=cameras, **kwargs)
        else:
            images = march_rays_chunked(ray_bundle, volumetric_function, self.raymarcher,
                                        self.chunk_size, cameras=cameras, **kwargs)
        return images, ray_bundle


@struct.dataclass
class VolumeRenderer:
    """Renders ``Volumes`` (PyTorch3D's ``VolumeRenderer``): an :class:`ImplicitRenderer` whose
    volumetric function is ``VolumeSampler(volumes, sample_mode)``.

    ``VolumeRenderer(raysampler, raymarcher, sample_mode="bilinear", chunk_size=None)``; call
    ``renderer(cameras, volumes, key=None, **kwargs) -> (images (B, H, W, C + 1), ray_bundle)``.
    """

    raysampler: Any
    raymarcher: Any
    sample_mode: str = struct.field(pytree_node=False, default="bilinear")
    chunk_size: int | None = struct.field(pytree_node=False, default=None)

    def __call__(self, cameras, volumes, key: jax.Array | None = None,
                 **kwargs) -> tuple[jax.Array, RayBundle]:
        renderer = ImplicitRenderer(self.raysampler, self.raymarcher, self.chunk_size)
        sampler = VolumeSampler(volumes, sample_mode=self.sample_mode)
        return renderer(cameras, sampler, key, **kwargs)
