"""PyTorch3D porting helpers (clone / detach / to) and real-data loading for the structures."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import trimesh

from jax3d.structures import Meshes, Pointclouds, Volumes
from tests.structures.test_meshes import octahedron


def _structures():
    v, f = octahedron()
    return [Meshes([v], [f]), Pointclouds([v], features=[v]), Volumes(jnp.ones((1, 2, 3, 3, 3)))]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_clone_to_detach(index):
    s = _structures()[index]
    assert s.clone() is s
    assert s.to("cuda:0") is s  # device strings are ignored, as for the procedural assets
    moved = s.to(jax.devices()[0])
    for a, b in zip(jax.tree_util.tree_leaves(moved), jax.tree_util.tree_leaves(s)):
        np.testing.assert_array_equal(a, b)
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
