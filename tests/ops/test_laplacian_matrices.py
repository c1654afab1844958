"""Sparse Laplacians against dense float64 NumPy references."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import sparse
from jax.test_util import check_grads

from jax3d.ops import cot_laplacian, laplacian, norm_laplacian
from jax3d.ops.laplacian_matrices import laplacian_entries, sparse_matvec
from jax3d.utils import ico_sphere_verts_faces


def edges_of(faces):
    e = np.sort(faces[:, [[1, 2], [2, 0], [0, 1]]].reshape(-1, 2), axis=1)
    return np.unique(e, axis=0).astype(np.int32)


def laplacian_naive(V, edges):
    A = np.zeros((V, V))
    for i, j in edges:
        A[i, j] += 1.0
        A[j, i] += 1.0
    deg = A.sum(1, keepdims=True)
    return np.divide(A, deg, out=np.zeros_like(A), where=deg > 0) - np.eye(V)


def cot_laplacian_naive(verts, faces):
    verts = np.asarray(verts, np.float64)
    V = len(verts)
    L, area = np.zeros((V, V)), np.zeros(V)
    for f in faces:
        p = verts[f]
        area[f] += 0.5 * np.linalg.norm(np.cross(p[1] - p[0], p[2] - p[0]))
        for k in range(3):
            u, w = p[(k + 1) % 3] - p[k], p[(k + 2) % 3] - p[k]
            cot = u @ w / np.linalg.norm(np.cross(u, w))
            i, j = f[(k + 1) % 3], f[(k + 2) % 3]
            L[i, j] += cot
            L[j, i] += cot
    return L, np.divide(1.0, area, out=np.zeros_like(area), where=area > 0)[:, None]


def norm_laplacian_naive(verts, edges, eps=1e-12):
    verts = np.asarray(verts, np.float64)
    L = np.zeros((len(verts), len(verts)))
    for i, j in edges:
        w = 1.0 / (np.linalg.norm(verts[i] - verts[j]) + eps)
        L[i, j] += w
        L[j, i] += w
    return L


def _mesh(seed=0, level=1):
    v, f = ico_sphere_verts_faces(level)
    v = v + 0.05 * np.random.default_rng(seed).normal(size=v.shape)
    return v.astype(np.float32), f


def test_laplacian_matches_naive_and_is_sparse():
    v, f = _mesh()
    e = edges_of(f)
    L = laplacian(v, e)
    assert isinstance(L, sparse.BCOO) and L.nse == 2 * len(e) + len(v)
    np.testing.assert_allclose(L.todense(), laplacian_naive(len(v), e), atol=1e-6)
    x = np.random.default_rng(1).normal(size=(len(v), 3)).astype(np.float32)
    np.testing.assert_allclose(L @ x, laplacian_naive(len(v), e) @ x, rtol=1e-5, atol=1e-5)


def test_padding_edges_are_ignored_and_isolated_vertices():
    v, f = _mesh(level=0)
    e = edges_of(f)
    v_extra = np.concatenate([v, np.ones((2, 3), np.float32)])  # two isolated vertices
    padded = np.concatenate([e, -np.ones((4, 2), np.int32)])
    np.testing.assert_allclose(
        laplacian(v_extra, padded).todense(), laplacian_naive(len(v_extra), e), atol=1e-6
    )
    np.testing.assert_allclose(
        norm_laplacian(v_extra, padded).todense(), norm_laplacian_naive(v_extra, e), rtol=1e-5
    )


def test_cot_laplacian_matches_naive():
    v, f = _mesh(2)
    L, inv_areas = cot_laplacian(v, f)
    L_ref, inv_ref = cot_laplacian_naive(v, f)
    np.testing.assert_allclose(L.todense(), L_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(inv_areas, inv_ref, rtol=1e-4)


def test_norm_laplacian_matches_naive():
    v, f = _mesh(3)
    e = edges_of(f)
    np.testing.assert_allclose(
        norm_laplacian(v, e).todense(), norm_laplacian_naive(v, e), rtol=1e-5
    )


def test_jit_matches_eager_and_entries_matvec():
    v, f = _mesh(4)
    e = edges_of(f)
    x = jnp.asarray(v)
    for fn, arg in ((laplacian, e), (norm_laplacian, e), (lambda a, b: cot_laplacian(a, b)[0], f)):
        eager = fn(v, arg) @ x
        np.testing.assert_allclose(
            jax.jit(lambda a, fn=fn, arg=arg: fn(a, arg) @ x)(v), eager, rtol=1e-5, atol=1e-6
        )
    rows, cols, vals = laplacian_entries(len(v), jnp.asarray(e))
    np.testing.assert_allclose(
        sparse_matvec(rows, cols, vals, x, len(v)), laplacian(v, e) @ x, atol=1e-6
    )


def test_grads():
    v, f = _mesh(5, level=0)
    e = edges_of(f)
    with jax.enable_x64(True):
        x = jnp.asarray(v, jnp.float64)
        check_grads(jax.jit(lambda y: norm_laplacian(y, e) @ y), (x,), order=1, modes=["rev"])
        check_grads(jax.jit(lambda y: cot_laplacian(y, f)[0] @ y), (x,), order=1, modes=["rev"])
        check_grads(jax.jit(lambda y: cot_laplacian(y, f)[1]), (x,), order=1, modes=["rev"])


def test_degenerate_face_is_finite():
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32)
    f = np.array([[0, 1, 2], [0, 2, 3]], np.int32)  # face 0 has zero area
    L, inv = cot_laplacian(v, f)
    assert np.all(np.isfinite(L.todense())) and np.all(np.isfinite(inv))
    g = jax.jit(jax.grad(lambda y: jnp.sum((cot_laplacian(y, f)[0] @ y) ** 2)))(jnp.asarray(v))
    assert np.all(np.isfinite(g))


def test_validation():
    v, f = _mesh(level=0)
    with pytest.raises(ValueError, match="verts"):
        laplacian(v[:, :2], edges_of(f))
    with pytest.raises(ValueError, match="edges"):
        norm_laplacian(v, f)
    with pytest.raises(ValueError, match="faces"):
        cot_laplacian(v, f[:, :2])
    with pytest.raises(TypeError, match="edges"):
        laplacian(v, edges_of(f).astype(np.float32))
