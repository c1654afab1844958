"""The compacted recompute (fragments only, a switch over capacities) equals the dense one."""

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
    slots = np.asarray(dense[0][0])
    count = int((slots >= 0).sum())
    cap = count + 5  # one compacted branch (and the dense one): a few compilations only
    assert cap < slots.size // 2
    monkeypatch.setattr(rm, "_DENSE_RECOMPUTE_MAX", 0)
    monkeypatch.setattr(rc, "_switch_capacities", lambda total: (cap,))
    compact = rm.rasterize_face_verts(fv, nf, **kw), jax.grad(loss)(fv)
    for a, b in zip(jax.tree.leaves(dense), jax.tree.leaves(compact)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    assert (np.asarray(dense[0][0]) >= 0).any() and (np.asarray(dense[0][0]) < 0).any()
