"""The compacted recompute (fragments only) equals the dense one; the recompute's plan."""

from __future__ import annotations

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

rm = importlib.import_module("jax3d.renderer.mesh.rasterize_meshes")
rc = importlib.import_module("jax3d.renderer.mesh.recompute")


def _scene(seed=0, N=2, F=12):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-0.9, 0.9, (N, F, 1, 2)) + rng.uniform(-0.3, 0.3, (N, F, 3, 2))
    z = rng.uniform(0.5, 3.0, (N, F, 3, 1))
    fv = jnp.asarray(np.concatenate([xy, z], -1), jnp.float32)
    return fv, jnp.array([F, F - 3], jnp.int32)


@pytest.mark.parametrize("blur,K,persp", [
    (0.0, 1, False),
    pytest.param(2e-3, 4, True, marks=pytest.mark.slow),  # ~17 s each: `make test-all`
    pytest.param(5e-2, 6, True, marks=pytest.mark.slow),
])
def test_compacted_equals_dense_values_and_grads(monkeypatch, blur, K, persp):
    fv, nf = _scene()
    kw = dict(image_size=(20, 24), blur_radius=blur, faces_per_pixel=K, bin_size=8,
              perspective_correct=persp, clip_barycentric_coords=blur > 0)

    def loss(v):
        _, z, b, d = rm.rasterize_face_verts(v, nf, **kw)
        return (z * 0.3).sum() + (b * jnp.arange(3.0)).sum() + (d * 7.0).sum()

    dense = rm.rasterize_face_verts(fv, nf, **kw), jax.grad(loss)(fv)
    monkeypatch.setattr(rm, "_DENSE_RECOMPUTE_MAX", 0)
    slots = np.asarray(dense[0][0])
    assert rc.plan_fragment_capacity(jnp.asarray(slots)) < slots.size // K  # really compacted
    compact = rm.rasterize_face_verts(fv, nf, **kw), jax.grad(loss)(fv)
    for a, b in zip(jax.tree.leaves(dense), jax.tree.leaves(compact)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    assert (np.asarray(dense[0][0]) >= 0).any() and (np.asarray(dense[0][0]) < 0).any()


def test_fragment_capacity_plan_rounding_and_traced():
    slots = -np.ones((1, 64, 64, 2), np.int32)
    slots[0, :10, :50, 0] = 3  # 500 fragments
    cap = rc.plan_fragment_capacity(jnp.asarray(slots))
    assert 500 <= cap <= 768
    slots[0, :10, :50, 1] = 4  # 1000 fragments
    assert 1000 <= rc.plan_fragment_capacity(jnp.asarray(slots)) <= 1536
    slots[0] = 1  # every entry is a fragment: no compaction
    assert rc.plan_fragment_capacity(jnp.asarray(slots)) is None
    traced = jax.jit(lambda s: jnp.int32(rc.plan_fragment_capacity(s) == "auto"))
    assert traced(jnp.asarray(slots)) == 1
