"""MeshRenderer: a rasterizer followed by a shader (PyTorch3D's ``mesh.renderer``)."""

from __future__ import annotations

import jax

__all__ = ["MeshRenderer", "MeshRendererWithFragments"]


class MeshRenderer:
    """``MeshRenderer(rasterizer, shader)(meshes_world, **kwargs)`` -> ``(N, H, W, 4)`` images.

    ``kwargs`` reach both the rasterizer and the shader, so a call may override ``cameras=``,
    ``R=``, ``T=``, ``raster_settings=``, ``lights=``, ``materials=``, ``blend_params=``
    (PyTorch3D's behaviour). Pure: the same inputs give the same images, and the call is
    jittable when the meshes, cameras and overrides are passed as arguments of the jitted
    function.
    """

    def __init__(self, rasterizer, shader):
        if not callable(rasterizer) or not callable(shader):
            raise TypeError("rasterizer and shader must be callables (MeshRasterizer, a shader)")
        self.rasterizer = rasterizer
        self.shader = shader

    def __call__(self, meshes_world, **kwargs) -> jax.Array:
        """RGBA images (N, H, W, 4) float32 of ``meshes_world`` (N meshes)."""
        fragments = self.rasterizer(meshes_world, **kwargs)
        return self.shader(fragments, meshes_world, **kwargs)

    forward = __call__


class MeshRendererWithFragments(MeshRenderer):
    """Like :class:`MeshRenderer` but returns ``(images (N, H, W, 4), fragments)``."""

    def __call__(self, meshes_world, **kwargs):
        """``(images (N, H, W, 4) float32, Fragments (N, H, W, K))``."""
        fragments = self.rasterizer(meshes_world, **kwargs)
        return self.shader(fragments, meshes_world, **kwargs), fragments

    forward = __call__
