"""MeshRenderer / MeshRendererWithFragments: composition, batching, jit and gradients for the
camera position through the whole (soft) renderer."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.renderer import (
    BlendParams,
    FoVPerspectiveCameras,
    HardPhongShader,
    MeshRasterizer,
    MeshRenderer,
    MeshRendererWithFragments,
    PointLights,
    RasterizationSettings,
    SoftPhongShader,
    SoftSilhouetteShader,
    TexturesUV,
    look_at_rotation,
)
from jax3d.structures import Meshes
from jax3d.utils import checkerboard_image, ico_sphere_uvs, ico_sphere_verts_faces


def textured_sphere(level=1, scale=1.0):
    verts, faces = ico_sphere_verts_faces(level)
    verts_uvs, faces_uvs = ico_sphere_uvs(level)
    tex = TexturesUV([checkerboard_image((16, 16), 4)], [faces_uvs], [verts_uvs])
    return Meshes([verts * scale], [faces], textures=tex)


def camera_at(position):
    R = look_at_rotation(position[None])
    return FoVPerspectiveCameras(R=R, T=-jnp.einsum("bji,bj->bi", R, position[None]))


SOFT = RasterizationSettings(image_size=16, blur_radius=math.log(1 / 1e-2 - 1) * 1e-2 / 4,
                             faces_per_pixel=6)  # fmt: skip
BLEND = BlendParams(sigma=1e-2 / 4, gamma=1e-2)


def test_with_fragments_matches_parts():
    mesh = textured_sphere()
    cams = camera_at(jnp.asarray([0.5, 1.0, 2.5]))
    raster = MeshRasterizer(cams, RasterizationSettings(image_size=12))
    shader = HardPhongShader(cameras=cams)
    images, frags = MeshRendererWithFragments(raster, shader)(mesh)
    direct = raster(mesh)
    np.testing.assert_array_equal(np.asarray(frags.pix_to_face), np.asarray(direct.pix_to_face))
    np.testing.assert_allclose(np.asarray(images), np.asarray(shader(direct, mesh)), atol=1e-6)
    np.testing.assert_allclose(np.asarray(MeshRenderer(raster, shader)(mesh)),
                               np.asarray(images), atol=1e-6)  # fmt: skip
    assert images.shape == (1, 12, 12, 4) and 0 < float(images[..., 3].mean()) < 1


@pytest.mark.slow
def test_batch_equals_per_item_and_jit():
    from jax3d.structures import join_meshes_as_batch

    items = [textured_sphere(0, 1.0), textured_sphere(1, 0.7)]
    batch = join_meshes_as_batch(items)
    cams = camera_at(jnp.asarray([0.0, 0.5, 3.0]))
    renderer = MeshRenderer(MeshRasterizer(cams, RasterizationSettings(image_size=12)),
                            HardPhongShader(cameras=cams, lights=PointLights()))  # fmt: skip
    images = renderer(batch)
    for n, item in enumerate(items):
        np.testing.assert_allclose(np.asarray(images[n]), np.asarray(renderer(item)[0]),
                                   atol=1e-5)  # fmt: skip
    jitted = jax.jit(lambda m, c: renderer(m, cameras=c))(batch, cams)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(images), atol=1e-5)


@pytest.fixture(scope="module")
def soft_loss():
    mesh = textured_sphere()
    cams = camera_at(jnp.asarray([0.0, 0.0, 3.0]))
    lights = PointLights(location=((0.0, 0.0, -3.0),))
    phong = MeshRenderer(MeshRasterizer(cams, SOFT),
                         SoftPhongShader(cameras=cams, lights=lights, blend_params=BLEND))
    sil = MeshRenderer(MeshRasterizer(cams, SOFT), SoftSilhouetteShader(blend_params=BLEND))
    target_pos = jnp.asarray([0.3, 0.8, 2.6])
    target = phong(mesh, cameras=camera_at(target_pos))

    def loss(position):
        cams_p = camera_at(position)
        rgba = phong(mesh, cameras=cams_p)
        alpha = sil(mesh, cameras=cams_p)[..., 3]
        return jnp.sum((rgba - target) ** 2) + jnp.sum((alpha - target[..., 3]) ** 2)

    return jax.jit(loss), jax.jit(jax.grad(loss))


@pytest.mark.slow
def test_camera_position_gradient_matches_finite_differences(soft_loss):
    """Directional derivative along the gradient: autodiff vs central differences (small
    steps: soft rasterization is smooth only below the scale where faces enter / leave the
    K nearest)."""
    loss, grad = soft_loss
    p = jnp.asarray([0.9, 1.4, 2.2])
    g = np.asarray(grad(p))
    assert np.all(np.isfinite(g)) and np.linalg.norm(g) > 1.0
    u = g / np.linalg.norm(g)
    for t in (1e-4, 1e-3):
        fd = (float(loss(p + t * u)) - float(loss(p - t * u))) / (2 * t)
        np.testing.assert_allclose(fd, np.linalg.norm(g), rtol=0.05)
    assert float(loss(p - 1e-3 * u)) < float(loss(p)) < float(loss(p + 1e-3 * u))


@pytest.mark.slow
def test_gradient_finite_far_and_nearly_overhead(soft_loss):
    """A far camera (object ~2 px) and one almost straight above (look_at nearly singular;
    exactly overhead, look_at_rotation itself is degenerate, as in PyTorch3D)."""
    _, grad = soft_loss
    for p in ([0.0, 0.0, 40.0], [0.0, 3.0, 0.05]):
        g = np.asarray(grad(jnp.asarray(p)))
        assert np.all(np.isfinite(g)), p


def test_renderer_rejects_non_callables():
    with pytest.raises(TypeError, match="rasterizer"):
        MeshRenderer(None, HardPhongShader())
