"""mesh_face_areas_normals against a float64 loop and closed forms."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jax3d.ops import mesh_face_areas_normals


def face_areas_normals_naive(verts, faces):
    verts = np.asarray(verts, np.float64)
    areas, normals = np.zeros(len(faces)), np.zeros((len(faces), 3))
    for i, f in enumerate(faces):
        if np.any(f < 0):
            continue
        n = np.cross(verts[f[1]] - verts[f[0]], verts[f[2]] - verts[f[0]])
        areas[i] = 0.5 * np.linalg.norm(n)
        normals[i] = n / max(np.linalg.norm(n), 1e-6)
    return areas, normals


def _random(seed, V=30, F=50):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(V, 3)).astype(np.float32), rng.integers(0, V, (F, 3)).astype(np.int32)


def test_matches_naive_with_padding_and_degenerate_faces():
    verts, faces = _random(0)
    faces[3] = [4, 4, 7]  # zero area
    faces[-5:] = -1  # padding
    areas, normals = mesh_face_areas_normals(verts, faces)
    a_ref, n_ref = face_areas_normals_naive(verts, faces)
    np.testing.assert_allclose(areas, a_ref, rtol=1e-5, atol=1e-6)
    # Normals of (near-)degenerate faces are float32 rounding noise over 1e-6, as in PyTorch3D.
    ok = a_ref > 1e-4
    np.testing.assert_allclose(np.asarray(normals)[ok], n_ref[ok], rtol=1e-5, atol=1e-5)
    assert float(areas[3]) < 1e-6 and np.all(np.asarray(normals[-5:]) == 0)


def test_closed_form_right_triangle():
    verts = np.array([[0, 0, 0], [2, 0, 0], [0, 3, 0]], np.float32)
    areas, normals = mesh_face_areas_normals(verts, np.array([[0, 1, 2]]))
    np.testing.assert_allclose(areas, [3.0])
    np.testing.assert_allclose(normals, [[0, 0, 1]])


def test_batched_equals_per_item_and_jit():
    v1, f1 = _random(1)
    v2, f2 = _random(2)
    vb, fb = np.stack([v1, v2]), np.stack([f1, f2])
    areas, normals = jax.jit(mesh_face_areas_normals)(vb, fb)
    for b, (v, f) in enumerate([(v1, f1), (v2, f2)]):
        a, n = mesh_face_areas_normals(v, f)
        np.testing.assert_allclose(areas[b], a, rtol=1e-6)
        np.testing.assert_allclose(normals[b], n, rtol=1e-6, atol=1e-7)


def test_grads_finite_and_correct():
    verts, faces = _random(3, V=8, F=6)
    faces[0] = [1, 1, 2]  # degenerate face: gradient must stay finite
    with jax.enable_x64(True):
        v = jnp.asarray(verts, jnp.float64)
        g = jax.jit(jax.grad(lambda x: mesh_face_areas_normals(x, faces)[0].sum()))(v)
        assert np.all(np.isfinite(g))
        good = faces[1:]
        check_grads(
            jax.jit(lambda x: mesh_face_areas_normals(x, good)[0]), (v,), order=1, modes=["rev"]
        )
        check_grads(
            jax.jit(lambda x: mesh_face_areas_normals(x, good)[1]), (v,), order=1, modes=["rev"]
        )


def test_validation():
    verts, faces = _random(4)
    with pytest.raises(ValueError, match="verts"):
        mesh_face_areas_normals(verts[:, :2], faces)
    with pytest.raises(ValueError, match="faces"):
        mesh_face_areas_normals(verts, faces[:, :2])
    with pytest.raises(TypeError, match="faces"):
        mesh_face_areas_normals(verts, faces.astype(np.float32))
