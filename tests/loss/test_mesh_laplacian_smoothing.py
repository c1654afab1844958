"""mesh_laplacian_smoothing against float64 dense NumPy references and PyTorch3D's outputs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jax3d.loss import mesh_laplacian_smoothing
from jax3d.structures import Meshes
from jax3d.utils import ico_sphere_verts_faces

METHODS = ["uniform", "cot", "cotcurv"]


def uniform_laplacian_naive(V, faces):
    adj = np.zeros((V, V))
    for f in faces:
        for i, j in ((0, 1), (1, 2), (2, 0)):
            adj[f[i], f[j]] = adj[f[j], f[i]] = 1.0
    deg = adj.sum(1, keepdims=True)
    return np.divide(adj, deg, out=np.zeros_like(adj), where=deg > 0) - np.eye(V)


def cot_laplacian_naive(verts, faces):
    """Dense L[i, j] = sum of cot of the angles opposite (i, j); vertex area sums."""
    V = len(verts)
    L, area = np.zeros((V, V)), np.zeros(V)
    for f in faces:
        p = verts[f]
        a = 0.5 * np.linalg.norm(np.cross(p[1] - p[0], p[2] - p[0]))
        area[f] += a
        for k in range(3):  # angle at corner k, opposite edge (k+1, k+2)
            u, w = p[(k + 1) % 3] - p[k], p[(k + 2) % 3] - p[k]
            cot = np.dot(u, w) / np.linalg.norm(np.cross(u, w))
            i, j = f[(k + 1) % 3], f[(k + 2) % 3]
            L[i, j] += cot
            L[j, i] += cot
    inv_area = np.divide(1.0, area, out=np.zeros_like(area), where=area > 0)
    return L, inv_area[:, None]


def laplacian_smoothing_naive(verts_list, faces_list, method):
    per_mesh = []
    for v, f in zip(verts_list, faces_list):
        v, f = np.asarray(v, np.float64), np.asarray(f)
        if method == "uniform":
            res = uniform_laplacian_naive(len(v), f) @ v
        else:
            L, inv_area = cot_laplacian_naive(v, f)
            row = L.sum(1, keepdims=True)
            if method == "cot":
                w = np.where(row > 0, 1.0 / np.where(row > 0, row, 1.0), row)
                res = (L @ v) * w - v
            else:
                res = (L @ v - row * v) * 0.25 * inv_area
        per_mesh.append(np.linalg.norm(res, axis=1).mean() if len(v) else 0.0)
    return np.mean(per_mesh)


def _noisy_sphere(level, seed, scale=0.05):
    v, f = ico_sphere_verts_faces(level)
    rng = np.random.default_rng(seed)
    return (v + scale * rng.normal(size=v.shape)).astype(np.float32), f


def flat_grid(n=5, jitter=0.0, seed=0):
    """(n*n, 3) verts of a planar grid (z = 0), 2 (n-1)^2 faces, and the interior mask."""
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    xy = np.stack([jj.ravel(), ii.ravel()], 1).astype(np.float64)
    interior = ((ii > 0) & (ii < n - 1) & (jj > 0) & (jj < n - 1)).ravel()
    xy[interior] += jitter * np.random.default_rng(seed).uniform(-0.2, 0.2, (interior.sum(), 2))
    verts = np.concatenate([xy, np.zeros((n * n, 1))], 1).astype(np.float32)
    faces = []
    for i in range(n - 1):
        for j in range(n - 1):
            a, b, c, d = i * n + j, i * n + j + 1, (i + 1) * n + j, (i + 1) * n + j + 1
            faces += [[a, b, d], [a, d, c]]
    return verts, np.array(faces, np.int32), interior


@pytest.mark.parametrize("method", ["uniform", "cot"])
def test_pytorch3d_reference(reference, method):
    ref = reference("losses")
    m = Meshes([ref["mesh_verts"]], [ref["mesh_faces"].astype(np.int32)])
    np.testing.assert_allclose(
        mesh_laplacian_smoothing(m, method), ref[f"laplacian_{method}"], rtol=1e-5
    )


@pytest.mark.parametrize("method", METHODS)
def test_heterogeneous_batch_matches_naive_and_per_item(method):
    items = [_noisy_sphere(1, 0), _noisy_sphere(0, 1)]
    verts, faces = [v for v, _ in items], [f for _, f in items]
    got = mesh_laplacian_smoothing(Meshes(verts, faces), method)
    np.testing.assert_allclose(got, laplacian_smoothing_naive(verts, faces, method), rtol=1e-4)
    per_item = [mesh_laplacian_smoothing(Meshes([v], [f]), method) for v, f in items]
    np.testing.assert_allclose(got, np.mean(per_item), rtol=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_flat_grid_interior_is_zero(method):
    """The Laplacian of a flat regular grid vanishes at interior vertices."""
    from jax3d.ops.laplacian_matrices import cot_laplacian, laplacian

    verts, faces, interior = flat_grid(5)
    if method == "uniform":
        edges = np.unique(np.sort(faces[:, [[0, 1], [1, 2], [2, 0]]].reshape(-1, 2), 1), axis=0)
        res = laplacian(verts, edges) @ verts
    else:
        L, _ = cot_laplacian(verts, faces)
        res = L @ verts - (L @ jnp.ones((len(verts), 1))) * verts
    np.testing.assert_allclose(np.asarray(res)[interior], 0.0, atol=1e-5)
    assert np.abs(np.asarray(res)[~interior]).max() > 0.1  # the boundary is not flat-interior


def test_flat_jittered_grid_cot_interior_is_zero():
    """The cotangent Laplacian reproduces linear functions: 0 inside any planar mesh."""
    from jax3d.ops.laplacian_matrices import cot_laplacian

    verts, faces, interior = flat_grid(6, jitter=1.0, seed=3)
    L, _ = cot_laplacian(verts, faces)
    res = L @ verts - (L @ jnp.ones((len(verts), 1))) * verts
    np.testing.assert_allclose(np.asarray(res)[interior], 0.0, atol=1e-4)


@pytest.mark.parametrize("method", METHODS)
def test_jit_matches_eager(method):
    v, f = _noisy_sphere(1, 3)
    m = Meshes([v], [f])
    fn = jax.jit(lambda mm: mesh_laplacian_smoothing(mm, method))
    np.testing.assert_allclose(fn(m), mesh_laplacian_smoothing(m, method), rtol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_grads(method):
    """Gradient of the loss with the Laplacian weights held constant (as PyTorch3D)."""
    v, f = _noisy_sphere(0, 5)
    with jax.enable_x64(True):
        x = jnp.asarray(v, jnp.float64)[None]
        m = Meshes(x, jnp.asarray(f)[None])
        loss = jax.jit(lambda y: mesh_laplacian_smoothing(m.update_padded(y), method))
        g = jax.grad(loss)(x)
        assert np.all(np.isfinite(g))
        # With the weights frozen the loss is positively 1-homogeneous: <grad, x> = loss.
        np.testing.assert_allclose(jnp.sum(g * x), loss(x), rtol=1e-8)
        if method == "uniform":  # uniform weights do not depend on the vertices at all
            check_grads(loss, (x,), order=1, modes=["rev"])
        if method == "cot":  # cotangents are scale-invariant: scaling keeps them fixed
            fd = (loss(1.001 * x) - loss(0.999 * x)) / 0.002
            np.testing.assert_allclose(jnp.sum(g * x), fd, rtol=1e-6)


def test_empty_and_faceless_meshes():
    empty = Meshes([np.zeros((0, 3), np.float32)], [np.zeros((0, 3), np.int32)])
    for method in METHODS:
        assert float(mesh_laplacian_smoothing(empty, method)) == 0.0
    v, f = _noisy_sphere(0, 6)
    mixed = Meshes([v, np.zeros((0, 3), np.float32)], [f, np.zeros((0, 3), np.int32)])
    for method in METHODS:
        got = mesh_laplacian_smoothing(mixed, method)
        np.testing.assert_allclose(
            got, 0.5 * laplacian_smoothing_naive([v], [f], method), rtol=1e-4
        )


def test_grad_is_finite_on_flat_grid():
    verts, faces, _ = flat_grid(4)
    m = Meshes([verts], [faces])
    for method in METHODS:
        g = jax.jit(
            jax.grad(lambda x, method=method: mesh_laplacian_smoothing(m.update_padded(x), method))
        )(m.verts_padded())
        assert np.all(np.isfinite(g))


def test_bad_method():
    v, f = _noisy_sphere(0, 7)
    with pytest.raises(ValueError, match="method"):
        mesh_laplacian_smoothing(Meshes([v], [f]), "cotan")
