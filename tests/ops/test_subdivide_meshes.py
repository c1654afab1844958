"""SubdivideMeshes against a float64 NumPy implementation of midpoint subdivision."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.ops import SubdivideMeshes
from jax3d.structures import Meshes
from jax3d.utils import ico_sphere_verts_faces


def subdivide_naive(verts, faces, feats=None):
    """Original verts, then one midpoint per sorted unique edge; faces in four blocks."""
    edges = sorted(
        {tuple(sorted((int(f[i]), int(f[j])))) for f in faces for i, j in ((1, 2), (2, 0), (0, 1))}
    )
    index = {e: len(verts) + k for k, e in enumerate(edges)}
    mid = lambda x: np.array([(x[a] + x[b]) / 2 for a, b in edges]).reshape(-1, x.shape[1])  # noqa: E731
    new_verts = np.concatenate([verts, mid(np.asarray(verts, np.float64))])
    m = np.array(
        [
            [index[tuple(sorted((int(f[(k + 1) % 3]), int(f[(k + 2) % 3]))))] for k in range(3)]
            for f in faces
        ]
    )
    blocks = [
        np.stack([faces[:, 0], m[:, 2], m[:, 1]], 1),
        np.stack([faces[:, 1], m[:, 0], m[:, 2]], 1),
        np.stack([faces[:, 2], m[:, 1], m[:, 0]], 1),
        m,
    ]
    new_feats = (
        None if feats is None else np.concatenate([feats, mid(np.asarray(feats, np.float64))])
    )
    return new_verts, np.concatenate(blocks), new_feats


def _items():
    v0, f0 = ico_sphere_verts_faces(0)
    tet_v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    tet_f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], np.int32)
    return [(v0, f0), (tet_v, tet_f)]


def test_heterogeneous_matches_naive_with_packed_feats():
    items = _items()
    meshes = Meshes([v for v, _ in items], [f for _, f in items])
    feats = [
        np.random.default_rng(i).normal(size=(len(v), 2)).astype(np.float32)
        for i, (v, _) in enumerate(items)
    ]
    new, new_feats = SubdivideMeshes()(meshes, feats=np.concatenate(feats))
    offset = 0
    for b, ((v, f), ft) in enumerate(zip(items, feats)):
        v_ref, f_ref, ft_ref = subdivide_naive(v, f, ft)
        np.testing.assert_allclose(new.verts_list()[b], v_ref, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(new.faces_list()[b], f_ref)
        np.testing.assert_allclose(
            new_feats[offset : offset + len(v_ref)], ft_ref, rtol=1e-6, atol=1e-6
        )
        offset += len(v_ref)
    assert offset == new_feats.shape[0]


def test_closed_mesh_counts_and_ico_sphere_topology():
    """ico_sphere(1) is ico_sphere(0) subdivided (then projected onto the sphere)."""
    v0, f0 = ico_sphere_verts_faces(0)
    v1, f1 = ico_sphere_verts_faces(1)
    new = SubdivideMeshes()(Meshes([v0], [f0]))
    assert new.verts_list()[0].shape == (42, 3) and new.faces_list()[0].shape == (80, 3)
    projected = np.array(new.verts_list()[0])
    projected /= np.linalg.norm(projected, axis=1, keepdims=True)
    np.testing.assert_allclose(projected, v1, atol=1e-5)
    np.testing.assert_array_equal(new.faces_list()[0], f1)


def test_homogeneous_precomputed_matches_heterogeneous_and_jits():
    v0, f0 = ico_sphere_verts_faces(0)
    rng = np.random.default_rng(0)
    verts = np.stack([v0, v0 + 0.1 * rng.normal(size=v0.shape)]).astype(np.float32)
    meshes = Meshes(verts, np.stack([f0, f0]))
    feats = jnp.asarray(rng.normal(size=(2, len(v0), 4)), jnp.float32)
    sub = SubdivideMeshes(meshes)
    homo, homo_feats = jax.jit(lambda m, x: sub(m, feats=x))(meshes, feats)
    hetero, hetero_feats = SubdivideMeshes()(meshes, feats=feats)
    np.testing.assert_allclose(homo.verts_padded(), hetero.verts_padded(), atol=1e-6)
    np.testing.assert_array_equal(homo.faces_padded(), hetero.faces_padded())
    np.testing.assert_allclose(homo_feats, hetero_feats, atol=1e-6)
    assert homo_feats.shape == (2, 42, 4)


def test_heterogeneous_under_jit_pads_to_static_bound():
    items = _items()
    meshes = Meshes([v for v, _ in items], [f for _, f in items])
    eager = SubdivideMeshes()(meshes)
    jitted = jax.jit(lambda m: SubdivideMeshes()(m))(meshes)
    assert jitted.verts_padded().shape[1] == 12 + 3 * 20  # V + 3F bound
    np.testing.assert_array_equal(jitted.num_verts_per_mesh(), eager.num_verts_per_mesh())
    for b in range(2):
        np.testing.assert_allclose(jitted.verts_list()[b], eager.verts_list()[b])
        np.testing.assert_array_equal(jitted.faces_list()[b], eager.faces_list()[b])


def test_grads_flow_to_vertices():
    v0, f0 = ico_sphere_verts_faces(0)
    meshes = Meshes([v0], [f0])
    g = jax.jit(
        jax.grad(lambda x: SubdivideMeshes()(meshes.update_padded(x)).verts_padded().sum())
    )(meshes.verts_padded())
    # every original vertex contributes itself plus half of each of its 5 incident midpoints
    np.testing.assert_allclose(g, np.full(g.shape, 1 + 5 * 0.5), rtol=1e-6)


def test_validation():
    v0, f0 = ico_sphere_verts_faces(0)
    meshes = Meshes([v0], [f0])
    with pytest.raises(ValueError, match="feats"):
        SubdivideMeshes()(meshes, feats=np.zeros((5, 2), np.float32))
    with pytest.raises(ValueError, match="verts"):
        SubdivideMeshes(meshes)(Meshes([v0[:4]], [f0[:1]]))
    with pytest.raises(TypeError, match="Meshes"):
        SubdivideMeshes()(v0)
