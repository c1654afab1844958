"""ShapeNet with 3D-R2N2's renderings, read as Mesh R-CNN's ShapeNet experiments read it.

The data are not shipped (ShapeNet needs a registration); point `ShapeNetR2N2` at folders in
the layout Mesh R-CNN's `preprocess_shapenet.py` reads:

    <r2n2_dir>/<synset>/<model>/rendering/renderings.txt         image names, one a line
    <r2n2_dir>/<synset>/<model>/rendering/rendering_metadata.txt azimuth elevation yaw
                                                                 distance_ratio fov, a line each
    <r2n2_dir>/<synset>/<model>/rendering/00.png ...             137 x 137 RGBA renders
    <shapenet_dir>/<synset>/<model>/model.obj                    ShapeNetCore v1 mesh
    <binvox_dir>/<synset>/<model>/model.presolid.binvox          (or model.binvox) solid voxels
    <splits_file>                                                optional JSON
        {"train": {synset: {model: [image ids]}}, "val": ..., "test": ...}
        (Mesh R-CNN's pix2mesh_splits_val05.json)

Each sample is one image with what Mesh R-CNN's `MeshVoxDataset` gives, computed the same
way: the view's extrinsics from the metadata (distance = 1.75 x ratio), the mesh in camera
coordinates, points and normals sampled on it, and the binvox voxels aligned to the mesh's
bounding box and projected into the `(G, G, G)` grid (`jax3d.transforms.r2n2`).
"""

from __future__ import annotations

import functools
import io
import json
import os
from dataclasses import dataclass

import numpy as np

from jax3d.datasets.binvox import read_binvox
from jax3d.datasets.shape_renders import sample_surface
from jax3d.datasets.voxelize import occupancy_from_points
from jax3d.io.files import read_limited
from jax3d.transforms.r2n2 import (
    R2N2_MAX_CAMERA_DISTANCE,
    blender_intrinsic_matrix,
    r2n2_extrinsic_matrix,
)

__all__ = ["SHAPENET_R2N2_CLASSES", "ShapeNetR2N2", "align_bbox"]

# The 13 R2N2 categories with the names of Mesh R-CNN's evaluation table.
SHAPENET_R2N2_CLASSES = {
    "02828884": "bench", "03001627": "chair", "03636649": "lamp", "03691459": "speaker",
    "04090263": "firearm", "04379243": "table", "04530566": "watercraft", "02691156": "plane",
    "02933112": "cabinet", "02958343": "car", "03211117": "monitor", "04256520": "couch",
    "04401088": "cellphone",
}  # fmt: skip

_MAX_TEXT_BYTES = 1 << 20
_MAX_IMAGE_BYTES = 16 << 20
_MAX_IMAGE_PIXELS = 4096 * 4096
_BINVOX_NAMES = ("model.presolid.binvox", "model.binvox")


def align_bbox(src, tgt) -> np.ndarray:
    """Scale and shift `src` (N, 3) per axis so its bounding box is `tgt`'s (M, 3).

    Mesh R-CNN aligns binvox voxel indices to the mesh this way before projecting them."""
    src, tgt = np.asarray(src, np.float64), np.asarray(tgt, np.float64)
    lo, hi = src.min(0), src.max(0)
    tlo, thi = tgt.min(0), tgt.max(0)
    scale = (thi - tlo) / np.where(hi > lo, hi - lo, 1.0)
    return (src - lo) * scale + tlo


def _read_text(path: str) -> list[str]:
    data = read_limited(path, max_bytes=_MAX_TEXT_BYTES, what="text file")
    return [line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip()]


def _read_image(path: str, image_size: int | None):
    """(H, W, 3) float32 RGB as Mesh R-CNN reads it (alpha dropped) and (H, W) alpha."""
    from PIL import Image

    data = read_limited(path, max_bytes=_MAX_IMAGE_BYTES, what="image")
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.size[0] * im.size[1] > _MAX_IMAGE_PIXELS:
                raise ValueError(f"{path}: image of {im.size} pixels is too large")
            im = im.convert("RGBA")
            if image_size is not None and im.size != (image_size, image_size):
                im = im.resize((image_size, image_size), Image.BILINEAR)
            arr = np.asarray(im, np.float32) / 255.0
    except (OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"{path}: cannot decode image ({e})") from e
    return arr[..., :3], arr[..., 3]


@dataclass(frozen=True)
class _Entry:
    synset: str
    model: str
    image: int


class ShapeNetR2N2:
    """ShapeNet R2N2 samples (see the module docstring); `len`, `[i]`, `get_batch`.

    Args:
        r2n2_dir, shapenet_dir, binvox_dir: the three folders.
        splits_file: JSON splits (optional: without it every model of `r2n2_dir` with every
            view is used).
        split: the split's key in the JSON ("train", "val", "test").
        voxel_size: G (0: no voxels).
        num_points: points and normals sampled on the mesh per sample (0: none).
        image_size: resize the images (None: keep R2N2's 137).
        synsets: restrict to these synset ids.
        seed: for the point sampling (sample i uses `default_rng([seed, i])`).
    """

    def __init__(
        self,
        r2n2_dir,
        shapenet_dir,
        binvox_dir,
        splits_file=None,
        *,
        split: str = "train",
        voxel_size: int = 48,
        num_points: int = 5000,
        image_size: int | None = None,
        synsets=None,
        seed: int = 0,
    ):
        self.r2n2_dir, self.shapenet_dir, self.binvox_dir = (
            os.fspath(d) for d in (r2n2_dir, shapenet_dir, binvox_dir)
        )
        for name, d in (("r2n2_dir", self.r2n2_dir), ("shapenet_dir", self.shapenet_dir),
                        ("binvox_dir", self.binvox_dir)):  # fmt: skip
            if not os.path.isdir(d):
                raise ValueError(f"{name} {d!r} is not a folder")
        if voxel_size and voxel_size < 2:
            raise ValueError(f"voxel_size must be 0 or >= 2, got {voxel_size}")
        self.voxel_size, self.num_points = int(voxel_size), int(num_points)
        self.image_size, self.seed = image_size, int(seed)
        self.entries = self._index(splits_file, split, synsets)
        self.synsets = sorted({e.synset for e in self.entries})

    def _index(self, splits_file, split, synsets) -> list[_Entry]:
        keep = None if synsets is None else set(synsets)
        entries = []
        if splits_file is not None:
            path = os.fspath(splits_file)
            try:
                splits = json.loads("\n".join(_read_text(path)))
                table = splits[split]
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}: not a splits file with a {split!r} split ({e})") from e
            for sid in sorted(table):
                if keep is not None and sid not in keep:
                    continue
                for mid in sorted(table[sid]):
                    ids = table[sid][mid]
                    ids = ids if isinstance(ids, list) else range(self._num_views(sid, mid))
                    entries += [_Entry(sid, mid, int(i)) for i in ids]
        else:
            for sid in sorted(os.listdir(self.r2n2_dir)):
                if (keep is not None and sid not in keep) or not os.path.isdir(
                    os.path.join(self.r2n2_dir, sid)
                ):
                    continue
                for mid in sorted(os.listdir(os.path.join(self.r2n2_dir, sid))):
                    n = self._num_views(sid, mid)
                    entries += [_Entry(sid, mid, i) for i in range(n)]
        if not entries:
            raise ValueError(f"no samples found for split {split!r} under {self.r2n2_dir}")
        return entries

    def _render_dir(self, sid, mid) -> str:
        return os.path.join(self.r2n2_dir, sid, mid, "rendering")

    def _num_views(self, sid, mid) -> int:
        return len(_read_text(os.path.join(self._render_dir(sid, mid), "renderings.txt")))

    def __len__(self) -> int:
        return len(self.entries)

    def category_name(self, synset: str) -> str:
        return SHAPENET_R2N2_CLASSES.get(synset, synset)

    @functools.lru_cache(maxsize=32)  # noqa: B019 - bounded; the views of a model come together
    def _model(self, sid: str, mid: str):
        """(verts (V, 3), faces (F, 3), voxel points aligned to the mesh (N, 3), views)."""
        from jax3d.io import load_obj

        obj = os.path.join(self.shapenet_dir, sid, mid, "model.obj")
        verts, faces, _ = load_obj(obj, load_textures=False)
        verts, faces = np.asarray(verts, np.float64), np.asarray(faces.verts_idx, np.int64)
        if len(verts) == 0 or len(faces) == 0:
            raise ValueError(f"{obj}: the mesh has no faces")
        vox_points = None
        if self.voxel_size:
            names = [os.path.join(self.binvox_dir, sid, mid, n) for n in _BINVOX_NAMES]
            found = [p for p in names if os.path.isfile(p)]
            if not found:
                raise ValueError(f"no binvox file for {sid}/{mid}: looked for {names}")
            coords = read_binvox(found[0]).coords()
            if len(coords) == 0:
                raise ValueError(f"{found[0]}: the binvox grid is empty")
            vox_points = align_bbox(coords, verts)
        rdir = self._render_dir(sid, mid)
        names = _read_text(os.path.join(rdir, "renderings.txt"))
        meta_path = os.path.join(rdir, "rendering_metadata.txt")
        views = []
        for n, line in enumerate(_read_text(meta_path)):
            try:
                az, el, _yaw, ratio, _fov = (float(v) for v in line.split())
            except ValueError as e:
                raise ValueError(f"{meta_path}, line {n + 1}: expected 5 numbers ({e})") from e
            views.append((az, el, R2N2_MAX_CAMERA_DISTANCE * ratio))
        if len(views) < len(names):
            raise ValueError(f"{meta_path}: {len(views)} views for {len(names)} images")
        return verts, faces, vox_points, names, views

    def __getitem__(self, i: int) -> dict:
        """Sample i: a dict of NumPy arrays, the keys of `ShapeRenders` (unpadded mesh)."""
        if not 0 <= int(i) < len(self):
            raise IndexError(f"sample {i} out of range for {len(self)} samples")
        e = self.entries[int(i)]
        verts, faces, vox_points, names, views = self._model(e.synset, e.model)
        if not 0 <= e.image < len(names):
            raise ValueError(f"{e.synset}/{e.model}: image {e.image} of {len(names)}")
        name = names[e.image]
        if os.path.basename(name) != name or name.startswith("."):
            raise ValueError(f"{e.synset}/{e.model}: refusing image name {name!r}")
        image, alpha = _read_image(os.path.join(self._render_dir(e.synset, e.model), name),
                                   self.image_size)  # fmt: skip
        az, el, dist = views[e.image]
        RT = r2n2_extrinsic_matrix(az, el, dist, np.float64)
        R, t = RT[:3, :3], RT[:3, 3]
        sample = {
            "images": image,
            "masks": alpha,
            "verts": (verts @ R.T + t).astype(np.float32),
            "faces": faces.astype(np.int32),
            "num_verts": np.int32(len(verts)),
            "num_faces": np.int32(len(faces)),
            "K": blender_intrinsic_matrix(),
            "RT": RT.astype(np.float32),
            "azimuth": np.float32(az),
            "elevation": np.float32(el),
            "distance": np.float32(dist),
            "category": np.int32(self.synsets.index(e.synset)),
        }
        if self.voxel_size:
            sample["voxels"] = occupancy_from_points(vox_points @ R.T + t, self.voxel_size)
        if self.num_points:
            rng = np.random.default_rng([self.seed, int(i)])
            p, n = sample_surface(verts, faces, self.num_points, rng)
            sample["points"] = (p @ R.T + t).astype(np.float32)
            sample["normals"] = (n @ R.T).astype(np.float32)
        return sample

    def get_batch(self, indices) -> dict:
        """Samples stacked along B; meshes padded to the batch's largest (verts with 0, faces
        with -1), so `Meshes(verts, faces, num_verts=..., num_faces=...)` rebuilds them."""
        samples = [self[int(i)] for i in np.asarray(indices).reshape(-1)]
        V = max(len(s["verts"]) for s in samples)
        F = max(len(s["faces"]) for s in samples)
        out = {}
        for k in samples[0]:
            if k in ("verts", "faces"):
                n, fill = (V, 0.0) if k == "verts" else (F, -1)
                rows = [np.concatenate([s[k], np.full((n - len(s[k]), 3), fill, s[k].dtype)])
                        for s in samples]  # fmt: skip
                out[k] = np.stack(rows)
            else:
                out[k] = np.stack([s[k] for s in samples])
        return out
