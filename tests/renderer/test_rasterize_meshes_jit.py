"""The rasterizers under jit: the plan from the settings, the switched recompute.

Under an outer ``jax.jit`` bin counts are traced, so the plan comes from the settings and the
search runs :func:`dynamic_search` (bins sorted by count, a ``while_loop`` over candidate
chunks); the recompute picks a static capacity with ``lax.switch`` (eagerly too). Both must
give exactly what an eager call (a plan from the concrete counts, tiers) gives, gradients
included.
"""

from __future__ import annotations

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.renderer.test_rasterize_meshes import random_scene, rasterize_naive

rm = importlib.import_module("jax3d.renderer.mesh.rasterize_meshes")
rc = importlib.import_module("jax3d.renderer.mesh.recompute")
bs_ = importlib.import_module("jax3d.renderer.binned_search")
rp = importlib.import_module("jax3d.renderer.points.rasterize_points")


def _small_groups(monkeypatch, group=3, chunk=4):
    """Tiny groups and chunks: many loop steps, group and chunk boundaries everywhere."""
    monkeypatch.setattr(bs_, "_dynamic_sizes", lambda P, K: (group, chunk))


@pytest.mark.parametrize("K,blur,persp,clipb,cull", [
    (1, 0.0, False, False, False),
    pytest.param(3, 2e-3, True, False, False, marks=pytest.mark.slow),  # ~8 s each
    pytest.param(6, 2e-2, True, True, True, marks=pytest.mark.slow),
])
def test_jit_search_equals_eager_and_naive(monkeypatch, K, blur, persp, clipb, cull):
    _small_groups(monkeypatch)
    fv, nf = random_scene(K, N=3, F=25, num_faces=[25, 0, 11])
    kw = dict(image_size=(18, 21), blur_radius=blur, faces_per_pixel=K, bin_size=4,
              perspective_correct=persp, clip_barycentric_coords=clipb, cull_backfaces=cull)
    eager = rm.rasterize_face_verts(fv, nf, **kw)
    jitted = jax.jit(lambda f: rm.rasterize_face_verts(f, nf, **kw))(jnp.asarray(fv))
    np.testing.assert_array_equal(np.asarray(jitted[0]), np.asarray(eager[0]))
    for a, b in zip(eager[1:], jitted[1:]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)
    ref = rasterize_naive(fv, nf, 18, 21, blur=blur, K=K, perspective_correct=persp,
                          clip_bary=clipb, cull_backfaces=cull)
    p2f = np.asarray(jitted[0])
    assert (p2f == ref[0]).mean() > 0.998 and (p2f[1] == -1).all()  # mesh 1 is empty


@pytest.mark.slow
def test_jit_search_with_z_clipping_equals_eager(monkeypatch):
    _small_groups(monkeypatch, group=2, chunk=2)
    fv, nf = random_scene(3, N=2, F=20, z=(-0.5, 2.5))
    kw = dict(image_size=16, blur_radius=1e-3, faces_per_pixel=4, bin_size=4,
              perspective_correct=True, z_clip_value=0.1)
    eager = rm.rasterize_face_verts(fv, nf, **kw)
    jitted = jax.jit(lambda f: rm.rasterize_face_verts(f, nf, **kw))(jnp.asarray(fv))
    np.testing.assert_array_equal(np.asarray(jitted[0]), np.asarray(eager[0]))
    assert (np.asarray(eager[0]) >= 0).any()
    # Clipped vertices round differently when fused: a pixel centre on an edge may flip the
    # sign of its (tiny) distance, so distances are compared by magnitude.
    for a, b in zip(eager[1:3] + (jnp.abs(eager[3]),), jitted[1:3] + (jnp.abs(jitted[3]),)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_dynamic_search_with_the_default_sizes_equals_eager():
    fv, nf = random_scene(11, N=2, F=300, scale=0.4)
    kw = dict(image_size=(40, 56), blur_radius=5e-4, faces_per_pixel=5, bin_size=8)
    eager = rm.rasterize_face_verts(fv, nf, **kw)
    jitted = jax.jit(lambda f: rm.rasterize_face_verts(f, nf, **kw))(jnp.asarray(fv))
    np.testing.assert_array_equal(np.asarray(jitted[0]), np.asarray(eager[0]))


def test_merge_nearest_equals_one_selection_over_everything():
    rng = np.random.default_rng(0)
    key = rng.integers(0, 5, (7, 23)).astype(np.float32)  # many exact ties
    key[rng.uniform(size=key.shape) < 0.3] = np.inf
    slot = np.broadcast_to(np.arange(23, dtype=np.int32), key.shape)
    for K in (1, 4, 9):
        bk = jnp.full((7, K), jnp.inf)
        bs = jnp.full((7, K), -1, jnp.int32)
        for c0 in range(0, 23, 5):  # chunks in increasing column order
            bk, bs = bs_.merge_nearest(bk, bs, key[:, c0:c0 + 5], slot[:, c0:c0 + 5], K)
        got = np.where(np.isfinite(bk), bs, -1)
        np.testing.assert_array_equal(got, np.asarray(bs_.select_nearest(key, slot, K)))


def test_jit_overflow_warns_and_stays_exact():
    fv, nf = random_scene(5, N=2, F=40)
    kw = dict(image_size=(16, 20), blur_radius=1e-3, faces_per_pixel=3, bin_size=8)
    eager = rm.rasterize_face_verts(fv, nf, **kw)
    with pytest.warns(UserWarning, match="overflowed their plan"):
        jitted = jax.jit(lambda f: rm.rasterize_face_verts(f, nf, max_faces_per_bin=1, **kw))(
            jnp.asarray(fv))
        jax.block_until_ready(jitted)
    np.testing.assert_array_equal(np.asarray(jitted[0]), np.asarray(eager[0]))


@pytest.mark.parametrize("blur,K", [(0.0, 1), (5e-3, 4)])
@pytest.mark.slow
def test_switched_recompute_equals_dense_values_and_grads(monkeypatch, blur, K):
    # Small scenes have few fragments: lower the smallest capacity so that every branch of
    # the switch (and the dense one) exists, then check the branch taken for this scene.
    monkeypatch.setattr(rc, "_MIN_SWITCH_CAPACITY", 8)
    fv, nf = random_scene(7, N=2, F=15, scale=0.6)
    kw = dict(image_size=(32, 32), blur_radius=blur, faces_per_pixel=K, bin_size=8,
              perspective_correct=True)
    slots = np.asarray(rm.rasterize_face_verts(fv, nf, **kw)[0])
    count, total = int((slots >= 0).sum()), slots.size
    caps = rc._switch_capacities(total)
    assert len(caps) >= 3 and count <= caps[-1]  # compacted, not dense

    def loss(v):
        _, z, b, d = rm.rasterize_face_verts(v, nf, **kw)
        return (z * 0.3).sum() + (b * jnp.arange(3.0)).sum() + (d * 7.0).sum()

    monkeypatch.setattr(rm, "_DENSE_RECOMPUTE_MAX", 0)  # compacted, not dense
    eager = rm.rasterize_face_verts(fv, nf, **kw), jax.grad(loss)(jnp.asarray(fv))
    jitted = jax.jit(lambda v: (rm.rasterize_face_verts(v, nf, **kw), jax.grad(loss)(v)))(
        jnp.asarray(fv))
    for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    assert np.abs(np.asarray(eager[1])).sum() > 0


@pytest.mark.slow
def test_switched_recompute_takes_the_dense_branch_when_full(monkeypatch):
    monkeypatch.setattr(rc, "_MIN_SWITCH_CAPACITY", 8)
    fv = jnp.asarray([[[[1.5, 1.5, 1.0], [-1.5, 1.5, 1.0], [0.0, -3.0, 1.0]]]], jnp.float32)
    slots = jnp.zeros((1, 16, 16, 1), jnp.int32)  # every pixel sees face 0
    dense = rc.recompute(fv, slots, False, False)
    switched = jax.jit(lambda v, s: rc.recompute(v, s, False, False, "auto"))(fv, slots)
    for a, b in zip(dense, switched):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    g1 = jax.grad(lambda v: rc.recompute(v, slots, False, False)[2].sum())(fv)
    g2 = jax.jit(jax.grad(lambda v: rc.recompute(v, slots, False, False, "auto")[2].sum()))(fv)
    np.testing.assert_allclose(np.asarray(g1), np.asarray(g2), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("capacity", [None, 200])  # "auto" is dense at this size
def test_blocked_recompute_equals_one_block(monkeypatch, capacity):
    """Above ``_RECOMPUTE_BLOCK`` fragments the recompute runs block by block (``lax.map``,
    checkpointed): same values and gradients as one block, including a ragged last block and
    blocks of empty slots."""
    fv, nf = random_scene(11, N=2, F=12)
    slots = jnp.asarray(rm.rasterize_face_verts(fv, nf, image_size=12, blur_radius=0.01,
                                                faces_per_pixel=3)[0])  # fmt: skip
    assert 0 < int((slots >= 0).sum()) <= 200
    w = jnp.asarray(np.random.default_rng(0).normal(size=slots.shape + (5,)), jnp.float32)

    def run(v):
        z, b, d = rc.recompute(v, slots, True, True, capacity)
        return (z, b, d), (z * w[..., 0]).sum() + (b * w[..., 1:4]).sum() + (d * w[..., 4]).sum()

    def both(v):
        out, _ = run(v)
        return out, jax.grad(lambda u: run(u)[1])(v)

    one = jax.jit(both)(jnp.asarray(fv))
    monkeypatch.setattr(rc, "_RECOMPUTE_BLOCK", 37)  # many blocks, ragged last one
    blocked = jax.jit(both)(jnp.asarray(fv))
    for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(blocked)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)
    assert np.abs(np.asarray(one[1])).sum() > 0


@pytest.mark.slow
def test_recompute_memory_is_bounded_by_the_block():
    """Under jit XLA reserves memory for the largest switch branch (the dense one): with
    blocking, the gradient's temporaries stay near one block's, not ~300 bytes x N*H*W*K."""
    fv, nf = random_scene(2, N=1, F=40)
    slots = jnp.zeros((1, 256, 256, 40), jnp.int32)  # 2.6M slots, every capacity branch

    def loss(v):
        z, b, d = rc.recompute(v, slots, True, True, "auto")
        return z.sum() + b.sum() + d.sum()

    mem = jax.jit(jax.grad(loss)).lower(jnp.asarray(fv)).compile().memory_analysis()
    if mem is None:
        pytest.skip("this backend reports no memory analysis")
    per_slot = mem.temp_size_in_bytes / slots.size
    assert per_slot < 120, f"{per_slot:.0f} bytes of temporaries per slot"


def test_points_jit_dynamic_search_equals_eager(monkeypatch):
    _small_groups(monkeypatch, group=2, chunk=3)
    rng = np.random.default_rng(3)
    pts = np.concatenate([rng.uniform(-1.1, 1.1, (2, 80, 2)), rng.uniform(-0.2, 3, (2, 80, 1))],
                         -1).astype(np.float32)
    n = np.array([80, 33])
    eager = rp.rasterize_points_padded(pts, n, (17, 22), 0.12, 5, bin_size=4)
    jitted = jax.jit(lambda p: rp.rasterize_points_padded(p, n, (17, 22), 0.12, 5,
                                                          bin_size=4))(jnp.asarray(pts))
    for a, b in zip(eager, jitted):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
