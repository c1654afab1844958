"""RealEstate10K and KITTI odometry loaders on tiny folders in their formats; the Middlebury
motorcycle pair shipped by scikit-image."""

import numpy as np
import pytest
from PIL import Image

from jax3d.datasets.view_pairs import (
    KittiOdometry,
    RealEstate10K,
    read_kitti_calib,
    read_kitti_poses,
    read_realestate_cameras,
)


def _pose(angle, t):
    c, s = np.cos(angle), np.sin(angle)
    P = np.eye(4)
    P[:3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
    P[:3, 3] = t
    return P


def _image(path, value, size=(12, 16)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size + (3,), value, np.uint8)).save(path)


def test_realestate10k_folder(tmp_path):
    cams, frames = tmp_path / "train", tmp_path / "frames"
    cams.mkdir()
    poses = [_pose(0.1 * k, [0.1 * k, 0, 0]) for k in range(4)]
    lines = ["https://www.youtube.com/watch?v=abc"]
    for k, P in enumerate(poses):
        numbers = [1000 * k, 0.5, 0.9, 0.5, 0.45, 0, 0] + P[:3].reshape(-1).tolist()
        lines.append(" ".join(str(x) for x in numbers))
    (cams / "seq1.txt").write_text("\n".join(lines) + "\n")
    (cams / "empty_frames.txt").write_text(lines[0] + "\n" + lines[1] + "\n")
    for k in (0, 1, 3):  # frame 2 was not extracted: skipped
        _image(frames / "seq1" / f"{1000 * k}.png", 40 * k)
    cam = read_realestate_cameras(cams / "seq1.txt")
    np.testing.assert_allclose(cam["K"][0], [[1.0, 0, 0], [0, 1.8, -0.1], [0, 0, 1]], atol=1e-6)
    np.testing.assert_allclose(cam["poses"][2], poses[2], atol=1e-6)
    data = RealEstate10K(cams, frames, image_size=8, max_gap=1)
    assert len(data.sequences) == 1 and len(data) == 4  # frames 0, 1, 3: pairs 0-1, 1-3 x 2
    b = data.get_batch([0, 1, 2, 3])
    assert b["src"].shape == (4, 8, 8, 3) and b["K"].shape == (4, 3, 3)
    s, i, j = data.pairs[2]  # (0, 1, 2): found frames 1 and 3, i.e. timestamps 1000 and 3000
    np.testing.assert_allclose(b["RT"][2], poses[3] @ np.linalg.inv(poses[1]), atol=1e-5)
    np.testing.assert_allclose(b["src"][2], 40 / 255, atol=1e-6)
    np.testing.assert_allclose(b["tgt"][2], 120 / 255, atol=1e-6)
    (cams / "bad.txt").write_text("url\n1 2 3\n")
    with pytest.raises(ValueError, match="bad.txt:2"):
        read_realestate_cameras(cams / "bad.txt")
    with pytest.raises(ValueError, match="not a folder"):
        RealEstate10K(tmp_path / "missing", frames)


def test_kitti_odometry_folder(tmp_path):
    seq = tmp_path / "sequences" / "05"
    K = np.array([[100.0, 0, 8.0], [0, 100.0, 6.0], [0, 0, 1]])
    P0 = np.hstack([K, np.zeros((3, 1))])
    P2 = np.hstack([K, K @ np.array([[0.06], [0.0], [0.0]])])
    rows = [f"P{i}: " + " ".join(str(x) for x in P.reshape(-1)) for i, P in
            enumerate([P0, P0, P2, P2])]  # fmt: skip
    seq.mkdir(parents=True)
    (seq / "calib.txt").write_text("\n".join(rows) + "\n")
    c2w = [np.linalg.inv(_pose(0.05 * k, [0, 0, -0.5 * k])) for k in range(3)]
    (tmp_path / "poses").mkdir()
    (tmp_path / "poses" / "05.txt").write_text(
        "\n".join(" ".join(str(x) for x in P[:3].reshape(-1)) for P in c2w) + "\n")
    for k in range(3):
        _image(seq / "image_2" / f"{k:06d}.png", 50 * k)
    assert read_kitti_calib(seq / "calib.txt")["P2"][0, 3] == pytest.approx(6.0)
    np.testing.assert_allclose(read_kitti_poses(tmp_path / "poses" / "05.txt")[1], c2w[1])
    data = KittiOdometry(tmp_path, image_size=(6, 8), max_gap=2)
    assert len(data) == 6
    b = data.get_batch(np.arange(6))
    assert b["src"].shape == (6, 6, 8, 3)
    # normalised intrinsics of the 16 x 12 images
    np.testing.assert_allclose(b["K"][0], [[12.5, 0, 0], [0, 100 / 6, 0], [0, 0, 1]], atol=1e-5)
    # camera 2 sits 6 cm right of camera 0: same rotation, the offset conjugates the motion
    T = np.eye(4)
    T[0, 3] = 0.06
    s, i, j = data.pairs[1]
    want = T @ np.linalg.inv(c2w[j]) @ c2w[i] @ np.linalg.inv(T)
    np.testing.assert_allclose(b["RT"][1], want, atol=1e-5)
    with pytest.raises(ValueError, match="camera"):
        KittiOdometry(tmp_path, camera=1)


def test_middlebury_motorcycle_pair():
    pytest.importorskip(
        "skimage", reason="the Middlebury motorcycle pair ships with scikit-image (pip install "
        "'jax3d[synsin]')"
    )
    from jax3d.datasets.middlebury import load_motorcycle_pair

    p = load_motorcycle_pair(32)
    assert p["src"].shape == (32, 32, 3) and p["tgt"].shape == (32, 32, 3)
    assert p["valid"].mean() > 0.8
    z = p["depth_src"][p["valid"]]
    assert 1.0 < z.min() and z.max() < 6.0  # metres, from disparity and the 193 mm baseline
    np.testing.assert_allclose(p["RT"][:3, 3], [-0.193001, 0, 0], atol=1e-7)
    assert p["K_tgt"][0, 2] > p["K"][0, 2]  # the right camera's principal point is further right
    full = load_motorcycle_pair()
    assert full["src"].shape == (500, 741, 3)
