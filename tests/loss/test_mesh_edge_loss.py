"""mesh_edge_loss against a float64 NumPy reference and PyTorch3D's output."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from jax3d.loss import mesh_edge_loss
from jax3d.structures import Meshes
from jax3d.utils import ico_sphere_verts_faces


def unique_edges_naive(faces):
    """Sorted unique undirected edges of one mesh, as a (E, 2) int array."""
    edges = {
        tuple(sorted((int(f[i]), int(f[j])))) for f in faces for i, j in ((1, 2), (2, 0), (0, 1))
    }
    return np.array(sorted(edges), np.int64).reshape(-1, 2)


def mesh_edge_loss_naive(verts_list, faces_list, target_length=0.0):
    per_mesh = []
    for v, f in zip(verts_list, faces_list):
        v = np.asarray(v, np.float64)
        e = unique_edges_naive(np.asarray(f))
        if len(e) == 0:
            per_mesh.append(0.0)
            continue
        lengths = np.linalg.norm(v[e[:, 0]] - v[e[:, 1]], axis=1)
        per_mesh.append(np.mean((lengths - target_length) ** 2))
    return np.mean(per_mesh) if per_mesh else 0.0


def _noisy_sphere(level, seed, scale=0.05):
    v, f = ico_sphere_verts_faces(level)
    rng = np.random.default_rng(seed)
    return (v + scale * rng.normal(size=v.shape)).astype(np.float32), f


def test_pytorch3d_reference(reference):
    ref = reference("losses")
    m = Meshes([ref["mesh_verts"]], [ref["mesh_faces"].astype(np.int32)])
    np.testing.assert_allclose(mesh_edge_loss(m), ref["edge"], rtol=1e-5)


@pytest.mark.parametrize("target", [0.0, 0.3])
def test_heterogeneous_batch_matches_naive_and_per_item(target):
    items = [_noisy_sphere(1, 0), _noisy_sphere(0, 1), _noisy_sphere(2, 2)]
    verts, faces = [v for v, _ in items], [f for _, f in items]
    m = Meshes(verts, faces)
    got = mesh_edge_loss(m, target)
    np.testing.assert_allclose(got, mesh_edge_loss_naive(verts, faces, target), rtol=1e-5)
    per_item = [mesh_edge_loss(Meshes([v], [f]), target) for v, f in items]
    np.testing.assert_allclose(got, np.mean(per_item), rtol=1e-6)


def test_jit_matches_eager():
    v, f = _noisy_sphere(1, 3)
    v0, f0 = _noisy_sphere(0, 4)
    m = Meshes([v, v0], [f, f0])
    eager = mesh_edge_loss(m, 0.1)
    jitted = jax.jit(mesh_edge_loss, static_argnums=())(m, 0.1)
    np.testing.assert_allclose(jitted, eager, rtol=1e-6)


def test_empty_meshes_give_zero_without_nan():
    empty = Meshes([np.zeros((0, 3), np.float32)], [np.zeros((0, 3), np.int32)])
    assert float(mesh_edge_loss(empty)) == 0.0
    v, f = _noisy_sphere(0, 4)
    mixed = Meshes([v, np.zeros((0, 3), np.float32)], [f, np.zeros((0, 3), np.int32)])
    np.testing.assert_allclose(
        mesh_edge_loss(mixed), 0.5 * mesh_edge_loss_naive([v], [f]), rtol=1e-5
    )
    g = jax.jit(jax.grad(lambda x: mesh_edge_loss(mixed.update_padded(x))))(mixed.verts_padded())
    assert np.all(np.isfinite(g)) and np.all(g[1] == 0)


def test_grads():
    v, f = _noisy_sphere(0, 5)
    m = Meshes([v.astype(np.float64)], [f])
    with jax.enable_x64(True):
        x = jnp.asarray(m.verts_padded(), jnp.float64)
        mm = Meshes(x, m.faces_padded())
        check_grads(
            jax.jit(lambda y: mesh_edge_loss(mm.update_padded(y), 0.2)),
            (x,),
            order=1,
            modes=["rev"],
        )


def test_degenerate_zero_length_edge_has_finite_grad():
    v = np.array([[0, 0, 0], [0, 0, 0], [1, 0, 0]], np.float32)  # coincident verts
    m = Meshes([v], [np.array([[0, 1, 2]], np.int32)])
    g = jax.jit(jax.grad(lambda x: mesh_edge_loss(m.update_padded(x), 0.5)))(m.verts_padded())
    assert np.all(np.isfinite(g))


@given(st.integers(0, 10_000), st.floats(0.1, 10.0))
def test_scaling_property(seed, s):
    """Loss with target 0 scales quadratically with the mesh."""
    v, f = _noisy_sphere(0, seed)
    a = mesh_edge_loss(Meshes([v], [f]))
    b = mesh_edge_loss(Meshes([v * np.float32(s)], [f]))
    np.testing.assert_allclose(b, s * s * a, rtol=1e-4)


def test_rejects_non_meshes():
    with pytest.raises(TypeError, match="Meshes"):
        mesh_edge_loss(np.zeros((1, 3, 3)))
