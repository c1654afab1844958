"""Rasterizers, shaders, compositors and renderers are frozen pytree dataclasses (issue #20):
a renderer can be an argument of a jitted function and be vmapped over cameras."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.renderer import (
    AlphaCompositor,
    BlendParams,
    FoVPerspectiveCameras,
    HardPhongShader,
    MeshRasterizer,
    MeshRenderer,
    MeshRendererWithFragments,
    NormWeightedCompositor,
    PointLights,
    PointsRasterizationSettings,
    PointsRasterizer,
    PointsRenderer,
    RasterizationSettings,
    SoftPhongShader,
    SoftSilhouetteShader,
)
from jax3d.structures import Pointclouds
from jax3d.utils import ico_sphere

_FAST_COMPILE = {"xla_backend_optimization_level": 0}
_SETTINGS = RasterizationSettings(image_size=16, blur_radius=1e-3, faces_per_pixel=8,
                                  cull_backfaces=True)  # K above the faces near any pixel
_TS = jnp.asarray([[[0.0, 0.0, 3.0]], [[0.3, 0.1, 3.0]], [[-0.2, 0.2, 3.5]]])  # (3, 1, 3)


def _silhouette_renderer(T=((0.0, 0.0, 3.0),)):
    return MeshRenderer(MeshRasterizer(FoVPerspectiveCameras(T=T), _SETTINGS),
                        SoftSilhouetteShader(BlendParams(sigma=1e-3)))  # fmt: skip


def _points_renderer(T=((0.0, 0.0, 3.0),)):
    settings = PointsRasterizationSettings(image_size=16, radius=0.2, points_per_pixel=4)
    return PointsRenderer(PointsRasterizer(FoVPerspectiveCameras(T=T), settings),
                          AlphaCompositor(background_color=(0.0, 0.0, 0.0)))  # fmt: skip


def _with_T(renderer, T):
    return renderer.replace(rasterizer=renderer.rasterizer.replace(
        cameras=FoVPerspectiveCameras(T=T)))  # fmt: skip


def test_pytree_structure_settings_are_static():
    renderer = MeshRenderer(MeshRasterizer(FoVPerspectiveCameras(), _SETTINGS),
                            SoftPhongShader(lights=PointLights()))  # fmt: skip
    leaves, treedef = jax.tree_util.tree_flatten(renderer)
    assert leaves and all(isinstance(x, jax.Array | np.ndarray | float) for x in leaves)
    other = renderer.replace(rasterizer=renderer.rasterizer.replace(
        raster_settings=RasterizationSettings(image_size=8)))
    assert jax.tree_util.tree_structure(other) != treedef  # settings are static (treedef)
    assert len(jax.tree_util.tree_leaves(other)) == len(leaves)
    again = jax.tree_util.tree_unflatten(treedef, leaves)
    assert again.rasterizer.raster_settings == _SETTINGS
    with pytest.raises(dataclasses.FrozenInstanceError):
        renderer.shader = HardPhongShader()
    # PyTorch3D's signatures: positional arguments land where PyTorch3D puts them.
    assert SoftSilhouetteShader(BlendParams(sigma=0.5)).blend_params.sigma == 0.5
    assert MeshRasterizer(None, _SETTINGS).raster_settings is _SETTINGS
    assert MeshRasterizer().raster_settings == RasterizationSettings()
    assert AlphaCompositor((1.0, 0.0, 0.0)).background_color == (1.0, 0.0, 0.0)
    assert NormWeightedCompositor().background_color is None
    with pytest.raises(TypeError, match="rasterizer and shader"):
        MeshRenderer(None, SoftSilhouetteShader())


def test_mesh_renderer_as_jit_argument_and_vmapped_over_cameras():
    mesh = ico_sphere(1)
    renderer = _silhouette_renderer()
    render = jax.jit(lambda r, m: r(m), compiler_options=_FAST_COMPILE)
    # one compiled function for every renderer of the same structure (cameras are leaves)
    single = [render(_with_T(renderer, T), mesh) for T in _TS]
    batched = jax.jit(jax.vmap(lambda T, r, m: _with_T(r, T)(m), in_axes=(0, None, None)),
                      compiler_options=_FAST_COMPILE)(_TS, renderer, mesh)  # fmt: skip
    assert batched.shape == (3, 1, 16, 16, 4)
    for i in range(3):
        np.testing.assert_allclose(np.asarray(batched[i]), np.asarray(single[i]), atol=1e-5)
    assert float(jnp.abs(batched[0] - batched[1]).max()) > 0.1  # the cameras differ
    with_frags = MeshRendererWithFragments(renderer.rasterizer, renderer.shader)
    assert jax.tree_util.tree_leaves(with_frags) == jax.tree_util.tree_leaves(renderer)


def test_points_renderer_as_jit_argument_and_vmapped_over_cameras():
    points = 0.5 * jax.random.normal(jax.random.PRNGKey(0), (1, 20, 3))
    clouds = Pointclouds(points, features=jnp.ones((1, 20, 3)))
    renderer = _points_renderer()
    render = jax.jit(lambda r, c: r(c), compiler_options=_FAST_COMPILE)
    single = [render(_with_T(renderer, T), clouds) for T in _TS]
    batched = jax.jit(jax.vmap(lambda T, r, c: _with_T(r, T)(c), in_axes=(0, None, None)),
                      compiler_options=_FAST_COMPILE)(_TS, renderer, clouds)  # fmt: skip
    for i in range(3):
        np.testing.assert_allclose(np.asarray(batched[i]), np.asarray(single[i]), atol=1e-5)
    # the per-point radius is a leaf of the settings, so a renderer holding one is a valid
    # jit argument (not a static one, which would have to be hashable)
    radius = jnp.full((20,), 0.2)
    per_point = renderer.replace(rasterizer=renderer.rasterizer.replace(
        raster_settings=renderer.rasterizer.raster_settings.replace(radius=radius)))
    assert any(x is radius for x in jax.tree_util.tree_leaves(per_point))
