"""Single-object renders of procedural shapes in the ShapeNet / R2N2 / Mesh R-CNN layout.

`ShapeRenders(config)` is an indexable dataset: sample `i` is shape `i // views_per_shape` of
`jax3d.datasets.furniture` seen from one random R2N2 view (azimuth in [0, 360), elevation in
[25, 30] degrees, distance 1.75 x [0.65, 0.95]), rendered with random lights, colours (plain or
per-part) and background, together with everything Mesh R-CNN's ShapeNet loader gives: Blender's
projection `K`, the world-to-camera pose `RT`, the mesh in camera coordinates, points and normals
sampled on it, and the `(G, G, G)` occupancy in Mesh R-CNN's voxel convention
(`jax3d.transforms.r2n2`). Every sample is a pure function of `(config, i)`.

Rendering is batched: `dataset.get_batch(indices)` renders all views in one jitted call of the
mesh renderer (meshes padded to `config.max_faces`); `cache_to_npz` / `NpzShapeRenders` store a
generated training set and read it back.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.datasets.furniture import ALL_CLASSES, FURNITURE_CLASSES, Shape, shape_from_seed
from jax3d.datasets.voxelize import occupancy_from_points, voxelize_mesh
from jax3d.io.safe_npz import load_npz
from jax3d.transforms.r2n2 import (
    BLENDER_FOCAL,
    R2N2_MAX_CAMERA_DISTANCE,
    blender_intrinsic_matrix,
    r2n2_extrinsic_matrix,
)

__all__ = [
    "NpzShapeRenders",
    "ShapeRenderConfig",
    "ShapeRenders",
    "cache_to_npz",
    "collate",
    "sample_surface",
]

_SPLITS = ("train", "val", "test")
_BACKGROUNDS = ("random", "white", "black")


@dataclass(frozen=True)
class ShapeRenderConfig:
    """What `ShapeRenders` generates (the defaults follow R2N2 and Mesh R-CNN's ShapeNet).

    Attributes:
        seed: the collection; with `split` it fixes every shape and view.
        split: "train", "val" or "test": shapes from the collections `3 seed`, `3 seed + 1`
            and `3 seed + 2` of `shape_from_seed` (independent random streams).
        num_samples: the dataset's length.
        classes: shape categories, cycled over shape indices (`jax3d.datasets.furniture`).
        views_per_shape: consecutive samples that share a shape (R2N2 has 24).
        image_size: square image side (R2N2: 137; 64 or 128 for CPU runs, 224 ImageNet-like).
        voxel_size: G of the occupancy grid (Mesh R-CNN: 48; 24 and 32 are common options).
        object_resolution: the object-space solid grid (binvox-like, 128 as ShapeNet's)
            projected into the camera-aligned grid.
        num_points: points and normals sampled on the ground-truth surface (0: none).
        max_faces: faces of the padded ground-truth mesh; a shape with more raises.
        elevation, distance_ratio: R2N2's view ranges (degrees; times 1.75).
        textured: probability of per-part colours (else one plain colour).
        background: "random" (solid colours, gradients and noise), "white" or "black".
    """

    seed: int = 0
    split: str = "train"
    num_samples: int = 1024
    classes: tuple[str, ...] = FURNITURE_CLASSES
    views_per_shape: int = 1
    image_size: int = 137
    voxel_size: int = 48
    object_resolution: int = 128
    num_points: int = 5000
    max_faces: int = 1024
    elevation: tuple[float, float] = (25.0, 30.0)
    distance_ratio: tuple[float, float] = (0.65, 0.95)
    textured: float = 0.5
    background: str = "random"

    def __post_init__(self):
        if self.split not in _SPLITS:
            raise ValueError(f"split must be one of {_SPLITS}, got {self.split!r}")
        if self.background not in _BACKGROUNDS:
            raise ValueError(f"background must be one of {_BACKGROUNDS}, got {self.background!r}")
        bad = [c for c in self.classes if c not in ALL_CLASSES]
        if bad or not self.classes:
            raise ValueError(f"classes must be a non-empty subset of {ALL_CLASSES}, got {bad}")
        for name in ("num_samples", "views_per_shape", "image_size", "voxel_size",
                     "object_resolution", "max_faces"):  # fmt: skip
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.voxel_size < 2 or self.num_points < 0:
            raise ValueError("voxel_size must be >= 2 and num_points >= 0")

    def replace(self, **changes) -> ShapeRenderConfig:
        return dataclasses.replace(self, **changes)


def sample_surface(verts, faces, num_points: int, rng: np.random.Generator):
    """Area-weighted uniform points on a mesh with their face normals (NumPy, host side).

    Returns:
        points (P, 3) float32 and unit normals (P, 3) float32 (`(v1 - v0) x (v2 - v0)`).
    """
    tri = np.asarray(verts, np.float64)[np.asarray(faces)]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = np.linalg.norm(cross, axis=1)
    if len(tri) == 0 or area.sum() <= 0:
        raise ValueError("cannot sample points on a mesh without area")
    f = rng.choice(len(tri), size=num_points, p=area / area.sum())
    u, v = rng.random((2, num_points))
    su = np.sqrt(u)
    bary = np.stack([1 - su, su * (1 - v), su * v], -1)
    points = np.einsum("pk,pkc->pc", bary, tri[f])
    normals = cross[f] / np.maximum(area[f], 1e-12)[:, None]
    return points.astype(np.float32), normals.astype(np.float32)


@dataclass(frozen=True)
class _View:
    azimuth: float
    elevation: float
    distance: float
    rgb: np.ndarray  # (P, 3) per-part colours
    light: np.ndarray  # (3,) direction towards the light, camera frame
    ambient: float
    diffuse: float
    background: np.ndarray  # (H, W, 3)


def _background(rng, size: int, mode: str) -> np.ndarray:
    if mode == "white":
        return np.ones((size, size, 3), np.float32)
    if mode == "black":
        return np.zeros((size, size, 3), np.float32)
    kind = rng.integers(4)
    c0, c1 = rng.random(3), rng.random(3)
    if kind == 0:  # R2N2-like white
        return np.ones((size, size, 3), np.float32)
    if kind == 1:
        return np.broadcast_to(c0, (size, size, 3)).astype(np.float32)
    if kind == 2:  # a vertical gradient
        t = np.linspace(0.0, 1.0, size)[:, None, None]
        return np.broadcast_to(c0 * (1 - t) + c1 * t, (size, size, 3)).astype(np.float32)
    cells = int(rng.integers(2, 9))  # blurred blocky noise
    noise = rng.random((cells, cells, 3))
    idx = np.minimum((np.arange(size) * cells) // size, cells - 1)
    return (0.6 * noise[idx][:, idx] + 0.4 * c0).astype(np.float32)


class ShapeRenders:
    """Reproducible single-object renders (see the module docstring); `len` is
    `config.num_samples`, `dataset[i]` a dict of NumPy arrays, `get_batch(indices)` the
    stacked dict (see `get_batch`)."""

    def __init__(self, config: ShapeRenderConfig = ShapeRenderConfig()):
        if not isinstance(config, ShapeRenderConfig):
            raise TypeError(f"config must be a ShapeRenderConfig, got {type(config).__name__}")
        self.config = config
        self._split_id = _SPLITS.index(config.split)

    def __len__(self) -> int:
        return self.config.num_samples

    @property
    def K(self) -> np.ndarray:  # noqa: N802 - the usual name of the intrinsic matrix
        return blender_intrinsic_matrix()

    def shape(self, shape_index: int) -> Shape:
        """The shape of samples `shape_index * views_per_shape + v`."""
        # The splits draw from the collections 3 seed, 3 seed + 1, 3 seed + 2 (train, val,
        # test): different random streams, each cycling through the classes.
        return shape_from_seed(3 * self.config.seed + self._split_id, int(shape_index),
                               self.config.classes)  # fmt: skip

    @functools.lru_cache(maxsize=64)  # noqa: B019 - bounded, views of a shape come together
    def _solid(self, shape_index: int):
        shape = self.shape(shape_index)
        if len(shape.faces) > self.config.max_faces:
            raise ValueError(
                f"shape {shape_index} ({shape.category}) has {len(shape.faces)} faces, more than "
                f"max_faces={self.config.max_faces}; raise ShapeRenderConfig.max_faces"
            )
        grid = voxelize_mesh(shape.verts, shape.faces, self.config.object_resolution,
                             robust=not shape.closed)  # fmt: skip
        return shape, grid.centers()

    def _view(self, i: int, num_parts: int) -> _View:
        c = self.config
        rng = np.random.default_rng([c.seed, self._split_id, int(i), 1])
        light = rng.normal(size=3) + [0.0, 1.0, 1.5]  # mostly from above and the camera side
        if rng.random() < c.textured:
            rgb = rng.random((num_parts, 3))
        else:
            rgb = np.broadcast_to(rng.random(3), (num_parts, 3))
        return _View(
            azimuth=float(rng.uniform(0.0, 360.0)),
            elevation=float(rng.uniform(*c.elevation)),
            distance=float(R2N2_MAX_CAMERA_DISTANCE * rng.uniform(*c.distance_ratio)),
            rgb=(0.15 + 0.85 * rgb).astype(np.float32),
            light=(light / np.linalg.norm(light)).astype(np.float32),
            ambient=float(rng.uniform(0.3, 0.6)),
            diffuse=float(rng.uniform(0.3, 0.7)),
            background=_background(rng, c.image_size, c.background),
        )

    def geometry(self, i: int) -> dict:
        """Sample i without its image (no rendering): the keys of `get_batch` but images and
        masks, unbatched."""
        return self._geometry(i)[0]

    def _geometry(self, i: int):
        """Everything of sample i but the image: (dict, view, (F, 3) face colours)."""
        c = self.config
        if not 0 <= int(i) < c.num_samples:
            raise IndexError(f"sample {i} out of range for {c.num_samples} samples")
        shape_index = int(i) // c.views_per_shape
        shape, centers = self._solid(shape_index)
        view = self._view(i, shape.num_parts)
        RT = r2n2_extrinsic_matrix(view.azimuth, view.elevation, view.distance, np.float64)
        verts = shape.verts.astype(np.float64) @ RT[:3, :3].T + RT[:3, 3]
        voxels = occupancy_from_points(centers @ RT[:3, :3].T + RT[:3, 3], c.voxel_size)
        part = np.repeat(np.arange(shape.num_parts), np.diff(shape.part_faces))
        F, V = c.max_faces, c.max_faces + 2  # closed parts have fewer verts than faces + 2
        if len(verts) > V:
            raise ValueError(f"shape {shape_index} has {len(verts)} vertices, more than {V}")
        sample = {
            "verts": _pad(verts.astype(np.float32), V, 0.0),
            "faces": _pad(shape.faces, F, -1),
            "num_verts": np.int32(len(verts)),
            "num_faces": np.int32(len(shape.faces)),
            "voxels": voxels,
            "K": blender_intrinsic_matrix(),
            "RT": RT.astype(np.float32),
            "azimuth": np.float32(view.azimuth),
            "elevation": np.float32(view.elevation),
            "distance": np.float32(view.distance),
            "category": np.int32(c.classes.index(shape.category)),
            "shape_index": np.int64(shape_index),
        }
        if c.num_points:
            rng = np.random.default_rng([c.seed, self._split_id, int(i), 2])
            sample["points"], sample["normals"] = sample_surface(
                verts, shape.faces, c.num_points, rng
            )
        return sample, view, _pad(view.rgb[part], F, 0.0)

    def __getitem__(self, i: int) -> dict:
        return {k: v[0] for k, v in self.get_batch([i]).items()}

    def get_batch(self, indices) -> dict:
        """Samples `indices` stacked along a leading axis B, rendered in one batched call.

        Returns a dict of NumPy arrays:
            images (B, H, W, 3) float32 RGB in [0, 1]; masks (B, H, W) float32 object pixels;
            voxels (B, G, G, G) bool occupancy [z, y, x] (Mesh R-CNN's voxel frame);
            verts (B, V, 3) float32 camera-frame vertices, padded with 0; faces (B, F, 3)
            int32, padded with -1; num_verts, num_faces (B,) int32;
            points, normals (B, P, 3) float32 surface samples, camera frame (if num_points);
            K (B, 4, 4) Blender's projection; RT (B, 4, 4) world-to-camera; azimuth,
            elevation, distance (B,) float32; category (B,) int32 index into
            `config.classes`; shape_index (B,) int64.
        """
        indices = [int(i) for i in np.asarray(indices).reshape(-1)]
        if not indices:
            raise ValueError("indices must not be empty")
        parts = [self._geometry(i) for i in indices]
        batch = collate([p[0] for p in parts])
        views = [p[1] for p in parts]
        colours = np.stack([p[2] for p in parts])
        rgba = _render(
            jnp.asarray(batch["verts"]), jnp.asarray(batch["faces"]),
            jnp.asarray(batch["num_verts"]), jnp.asarray(batch["num_faces"]),
            jnp.asarray(colours), jnp.asarray(np.stack([v.light for v in views])),
            jnp.asarray([[v.ambient, v.diffuse] for v in views], jnp.float32),
            image_size=self.config.image_size,
        )  # fmt: skip
        rgba = np.asarray(rgba)
        mask = rgba[..., 3]
        background = np.stack([v.background for v in views])
        batch["images"] = rgba[..., :3] * mask[..., None] + background * (1.0 - mask[..., None])
        batch["masks"] = mask
        return batch


def _pad(x: np.ndarray, n: int, value) -> np.ndarray:
    out = np.full((n,) + x.shape[1:], value, x.dtype)
    out[: len(x)] = x
    return out


def collate(samples: list[dict]) -> dict:
    """Stack a list of sample dicts (same keys and shapes) into a batch dict."""
    return {k: np.stack([s[k] for s in samples]) for k in samples[0]}


_FOV_DEGREES = math.degrees(2.0 * math.atan(1.0 / BLENDER_FOCAL))


@functools.partial(jax.jit, static_argnames=("image_size",))
def _render(verts, faces, num_verts, num_faces, face_rgb, light, amb_diff, *, image_size: int):
    """Flat-shaded RGBA of camera-frame (Blender) meshes: (B, H, W, 4), alpha = coverage.

    The mesh rasterizer finds the nearest face of each pixel; its colour is
    `face_rgb * (ambient + diffuse * max(0, n . light))` with n the outward face normal.
    """
    from jax3d.renderer import FoVPerspectiveCameras, MeshRasterizer, RasterizationSettings
    from jax3d.structures import Meshes

    B = verts.shape[0]
    meshes = Meshes(verts, faces, num_verts=num_verts, num_faces=num_faces)
    # Blender's camera frame is PyTorch3D's view frame with x and z flipped.
    R = jnp.broadcast_to(jnp.diag(jnp.array([-1.0, 1.0, -1.0])), (B, 3, 3))
    cameras = FoVPerspectiveCameras(R=R, T=jnp.zeros((B, 3)), fov=_FOV_DEGREES, znear=0.1,
                                    zfar=100.0)  # fmt: skip
    settings = RasterizationSettings(image_size=image_size, blur_radius=0.0, faces_per_pixel=1)
    fragments = MeshRasterizer(cameras=cameras, raster_settings=settings)(meshes)
    pix = fragments.pix_to_face[..., 0]  # (B, H, W) packed face index
    local = pix - meshes.mesh_to_faces_packed_first_idx()[:, None, None]
    normals = meshes.faces_normals_padded()  # (B, F, 3)
    lit = jnp.maximum(jnp.einsum("bfc,bc->bf", normals, light), 0.0)
    shade = amb_diff[:, None, :1] + amb_diff[:, None, 1:] * lit[..., None]  # (B, F, 1)
    colour = jnp.clip(face_rgb * shade, 0.0, 1.0)
    rgb = jnp.take_along_axis(colour, jnp.maximum(local, 0).reshape(B, -1, 1), axis=1)
    covered = (pix >= 0)[..., None]
    rgb = jnp.where(covered, rgb.reshape(pix.shape + (3,)), 0.0)
    return jnp.concatenate([rgb, covered.astype(rgb.dtype)], -1)


# ----------------------------------------------------------------------------------------------
# A cache of generated samples.
# ----------------------------------------------------------------------------------------------

_RESAMPLED = ("points", "normals")


def cache_to_npz(dataset: ShapeRenders, path, *, batch_size: int = 32, log=None) -> str:
    """Generate every sample of `dataset` and store them in one `.npz` file at `path`.

    Images and masks are stored as uint8, voxels bit-packed; surface points are not stored
    (`NpzShapeRenders` samples them again from the stored mesh). The file is written to a
    temporary name and renamed, so an interrupted run leaves no partial cache.

    Args:
        dataset: the `ShapeRenders` to cache.
        path: the output file (".npz" is appended by NumPy when missing).
        batch_size: views rendered per call (the last batch is padded, one compile).
        log: optional callable receiving `(done, total)` after each batch.

    Returns:
        The path written.
    """
    if not isinstance(dataset, ShapeRenders):
        raise TypeError(f"dataset must be a ShapeRenders, got {type(dataset).__name__}")
    path = os.fspath(path)
    path = path if path.endswith(".npz") else path + ".npz"
    n = len(dataset)
    chunks = []
    for start in range(0, n, batch_size):
        idx = np.arange(start, min(start + batch_size, n))
        padded = np.pad(idx, (0, batch_size - len(idx)), mode="edge")
        b = {k: v[: len(idx)] for k, v in dataset.get_batch(padded).items()}
        for k in _RESAMPLED:
            b.pop(k, None)
        b["images"] = np.round(np.clip(b["images"], 0.0, 1.0) * 255).astype(np.uint8)
        b["masks"] = np.round(b["masks"] * 255).astype(np.uint8)
        b["voxels"] = np.packbits(b["voxels"].reshape(len(idx), -1), axis=1)
        chunks.append(b)
        if log is not None:
            log(int(idx[-1]) + 1, n)
    arrays = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    config = dataclasses.asdict(dataset.config)
    arrays["config_json"] = np.array(json.dumps(config))
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return path


class NpzShapeRenders:
    """A `cache_to_npz` file read back: the same `len`, `[i]`, `get_batch` and keys as
    `ShapeRenders` (images and masks quantised to 1/255; points and normals sampled again
    from the stored mesh, reproducibly per index). Loaded into memory by `jax3d.io.load_npz`
    (no pickle; files above `max_bytes`, 8 GiB by default, are refused)."""

    def __init__(self, path, *, max_bytes: int = 8 << 30):
        path = os.fspath(path)
        try:  # no pickles; npz headers checked against the data
            self._arrays = load_npz(path, max_bytes=max_bytes)
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: not a readable ShapeRenders cache ({e})") from e
        if "config_json" not in self._arrays:
            raise ValueError(f"{path}: not a ShapeRenders cache (no config_json)")
        config = json.loads(str(self._arrays.pop("config_json")))
        config = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
        self.config = ShapeRenderConfig(**config)
        n = len(self._arrays["images"])
        if n != self.config.num_samples or any(len(v) != n for v in self._arrays.values()):
            raise ValueError(f"{path}: inconsistent array lengths in the cache")
        self._split_id = _SPLITS.index(self.config.split)
        self.path = path

    def __len__(self) -> int:
        return self.config.num_samples

    def __getitem__(self, i: int) -> dict:
        return {k: v[0] for k, v in self.get_batch([i]).items()}

    def get_batch(self, indices) -> dict:
        """The stacked samples `indices` (see `ShapeRenders.get_batch`)."""
        idx = np.asarray(indices, np.int64).reshape(-1)
        n, G = len(self), self.config.voxel_size
        if idx.size == 0 or idx.min() < 0 or idx.max() >= n:
            raise IndexError(f"indices must be in [0, {n}), got {idx.tolist()[:8]}")
        b = {k: v[idx] for k, v in self._arrays.items()}
        b["images"] = b["images"].astype(np.float32) / 255.0
        b["masks"] = b["masks"].astype(np.float32) / 255.0
        b["voxels"] = np.unpackbits(b["voxels"], axis=1, count=G**3).reshape(-1, G, G, G) > 0
        if self.config.num_points:
            pts = []
            for row, i in enumerate(idx):
                rng = np.random.default_rng([self.config.seed, self._split_id, int(i), 2])
                faces = b["faces"][row, : b["num_faces"][row]]
                pts.append(sample_surface(b["verts"][row], faces, self.config.num_points, rng))
            b["points"] = np.stack([p[0] for p in pts])
            b["normals"] = np.stack([p[1] for p in pts])
        return b
