"""mesh_normal_consistency against a float64 NumPy port of PyTorch3D's pairing rule."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from jax3d.loss import mesh_normal_consistency
from jax3d.structures import Meshes
from jax3d.utils import ico_sphere_verts_faces


def normal_consistency_naive(verts_list, faces_list):
    """For each edge, the faces holding it in face order; PyTorch3D pairs list positions
    (i, j) with i in [0, k-2], j in [1, k-1], i != j; each pair costs 1 - cos(n_i, -n_j)."""
    per_mesh = []
    for v, f in zip(verts_list, faces_list):
        v = np.asarray(v, np.float64)
        by_edge = {}
        for face in np.asarray(f):
            for k in range(3):
                a, b = sorted((int(face[(k + 1) % 3]), int(face[(k + 2) % 3])))
                by_edge.setdefault((a, b), []).append(int(face[k]))
        costs = []
        for (a, b), opp in sorted(by_edge.items()):
            e = v[b] - v[a]
            normals = [np.cross(e, v[o] - v[a]) for o in opp]
            k = len(normals)
            for i in range(k - 1):
                for j in range(1, k):
                    if i != j:
                        n0, n1 = normals[i], -normals[j]
                        den = max(np.linalg.norm(n0), 1e-8) * max(np.linalg.norm(n1), 1e-8)
                        costs.append(1.0 - np.dot(n0, n1) / den)
        per_mesh.append(np.mean(costs) if costs else 0.0)
    return np.mean(per_mesh)


def _noisy_sphere(level, seed, scale=0.05):
    v, f = ico_sphere_verts_faces(level)
    rng = np.random.default_rng(seed)
    return (v + scale * rng.normal(size=v.shape)).astype(np.float32), f


def _fan(num_wings, seed=0):
    """`num_wings` triangles sharing the edge (0, 1): a non-manifold "book"."""
    rng = np.random.default_rng(seed)
    verts = np.concatenate([[[0, 0, 0], [1, 0, 0]], rng.normal(size=(num_wings, 3))])
    faces = [[0, 1, 2 + i] for i in range(num_wings)]
    return verts.astype(np.float32), np.array(faces, np.int32)


def test_pytorch3d_reference(reference):
    ref = reference("losses")
    m = Meshes([ref["mesh_verts"]], [ref["mesh_faces"].astype(np.int32)])
    np.testing.assert_allclose(mesh_normal_consistency(m), ref["normal_consistency"], rtol=1e-4)


def test_heterogeneous_batch_matches_naive_and_per_item():
    items = [_noisy_sphere(1, 0, 0.1), _noisy_sphere(0, 1, 0.1), _fan(4)]
    verts, faces = [v for v, _ in items], [f for _, f in items]
    got = mesh_normal_consistency(Meshes(verts, faces))
    np.testing.assert_allclose(got, normal_consistency_naive(verts, faces), rtol=1e-4)
    per_item = [mesh_normal_consistency(Meshes([v], [f])) for v, f in items]
    np.testing.assert_allclose(got, np.mean(per_item), rtol=1e-5)


@pytest.mark.parametrize("num_wings", [1, 2, 3, 4, 5])
def test_non_manifold_edges_follow_pytorch3d_pairing(num_wings):
    v, f = _fan(num_wings, seed=num_wings)
    got = mesh_normal_consistency(Meshes([v], [f]))
    np.testing.assert_allclose(got, normal_consistency_naive([v], [f]), rtol=1e-5, atol=1e-6)


def test_closed_form_fold():
    """Two triangles folded by angle t along their shared edge: 1 - cos(pi - t)... = 1 + cos t."""
    t = 0.7
    verts = np.array([[0, 0, 0], [1, 0, 0], [0.5, 1, 0], [0.5, np.cos(t), -np.sin(t)]])
    faces = np.array([[0, 1, 2], [1, 0, 3]], np.int32)  # consistently oriented
    got = mesh_normal_consistency(Meshes([verts.astype(np.float32)], [faces]))
    n0 = np.cross(verts[1] - verts[0], verts[2] - verts[0])
    n1 = np.cross(verts[0] - verts[1], verts[3] - verts[1])
    expected = 1 - n0 @ n1 / np.linalg.norm(n0) / np.linalg.norm(n1)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    flat = verts.copy()
    flat[3] = [0.5, -1, 0]
    assert float(mesh_normal_consistency(Meshes([flat.astype(np.float32)], [faces]))) < 1e-6


def test_jit_matches_eager():
    v, f = _noisy_sphere(1, 3)
    m = Meshes([v], [f])
    np.testing.assert_allclose(
        jax.jit(mesh_normal_consistency)(m), mesh_normal_consistency(m), rtol=1e-6
    )


def test_grads():
    v, f = _noisy_sphere(0, 5, 0.1)
    with jax.enable_x64(True):
        x = jnp.asarray(v, jnp.float64)[None]
        m = Meshes(x, jnp.asarray(f)[None])
        check_grads(
            jax.jit(lambda y: mesh_normal_consistency(m.update_padded(y))),
            (x,),
            order=1,
            modes=["rev"],
        )


def test_empty_and_degenerate():
    empty = Meshes([np.zeros((0, 3), np.float32)], [np.zeros((0, 3), np.int32)])
    assert float(mesh_normal_consistency(empty)) == 0.0
    v = np.zeros((4, 3), np.float32)  # all faces degenerate: zero normals, cost 1, finite grads
    m = Meshes([v], [np.array([[0, 1, 2], [1, 0, 3]], np.int32)])
    np.testing.assert_allclose(mesh_normal_consistency(m), 1.0)
    g = jax.jit(jax.grad(lambda x: mesh_normal_consistency(m.update_padded(x))))(m.verts_padded())
    assert np.all(np.isfinite(g))


@given(st.integers(0, 10_000))
def test_rigid_motion_invariance(seed):
    rng = np.random.default_rng(seed)
    v, f = _noisy_sphere(0, seed, 0.1)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))  # proper rotation
    moved = (v @ q.T + rng.normal(size=3)).astype(np.float32)
    np.testing.assert_allclose(
        mesh_normal_consistency(Meshes([moved], [f])),
        mesh_normal_consistency(Meshes([v], [f])),
        rtol=1e-3,
        atol=1e-5,
    )
