"""Tests for join_meshes_as_batch/scene and join_pointclouds_as_batch/scene."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jax3d.structures import (
    Meshes,
    Pointclouds,
    join_meshes_as_batch,
    join_meshes_as_scene,
    join_pointclouds_as_batch,
    join_pointclouds_as_scene,
)
from tests.structures.test_meshes import _FakeTextures, random_meshes_np
from tests.structures.test_pointclouds import random_clouds_np


def scene_naive(verts: list[np.ndarray], faces: list[np.ndarray]):
    """One mesh: concatenated verts, faces shifted by the preceding vertex counts."""
    offsets = np.cumsum([0] + [len(v) for v in verts[:-1]])
    return np.concatenate(verts), np.concatenate([f + o for f, o in zip(faces, offsets)])


def _two_batches():
    v1, f1 = random_meshes_np(0, [(4, 3), (7, 5)])
    v2, f2 = random_meshes_np(1, [(9, 2)])
    return (v1, f1), (v2, f2)


def test_join_meshes_as_batch_matches_per_item():
    (v1, f1), (v2, f2) = _two_batches()
    a = Meshes(v1, f1, textures=_FakeTextures(np.eye(2, 3)))
    b = Meshes(v2, f2, textures=_FakeTextures(np.ones((1, 3))))
    joined = jax.jit(join_meshes_as_batch)([a, b])
    assert len(joined) == 3 and joined.verts_padded().shape == (3, 9, 3)
    for k, (v, f) in enumerate(zip(v1 + v2, f1 + f2)):
        got_v, got_f = joined.get_mesh_verts_faces(k)
        np.testing.assert_array_equal(got_v, v)
        np.testing.assert_array_equal(got_f, f)
    np.testing.assert_array_equal(joined.textures.colors, np.vstack([np.eye(2, 3), np.ones(3)]))
    np.testing.assert_array_equal(joined.faces_padded()[2, 2:], -1)
    plain = join_meshes_as_batch([a, b], include_textures=False)
    assert plain.textures is None


def test_join_meshes_as_batch_texture_rules_and_errors():
    (v1, f1), (v2, f2) = _two_batches()
    textured = Meshes(v1, f1, textures=_FakeTextures(np.eye(2, 3)))
    bare = Meshes(v2, f2)
    with pytest.raises(ValueError, match="textures"):
        join_meshes_as_batch([textured, bare])
    assert join_meshes_as_batch([bare, bare]).textures is None
    opaque = Meshes(v2, f2, textures=object())
    with pytest.warns(UserWarning, match="join_batch"):
        assert join_meshes_as_batch([opaque, opaque]).textures is None
    with pytest.raises(TypeError):
        join_meshes_as_batch(bare)
    with pytest.raises(TypeError):
        join_meshes_as_batch([bare, "mesh"])
    with pytest.raises(ValueError):
        join_meshes_as_batch([])


def test_join_meshes_as_scene_matches_naive():
    (v1, f1), (v2, f2) = _two_batches()
    a = Meshes(v1, f1, textures=_FakeTextures(np.eye(2, 3)))
    scene = join_meshes_as_scene(a)
    want_v, want_f = scene_naive(v1, f1)
    assert len(scene) == 1
    np.testing.assert_array_equal(scene.verts_packed(), want_v)
    np.testing.assert_array_equal(scene.faces_packed(), want_f)
    np.testing.assert_allclose(scene.textures.colors, [[0.5, 0.5, 0.0]])
    # Area and normals of the scene are those of the parts.
    np.testing.assert_allclose(scene.faces_areas_packed(), a.faces_areas_packed(), rtol=1e-6)
    b = Meshes(v2, f2, textures=_FakeTextures(np.ones((1, 3))))
    from_list = join_meshes_as_scene([a, b], include_textures=False)
    want_v, want_f = scene_naive(v1 + v2, f1 + f2)
    np.testing.assert_array_equal(from_list.verts_packed(), want_v)
    np.testing.assert_array_equal(from_list.faces_packed(), want_f)
    assert from_list.textures is None
    with pytest.raises(ValueError):
        join_meshes_as_scene(Meshes([], []))


def test_join_pointclouds_as_batch_and_scene():
    p1, n1, f1 = random_clouds_np(0, [3, 6])
    p2, n2, f2 = random_clouds_np(1, [8])
    a = Pointclouds(p1, normals=n1, features=f1)
    b = Pointclouds(p2, normals=n2, features=f2)
    joined = jax.jit(join_pointclouds_as_batch)([a, b])
    assert len(joined) == 3 and joined.points_padded().shape == (3, 8, 3)
    for k in range(3):
        p, n, f = joined.get_cloud(k)
        np.testing.assert_array_equal(p, (p1 + p2)[k])
        np.testing.assert_array_equal(n, (n1 + n2)[k])
        np.testing.assert_array_equal(f, (f1 + f2)[k])
    scene = join_pointclouds_as_scene([a, b])
    assert len(scene) == 1
    np.testing.assert_array_equal(scene.points_packed(), np.concatenate(p1 + p2))
    np.testing.assert_array_equal(scene.normals_packed(), np.concatenate(n1 + n2))
    np.testing.assert_array_equal(scene.features_packed(), np.concatenate(f1 + f2))
    bare = join_pointclouds_as_scene(Pointclouds(p1))
    assert bare.normals is None and bare.features is None


def test_join_pointclouds_errors():
    p1, n1, f1 = random_clouds_np(0, [3, 6])
    with pytest.raises(ValueError, match="normals"):
        join_pointclouds_as_batch([Pointclouds(p1, normals=n1), Pointclouds(p1)])
    other = random_clouds_np(0, [3, 6], channels=4)[2]
    with pytest.raises(ValueError, match="channels"):
        join_pointclouds_as_batch([Pointclouds(p1, features=f1), Pointclouds(p1, features=other)])
    with pytest.raises(TypeError):
        join_pointclouds_as_batch([Pointclouds(p1), "cloud"])
    with pytest.raises(ValueError):
        join_pointclouds_as_scene(Pointclouds([]))
