"""MeshRasterizer / RasterizationSettings / Fragments through real cameras."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jax3d.renderer import FoVPerspectiveCameras, look_at_view_transform
from jax3d.renderer.mesh import Fragments, MeshRasterizer, RasterizationSettings
from jax3d.structures import Meshes
from tests.renderer.test_rasterize_meshes import fov_project_naive
from tests.scenes import sphere_scene as built_sphere_scene


def sphere_scene(ref=None):
    """The reference sphere scene: from PyTorch3D's file ``ref``, else built here."""
    ref = built_sphere_scene() if ref is None else ref
    meshes = Meshes(verts=[jnp.asarray(ref["verts"])], faces=[jnp.asarray(ref["faces"])])
    cameras = FoVPerspectiveCameras(R=jnp.asarray(ref["R"]), T=jnp.asarray(ref["T"]))
    return meshes, cameras


@pytest.mark.parametrize("mode", ["hard", "soft"])
def test_mesh_rasterizer_matches_pytorch3d(reference, mode):
    ref = reference("rasterize_sphere")
    meshes, cameras = sphere_scene(ref)
    soft = mode == "soft"
    settings = RasterizationSettings(
        image_size=tuple(int(s) for s in ref["image_size"]),
        blur_radius=float(ref["soft_blur_radius"]) if soft else 0.0,
        faces_per_pixel=int(ref["soft_faces_per_pixel"]) if soft else 1,
    )
    frags = MeshRasterizer(cameras, settings)(meshes)
    assert isinstance(frags, Fragments)
    np.testing.assert_array_equal(np.asarray(frags.pix_to_face), ref[f"{mode}_pix_to_face"])
    for key in ["zbuf", "bary_coords", "dists"]:
        np.testing.assert_allclose(np.asarray(getattr(frags, key)), ref[f"{mode}_{key}"],
                                   atol=3e-5, rtol=1e-5)


def test_transform_matches_fov_formula_and_kwarg_overrides():
    ref = built_sphere_scene()
    meshes, cameras = sphere_scene(ref)
    rast = MeshRasterizer(cameras, RasterizationSettings(image_size=16))
    got = np.asarray(rast.transform(meshes).verts_padded())[0]
    want = fov_project_naive(ref["verts"], ref["R"][0], ref["T"][0])
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
    R2, T2 = look_at_view_transform(2.5, 20.0, 30.0)
    a = rast(meshes, R=R2, T=T2)
    b = MeshRasterizer(FoVPerspectiveCameras(R=R2, T=T2), rast.raster_settings)(meshes)
    np.testing.assert_array_equal(np.asarray(a.pix_to_face), np.asarray(b.pix_to_face))
    c = rast(meshes, raster_settings=RasterizationSettings(image_size=(8, 12)))
    assert c.pix_to_face.shape == (1, 8, 12, 1)


@pytest.mark.slow
def test_gradients_wrt_camera_translation_are_finite_and_match_fd():
    ref = built_sphere_scene()
    meshes, cameras = sphere_scene(ref)
    rast = MeshRasterizer(cameras, RasterizationSettings(image_size=12, blur_radius=1e-3,
                                                         faces_per_pixel=2))

    def loss(T):
        f = rast(meshes, T=T)
        return f.zbuf.sum() + f.dists.sum() * 10.0

    T = jnp.asarray(ref["T"])
    g = np.asarray(jax.grad(loss)(T))
    assert np.isfinite(g).all() and abs(g[0, 2]) > 1.0  # depth moves with T_z
    eps = 2e-4  # small: few pixels change face under the perturbation
    e = np.zeros_like(g)
    e[0, 2] = 1.0
    fd = (loss(T + eps * e) - loss(T - eps * e)) / (2 * eps)
    np.testing.assert_allclose(g[0, 2], float(fd), rtol=0.1)


def test_check_grads_wrt_verts_through_camera():
    meshes, cameras = sphere_scene()
    rast = MeshRasterizer(cameras, RasterizationSettings(image_size=10, faces_per_pixel=1))
    frags = rast(meshes)
    verts = meshes.verts_padded()

    def zsum(v):  # zbuf from the same faces: depth interpolated by the (fixed) barycentrics
        return rast(meshes.update_padded(v)).zbuf.sum()

    g = jax.grad(zsum)(verts)
    assert np.isfinite(np.asarray(g)).all()
    check_grads(zsum, (verts,), order=1, modes=["rev"], eps=1e-4, atol=5e-2, rtol=5e-2)
    assert (np.asarray(frags.pix_to_face) >= 0).any()


def test_settings_are_hashable_and_validated():
    s = RasterizationSettings(image_size=(32, 32))
    assert s.image_size == 32 and hash(s) == hash(RasterizationSettings(image_size=32))
    with pytest.raises(ValueError, match="image_size"):
        RasterizationSettings(image_size=(0, 4))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="max_faces_per_bin"):
            RasterizationSettings(max_faces_per_bin=bad)
    assert RasterizationSettings(max_faces_per_bin=np.int64(3)).max_faces_per_bin == 3


def test_z_clip_by_default_for_faces_crossing_the_camera_plane():
    # One face straddles the camera plane; PyTorch3D clips at znear/2 and keeps the front part.
    verts = jnp.asarray([[-1.0, -1.0, 2.0], [1.0, -1.0, 2.0], [0.0, 1.0, -1.0]])
    meshes = Meshes(verts=[verts], faces=[jnp.asarray([[0, 1, 2]])])
    cams = FoVPerspectiveCameras()
    frags = MeshRasterizer(cams, RasterizationSettings(image_size=16))(meshes)
    p2f, z, bary = (np.asarray(x) for x in (frags.pix_to_face, frags.zbuf, frags.bary_coords))
    hit = p2f[..., 0] == 0
    assert hit.sum() > 10
    assert (z[hit] >= 0.5 - 1e-4).all()  # nothing nearer than z_clip = znear / 2
    np.testing.assert_allclose(bary[hit].sum(-1), 1.0, atol=1e-4)
