"""PyTorch3D porting helpers (clone / detach / to) and real-data loading for the structures."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import trimesh

from jax3d.renderer import TexturesVertex
from jax3d.structures import Meshes, Pointclouds, Volumes
from tests.structures.test_meshes import octahedron


def _structures():
    v, f = octahedron()
    return [Meshes([v], [f]), Pointclouds([v], features=[v]), Volumes(jnp.ones((1, 2, 3, 3, 3)))]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_clone_to_detach(index):
    s = _structures()[index]
    assert s.device == jax.devices()[0]
    for other in (s.clone(), s.to(jax.devices()[0]), s.to("cpu", copy=True), s.cpu(), s.to(None)):
        assert type(other) is type(s)
        for a, b in zip(jax.tree_util.tree_leaves(other), jax.tree_util.tree_leaves(s)):
            np.testing.assert_array_equal(a, b)
    if not any(d.platform == "gpu" for d in jax.devices()):
        with pytest.raises(ValueError, match="no cuda devices"):
            s.cuda()
    leaves, treedef = jax.tree_util.tree_flatten(s)

    def total(first_leaf, detach):
        rebuilt = jax.tree_util.tree_unflatten(treedef, [first_leaf, *leaves[1:]])
        rebuilt = rebuilt.detach() if detach else rebuilt
        return sum(jnp.sum(x) for x in jax.tree_util.tree_leaves(rebuilt)
                   if jnp.issubdtype(x.dtype, jnp.floating))

    assert float(jnp.abs(jax.grad(total)(leaves[0], False)).sum()) > 0
    np.testing.assert_array_equal(jax.grad(total)(leaves[0], True), 0.0)


def test_pedestrian_point_cloud(data):
    cloud = trimesh.load(data("pointclouds/pedestrian.ply"))
    points = np.asarray(cloud.vertices, np.float32)
    clouds = Pointclouds([points, points[:100]])
    np.testing.assert_array_equal(clouds.num_points_per_cloud(), [len(points), 100])
    box = np.asarray(clouds.get_bounding_boxes())
    np.testing.assert_allclose(box[0], np.stack([points.min(0), points.max(0)], 1))
    np.testing.assert_allclose(box[1], np.stack([points[:100].min(0), points[:100].max(0)], 1))


# ----------------------------------------------------------------------------------------------
# PyTorch3D methods: given vertex normals, split, submeshes, laplacian_packed, Pointclouds extras.
# ----------------------------------------------------------------------------------------------


def _two_meshes():
    v, f = octahedron()
    return v, f, Meshes([v, v[:5]], [f, f[:2]])


def test_given_vertex_normals_follow_the_vertices():
    v, f, _ = _two_meshes()
    normals = np.tile([[0.0, 0.0, 1.0]], (len(v), 1)).astype(np.float32)
    m = Meshes([v], [f], verts_normals=[normals])
    assert m.has_verts_normals() and not Meshes([v], [f]).has_verts_normals()
    np.testing.assert_array_equal(m.verts_normals_packed(), normals)
    np.testing.assert_array_equal(m.offset_verts(jnp.ones(3)).verts_normals_packed(), normals)
    moved = m.update_padded(m.verts_padded() * 2.0)
    assert not moved.has_verts_normals()  # recomputed from the new vertices
    np.testing.assert_allclose(moved.verts_normals_packed(), v, atol=1e-6)
    padded = Meshes(v[None], f[None], verts_normals=normals[None])
    np.testing.assert_array_equal(padded.extend(2)[1].verts_normals_packed(), normals)
    with pytest.raises(ValueError, match="verts_normals"):
        Meshes([v], [f], verts_normals=[normals[:3]])


def test_split_and_submeshes():
    v, f, meshes = _two_meshes()
    a, b = meshes.split([1, 1])
    np.testing.assert_array_equal(a.verts_packed(), v)
    np.testing.assert_array_equal(b.faces_packed(), f[:2])
    colours = np.arange(len(v) * 3, dtype=np.float32).reshape(-1, 3)
    textured = Meshes([v, v[:5]], [f, f[:2]], textures=TexturesVertex([colours, colours[:5]]))
    sub = textured.submeshes([[np.array([0, 3]), np.array([5])], [np.array([1])]])
    assert len(sub) == 3
    for i, (_mesh, ids) in enumerate([(0, [0, 3]), (0, [5]), (1, [1])]):
        kept = f[ids]  # naive: the faces' vertices in increasing order, renumbered
        used = np.unique(kept)
        np.testing.assert_array_equal(sub.verts_list()[i], v[used])
        np.testing.assert_array_equal(sub.faces_list()[i], np.searchsorted(used, kept))
        np.testing.assert_array_equal(sub.textures.verts_features_list()[i], colours[used])
    with pytest.raises(ValueError, match="one entry per mesh"):
        meshes.submeshes([[np.array([0])]])


def test_laplacian_packed_is_the_uniform_laplacian():
    _, _, meshes = _two_meshes()
    L = np.asarray(meshes.laplacian_packed().todense())
    edges = np.asarray(meshes.edges_packed())
    deg = np.bincount(edges.ravel(), minlength=L.shape[0])
    want = -np.eye(L.shape[0])
    for i, j in edges:
        want[i, j] += 1.0 / deg[i]
        want[j, i] += 1.0 / deg[j]
    np.testing.assert_allclose(L, want, atol=1e-6)


def test_pointclouds_inside_box_subsample_and_normals():
    rng = np.random.default_rng(0)
    pts = [rng.uniform(-1, 1, (n, 3)).astype(np.float32) for n in (30, 12)]
    clouds = Pointclouds(pts, features=[p[:, :2] for p in pts])
    box = np.array([[-0.5, -0.5, -0.5], [0.5, 0.5, 0.5]], np.float32)
    want = np.concatenate([np.all((p >= box[0]) & (p <= box[1]), 1) for p in pts])
    np.testing.assert_array_equal(clouds.inside_box(box), want)
    sub = clouds.subsample(20, key=jax.random.key(1))
    np.testing.assert_array_equal(sub.num_points_per_cloud(), [20, 12])
    kept = np.asarray(sub.points_list()[0])
    assert all(np.any(np.all(np.isclose(k, pts[0]), 1)) for k in kept)  # a subset of cloud 0
    np.testing.assert_array_equal(sub.features_list()[0], kept[:, :2])
    np.testing.assert_array_equal(sub.points_list()[1], pts[1])


@pytest.mark.slow  # compiles the neighbourhood PCA (tested in tests/ops/test_points_normals.py)
def test_pointclouds_estimate_normals():
    rng = np.random.default_rng(0)
    plane = np.c_[rng.uniform(-1, 1, (40, 2)), np.zeros(40)].astype(np.float32)
    normals = Pointclouds([plane]).estimate_normals(neighborhood_size=8)
    np.testing.assert_allclose(np.abs(np.asarray(normals)[0, :, 2]), 1.0, atol=1e-4)
