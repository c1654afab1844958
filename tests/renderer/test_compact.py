"""Shading on the fragments only (jax3d.renderer.mesh.compact) equals dense shading."""

from __future__ import annotations

import importlib
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.renderer import (
    BlendParams,
    FoVPerspectiveCameras,
    HardFlatShader,
    MeshRasterizer,
    MeshRenderer,
    PointLights,
    RasterizationSettings,
    SoftGouraudShader,
    SoftPhongShader,
    TexturesUV,
    TexturesVertex,
    look_at_rotation,
)
from jax3d.structures import Meshes
from jax3d.utils import checkerboard_image, ico_sphere_uvs, ico_sphere_verts_faces

cm = importlib.import_module("jax3d.renderer.mesh.compact")
sw = importlib.import_module("jax3d.renderer.mesh.switch")


def _camera(p):
    R = look_at_rotation(p[None])
    return FoVPerspectiveCameras(R=R, T=-jnp.einsum("bji,bj->bi", R, p[None]))


def _meshes(textured: bool) -> Meshes:
    v, f = ico_sphere_verts_faces(2)
    if textured:
        vu, fu = ico_sphere_uvs(2)
        tex = TexturesUV([checkerboard_image((32, 32), 4)] * 2, [fu] * 2, [vu] * 2)
    else:
        colors = jnp.asarray(np.random.default_rng(0).uniform(size=(2, v.shape[0], 3)),
                             jnp.float32)
        tex = TexturesVertex(colors)
    return Meshes([v, v * 0.7], [f, f], textures=tex)


_POSITIONS = jnp.asarray([[-1.4, 0.5, -2.3], [1.0, 1.5, 2.5]])  # one camera per mesh


def _cameras(p):
    """Cameras at positions ``p (N, 3)`` looking at the origin."""
    R = look_at_rotation(p)
    return FoVPerspectiveCameras(R=R, T=-jnp.einsum("bji,bj->bi", R, p))


def _soft_render_loss(shader_cls, mesh, image_size, faces_per_pixel):
    """(renderer, loss(positions (N, 3)) -> scalar) of a soft render of ``mesh``."""
    settings = RasterizationSettings(image_size=image_size, faces_per_pixel=faces_per_pixel,
                                     blur_radius=math.log(1 / 1e-4 - 1) * 1e-4)
    shader = shader_cls(lights=PointLights(location=((2.0, 2.0, -2.0),)),
                        blend_params=BlendParams(1e-4, 1e-4))
    renderer = MeshRenderer(MeshRasterizer(None, settings), shader)

    def loss(p):
        return jnp.sum((renderer(mesh, cameras=_cameras(p)) - 0.5) ** 2)

    return renderer, loss


@pytest.mark.parametrize("shader_cls,textured", [
    # ~50-80 s each on 2 cores (eager + jit + dense compiles): run by `make test-all`; the
    # compaction itself is checked fast by test_rasterize_meshes_compact.py.
    pytest.param(SoftPhongShader, True, marks=pytest.mark.slow),
    pytest.param(SoftGouraudShader, False, marks=pytest.mark.slow),
    pytest.param(HardFlatShader, True, marks=pytest.mark.slow),
])
def test_compact_shading_equals_dense_eager_and_jit(monkeypatch, shader_cls, textured):
    monkeypatch.setattr(cm, "_MIN_CAPACITY", 16)  # small images: make every branch exist
    mesh = _meshes(textured)
    renderer, loss = _soft_render_loss(shader_cls, mesh, image_size=32, faces_per_pixel=8)
    pos = _POSITIONS
    p2f = renderer.rasterizer(mesh, cameras=_cameras(pos)).pix_to_face
    count, slots = int((p2f[0] >= 0).sum()), p2f[0].size
    assert cm.fragment_capacity(p2f) < slots  # eagerly compacted
    assert count <= sw.capacity_ladder(slots, cm._MIN_CAPACITY)[-1]  # jit: a compact branch
    eager = (loss(pos), jax.grad(loss)(pos))
    jitted = jax.jit(jax.value_and_grad(loss))(pos)
    monkeypatch.setattr(cm, "fragment_capacity", lambda p2f: None)  # dense shading
    dense = (loss(pos), jax.grad(loss)(pos))
    for a, b in zip(jax.tree.leaves((eager, jitted)), jax.tree.leaves((dense, dense))):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-3)
    assert np.abs(np.asarray(dense[1])).sum() > 0


@pytest.mark.slow  # ~40 s on 2 cores (two renderer compiles); the dense-branch test is fast
def test_blocked_shading_equals_one_block(monkeypatch):
    """Above ``_SHADE_BLOCK`` fragments shading runs block by block (lax.map, checkpointed):
    SoftPhong renders and their gradients are the same as with one block."""
    monkeypatch.setattr(cm, "_MIN_CAPACITY", 16)
    _, loss = _soft_render_loss(SoftPhongShader, _meshes(True), image_size=24, faces_per_pixel=6)
    pos = _POSITIONS
    one = jax.jit(jax.value_and_grad(loss))(pos)
    monkeypatch.setattr(cm, "_SHADE_BLOCK", 150)  # 75 fragments per image and block
    blocked = jax.jit(jax.value_and_grad(loss))(pos)
    for a, b in zip(jax.tree.leaves(blocked), jax.tree.leaves(one)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)
    assert np.abs(np.asarray(one[1])).sum() > 0


def test_blocked_dense_branch_equals_dense(monkeypatch):
    """The dense switch branch (every slot shaded) gives 0 at empty slots and the same values
    and operand gradients when blocked."""
    rng = np.random.default_rng(4)
    p2f = np.where(rng.uniform(size=(2, 6, 5, 3)) < 0.6, rng.integers(0, 9, (2, 6, 5, 3)), -1)
    bary = rng.uniform(size=p2f.shape + (3,)).astype(np.float32)
    fr = cm_fragments(p2f, bary)

    def shade(f, w):  # per fragment, reads pix_to_face and bary only
        return jnp.sin(f.bary_coords * w) * (f.pix_to_face[..., None] + 1.0)

    w = jnp.asarray([0.5, 1.5, 2.5])

    def run(w):
        out = cm._shade_dense(shade, fr, w)
        return out, jnp.sum(out ** 2)

    dense, g_dense = run(w)[0], jax.grad(lambda u: run(u)[1])(w)
    np.testing.assert_allclose(np.asarray(dense)[p2f < 0], 0.0)
    monkeypatch.setattr(cm, "_SHADE_BLOCK", 40)
    blocked, g_blocked = run(w)[0], jax.jit(jax.grad(lambda u: run(u)[1]))(w)
    np.testing.assert_allclose(np.asarray(blocked), np.asarray(dense), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(g_blocked), np.asarray(g_dense), rtol=1e-5)


def cm_fragments(p2f, bary):
    from jax3d.renderer import Fragments

    z = jnp.where(jnp.asarray(p2f) >= 0, 1.0, -1.0)
    return Fragments(pix_to_face=jnp.asarray(p2f, jnp.int32), zbuf=z,
                     bary_coords=jnp.asarray(bary), dists=z)


def test_compact_then_expand_round_trip_and_capacity():
    rng = np.random.default_rng(1)
    p2f = np.where(rng.uniform(size=(2, 5, 7, 3)) < 0.3, rng.integers(0, 9, (2, 5, 7, 3)), -1)
    p2f[1] = -1  # an empty image
    zbuf = rng.uniform(size=p2f.shape).astype(np.float32)
    bary = rng.uniform(size=p2f.shape + (3,)).astype(np.float32)

    class Frag:  # a stand-in with the Fragments constructor signature
        def __init__(self, pix_to_face, zbuf, bary_coords, dists):
            self.pix_to_face, self.zbuf = pix_to_face, zbuf
            self.bary_coords, self.dists = bary_coords, dists

    fr = Frag(jnp.asarray(p2f, jnp.int32), jnp.asarray(zbuf), jnp.asarray(bary), jnp.asarray(zbuf))
    count = int((p2f[0] >= 0).sum())
    compact, idx = cm.compact_fragments(fr, count + 5)
    assert compact.pix_to_face.shape == (2, count + 5, 1, 1)
    got = np.asarray(compact.pix_to_face[0, :count, 0, 0])
    np.testing.assert_array_equal(got, p2f[0].reshape(-1)[p2f[0].reshape(-1) >= 0])
    assert (np.asarray(compact.pix_to_face[0, count:]) == -1).all()
    assert (np.asarray(compact.pix_to_face[1]) == -1).all()
    back = cm.expand_to_slots(compact.bary_coords, idx, p2f.shape)
    expect = np.where((p2f >= 0)[..., None], bary, 0.0)
    np.testing.assert_allclose(np.asarray(back), expect)
    cap = cm.fragment_capacity(jnp.asarray(p2f))
    assert cap is None or cap >= count  # 105 slots per image: no gain at this size
    big = -np.ones((1, 64, 64, 8), np.int32)
    big[0, :10, :30, :2] = 1  # 600 fragments of 32768 slots
    assert 600 <= cm.fragment_capacity(jnp.asarray(big)) <= 768
    assert jax.jit(lambda p: jnp.int32(cm.fragment_capacity(p) == "auto"))(jnp.asarray(big)) == 1


def test_switch_with_recompute_matches_switch_values_and_grads():
    branches = [lambda x, n: jnp.sin(x) * n, lambda x, n: x ** 2 + n, lambda x, n: jnp.exp(x)]

    def f(i, x):
        return sw.switch_with_recompute(i, branches, x, jnp.int32(3)).sum()

    def g(i, x):
        return jax.lax.switch(i, branches, x, jnp.int32(3)).sum()

    x = jnp.linspace(-1.0, 1.0, 5)
    for i in range(3):
        np.testing.assert_allclose(jax.jit(f)(i, x), g(i, x), rtol=1e-6)
        np.testing.assert_allclose(jax.jit(jax.grad(f, argnums=1))(i, x),
                                   jax.grad(g, argnums=1)(i, x), rtol=1e-6)
