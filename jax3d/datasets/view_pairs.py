"""Real multi-view data for SynSin: RealEstate10K and KITTI odometry, from the user's folders.

Both serve the batches of `jax3d.models.synsin` (`src`, `tgt` (B, H, W, 3) in [0, 1], `K`
(B, 3, 3) normalised intrinsics, `RT` (B, 4, 4) source-to-target poses, OpenCV frame; see
`jax3d.models.synsin.geometry`): pairs of frames of one sequence at most `max_gap` frames
apart, in both orders. Images are resized to `image_size` (normalised intrinsics do not change
with the resolution, even when the aspect ratio does, as SynSin resizes to squares).

RealEstate10K (`RealEstate10K(cameras_dir, frames_dir)`): the dataset's camera files
`<sequence>.txt`, one video URL line then one line per frame
`timestamp fx fy px py 0 0 r11 r12 r13 t1 r21 r22 r23 t2 r31 r32 r33 t3` (intrinsics as
fractions of the image width and height, the 3 x 4 world-to-camera pose), and the frames the
user extracted from the videos as `frames_dir/<sequence>/<timestamp>.png` (or .jpg); frames
missing on disk are skipped.

KITTI odometry (`KittiOdometry(root)`): `root/sequences/<seq>/image_2/<frame>.png` (camera 2,
colour left; `camera=3` for the right one), `root/sequences/<seq>/calib.txt` (`P0:` ... `P3:`
rows of 12 numbers) and `root/poses/<seq>.txt` (12 numbers per frame: the 3 x 4 camera-0-to-
world pose). Camera 2's pose is camera 0's shifted by `K^-1 P2[:, 3]`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = [
    "KittiOdometry",
    "RealEstate10K",
    "read_kitti_calib",
    "read_kitti_poses",
    "read_realestate_cameras",
]

_IMAGE_EXTS = (".png", ".jpg", ".jpeg")


def _numbers(line: str, path, lineno: int, count: int | None = None) -> np.ndarray:
    try:
        values = np.array([float(x) for x in line.split()], np.float64)
    except ValueError:
        raise ValueError(f"{path}:{lineno}: expected numbers, got {line.strip()[:60]!r}") from None
    if count is not None and values.size != count:
        raise ValueError(f"{path}:{lineno}: expected {count} numbers, got {values.size}")
    return values


def read_realestate_cameras(path) -> dict:
    """One RealEstate10K camera file.

    Returns:
        `{"url": str, "timestamps": (F,) int64, "K": (F, 3, 3) float32 normalised intrinsics,
        "poses": (F, 4, 4) float32 world-to-camera}`.
    """
    path = Path(path)
    lines = path.read_text().splitlines()
    if not lines:
        raise ValueError(f"{path}: empty camera file")
    rows = [(_numbers(line, path, i + 2, 19)) for i, line in enumerate(lines[1:]) if line.strip()]
    if not rows:
        raise ValueError(f"{path}: no camera lines after the URL line")
    a = np.stack(rows)
    fx, fy, px, py = a[:, 1], a[:, 2], a[:, 3], a[:, 4]
    K = np.zeros((len(a), 3, 3))
    K[:, 0, 0], K[:, 1, 1] = 2 * fx, 2 * fy
    K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = 2 * px - 1, 2 * py - 1, 1.0
    poses = np.tile(np.eye(4), (len(a), 1, 1))
    poses[:, :3, :] = a[:, 7:].reshape(-1, 3, 4)
    return {"url": lines[0].strip(), "timestamps": a[:, 0].astype(np.int64),
            "K": K.astype(np.float32), "poses": poses.astype(np.float32)}  # fmt: skip


def read_kitti_calib(path) -> dict:
    """`calib.txt` of a KITTI odometry sequence -> `{"P0": (3, 4), ..., "P3": (3, 4)}`."""
    path = Path(path)
    out = {}
    for i, line in enumerate(path.read_text().splitlines()):
        if ":" not in line:
            continue
        name, rest = line.split(":", 1)
        out[name.strip()] = _numbers(rest, path, i + 1, 12).reshape(3, 4)
    for name in ("P0", "P2", "P3"):
        if name not in out:
            raise ValueError(f"{path}: no {name} row")
    return out


def read_kitti_poses(path) -> np.ndarray:
    """`poses/<seq>.txt` -> (F, 4, 4) float64 camera-0-to-world poses."""
    path = Path(path)
    rows = [_numbers(line, path, i + 1, 12)
            for i, line in enumerate(path.read_text().splitlines()) if line.strip()]  # fmt: skip
    if not rows:
        raise ValueError(f"{path}: no poses")
    poses = np.tile(np.eye(4), (len(rows), 1, 1))
    poses[:, :3, :] = np.stack(rows).reshape(-1, 3, 4)
    return poses


def _load_image(path, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB").resize((size[1], size[0]), Image.BILINEAR)
        return np.asarray(im, np.float32) / 255.0


def _size(image_size) -> tuple[int, int]:
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"image_size must be an int or (H, W), got {image_size!r}")
    return int(size[0]), int(size[1])


class _FramePairs:
    """Pairs `(sequence, i, j)`, `0 < |i - j| <= max_gap`, over sequences of frames with
    per-frame image paths, normalised intrinsics and world-to-camera poses."""

    def __init__(self, sequences: list[dict], image_size, max_gap: int):
        if not isinstance(max_gap, int) or max_gap < 1:
            raise ValueError(f"max_gap must be an int >= 1, got {max_gap!r}")
        self.image_size = _size(image_size)
        self.max_gap = max_gap
        self.sequences = sequences
        pairs = []
        for s, seq in enumerate(sequences):
            n = len(seq["paths"])
            pairs += [(s, i, j) for i in range(n) for j in range(max(0, i - max_gap),
                                                             min(n, i + max_gap + 1)) if j != i]
        if not pairs:
            raise ValueError("no frame pairs: every sequence has fewer than two frames")
        self.pairs = np.array(pairs, np.int64)

    def __len__(self) -> int:
        return len(self.pairs)

    def get_batch(self, indices) -> dict:
        """Pairs `indices` as a SynSin batch (NumPy float32): `src`, `tgt`, `K`, `K_tgt`, `RT`."""
        idx = np.asarray(indices, np.int64).reshape(-1)
        if idx.size == 0 or idx.min() < 0 or idx.max() >= len(self):
            raise IndexError(f"pair indices must be in [0, {len(self)}), got {idx.tolist()[:8]}")
        out = {k: [] for k in ("src", "tgt", "K", "K_tgt", "RT")}
        for s, i, j in self.pairs[idx]:
            seq = self.sequences[s]
            out["src"].append(_load_image(seq["paths"][i], self.image_size))
            out["tgt"].append(_load_image(seq["paths"][j], self.image_size))
            out["K"].append(seq["K"][i])
            out["K_tgt"].append(seq["K"][j])
            out["RT"].append(seq["poses"][j] @ np.linalg.inv(seq["poses"][i]))
        return {k: np.stack(v).astype(np.float32) for k, v in out.items()}

    def sample_indices(self, step: int, batch_size: int, seed: int = 0) -> np.ndarray:
        """`batch_size` random pair indices, a pure function of `(seed, step)`."""
        return np.random.default_rng([int(seed), int(step), 9]).integers(0, len(self), batch_size)


class RealEstate10K(_FramePairs):
    """RealEstate10K pairs from camera files and extracted frames (see the module docstring).

    Args:
        cameras_dir: folder of `<sequence>.txt` camera files (RealEstate10K's train or test).
        frames_dir: folder of `<sequence>/<timestamp>.png|jpg` frames.
        image_size: int or (H, W) (SynSin: 256).
        max_gap: largest distance between the two frames of a pair, counted in the frames
            found on disk (SynSin draws targets within 40 video frames).
        sequences: optional subset of sequence names.
    """

    def __init__(self, cameras_dir, frames_dir, image_size=256, max_gap: int = 10,
                 sequences=None):
        cameras_dir, frames_dir = Path(cameras_dir), Path(frames_dir)
        if not cameras_dir.is_dir():
            raise ValueError(f"cameras_dir {cameras_dir} is not a folder")
        names = sorted(p.stem for p in cameras_dir.glob("*.txt"))
        if sequences is not None:
            names = [n for n in names if n in set(sequences)]
        seqs = []
        for name in names:
            cams = read_realestate_cameras(cameras_dir / f"{name}.txt")
            keep, paths = [], []
            for k, ts in enumerate(cams["timestamps"]):
                found = [frames_dir / name / f"{ts}{e}" for e in _IMAGE_EXTS]
                found = [p for p in found if p.is_file()]
                if found:
                    keep.append(k)
                    paths.append(found[0])
            if len(paths) >= 2:
                seqs.append({"name": name, "paths": paths, "K": cams["K"][keep],
                             "poses": cams["poses"][keep]})  # fmt: skip
        if not seqs:
            raise ValueError(f"no sequence of {cameras_dir} has two frames under {frames_dir}")
        super().__init__(seqs, image_size, max_gap)


class KittiOdometry(_FramePairs):
    """KITTI odometry pairs (see the module docstring).

    Args:
        root: the odometry dataset folder (with `sequences/` and `poses/`).
        sequences: sequence names (default: every `sequences/<seq>` that has a poses file).
        camera: 2 (left colour, default) or 3 (right colour).
        image_size: int or (H, W) (SynSin: 256 x 256).
        max_gap: largest frame distance of a pair (SynSin's KITTI loader: 5).
    """

    def __init__(self, root, sequences=None, camera: int = 2, image_size=256, max_gap: int = 5):
        root = Path(root)
        if camera not in (2, 3):
            raise ValueError(f"camera must be 2 or 3, got {camera!r}")
        if not (root / "sequences").is_dir():
            raise ValueError(f"{root} has no sequences/ folder")
        if sequences is None:
            sequences = sorted(p.name for p in (root / "sequences").iterdir()
                               if (root / "poses" / f"{p.name}.txt").is_file())  # fmt: skip
        seqs = []
        for name in sequences:
            folder = root / "sequences" / name
            calib = read_kitti_calib(folder / "calib.txt")
            c2w = read_kitti_poses(root / "poses" / f"{name}.txt")
            images = sorted(p for p in (folder / f"image_{camera}").iterdir()
                            if p.suffix.lower() in _IMAGE_EXTS)  # fmt: skip
            if len(images) != len(c2w):
                raise ValueError(f"{folder}: {len(images)} images but {len(c2w)} poses")
            P = calib[f"P{camera}"]
            K_pix = P[:, :3]
            offset = np.eye(4)
            offset[:3, 3] = np.linalg.solve(K_pix, P[:, 3])  # camera 0 -> camera `camera`
            with _open_size(images[0]) as (w, h):
                K = _normalized(K_pix, h, w)
            poses = offset[None] @ np.linalg.inv(c2w)
            seqs.append({"name": name, "paths": images,
                         "K": np.broadcast_to(K, (len(images), 3, 3)),
                         "poses": poses.astype(np.float32)})  # fmt: skip
        if not seqs:
            raise ValueError(f"no KITTI odometry sequence with poses under {root}")
        super().__init__(seqs, image_size, max_gap)


class _open_size:
    def __init__(self, path):
        self.path = path

    def __enter__(self):
        from PIL import Image

        self.im = Image.open(os.fspath(self.path))
        return self.im.size

    def __exit__(self, *exc):
        self.im.close()


def _normalized(K_pix, height, width):
    """Pixel intrinsics -> normalised (`jax3d.models.synsin.geometry.normalize_intrinsics`)."""
    scale = np.array([[2.0 / width, 0.0, -1.0], [0.0, 2.0 / height, -1.0], [0.0, 0.0, 1.0]])
    return (scale @ np.asarray(K_pix, np.float64)).astype(np.float32)
