"""Tests for jax3d.structures.Pointclouds."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jax3d.structures import Pointclouds


def random_clouds_np(seed: int, sizes: list[int], channels: int = 2):
    rng = np.random.default_rng(seed)
    points = [rng.normal(size=(n, 3)).astype(np.float32) for n in sizes]
    normals = [rng.normal(size=(n, 3)).astype(np.float32) for n in sizes]
    features = [rng.uniform(size=(n, channels)).astype(np.float32) for n in sizes]
    return points, normals, features


def bounding_boxes_naive(points: list[np.ndarray]) -> np.ndarray:
    out = np.zeros((len(points), 3, 2))
    for b, p in enumerate(points):
        if len(p):
            out[b, :, 0], out[b, :, 1] = p.min(0), p.max(0)
    return out


@jax.jit
def _rebuild_jit(points, normals, features, num_points):
    return Pointclouds(points, normals, features, num_points=num_points)


@settings(max_examples=10)
@given(sizes=st.lists(st.integers(0, 8), min_size=1, max_size=4), seed=st.integers(0, 999))
def test_list_padded_packed_round_trip(sizes, seed):
    points, normals, features = random_clouds_np(seed, sizes)
    clouds = Pointclouds(points, normals=normals, features=features)
    p_max = max(sizes)
    assert clouds.points_padded().shape == (len(sizes), p_max, 3)
    assert clouds.features_padded().shape == (len(sizes), p_max, 2)
    for name, ref in (("points", points), ("normals", normals), ("features", features)):
        for got, want in zip(getattr(clouds, f"{name}_list")(), ref):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(getattr(clouds, f"{name}_packed")(), np.concatenate(ref))
    first = np.cumsum(sizes) - np.array(sizes)
    np.testing.assert_array_equal(clouds.cloud_to_packed_first_idx(), first)
    np.testing.assert_array_equal(clouds.packed_to_cloud_idx(),
                                  np.repeat(np.arange(len(sizes)), sizes))
    flat = clouds.points_padded().reshape(-1, 3)[clouds.padded_to_packed_idx()]
    np.testing.assert_array_equal(flat, np.concatenate(points))
    rebuilt = _rebuild_jit(clouds.points, clouds.normals, clouds.features, clouds.num_points)
    np.testing.assert_array_equal(rebuilt.features_packed(), np.concatenate(features))


def test_padded_construction_resets_padding_and_defaults():
    pts = np.ones((2, 4, 3), np.float32)
    clouds = Pointclouds(pts, features=np.ones((2, 4, 5)), num_points=[4, 1])
    np.testing.assert_array_equal(clouds.points_padded()[1, 1:], 0.0)
    np.testing.assert_array_equal(clouds.features_padded()[1, 1:], 0.0)
    np.testing.assert_array_equal(clouds.points_mask(), [[1, 1, 1, 1], [1, 0, 0, 0]])
    full = Pointclouds(pts)
    np.testing.assert_array_equal(full.num_points_per_cloud(), [4, 4])
    assert full.normals_padded() is None and full.normals_list() is None
    assert full.features_packed() is None


@pytest.mark.parametrize(
    "points, kwargs, err",
    [
        (np.zeros((4, 3)), {}, ValueError),  # not batched
        (np.zeros((1, 4, 2)), {}, ValueError),
        (np.array([["a", "b", "c"]]), {}, TypeError),
        (np.zeros((2, 4, 3)), {"normals": np.zeros((2, 4, 2))}, ValueError),
        (np.zeros((2, 4, 3)), {"features": np.zeros((2, 3, 2))}, ValueError),
        (np.zeros((2, 4, 3)), {"num_points": [1, 2, 3]}, ValueError),
        ([np.zeros((3, 3))], {"normals": [np.zeros((2, 3))]}, ValueError),
        ([np.zeros((3, 3))], {"features": np.zeros((1, 3, 2))}, ValueError),
        ([np.zeros((3, 3)), np.zeros((2, 3))],
         {"features": [np.zeros((3, 2)), np.zeros((2, 4))]}, ValueError),
        ([np.zeros((3, 3))], {"num_points": [3]}, ValueError),
    ],
)
def test_construction_validation(points, kwargs, err):
    with pytest.raises(err):
        Pointclouds(points, **kwargs)


def test_empty_and_bounding_boxes():
    points, _, _ = random_clouds_np(0, [4, 0, 6])
    clouds = Pointclouds(points)
    assert not clouds.isempty()
    boxes = jax.jit(lambda c: c.get_bounding_boxes())(clouds)
    np.testing.assert_allclose(boxes, bounding_boxes_naive(points))
    assert Pointclouds([]).isempty() and len(Pointclouds([])) == 0
    assert Pointclouds([np.zeros((0, 3))]).isempty()
    assert Pointclouds([]).points_packed().shape == (0, 3)


def test_offset_scale_update():
    points, normals, features = random_clouds_np(1, [3, 5])
    clouds = Pointclouds(points, normals=normals, features=features)
    rng = np.random.default_rng(0)
    d = rng.normal(size=(8, 3)).astype(np.float32)
    np.testing.assert_allclose(clouds.offset(d).points_packed(), np.concatenate(points) + d)
    padded = rng.normal(size=(2, 5, 3)).astype(np.float32)
    moved = jax.jit(lambda c, x: c.offset(x))(clouds, padded)
    np.testing.assert_allclose(moved.points_list()[0], points[0] + padded[0, :3], rtol=1e-6)
    np.testing.assert_array_equal(moved.points_padded()[0, 3:], 0.0)
    np.testing.assert_allclose(clouds.offset(jnp.ones(3)).points_list()[1], points[1] + 1)
    scaled = clouds.scale(jnp.array([2.0, 0.5]))
    np.testing.assert_allclose(scaled.points_list()[1], 0.5 * points[1])
    np.testing.assert_allclose(clouds.scale(2.0).points_packed(), 2 * np.concatenate(points))
    updated = clouds.update_padded(clouds.points * 3)
    np.testing.assert_array_equal(updated.normals_padded(), clouds.normals_padded())
    new_feats = jnp.ones((2, 5, 7))
    updated = clouds.update_padded(clouds.points, new_features_padded=new_feats)
    np.testing.assert_array_equal(updated.features_list()[0], np.ones((3, 7)))
    with pytest.raises(ValueError, match="offsets"):
        clouds.offset(np.zeros((7, 3)))
    with pytest.raises(ValueError, match="scale"):
        clouds.scale(np.ones(3))
    with pytest.raises(ValueError, match="new_normals_padded"):
        clouds.update_padded(clouds.points, np.zeros((2, 5, 2)))


@pytest.mark.parametrize("index", [0, -1, slice(1, None), [2, 0, 2], np.array([False, True, True])])
def test_indexing_and_extend_match_per_item(index):
    points, normals, features = random_clouds_np(2, [3, 5, 2])
    clouds = Pointclouds(points, normals=normals, features=features)
    picked = np.atleast_1d(np.arange(3)[index])
    sub = clouds[index]
    assert len(sub) == len(picked)
    for k, b in enumerate(picked):
        p, n, f = sub.get_cloud(k)
        np.testing.assert_array_equal(p, points[b])
        np.testing.assert_array_equal(n, normals[b])
        np.testing.assert_array_equal(f, features[b])
    ext = sub.extend(2)
    for k in range(2 * len(picked)):
        np.testing.assert_array_equal(ext.points_list()[k], points[picked[k // 2]])


def test_immutability_jit_and_traced_errors():
    points, _, _ = random_clouds_np(3, [3, 4])
    clouds = Pointclouds(points)
    with pytest.raises(AttributeError):
        clouds.points = None
    out = jax.jit(lambda c: c.scale(2.0))(clouds)
    assert isinstance(out, Pointclouds)
    np.testing.assert_allclose(out.points_packed(), 2 * np.concatenate(points))
    with pytest.raises(ValueError, match="traced"):
        jax.jit(lambda c: c.points_packed())(clouds)
    grad = jax.grad(lambda x: clouds.update_padded(x).get_bounding_boxes().sum())(clouds.points)
    assert np.isfinite(np.asarray(grad)).all()
    with pytest.raises(IndexError):
        clouds.get_cloud(2)
    with pytest.raises(ValueError):
        clouds.extend(0)
