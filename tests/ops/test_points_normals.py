"""estimate_pointcloud_normals / local frames against a float64 PCA reference."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.ops import estimate_pointcloud_local_coord_frames, estimate_pointcloud_normals


def normals_naive(points, k):
    """Unsigned PCA normals: smallest-eigenvalue eigenvector of the k-NN covariance."""
    p = np.asarray(points, np.float64)
    out = np.zeros_like(p)
    for b in range(p.shape[0]):
        d = ((p[b][:, None] - p[b][None]) ** 2).sum(-1)
        for i in range(p.shape[1]):
            nb = p[b][np.argsort(d[i], kind="stable")[:k]]
            c = nb - nb.mean(0)
            _, v = np.linalg.eigh(c.T @ c / k)
            out[b, i] = v[:, 0]
    return out


def _sphere(n, seed=0, radius=1.0):
    v = np.random.default_rng(seed).normal(size=(1, n, 3))
    return (radius * v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def test_matches_naive_up_to_sign():
    pts = _sphere(120) + np.random.default_rng(1).normal(scale=0.01, size=(1, 120, 3))
    got = np.asarray(estimate_pointcloud_normals(pts.astype(np.float32), 12, False))
    ref = normals_naive(pts, 12)
    np.testing.assert_allclose(np.abs((got * ref).sum(-1)), 1.0, atol=1e-3)


def test_sphere_normals_are_radial_and_consistently_signed():
    pts = _sphere(400)
    normals = np.asarray(estimate_pointcloud_normals(pts, 20))
    cos = (normals * pts).sum(-1)
    assert np.abs(cos).min() > 0.98
    assert (np.sign(cos) == np.sign(cos[0, 0])).all()  # one orientation for all points


def test_frames_are_orthonormal_and_curvatures_sorted():
    pts = _sphere(150, seed=2) * np.array([1.0, 2.0, 0.5], np.float32)
    curv, frames = estimate_pointcloud_local_coord_frames(pts, 15)
    f = np.asarray(frames)
    np.testing.assert_allclose(
        np.einsum("npki,npkj->npij", f, f), np.broadcast_to(np.eye(3), f.shape), atol=1e-4
    )
    assert (np.diff(np.asarray(curv), axis=-1) >= -1e-7).all()


def test_heterogeneous_batch_equals_per_item_and_jit():
    a = _sphere(60, seed=3)[0]
    b = _sphere(45, seed=4)[0] * 2.0
    padded = np.zeros((2, 60, 3), np.float32)
    padded[0], padded[1, :45] = a, b
    structures = pytest.importorskip("jax3d.structures")
    if not hasattr(structures, "Pointclouds"):
        pytest.skip("Pointclouds not available yet")
    pcl = structures.Pointclouds([a, b])
    batch = np.asarray(estimate_pointcloud_normals(pcl, 10))
    one = np.asarray(estimate_pointcloud_normals(b[None], 10))
    np.testing.assert_allclose(batch[1, :45], one[0], atol=1e-4)
    jitted = jax.jit(lambda p: estimate_pointcloud_normals(p, 10))(jnp.asarray(a[None]))
    np.testing.assert_allclose(jitted, estimate_pointcloud_normals(a[None], 10), atol=1e-5)


def test_validation():
    with pytest.raises(ValueError, match="neighborhood_size"):
        estimate_pointcloud_normals(np.zeros((1, 5, 3), np.float32), 5)
    with pytest.raises(ValueError, match=r"\(N, P, 3\)"):
        estimate_pointcloud_normals(np.zeros((1, 5, 2), np.float32), 2)
