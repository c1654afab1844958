"""Multi-view rooms: procedural textures, scene generation, the pair loader, rendering (slow)."""

import json

import numpy as np
import pytest

from jax3d.datasets.procedural_textures import (
    TEXTURE_KINDS,
    atlas_uvs,
    random_texture,
    texture_atlas,
)
from jax3d.datasets.rooms import RoomConfig, RoomPairs, look_pose, make_room_scene


def test_textures_are_seamless_rgb_in_range():
    rng = np.random.default_rng(0)
    for kind in TEXTURE_KINDS:
        t = random_texture(rng, 32, kind)
        assert t.shape == (32, 32, 3) and t.dtype == np.float32
        assert 0.0 <= t.min() and t.max() <= 1.0 and t.std() > 0.01, kind
        # tiling: the jump across the wrap is like a jump inside the texture
        inner = np.abs(np.diff(t, axis=1)).mean(axis=(0, 2)).max()
        wrap = np.abs(t[:, 0] - t[:, -1]).mean()
        assert wrap <= inner + 1e-6, kind
    with pytest.raises(ValueError, match="kind"):
        random_texture(rng, 8, "plaid")


def test_atlas_uvs_land_inside_their_tile():
    tiles = [np.full((8, 8, 3), i / 4, np.float32) for i in range(3)]
    atlas = texture_atlas(tiles, 2)
    assert atlas.shape == (16, 16, 3)
    uv = atlas_uvs(np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.5]]), 2, 2, 8)
    # tile 2 is row 1, column 0: u in [0, 0.5], v (bottom-up) in [0, 0.5]
    assert (uv[:, 0] > 0).all() and (uv[:, 0] < 0.5).all()
    assert (uv[:, 1] > 0).all() and (uv[:, 1] < 0.5).all()
    # sampling the atlas at those UVs reads the tile's colour (row 0 of the image is v = 1)
    rows = ((1 - uv[:, 1]) * 16).astype(int)
    cols = (uv[:, 0] * 16).astype(int)
    np.testing.assert_allclose(atlas[rows, cols], 0.5)


def test_look_pose_is_a_world_to_camera_opencv_pose():
    P = look_pose([1.0, 1.5, 2.0], yaw=0.3, pitch=-0.1)
    R = P[:3, :3]
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(R), 1.0)
    np.testing.assert_allclose(P @ [1.0, 1.5, 2.0, 1.0], [0, 0, 0, 1], atol=1e-12)
    ahead = np.array([1 + np.sin(0.3), 1.5, 2 + np.cos(0.3), 1.0])  # 1 m ahead, level
    cam = P @ ahead
    # the camera looks 0.1 rad down, so a point level with it is above the axis (y down)
    assert cam[2] > 0.9 and cam[1] < 0 and abs(cam[0]) < 1e-12
    P_level = look_pose([1.0, 1.5, 2.0], yaw=0.3, pitch=0.0)
    np.testing.assert_allclose((P_level @ ahead)[:3], [0, 0, 1], atol=1e-12)


def test_room_scene_is_deterministic_and_inside_the_room():
    config = RoomConfig(num_scenes=3, views_per_scene=5, use_cow=False)
    a, b = make_room_scene(config, 1), make_room_scene(config, 1)
    np.testing.assert_array_equal(a.verts, b.verts)
    np.testing.assert_array_equal(a.poses, b.poses)
    other = make_room_scene(config.replace(split="test"), 1)
    assert not np.array_equal(a.verts, other.verts)
    assert a.poses.shape == (5, 4, 4) and len(a.faces) <= config.max_faces
    assert a.faces.max() < len(a.verts) and a.faces_uvs.max() < len(a.verts_uvs)
    lo, hi = a.verts.min(0), a.verts.max(0)
    centres = np.stack([-p[:3, :3].T @ p[:3, 3] for p in a.poses])
    assert ((centres > lo + 0.5) & (centres < hi - 0.4)).all()
    # consecutive frames: small motion (<= 9 cm, <= 2.5 degrees of turn plus tilt)
    step = np.linalg.norm(np.diff(centres, axis=0), axis=1)
    assert (step < 0.1).all()
    rel = a.poses[1:, :3, :3] @ np.transpose(a.poses[:-1, :3, :3], (0, 2, 1))
    angle = np.degrees(np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    assert (angle < 2.6).all()
    with pytest.raises(ValueError, match="split"):
        RoomConfig(split="dev")


def _fake_cache(path, S=3, N=4, H=8):
    rng = np.random.default_rng(0)
    config = RoomConfig(num_scenes=S, views_per_scene=N, image_size=H)
    poses = np.tile(np.eye(4, dtype=np.float32), (S, N, 1, 1))
    poses[..., :3, 3] = rng.normal(size=(S, N, 3))
    np.savez(path, images=rng.integers(0, 256, (S, N, H, H, 3), np.uint8),
             depths=rng.uniform(1, 3, (S, N, H, H)).astype(np.float16), poses=poses, K=config.K,
             config_json=np.array(json.dumps(config.__dict__)))  # fmt: skip
    return poses


def test_room_pairs_batches(tmp_path):
    path = tmp_path / "rooms.npz"
    poses = _fake_cache(path)
    pairs = RoomPairs(path, max_gap=2)
    # per scene: ordered pairs (i, j), 0 < |i - j| <= 2, of 4 frames -> 10
    assert len(pairs) == 3 * 10 and pairs.num_scenes == 3
    b = pairs.get_batch([0, 5, 29])
    assert b["src"].shape == (3, 8, 8, 3) and b["depth_tgt"].shape == (3, 8, 8, 1)
    assert b["src"].dtype == np.float32 and b["src"].max() <= 1.0
    s, i, j = pairs.pairs[5]
    np.testing.assert_allclose(b["RT"][1], poses[s, j] @ np.linalg.inv(poses[s, i]), atol=1e-6)
    np.testing.assert_array_equal(pairs.sample_indices(7, 4), pairs.sample_indices(7, 4))
    fixed = pairs.fixed_indices(5)
    assert len(set(fixed.tolist())) == 5 and len(set(pairs.pairs[fixed[:3], 0])) == 3
    with pytest.raises(IndexError):
        pairs.get_batch([30])
    with pytest.raises(ValueError, match="max_gap"):
        RoomPairs(path, max_gap=4)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="rooms cache"):
        RoomPairs(tmp_path / "bad.npz")


@pytest.mark.slow  # compiles the mesh renderer (~20 s of CPU)
def test_rendered_views_are_consistent_with_depth_and_poses(tmp_path):
    from jax3d.datasets.rooms import cache_rooms
    from jax3d.models.synsin import naive_render

    config = RoomConfig(num_scenes=2, views_per_scene=3, image_size=32, use_cow=False)
    info = cache_rooms(config, tmp_path / "r.npz")
    assert info["views_per_second"] > 0
    pairs = RoomPairs(info["path"], max_gap=1)
    b = pairs.get_batch(np.arange(len(pairs)))
    assert (b["depth_src"] > 0.3).all()  # closed rooms: every pixel sees a surface
    warped = np.asarray(naive_render(b["src"], b["depth_src"], b["K"], b["RT"], radius=0.75))
    covered = warped.sum(-1) > 0
    err = np.abs(warped - b["tgt"]).mean(-1)[covered].mean()
    assert covered.mean() > 0.8 and err < 0.5 * np.abs(b["src"] - b["tgt"]).mean()
