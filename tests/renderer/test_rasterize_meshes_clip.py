"""z-clipping and frustum culling of faces (PyTorch3D's clip.py cases 1-4)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.renderer.mesh.clip import clip_faces
from jax3d.renderer.mesh.rasterize_meshes import rasterize_face_verts
from tests.renderer.test_rasterize_meshes import face_pixel_values_naive, pixel_centers_naive

ZC = 1.0


def crossing_faces():
    """Case 1 (in front), case 3 (two behind), case 4 (one behind), case 2 (all behind)."""
    return np.array([[
        [[0.9, 0.9, 2.0], [0.3, 0.9, 2.0], [0.9, 0.3, 2.0]],
        [[-0.8, 0.8, 2.5], [-0.8, -0.8, 0.2], [0.1, 0.0, 0.5]],
        [[0.8, -0.8, 0.3], [0.0, -0.1, 2.5], [0.9, 0.2, 1.8]],
        [[-0.5, -0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.5, 0.5]],
    ]], np.float32)


def test_clipped_coverage_and_bary_reproduce_original_faces():
    fv = crossing_faces()
    H = W = 24
    p2f, z, bary, _ = (np.asarray(x) for x in rasterize_face_verts(
        fv, [4], H, 0.0, 1, z_clip_value=ZC, perspective_correct=False))
    xs, ys = pixel_centers_naive(H, W)
    px, py = np.meshgrid(xs, ys)
    for f in range(4):
        w, pz, _, inside, _ = face_pixel_values_naive(fv[0, f], px, py, False, False)
        want = inside & (pz >= ZC + 1e-4)
        got = p2f[0, ..., 0] == f
        margin = inside & (np.abs(pz - ZC) < 1e-3)  # pixels on the clip line may go either way
        assert (got[~margin] == want[~margin]).all(), f"face {f}"
        if got.any():
            b = bary[0, got, 0]
            np.testing.assert_allclose(b.sum(-1), 1.0, atol=1e-5)
            np.testing.assert_allclose(b @ fv[0, f, :, :2].astype(np.float64),
                                       np.stack([px[got], py[got]], -1), atol=1e-5)
            np.testing.assert_allclose(z[0, got, 0], b @ fv[0, f, :, 2], atol=1e-4)
    assert not (p2f == 3).any()  # case 2: fully behind the plane
    assert (p2f == 1).any() and (p2f == 2).any()


def test_clip_faces_cases_and_slots():
    fv = jnp.asarray(crossing_faces())
    ok = jnp.ones((1, 4), bool)
    c = clip_faces(fv, ok, image_size=(8, 8), perspective_correct=True, z_clip_value=ZC)
    np.testing.assert_array_equal(np.asarray(c.face_ok[0]),
                                  [[True, False], [True, False], [True, True], [False, False]])
    z = np.asarray(c.face_verts[0, ..., 2])
    assert (z[np.asarray(c.face_ok[0])] >= ZC - 1e-6).all()
    conv = np.asarray(c.bary_conversion).reshape(4, 2, 3, 3)
    np.testing.assert_allclose(conv[0, 0], np.eye(3))
    np.testing.assert_allclose(conv.sum(2)[:3, 0], 1.0, atol=1e-6)  # columns sum to 1


def test_cull_to_frustum_removes_only_offscreen_faces():
    fv = crossing_faces().copy()
    fv[0, 3] = [[3.0, 0.0, 2.0], [4.0, 0.5, 2.0], [3.5, -0.5, 2.0]]  # right of the image
    c = clip_faces(jnp.asarray(fv), jnp.ones((1, 4), bool), image_size=(8, 8),
                   perspective_correct=False, cull_to_frustum=True)
    np.testing.assert_array_equal(np.asarray(c.face_ok[0, :, 0]), [True, True, True, False])
    a = rasterize_face_verts(fv, [4], 12, 1e-3, 2, cull_to_frustum=True)
    b = rasterize_face_verts(fv, [4], 12, 1e-3, 2)
    for x, y in zip(a, b):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("persp", [pytest.param(False, marks=pytest.mark.slow), True])
def test_clipping_jit_matches_eager_and_grads_are_finite(persp):
    fv = crossing_faces()
    kw = dict(image_size=16, blur_radius=1e-3, faces_per_pixel=2, z_clip_value=ZC,
              perspective_correct=persp)
    eager = rasterize_face_verts(fv, [4], **kw)
    jitted = jax.jit(lambda f: rasterize_face_verts(f, [4], **kw))(fv)
    for x, y in zip(eager, jitted):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=1e-5)
    g = jax.grad(lambda f: sum(o.sum() for o in rasterize_face_verts(f, [4], **kw)[1:]))(
        jnp.asarray(fv))
    assert np.isfinite(np.asarray(g)).all() and np.abs(np.asarray(g)).sum() > 0



def _crossing_the_camera_plane():
    return crossing_faces() - np.array([0.0, 0.0, 1.0], np.float32)  # faces 1, 2 cross z = 0


def test_clip_faces_at_the_camera_plane_is_finite():
    # znear = 0 puts the clip plane at z = 0, where the clipped pieces cannot be projected:
    # no divide by zero, finite values and gradients (also through the untaken branch).
    def f(fv, zc):
        c = clip_faces(fv, jnp.ones((1, 4), bool), image_size=(8, 8), perspective_correct=True,
                       z_clip_value=zc)
        return c.face_verts.sum() + c.bary_conversion.sum(), c

    fv = jnp.asarray(_crossing_the_camera_plane())
    vg = jax.jit(jax.value_and_grad(f, argnums=(0, 1), has_aux=True))
    (_, c), g = vg(fv, jnp.float32(0.0))
    assert all(np.isfinite(np.asarray(x)).all() for x in (c.face_verts, *g))
    z = np.asarray(c.face_verts[..., 2])
    ok = np.asarray(c.face_ok)
    assert (np.abs(z[ok].min(-1)) < 1e-6).sum() == 3  # the pieces of faces 1, 2 touch z = 0


@pytest.mark.slow
def test_clip_plane_at_the_camera_is_finite_when_rasterized():
    # ... and the rasterizer drops those pieces (never drawn), values and gradients finite.
    kw = dict(image_size=12, blur_radius=1e-3, faces_per_pixel=2, perspective_correct=True)

    def f(fv, zc):
        out = rasterize_face_verts(fv, [4], z_clip_value=zc, **kw)
        return sum(o.sum() for o in out[1:]), out

    fv = jnp.asarray(_crossing_the_camera_plane())
    (_, out), g = jax.value_and_grad(f, argnums=(0, 1), has_aux=True)(fv, jnp.float32(0.0))
    assert set(np.unique(np.asarray(out[0]))) == {-1, 0}  # face 0 (in front) only
    assert all(np.isfinite(np.asarray(x)).all() for x in (*out, *g))
    assert np.abs(np.asarray(g[0][0, 0])).sum() > 0
