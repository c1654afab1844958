"""ShapeRenders: renders, poses, meshes and voxels agree with each other; the npz cache."""

from __future__ import annotations

import numpy as np
import pytest

from jax3d.datasets import (
    NpzShapeRenders,
    ShapeRenderConfig,
    ShapeRenders,
    cache_to_npz,
    shape_from_seed,
)
from jax3d.transforms import blender_intrinsic_matrix, project_verts

CONFIG = ShapeRenderConfig(
    num_samples=4, image_size=32, voxel_size=12, object_resolution=32, num_points=64,
    max_faces=512, background="white",
)  # fmt: skip


@pytest.fixture(scope="module")
def batch():
    return ShapeRenders(CONFIG).get_batch([0, 1])  # one render compile for the module


def test_keys_shapes_and_camera_frame(batch):
    G, S = CONFIG.voxel_size, CONFIG.image_size
    assert batch["images"].shape == (2, S, S, 3) and batch["voxels"].shape == (2, G, G, G)
    assert batch["points"].shape == (2, 64, 3) and batch["faces"].shape == (2, 512, 3)
    ds = ShapeRenders(CONFIG)
    for b in range(2):
        shape = ds.shape(b)
        nv = batch["num_verts"][b]
        RT = batch["RT"][b].astype(np.float64)
        cam = shape.verts @ RT[:3, :3].T + RT[:3, 3]
        np.testing.assert_allclose(batch["verts"][b, :nv], cam, atol=1e-5)
        assert np.all(batch["verts"][b, nv:] == 0)
        assert np.all(batch["faces"][b, len(shape.faces) :] == -1)
        assert np.all(cam[:, 2] < 0)  # in front of the Blender camera
        np.testing.assert_allclose(np.linalg.norm(batch["normals"][b], axis=1), 1.0, atol=1e-5)
        assert CONFIG.classes[batch["category"][b]] == shape.category
        assert 1.75 * 0.65 <= batch["distance"][b] <= 1.75 * 0.95
        assert 25.0 <= batch["elevation"][b] <= 30.0


def test_render_silhouette_matches_projected_mesh_and_voxels(batch):
    S, G = CONFIG.image_size, CONFIG.voxel_size
    for b in range(2):
        mask = batch["masks"][b] > 0.5
        assert 0.02 < mask.mean() < 0.9
        assert np.all(batch["images"][b][~mask] == 1.0)  # white background
        # Vertices project inside the silhouette's bounding box (x right, y down in pixels).
        nv = batch["num_verts"][b]
        ndc = project_verts(batch["verts"][b, :nv], blender_intrinsic_matrix())
        cols, rows = (ndc[:, 0] + 1) * S / 2, (1 - ndc[:, 1]) * S / 2
        ys, xs = np.nonzero(mask)
        assert abs(cols.min() - xs.min()) < 1.5 and abs(cols.max() - xs.max() - 1) < 1.5
        assert abs(rows.min() - ys.min()) < 1.5 and abs(rows.max() - ys.max() - 1) < 1.5
        # Voxels seen along z: the column of every object pixel is occupied, and an occupied
        # column is at most one column away from one that sees the object (cells that the
        # object only touches are occupied: the grid is conservative, as binvox's).
        col = np.clip(np.round(((np.arange(S) + 0.5) / S * 2) * (G - 1) / 2).astype(int), 0, G - 1)
        proj = batch["voxels"][b].any(0)  # (G, G) [y, x]
        assert proj[col[ys], col[xs]].mean() > 0.97
        seen = np.zeros((G, G), bool)
        seen[col[ys], col[xs]] = True
        near = np.pad(seen, 1)
        near = np.any([near[1 + dy : G + 1 + dy, 1 + dx : G + 1 + dx] for dy in (-1, 0, 1)
                       for dx in (-1, 0, 1)], axis=0)  # fmt: skip
        assert np.all(near[proj])


def test_reproducible_and_splits_differ():
    ds = ShapeRenders(CONFIG)
    a, b = ds.geometry(3), ShapeRenders(CONFIG).geometry(3)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    test = ShapeRenders(CONFIG.replace(split="test"))
    assert not np.array_equal(test.shape(0).verts, ds.shape(0).verts)
    assert np.array_equal(ds.shape(5).verts, shape_from_seed(0, 5).verts)
    assert np.array_equal(test.shape(5).verts, shape_from_seed(2, 5).verts)
    cats = [ShapeRenders(CONFIG.replace(classes=("chair", "table", "bed"))).shape(i).category
            for i in range(3)]  # fmt: skip
    assert cats == ["chair", "table", "bed"]


def test_npz_cache_round_trip(tmp_path, batch):
    ds = ShapeRenders(CONFIG)
    path = cache_to_npz(ds, tmp_path / "train", batch_size=2)
    cached = NpzShapeRenders(path)
    assert len(cached) == 4 and cached.config == CONFIG
    got = cached.get_batch([0, 1])
    assert set(got) == set(batch)
    np.testing.assert_allclose(got["images"], batch["images"], atol=0.5 / 255 + 1e-6)
    np.testing.assert_array_equal(got["voxels"], batch["voxels"])
    np.testing.assert_array_equal(got["faces"], batch["faces"])
    assert got["points"].shape == batch["points"].shape
    with pytest.raises(IndexError):
        cached.get_batch([4])
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz"):
        NpzShapeRenders(tmp_path / "bad.npz")


def test_config_validation():
    with pytest.raises(ValueError, match="split"):
        ShapeRenderConfig(split="dev")
    with pytest.raises(ValueError, match="classes"):
        ShapeRenderConfig(classes=("chair", "spaceship"))
    with pytest.raises(ValueError, match="max_faces"):
        ShapeRenders(CONFIG.replace(classes=("sphere",), max_faces=100)).geometry(0)
    with pytest.raises(IndexError):
        ShapeRenders(CONFIG).geometry(4)
