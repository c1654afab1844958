"""Pix3D (Sun et al., CVPR 2018) for Mesh R-CNN, read from a folder the user gives.

The layout is the one `pix3d.zip` unpacks to:

    root/pix3d.json                 annotations (below)
    root/img/<category>/<id>.jpg    images (also .png)
    root/mask/<category>/<id>.png   object masks (8-bit, 255 on the object)
    root/model/<category>/<name>/model.obj   the aligned CAD models

`pix3d.json` is a list with one entry per (image, object), with the keys read here: `img`,
`mask`, `model` (paths relative to the root), `category`, `img_size` `[width, height]`,
`bbox` `[x0, y0, x1, y1]` pixels, `rot_mat` (3 x 3) and `trans_mat` (3,) mapping the model into
Pix3D's camera frame (+X left, +Y up, +Z forward: PyTorch3D's view frame), and `focal_length` in
millimetres on a 32 mm wide sensor (`f_pixels = focal_length * width / 32`; the principal point
is the image centre). Mesh R-CNN's converted COCO-style files (`pix3d_s1_train.json`, ...: a dict
with `images`, `annotations` and `categories`, each annotation with `image_id`, `bbox`
`[x, y, w, h]`, `category_id`, `segmentation` (the mask path), `model`, `K = [f, cx, cy]`,
`rot_mat`, `trans_mat`) are read too, so their S1 / S2 splits can be used. Entries of the same
image are grouped into one record with several instances.

Records follow `jax3d.datasets.instance_targets`: the mesh is moved to OpenCV's camera frame
(`diag(-1, -1, 1) (R X + t)`), `K` is in pixels, `boxes` are the visible masks' boxes (the
annotated ones are kept as `annotated_boxes`), voxels are computed from the model (solid
voxelization with `robust=True`, as Pix3D's models are not watertight) in the ROI frame of each
box. `get_batch(indices, image_size)` letterboxes every image to a square (scaling `K`, boxes
and masks; meshes and voxels do not change) and pads the instances.
"""

from __future__ import annotations

import functools
import io
import json
import os
from pathlib import Path

import numpy as np

from jax3d.datasets.instance_targets import collate_instances, mask_boxes, roi_voxels
from jax3d.datasets.shape_renders import sample_surface
from jax3d.datasets.voxelize import voxelize_mesh
from jax3d.io.files import MAX_FILE_BYTES, MAX_IMAGE_PIXELS, read_limited
from jax3d.io.obj import load_obj
from jax3d.io.utils import resolve_inside

__all__ = ["PIX3D_CLASSES", "PIX3D_SENSOR_WIDTH_MM", "Pix3D"]

PIX3D_CLASSES = ("bed", "bookcase", "chair", "desk", "misc", "sofa", "table", "tool", "wardrobe")
PIX3D_SENSOR_WIDTH_MM = 32.0
# Two Pix3D images whose masks do not match them (the authors skip them too).
_BAD_IMAGES = ("img/table/1749.jpg", "img/table/0045.png")
_PIX3D_TO_OPENCV = np.diag([-1.0, -1.0, 1.0])


def _need(entry: dict, key: str, where: str):
    if key not in entry:
        raise ValueError(f"{where}: missing key {key!r}")
    return entry[key]


def _matrix(value, shape, key: str, where: str) -> np.ndarray:
    try:
        arr = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {key} is not numeric") from None
    if arr.shape != shape or not np.all(np.isfinite(arr)):
        raise ValueError(f"{where}: {key} must be finite with shape {shape}, got {arr.shape}")
    return arr


def _from_pix3d(entry: dict, where: str) -> dict:
    w, h = (int(x) for x in _matrix(_need(entry, "img_size", where), (2,), "img_size", where))
    f = float(_need(entry, "focal_length", where)) * w / PIX3D_SENSOR_WIDTH_MM
    return {
        "img": _need(entry, "img", where), "mask": _need(entry, "mask", where),
        "model": _need(entry, "model", where), "category": _need(entry, "category", where),
        "bbox": _matrix(_need(entry, "bbox", where), (4,), "bbox", where),
        "R": _matrix(_need(entry, "rot_mat", where), (3, 3), "rot_mat", where),
        "t": _matrix(_need(entry, "trans_mat", where), (3,), "trans_mat", where),
        "f": f, "c": (0.5 * w, 0.5 * h), "size": (w, h),
    }  # fmt: skip


def _from_coco(ann: dict, image: dict, categories: dict, where: str) -> dict:
    w, h = int(_need(image, "width", where)), int(_need(image, "height", where))
    x, y, bw, bh = _matrix(_need(ann, "bbox", where), (4,), "bbox", where)
    K = _matrix(_need(ann, "K", where), (3,), "K", where)
    cat = categories.get(_need(ann, "category_id", where))
    if cat is None:
        raise ValueError(f"{where}: unknown category_id {ann['category_id']!r}")
    return {
        "img": _need(image, "file_name", where), "mask": _need(ann, "segmentation", where),
        "model": _need(ann, "model", where), "category": cat,
        "bbox": np.array([x, y, x + bw, y + bh]),
        "R": _matrix(_need(ann, "rot_mat", where), (3, 3), "rot_mat", where),
        "t": _matrix(_need(ann, "trans_mat", where), (3,), "trans_mat", where),
        "f": float(K[0]), "c": (float(K[1]), float(K[2])), "size": (w, h),
    }  # fmt: skip


def _parse_annotations(data, path: str) -> list[dict]:
    """Normalised entries of a pix3d.json list or of a Mesh R-CNN COCO-style dict."""
    if isinstance(data, list):
        out = []
        for i, e in enumerate(data):
            if not isinstance(e, dict):
                raise ValueError(f"{path}: entry {i} is not an object")
            out.append(_from_pix3d(e, f"{path}: entry {i}"))
        return out
    if isinstance(data, dict) and "images" in data and "annotations" in data:
        images = {im.get("id"): im for im in data["images"]}
        cats = {c.get("id"): c.get("name") for c in data.get("categories", [])}
        out = []
        for i, ann in enumerate(data["annotations"]):
            where = f"{path}: annotation {i}"
            image = images.get(_need(ann, "image_id", where))
            if image is None:
                raise ValueError(f"{where}: unknown image_id {ann['image_id']!r}")
            out.append(_from_coco(ann, image, cats, where))
        return out
    raise ValueError(f"{path}: expected Pix3D's list of entries or a COCO-style dict with "
                     f"'images' and 'annotations'")  # fmt: skip


class Pix3D:
    """Pix3D records (module docstring): `len` is the number of images, `dataset[i]` the record
    of image i at its own size, `get_batch(indices, image_size)` a padded square batch.

    Args:
        root: the Pix3D folder.
        annotations: the annotation file, relative to `root` (or absolute).
        classes: class names; an instance's class id is its index here (entries of other
            categories are left out).
        voxel_size: G of the ROI voxels (0: no voxels).
        object_resolution: the solid grid each model is voxelized at.
        num_points: surface samples per instance (0: none).
        exclude: image paths to leave out (by default the two with wrong masks).
        max_bytes: the largest image, mask or OBJ file read (OBJ files through
            `jax3d.io.load_obj` and its limits).

    Attributes:
        images: the image paths (relative to root), in order of first appearance.
    """

    def __init__(self, root, annotations: str = "pix3d.json", *, classes=PIX3D_CLASSES,
                 voxel_size: int = 24, object_resolution: int = 64, num_points: int = 1000,
                 exclude=_BAD_IMAGES, max_bytes: int = MAX_FILE_BYTES):  # fmt: skip
        self.root = Path(os.fspath(root))
        if not self.root.is_dir():
            raise FileNotFoundError(f"Pix3D root {str(self.root)!r} is not a folder")
        path = self.root / annotations
        try:
            data = json.loads(read_limited(path, max_bytes=max_bytes, what="annotation file"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from e
        self.classes = tuple(classes)
        if voxel_size and voxel_size < 2:
            raise ValueError(f"voxel_size must be 0 or >= 2, got {voxel_size!r}")
        self.voxel_size, self.num_points = int(voxel_size), int(num_points)
        self.object_resolution, self.max_bytes = int(object_resolution), int(max_bytes)
        entries = [e for e in _parse_annotations(data, str(path))
                   if e["category"] in self.classes and e["img"] not in set(exclude)]  # fmt: skip
        groups: dict[str, list[dict]] = {}
        for e in entries:
            groups.setdefault(e["img"], []).append(e)
        self.images = list(groups)
        self._groups = [groups[k] for k in self.images]

    def __len__(self) -> int:
        return len(self.images)

    def _path(self, name: str, what: str) -> Path:
        path = resolve_inside(self.root, str(name), allow_outside=False, what=what)
        if not path.is_file():
            raise FileNotFoundError(f"{what} {str(path)!r} does not exist")
        return path

    def _image(self, name: str, mode: str, size) -> np.ndarray:
        from PIL import Image

        path = self._path(name, "Pix3D " + ("image" if mode == "RGB" else "mask"))
        data = read_limited(path, max_bytes=self.max_bytes, what="image")
        try:
            with Image.open(io.BytesIO(data)) as im:
                if im.size[0] * im.size[1] > MAX_IMAGE_PIXELS:
                    raise ValueError(f"{path}: image of {im.size} pixels is too large")
                if tuple(im.size) != tuple(size):
                    raise ValueError(f"{path}: size {im.size} does not match the annotated "
                                     f"(width, height) {tuple(size)}")  # fmt: skip
                return np.asarray(im.convert(mode))
        except (OSError, SyntaxError, Image.DecompressionBombError) as e:
            raise ValueError(f"{path}: cannot decode image ({e})") from e

    @functools.lru_cache(maxsize=32)  # noqa: B019 - models repeat across images
    def model(self, name: str):
        """(verts (V, 3) float64, faces (F, 3) int32, solid VoxelGrid or None) of a model file,
        in its object frame."""
        path = self._path(name, "Pix3D model")
        verts, faces, _ = load_obj(path, load_textures=False, max_bytes=self.max_bytes)
        verts, faces = np.asarray(verts, np.float64), np.asarray(faces.verts_idx, np.int32)
        if len(faces) == 0:
            raise ValueError(f"{path}: the model has no faces")
        grid = None
        if self.voxel_size:
            grid = voxelize_mesh(verts, faces, self.object_resolution, robust=True)
        return verts, faces, grid

    def _instance(self, e: dict, mask: np.ndarray, K: np.ndarray, key) -> dict:
        verts_obj, faces, grid = self.model(e["model"])
        A = np.eye(4)
        A[:3, :3], A[:3, 3] = _PIX3D_TO_OPENCV @ e["R"], _PIX3D_TO_OPENCV @ e["t"]
        verts = verts_obj @ A[:3, :3].T + A[:3, 3]
        if verts[:, 2].min() <= 0:
            raise ValueError(f"{e['model']} in {e['img']}: the posed model reaches behind the "
                             f"camera (z <= 0); check rot_mat / trans_mat")  # fmt: skip
        box = mask_boxes(mask[None])[0]
        zrange = np.array([verts[:, 2].min(), verts[:, 2].max()])
        uv = verts @ K.T
        uv = uv[:, :2] / uv[:, 2:]
        w, h = e["size"]
        rec = {
            "boxes": box,
            "annotated_boxes": e["bbox"].astype(np.float32),
            "amodal_boxes": np.clip([*uv.min(0), *uv.max(0)], 0, [w, h, w, h]).astype(np.float32),
            "classes": np.int32(self.classes.index(e["category"])),
            "masks": mask,
            "visible_pixels": np.int32(mask.sum()),
            "zrange": zrange.astype(np.float32),
            "verts": verts.astype(np.float32),
            "faces": faces,
            "num_verts": np.int32(len(verts)),
            "num_faces": np.int32(len(faces)),
        }
        if self.voxel_size:
            surface = sample_surface(verts, faces, 20 * self.voxel_size**2,
                                     np.random.default_rng(key + [3]))[0]  # fmt: skip
            rec["voxels"] = roi_voxels(grid, A, box, K, zrange, self.voxel_size, surface)
        if self.num_points:
            rng = np.random.default_rng(key + [2])
            pts = sample_surface(rec["verts"], faces, self.num_points, rng)
            rec["points"], rec["normals"] = pts
        return rec

    def __getitem__(self, i: int) -> dict:
        """The record of image `i` (`jax3d.datasets.instance_targets`, plus `annotated_boxes`,
        `amodal_boxes`, `visible_pixels`), at the image's own size; verts / faces padded to the
        largest model of the image."""
        if not 0 <= int(i) < len(self):
            raise IndexError(f"image {i} out of range for {len(self)} images")
        group = self._groups[int(i)]
        e0 = group[0]
        image = self._image(e0["img"], "RGB", e0["size"]).astype(np.float32) / 255.0
        K = np.array([[e0["f"], 0, e0["c"][0]], [0, e0["f"], e0["c"][1]], [0, 0, 1]], np.float64)
        insts = []
        for k, e in enumerate(group):
            mask = self._image(e["mask"], "L", e0["size"]) > 127
            if not mask.any():
                raise ValueError(f"{e['mask']} (for {e['img']}): the mask is empty")
            insts.append(self._instance(e, mask, K, [int(i), k]))
        rec = _stack_padded(insts)
        rec["image"], rec["K"] = image, K.astype(np.float32)
        return rec

    def get_batch(self, indices, image_size: int = 512, max_instances: int | None = None) -> dict:
        """Images `indices` letterboxed to `image_size` squares (the longer side scaled to it,
        padded with 0 at the bottom / right) as a batch of `collate_instances` (M =
        `max_instances`, default the batch's largest count); `K`, boxes and masks follow the
        scaling, meshes and voxels are unchanged."""
        recs = [_letterbox(self[int(i)], int(image_size))
                for i in np.asarray(indices).reshape(-1)]  # fmt: skip
        if not recs:
            raise ValueError("indices must not be empty")
        M = max_instances or max(len(r["classes"]) for r in recs)
        return collate_instances(_pad_meshes(recs), M)


def _stack_padded(insts: list[dict]) -> dict:
    out = {}
    for key in insts[0]:
        vals = [np.asarray(r[key]) for r in insts]
        if key in ("verts", "faces"):
            n = max(len(v) for v in vals)
            vals = [np.concatenate([v, np.full((n - len(v),) + v.shape[1:], -1 if key == "faces"
                                               else 0, v.dtype)]) for v in vals]  # fmt: skip
        out[key] = np.stack(vals)
    return out


def _pad_meshes(recs: list[dict]) -> list[dict]:
    """The records with verts / faces padded (in place) to the batch's largest."""
    for key, value in (("verts", 0.0), ("faces", -1)):
        n = max(r[key].shape[1] for r in recs)
        for r in recs:
            pad = n - r[key].shape[1]
            if pad:
                r[key] = np.concatenate([r[key], np.full((len(r[key]), pad) + r[key].shape[2:],
                                                         value, r[key].dtype)], 1)  # fmt: skip
    return recs


def _letterbox(rec: dict, size: int) -> dict:
    """A record scaled so its longer side is `size` and padded to `size x size`."""
    from PIL import Image

    if size < 8:
        raise ValueError(f"image_size must be >= 8, got {size}")
    H, W = rec["image"].shape[:2]
    s = size / max(H, W)
    w, h = max(1, round(W * s)), max(1, round(H * s))
    sx, sy = w / W, h / H
    img = Image.fromarray(np.round(rec["image"] * 255).astype(np.uint8)).resize((w, h),
                                                                                 Image.BILINEAR)
    image = np.zeros((size, size, 3), np.float32)
    image[:h, :w] = np.asarray(img, np.float32) / 255.0
    masks = np.zeros((len(rec["masks"]), size, size), bool)
    for k, m in enumerate(rec["masks"]):
        masks[k, :h, :w] = np.asarray(Image.fromarray(m).resize((w, h), Image.NEAREST))
    scale = np.array([sx, sy, sx, sy], np.float32)
    out = dict(rec)
    out.update(image=image, masks=masks, visible_pixels=masks.sum((1, 2)).astype(np.int32),
               K=(np.diag([sx, sy, 1.0]) @ rec["K"]).astype(np.float32))  # fmt: skip
    for key in ("boxes", "annotated_boxes", "amodal_boxes"):
        out[key] = (rec[key] * scale).astype(np.float32)
    return out
