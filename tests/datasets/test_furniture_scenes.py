"""Multi-object furniture scenes: determinism, splits, masks / boxes, ROI voxels, camera-frame
meshes, occlusion handling and the npz cache (2 scenes of 64 px, one compiled render)."""

import dataclasses

import numpy as np
import pytest

from jax3d.datasets.furniture_scenes import (
    FurnitureSceneConfig,
    FurnitureScenes,
    NpzFurnitureScenes,
    cache_furniture_scenes,
    make_scene_layout,
    render_layouts,
    settle_layouts,
)
from jax3d.datasets.instance_targets import collate_instances, mask_boxes
from jax3d.datasets.shape_renders import sample_surface
from jax3d.transforms.roi_frustum import camera_to_roi, roi_to_camera

CONFIG = FurnitureSceneConfig(image_size=64, num_scenes=4, objects=(2, 3), min_visible_pixels=10,
                              num_points=300, object_resolution=48, texture_size=32)  # fmt: skip


@pytest.fixture(scope="module")
def batch():
    return FurnitureScenes(CONFIG).get_batch([0, 1])


def _instances(batch):
    for b in range(len(batch["images"])):
        for k in np.flatnonzero(batch["valid"][b]):
            yield b, int(k)


def test_shapes_and_padding(batch):
    B, M, S, G = 2, CONFIG.max_objects, CONFIG.image_size, CONFIG.voxel_size
    assert batch["images"].shape == (B, S, S, 3) and batch["images"].dtype == np.float32
    assert 0.0 <= batch["images"].min() and batch["images"].max() <= 1.0
    assert batch["masks"].shape == (B, M, S, S) and batch["masks"].dtype == bool
    assert batch["voxels"].shape == (B, M, G, G, G)
    assert batch["points"].shape == (B, M, CONFIG.num_points, 3)
    assert batch["K"].shape == (B, 3, 3) and batch["classes"].dtype == np.int32
    assert batch["valid"].any(1).all()
    pad = ~batch["valid"]
    assert not batch["masks"][pad].any() and not batch["voxels"][pad].any()
    assert np.all(batch["faces"][pad] == -1) and np.all(batch["boxes"][pad] == 0)
    assert np.all((batch["classes"] >= 0) & (batch["classes"] < len(CONFIG.classes)))


def test_deterministic_and_independent_of_batch_order(batch):
    again = FurnitureScenes(CONFIG).get_batch([1, 0])
    for key in ("images", "masks", "boxes", "voxels", "verts", "points", "classes", "valid"):
        np.testing.assert_array_equal(again[key][::-1], batch[key], err_msg=key)


def _shape_keys(config, n):
    keys = set()
    for i in range(n):
        for o in make_scene_layout(config, i).objects:
            keys.add(o.shape.verts.tobytes())
    return keys


def test_splits_are_disjoint():
    keys = {s: _shape_keys(CONFIG.replace(split=s), 4) for s in ("train", "val", "test")}
    assert keys["train"] and not (keys["train"] & keys["val"])
    assert not (keys["train"] & keys["test"]) and not (keys["val"] & keys["test"])
    assert _shape_keys(CONFIG.replace(seed=1), 4).isdisjoint(keys["train"])


def test_masks_are_visible_disjoint_and_match_boxes(batch):
    np.testing.assert_array_equal(batch["masks"].sum(1) <= 1, True)  # one instance per pixel
    for b, k in _instances(batch):
        mask = batch["masks"][b, k]
        assert mask.sum() == batch["visible_pixels"][b, k] >= CONFIG.min_visible_pixels
        np.testing.assert_array_equal(batch["boxes"][b, k], mask_boxes(mask[None])[0])
        x0, y0, x1, y1 = batch["boxes"][b, k].astype(int)
        assert mask[y0:y1, x0:x1].sum() == mask.sum()
        assert mask[y0, x0:x1].any() and mask[y1 - 1, x0:x1].any()
        assert mask[y0:y1, x0].any() and mask[y0:y1, x1 - 1].any()


def _project(points, K):
    p = points @ K.T
    return p[:, :2] / p[:, 2:]


def test_points_in_camera_frame_project_into_boxes(batch):
    S = CONFIG.image_size
    for b, k in _instances(batch):
        K, pts = batch["K"][b], batch["points"][b, k]
        verts = batch["verts"][b, k, : batch["num_verts"][b, k]]
        assert verts[:, 2].min() > 0.1  # in front of the camera
        np.testing.assert_allclose(batch["zrange"][b, k], [verts[:, 2].min(), verts[:, 2].max()],
                                   rtol=1e-5)  # fmt: skip
        uv = np.clip(_project(pts, K), 0, S)
        a = batch["amodal_boxes"][b, k]
        assert np.all(uv >= a[:2] - 1e-3) and np.all(uv <= a[2:] + 1e-3)
        vis = batch["boxes"][b, k]  # the visible box lies in the projected (amodal) one
        assert np.all(vis[:2] >= a[:2] - 1.0) and np.all(vis[2:] <= a[2:] + 1.0)
        # the visible mask's pixels are covered by the projected surface samples' box, and
        # most samples inside the visible box land near a mask pixel or behind another object
        n = batch["normals"][b, k]
        np.testing.assert_allclose(np.linalg.norm(n, axis=-1), 1.0, atol=1e-4)


def _winding_naive(points, tri):
    """Signed crossings of +x rays from `points` with triangles (a naive reference)."""
    p = points[:, None, :]
    a, b, c = tri[None, :, 0], tri[None, :, 1], tri[None, :, 2]
    e1, e2 = b - a, c - a
    d = np.array([1.0, 0.0, 0.0])
    h = np.cross(d, e2)
    det = np.sum(e1 * h, -1)
    ok = np.abs(det) > 1e-12
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    s = p - a
    u = np.sum(s * h, -1) * inv
    q = np.cross(s, e1)
    v = np.sum(d * q, -1) * inv
    t = np.sum(e2 * q, -1) * inv
    hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
    normal_x = np.cross(e1, e2)[..., 0]
    return np.sum(hit * np.sign(normal_x), -1)


def test_voxels_agree_with_mesh(batch):
    G = CONFIG.voxel_size
    c = 2.0 * np.arange(G) / (G - 1) - 1.0
    z, y, x = np.meshgrid(c, c, c, indexing="ij")
    centres = np.stack([x, y, z], -1).reshape(-1, 3)
    for b, k in _instances(batch):
        K, box, zr = batch["K"][b], batch["boxes"][b, k], batch["zrange"][b, k]
        vox = batch["voxels"][b, k]
        verts = batch["verts"][b, k, : batch["num_verts"][b, k]].astype(np.float64)
        faces = batch["faces"][b, k, : batch["num_faces"][b, k]]
        # ROI cell centres inside the mesh (naive winding numbers) are occupied ...
        cam = roi_to_camera(centres, box, K, zr)
        inside = (_winding_naive(cam, verts[faces]) != 0).reshape(G, G, G)
        assert inside.sum() > 0
        assert (vox & inside).sum() >= 0.97 * inside.sum()
        # ... and the grid is the cells inside or crossed by the surface (a dense reference
        # sampling of the surface, independent of the dataset's), up to a few boundary cells
        pts = sample_surface(verts, faces, 30_000, np.random.default_rng(0))[0]
        idx = np.round(0.5 * (G - 1) * (camera_to_roi(pts, box, K, zr) + 1.0)).astype(int)
        ok = np.all((idx >= 0) & (idx < G), 1)
        ref = inside.copy()
        ref[idx[ok, 2], idx[ok, 1], idx[ok, 0]] = True
        assert (ref & ~vox).sum() <= 0.08 * ref.sum()
        assert (vox & ~ref).sum() <= 0.12 * ref.sum()


def test_hidden_object_is_removed():
    lay = make_scene_layout(CONFIG, 0)
    P = lay.world_to_camera
    # a copy of object 0, 10 times larger, 40 m along the optical axis: behind the room's wall
    A = lay.objects[0].object_to_world.copy()
    A[:3, :3] *= 10.0
    A[:3, 3] = -P[:3, :3].T @ P[:3, 3] + 40.0 * P[2, :3]
    hidden = dataclasses.replace(lay.objects[0], object_to_world=A)
    lay2 = dataclasses.replace(lay, objects=lay.objects + (hidden,))
    n = len(lay2.objects)
    # without the room the copy is seen ...
    no_room = dataclasses.replace(lay2, room=(np.zeros((3, 3)), np.zeros((0, 3), np.int64),
                                              np.zeros((0, 3, 2), np.float32)))  # fmt: skip
    _, inst = render_layouts([no_room, lay], CONFIG)
    assert (inst[0] == n - 1).sum() >= CONFIG.min_visible_pixels
    # ... behind the wall it is not kept, and the others are unchanged
    (final, image, inst), (_, image0, inst0) = settle_layouts([lay2, lay], CONFIG)
    assert len(final.objects) == n - 1
    np.testing.assert_array_equal(inst, inst0)
    np.testing.assert_array_equal(image, image0)


def test_npz_cache_round_trip(tmp_path, batch):
    config = CONFIG.replace(num_scenes=2)
    out = cache_furniture_scenes(config, tmp_path / "scenes", scenes_per_call=2)
    data = NpzFurnitureScenes(out["path"])
    assert len(data) == 2 and data.config == config
    got = data.get_batch([0, 1])
    for key in ("masks", "voxels", "boxes", "classes", "valid", "verts", "faces", "K"):
        np.testing.assert_array_equal(got[key], batch[key], err_msg=key)
    np.testing.assert_allclose(got["images"], batch["images"], atol=0.5 / 255 + 1e-6)
    np.testing.assert_allclose(got["points"], batch["points"], atol=1e-6)
    with pytest.raises(IndexError):
        data.get_batch([2])


def test_collate_and_config_errors():
    rec = {"image": np.zeros((4, 4, 3)), "K": np.eye(3), "classes": np.zeros(3, np.int32)}
    with pytest.raises(ValueError, match="max_instances"):
        collate_instances([rec], 2)
    with pytest.raises(ValueError, match="split"):
        FurnitureSceneConfig(split="dev")
    with pytest.raises(ValueError, match="objects"):
        FurnitureSceneConfig(objects=(0, 3))
    with pytest.raises(ValueError, match="classes"):
        FurnitureSceneConfig(classes=("chair", "spaceship"))
    with pytest.raises(ValueError, match="distance_scale"):
        FurnitureSceneConfig(distance_scale=(1.2, 1.0))
    with pytest.raises(ValueError, match="texture_size"):
        FurnitureSceneConfig(texture_size=60)
    with pytest.raises(IndexError):
        make_scene_layout(CONFIG, CONFIG.num_scenes)
    with pytest.raises(TypeError, match="config"):
        FurnitureScenes({"image_size": 64})


def test_partly_visible_object_below_threshold_is_removed_and_scene_rerendered():
    lay = make_scene_layout(CONFIG, 1)
    _, inst = render_layouts([lay, lay], CONFIG)
    counts = np.bincount(inst[0][inst[0] >= 0], minlength=len(lay.objects))
    smallest = int(np.argmin(counts))
    assert counts[smallest] > 0
    config = CONFIG.replace(min_visible_pixels=int(counts[smallest]) + 1)
    (final, image, inst), _ = settle_layouts([lay, lay], config)
    keep = np.arange(len(lay.objects)) != smallest
    assert len(final.objects) == len(lay.objects) - 1
    ref_image, ref_inst = render_layouts([lay.keep(keep), lay], config)
    np.testing.assert_array_equal(image, ref_image[0])  # rendered without the removed object
    np.testing.assert_array_equal(inst, ref_inst[0])
    assert np.all(np.bincount(inst[inst >= 0]) >= config.min_visible_pixels)


@pytest.mark.slow
def test_authors_preset_scenes():
    config = FurnitureSceneConfig.authors(num_scenes=2, num_points=2000)
    batch = FurnitureScenes(config).get_batch([0, 1])
    S, M = config.image_size, config.max_objects
    assert batch["images"].shape == (2, S, S, 3) and batch["masks"].shape == (2, M, S, S)
    np.testing.assert_array_equal(batch["masks"].sum(1) <= 1, True)
    for b, k in _instances(batch):
        mask = batch["masks"][b, k]
        assert mask.sum() >= config.min_visible_pixels
        np.testing.assert_array_equal(batch["boxes"][b, k], mask_boxes(mask[None])[0])
        uv = np.clip(_project(batch["points"][b, k], batch["K"][b]), 0, S)
        a = batch["amodal_boxes"][b, k]
        assert np.all(uv >= a[:2] - 1e-3) and np.all(uv <= a[2:] + 1e-3)
        assert batch["voxels"][b, k].any()
