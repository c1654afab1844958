"""MeshRenderer: a rasterizer followed by a shader (PyTorch3D's ``mesh.renderer``)."""

from __future__ import annotations

from typing import Any

import jax
from flax import struct

from jax3d.device import DeviceMethods

__all__ = ["MeshRenderer", "MeshRendererWithFragments"]


@struct.dataclass
class MeshRenderer(DeviceMethods):
    """``MeshRenderer(rasterizer, shader)(meshes_world, **kwargs)`` -> ``(N, H, W, 4)`` images.

    ``kwargs`` reach both the rasterizer and the shader, so a call may override ``cameras=``,
    ``R=``, ``T=``, ``raster_settings=``, ``lights=``, ``materials=``, ``blend_params=``
    (PyTorch3D's behaviour). Pure: the same inputs give the same images. A frozen pytree (its
    rasterizer's cameras, its shader's cameras, lights and materials are the leaves; settings
    and blend parameters are static), so the renderer itself can be an argument of a jitted
    function or be vmapped, e.g. over cameras; change it with ``replace``.
    """

    rasterizer: Any
    shader: Any

    def __post_init__(self):
        if not callable(self.rasterizer) or not callable(self.shader):
            raise TypeError("rasterizer and shader must be callables (MeshRasterizer, a shader)")

    def __call__(self, meshes_world, **kwargs) -> jax.Array:
        """RGBA images (N, H, W, 4) float32 of ``meshes_world`` (N meshes)."""
        fragments = self.rasterizer(meshes_world, **kwargs)
        return self.shader(fragments, meshes_world, **kwargs)

    forward = __call__


@struct.dataclass
class MeshRendererWithFragments(MeshRenderer):
    """Like :class:`MeshRenderer` but returns ``(images (N, H, W, 4), fragments)``."""

    def __call__(self, meshes_world, **kwargs):
        """``(images (N, H, W, 4) float32, Fragments (N, H, W, K))``."""
        fragments = self.rasterizer(meshes_world, **kwargs)
        return self.shader(fragments, meshes_world, **kwargs), fragments

    forward = __call__
