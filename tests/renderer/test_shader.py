"""The six shaders: PyTorch3D parity on shade_sphere.npz, per-call overrides, silhouettes."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.renderer import (
    BlendParams,
    FoVPerspectiveCameras,
    HardFlatShader,
    HardGouraudShader,
    HardPhongShader,
    Materials,
    MeshRasterizer,
    MeshRenderer,
    PointLights,
    RasterizationSettings,
    SoftGouraudShader,
    SoftPhongShader,
    SoftSilhouetteShader,
    TexturesVertex,
)
from jax3d.structures import Meshes

BLEND = BlendParams(sigma=1e-4, gamma=1e-4)
SOFT = RasterizationSettings(image_size=64, blur_radius=math.log(1 / 1e-4 - 1) * 1e-4,
                             faces_per_pixel=20)  # fmt: skip


def _sphere(shade, geo):
    meshes = Meshes([geo["verts"]], [geo["faces"]],
                    textures=TexturesVertex([shade["vertex_colors"]]))  # fmt: skip
    cams = FoVPerspectiveCameras(R=geo["R"], T=geo["T"])
    lights = PointLights(location=[shade["light_location"]])
    mat = Materials(specular_color=[shade["specular_color"]], shininess=float(shade["shininess"]))
    return shade, meshes, cams, lights, mat


@pytest.fixture(scope="module")
def sphere(request):
    """The scene of PyTorch3D's reference files, with their outputs (skips without them)."""
    from tests.conftest import load_reference

    return _sphere(load_reference("shade_sphere"), load_reference("rasterize_sphere"))


@pytest.fixture(scope="module")
def built_sphere():
    """The same scene built here (for tests of jax3d's own behaviour)."""
    from tests.scenes import LIGHT_LOCATION, SHININESS, SPECULAR_COLOR, sphere_scene

    geo = sphere_scene()
    shade = {"vertex_colors": geo["vertex_colors"], "light_location": LIGHT_LOCATION,
             "specular_color": SPECULAR_COLOR, "shininess": SHININESS}  # fmt: skip
    return _sphere(shade, geo)


@pytest.mark.parametrize("name,cls", [("phong", HardPhongShader), ("gouraud", HardGouraudShader),
                                      ("flat", HardFlatShader)])  # fmt: skip
def test_hard_shaders_match_pytorch3d(sphere, name, cls):
    ref, meshes, cams, lights, mat = sphere
    raster = MeshRasterizer(cams, RasterizationSettings(image_size=64))
    image = MeshRenderer(raster, cls(cameras=cams, lights=lights, materials=mat))(meshes)
    assert image.shape == (1, 64, 64, 4)
    np.testing.assert_allclose(np.asarray(image), ref[name], atol=1e-4)


def test_soft_phong_and_silhouette_match_pytorch3d(sphere):
    ref, meshes, cams, lights, _ = sphere
    frags = MeshRasterizer(cams, SOFT)(meshes)
    soft = SoftPhongShader(cameras=cams, lights=lights, blend_params=BLEND)(frags, meshes)
    np.testing.assert_allclose(np.asarray(soft), ref["soft_phong"], atol=1e-4)
    sil = SoftSilhouetteShader(blend_params=BLEND)(frags, meshes)
    np.testing.assert_allclose(np.asarray(sil), ref["silhouette"], atol=1e-4)
    # alpha = 1 - prod_j (1 - D_j) computed from the fragments directly
    d = np.asarray(frags.dists, np.float64)
    prob = np.where(np.asarray(frags.pix_to_face) >= 0, 1 / (1 + np.exp(d / 1e-4)), 0.0)
    np.testing.assert_allclose(np.asarray(sil[..., 3]), 1 - np.prod(1 - prob, -1), atol=1e-5)


def test_per_call_overrides_equal_constructor_defaults(built_sphere):
    _, meshes, cams, lights, mat = built_sphere
    frags = MeshRasterizer(cams, RasterizationSettings(image_size=24))(meshes)
    configured = HardPhongShader(cameras=cams, lights=lights, materials=mat)(frags, meshes)
    bare = HardPhongShader()
    overridden = bare(frags, meshes, cameras=cams, lights=lights, materials=mat)
    np.testing.assert_allclose(np.asarray(overridden), np.asarray(configured), atol=1e-6)
    other = bare(frags, meshes, cameras=cams, lights=PointLights(location=((0., 0., 5.),)),
                 materials=mat)  # fmt: skip
    assert np.abs(np.asarray(other) - np.asarray(configured)).max() > 0.05
    via_rt = bare(frags, meshes, cameras=FoVPerspectiveCameras(), R=cams.R, T=cams.T,
                  lights=lights, materials=mat)  # R / T overrides reach the specular term
    np.testing.assert_allclose(np.asarray(via_rt), np.asarray(configured), atol=1e-6)


@pytest.mark.slow
def test_soft_gouraud_close_to_hard_inside(built_sphere):
    _, meshes, cams, lights, mat = built_sphere
    frags = MeshRasterizer(cams, SOFT)(meshes)
    soft = np.asarray(SoftGouraudShader(cameras=cams, lights=lights, materials=mat,
                                        blend_params=BLEND)(frags, meshes))  # fmt: skip
    hard = np.asarray(HardGouraudShader(cameras=cams, lights=lights, materials=mat)(
        MeshRasterizer(cams, RasterizationSettings(image_size=64))(meshes), meshes))
    inside = (hard[..., 3] > 0) & (soft[..., 3] > 0.999)
    assert inside.sum() > 200
    np.testing.assert_allclose(soft[inside], hard[inside], atol=2e-2)


def test_shader_errors(built_sphere):
    _, meshes, cams, _, _ = built_sphere
    frags = MeshRasterizer(cams, RasterizationSettings(image_size=8))(meshes)
    with pytest.raises(ValueError, match="cameras"):
        HardPhongShader()(frags, meshes)
    with pytest.raises(ValueError, match="no textures"):
        HardPhongShader(cameras=cams)(frags, meshes.replace(textures=None))
    with pytest.raises(TypeError, match="blend_params"):
        SoftPhongShader(blend_params=(1e-4, 1e-4))
    sil = SoftSilhouetteShader()(frags, meshes.replace(textures=None))  # needs no textures
    assert sil.shape == (1, 8, 8, 4) and float(jnp.max(sil[..., 3])) > 0.5
