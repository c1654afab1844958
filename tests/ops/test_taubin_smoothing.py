"""taubin_smoothing against a float64 NumPy loop of the same update."""

from __future__ import annotations

import jax
import numpy as np

from jax3d.loss import mesh_normal_consistency
from jax3d.ops import taubin_smoothing
from jax3d.structures import Meshes
from jax3d.utils import ico_sphere_verts_faces


def taubin_naive(verts, faces, lambd=0.53, mu=-0.53, num_iter=10):
    verts = np.asarray(verts, np.float64)
    nbrs = {i: set() for i in range(len(verts))}
    for f in faces:
        for i, j in ((0, 1), (1, 2), (2, 0)):
            nbrs[int(f[i])].add(int(f[j]))
            nbrs[int(f[j])].add(int(f[i]))

    def step(v, w):
        out = v.copy()
        for i, js in nbrs.items():
            if js:
                js = sorted(js)
                wt = 1.0 / (np.linalg.norm(v[js] - v[i], axis=1) + 1e-12)
                out[i] = (1 - w) * v[i] + w * (wt @ v[js]) / wt.sum()
        return out

    for _ in range(num_iter):
        verts = step(step(verts, lambd), mu)
    return verts


def _noisy(level, seed, scale=0.05):
    v, f = ico_sphere_verts_faces(level)
    return (v + scale * np.random.default_rng(seed).normal(size=v.shape)).astype(np.float32), f


def test_heterogeneous_batch_matches_naive():
    (v1, f1), (v0, f0) = _noisy(1, 0), _noisy(0, 1)
    extra = np.concatenate([v0, [[5.0, 5.0, 5.0]]]).astype(np.float32)  # an isolated vertex
    out = taubin_smoothing(Meshes([v1, extra], [f1, f0]), num_iter=3)
    np.testing.assert_allclose(out.verts_list()[0], taubin_naive(v1, f1, num_iter=3), atol=1e-5)
    np.testing.assert_allclose(out.verts_list()[1], taubin_naive(extra, f0, num_iter=3), atol=1e-5)
    np.testing.assert_array_equal(out.verts_list()[1][-1], [5.0, 5.0, 5.0])
    np.testing.assert_array_equal(out.faces_padded(), Meshes([v1, extra], [f1, f0]).faces_padded())


def test_smooths_noise_without_shrinking_much_and_jits():
    v, f = _noisy(2, 2, 0.03)
    meshes = Meshes([v], [f])
    out = jax.jit(lambda m: taubin_smoothing(m, num_iter=5))(meshes)
    np.testing.assert_allclose(
        out.verts_padded(), taubin_smoothing(meshes, num_iter=5).verts_padded(), atol=1e-5
    )
    assert float(mesh_normal_consistency(out)) < 0.5 * float(mesh_normal_consistency(meshes))
    radius = np.linalg.norm(np.asarray(out.verts_list()[0]), axis=1).mean()
    assert 0.95 < radius < 1.05


def test_translation_equivariance_and_grads():
    v, f = _noisy(0, 3)
    meshes = Meshes([v], [f])
    a = taubin_smoothing(meshes, num_iter=2).verts_padded()
    b = taubin_smoothing(meshes.update_padded(meshes.verts_padded() + 2.0), num_iter=2)
    np.testing.assert_allclose(b.verts_padded(), a + 2.0, atol=1e-5)
    g = jax.jit(
        jax.grad(
            lambda x: taubin_smoothing(meshes.update_padded(x), num_iter=2).verts_padded().sum()
        )
    )(meshes.verts_padded())
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(np.sum(g), 3 * len(v), rtol=1e-4)  # translation moves all equally
