"""CLEVR-like scenes rendered by jax3d: primitives of random colour and material on a ground
plane, for GIRAFFE (the book's chapter 7) and other unsupervised scene models.

Scene `i` of a `ClevrConfig` holds 1 to `max_objects` objects (spheres, cubes, cylinders and
Utah teapots) of one of CLEVR's eight colours and two materials ("rubber": matte; "metal":
darker diffuse with a sharp highlight), each resting on the plane z = 0 with a random size,
position (no two objects' bounding circles closer than `min_gap`) and rotation about z. A
fixed camera looks at the origin from CLEVR's elevation (30 degrees; CLEVR's Blender camera is
at about 28) and distance (2.732, CLEVR's 11.3 units at GIRAFFE's scale 0.2379), with
Blender's default 49.13 degree field of view; three jittered point lights (key, fill, back)
and an ambient term shade the scene per pixel (Phong), without shadows. Images are rendered
`supersample` times larger by jax3d's mesh rasterizer and box-filtered down (antialiasing).

Besides each image, a sample holds each object's mask (its share of every pixel, occlusion
included) and its pose (shape, colour, material, size, centre, rotation), for evaluation only.
The world is z-up, as GIRAFFE's, so the model's boxes and camera use the same frame.

`ClevrScenes(config).get_batch(indices)` renders scenes in one jitted call;
`cache_clevr_npz` renders a whole split into an `.npz` file once and `NpzClevrScenes` reads it
back (images as uint8).
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

from jax3d.utils import cube_verts_faces, ico_sphere_verts_faces, teapot_verts_faces

__all__ = [
    "CLEVR_COLORS",
    "CLEVR_MATERIALS",
    "CLEVR_SHAPES",
    "ClevrConfig",
    "ClevrScenes",
    "NpzClevrScenes",
    "cache_clevr_npz",
    "clevr_camera",
]

CLEVR_SHAPES = ("sphere", "cube", "cylinder", "teapot")
CLEVR_MATERIALS = ("rubber", "metal")
# CLEVR's palette (gray, red, blue, green, brown, purple, cyan, yellow), RGB in [0, 1].
CLEVR_COLORS = np.array(
    [[87, 87, 87], [173, 35, 35], [42, 75, 215], [29, 105, 20], [129, 74, 25],
     [129, 38, 192], [41, 208, 208], [255, 238, 51]], np.float32,
) / 255.0  # fmt: skip
# (diffuse scale, specular strength, shininess) of each material.
_MATERIAL_PARAMS = np.array([[1.0, 0.08, 8.0], [0.55, 0.9, 48.0]], np.float32)
_GROUND_RGB = (0.62, 0.62, 0.6)
_GROUND_HALF = 25.0
_SPLITS = ("train", "val", "test")
_SEGMENTS = 24


@dataclass(frozen=True)
class ClevrConfig:
    """What `ClevrScenes` renders.

    Attributes:
        seed: the collection; with `split` it fixes every scene.
        split: "train", "val" or "test": disjoint scene streams.
        num_samples: the dataset's length.
        image_size: square side in pixels (32, 64, 128, ...).
        min_objects, max_objects: objects per scene, uniform in this range.
        shapes: subset of `CLEVR_SHAPES`.
        size_range: half-size of an object's box (its bounding cube's half side), uniform.
        translation_range: object centres are uniform in `[-t, t]^2` on the plane.
        min_gap: free space between the bounding circles of two objects.
        camera_elevation: degrees above the plane.
        camera_azimuth: degrees about z from +x (0: the camera on the +x axis, as GIRAFFE's
            `range_u = (0, 0)`).
        camera_distance: distance to the origin.
        fov: vertical field of view in degrees.
        light_jitter: std of the random offsets of the lights' positions.
        supersample: render this many times larger, then average blocks (>= 1).
        colors: use CLEVR's eight colours (True) or uniformly random RGB (False).
    """

    seed: int = 0
    split: str = "train"
    num_samples: int = 10_000
    image_size: int = 64
    min_objects: int = 1
    max_objects: int = 3
    shapes: tuple[str, ...] = CLEVR_SHAPES
    size_range: tuple[float, float] = (0.14, 0.22)
    translation_range: float = 0.7
    min_gap: float = 0.05
    camera_elevation: float = 30.0
    camera_azimuth: float = 0.0
    camera_distance: float = 2.732
    fov: float = 49.13
    light_jitter: float = 0.5
    supersample: int = 2
    colors: bool = True

    def __post_init__(self):
        if self.split not in _SPLITS:
            raise ValueError(f"split must be one of {_SPLITS}, got {self.split!r}")
        object.__setattr__(self, "shapes", tuple(self.shapes))
        object.__setattr__(self, "size_range", tuple(float(s) for s in self.size_range))
        bad = [s for s in self.shapes if s not in CLEVR_SHAPES]
        if bad or not self.shapes:
            raise ValueError(f"shapes must be a non-empty subset of {CLEVR_SHAPES}, got {bad}")
        for name in ("num_samples", "image_size", "max_objects", "supersample"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        if not 0 <= self.min_objects <= self.max_objects:
            raise ValueError(f"need 0 <= min_objects <= max_objects, got {self.min_objects}, "
                             f"{self.max_objects}")  # fmt: skip
        lo, hi = self.size_range
        if not 0 < lo <= hi:
            raise ValueError(f"size_range must be (low, high) with 0 < low <= high, got "
                             f"{self.size_range}")  # fmt: skip
        if self.translation_range < 0 or self.min_gap < 0:
            raise ValueError("translation_range and min_gap must be >= 0")
        if not 0.0 < self.fov < 180.0:
            raise ValueError(f"fov must be in (0, 180), got {self.fov}")
        # A necessary condition for placing max_objects objects (placement itself raises
        # after 1000 failed tries): their footprints must fit the reachable square.
        side = 2 * self.translation_range + 2 * math.sqrt(2) * hi
        if self.max_objects * math.pi * (math.sqrt(2) * hi + 0.5 * self.min_gap) ** 2 > side**2:
            raise ValueError("max_objects objects of size_range cannot be placed without "
                             "overlap in translation_range; lower them or the gap")  # fmt: skip

    def replace(self, **changes) -> ClevrConfig:
        return dataclasses.replace(self, **changes)

    @property
    def generator_range_v(self) -> float:
        """GIRAFFE's `range_v` value of this camera: `(1 - sin(elevation)) / 2`."""
        return 0.5 * (1.0 - math.sin(math.radians(self.camera_elevation)))


def clevr_camera(config: ClevrConfig) -> np.ndarray:
    """(3,) float64 camera centre (world, z up)."""
    e, a = math.radians(config.camera_elevation), math.radians(config.camera_azimuth)
    return config.camera_distance * np.array(
        [math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)]
    )


# ------------------------------------------------------------------------------ templates


def _vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    tri = verts[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # area-weighted
    out = np.zeros_like(verts)
    for k in range(3):
        np.add.at(out, faces[:, k], n)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def _flat_corner_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    tri = verts[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    return np.repeat(n[:, None], 3, axis=1)


def _cylinder_template():
    """Radius 1, z in [-1, 1]; smooth sides, flat caps: (verts, faces, corner normals)."""
    t = 2.0 * np.pi * np.arange(_SEGMENTS) / _SEGMENTS
    ring = np.stack([np.cos(t), np.sin(t), np.zeros_like(t)], -1)
    n = _SEGMENTS
    verts = np.concatenate([ring - [0, 0, 1], ring + [0, 0, 1], [[0, 0, -1], [0, 0, 1]]])
    i = np.arange(n)
    j = (i + 1) % n
    side = np.concatenate([np.stack([i, j, j + n], -1), np.stack([i, j + n, i + n], -1)])
    caps = np.concatenate([np.stack([np.full(n, 2 * n), j, i], -1),
                           np.stack([np.full(n, 2 * n + 1), i + n, j + n], -1)])  # fmt: skip
    radial = np.concatenate([ring, ring, [[0, 0, -1], [0, 0, 1]]])
    side_normals = radial[side]
    cap_normals = _flat_corner_normals(verts, caps)
    faces = np.concatenate([side, caps])
    return verts, faces, np.concatenate([side_normals, cap_normals])


@functools.cache
def _template(shape: str):
    """(verts (V, 3), faces (F, 3), corner normals (F, 3, 3)) fitting [-1, 1]^3, base at z=-1."""
    if shape == "sphere":
        v, f = ico_sphere_verts_faces(2)
        v = v.astype(np.float64)
        return v, f.astype(np.int64), v[f]
    if shape == "cube":  # half side 0.8: about a sphere's volume, as CLEVR shrinks its cubes
        v, f = cube_verts_faces()
        v = (v.astype(np.float64) - 0.5) * 1.6
        v[:, 2] += -1.0 - v[:, 2].min()
        return v, f.astype(np.int64), _flat_corner_normals(v, f)
    if shape == "cylinder":
        v, f, n = _cylinder_template()
        return v * [0.85, 0.85, 1.0], f, n
    if shape == "teapot":
        v, f = teapot_verts_faces(2)
        v = v.astype(np.float64)[:, [0, 2, 1]] * [1.0, -1.0, 1.0]  # y-up to z-up
        centre = 0.5 * (v.min(0) + v.max(0))
        v = (v - centre) / (0.5 * (v.max(0) - v.min(0)).max())
        v[:, 2] += -1.0 - v[:, 2].min()
        f = f.astype(np.int64)
        return v, f, _vertex_normals(v, f)[f]
    raise ValueError(f"unknown shape {shape!r}")


def _capacity(shapes) -> tuple[int, int]:
    """Largest (verts, faces) of one object among `shapes`."""
    return (max(len(_template(s)[0]) for s in shapes), max(len(_template(s)[1]) for s in shapes))


def _rot_z(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


# ------------------------------------------------------------------------------ scenes


class ClevrScenes:
    """Reproducible CLEVR-like scenes (see the module docstring); `len` is
    `config.num_samples`, `dataset[i]` a dict of NumPy arrays, `get_batch(indices)` stacked."""

    def __init__(self, config: ClevrConfig = ClevrConfig()):
        if not isinstance(config, ClevrConfig):
            raise TypeError(f"config must be a ClevrConfig, got {type(config).__name__}")
        self.config = config
        self._split_id = _SPLITS.index(config.split)
        nv, nf = _capacity(config.shapes)
        self._max_verts = 4 + config.max_objects * nv
        self._max_faces = 2 + config.max_objects * nf

    def __len__(self) -> int:
        return self.config.num_samples

    def layout(self, i: int) -> dict:
        """Scene i's objects and lights (no rendering), NumPy arrays with `M = max_objects`
        rows (rows past `num_objects` are zero):

        num_objects () int32; shape, color, material (M,) int32 indices into
        `config.shapes`, `CLEVR_COLORS`, `CLEVR_MATERIALS`; size (M,) half-size of the box;
        translation (M, 3) box centre (z = size: resting on the plane); rotation (M,)
        fraction of a turn about z (GIRAFFE's rotation value); rgb (M, 3);
        lights (3, 3) positions; light_rgb (3, 3).
        """
        c = self.config
        if not 0 <= int(i) < c.num_samples:
            raise IndexError(f"scene {i} out of range for {c.num_samples} scenes")
        rng = np.random.default_rng([c.seed, self._split_id, int(i), 7])
        m = c.max_objects
        n = int(rng.integers(c.min_objects, m + 1))
        out = {
            "num_objects": np.int32(n),
            "shape": np.zeros(m, np.int32),
            "color": np.zeros(m, np.int32),
            "material": np.zeros(m, np.int32),
            "size": np.zeros(m, np.float32),
            "translation": np.zeros((m, 3), np.float32),
            "rotation": np.zeros(m, np.float32),
            "rgb": np.zeros((m, 3), np.float32),
        }
        sizes = rng.uniform(*c.size_range, n)
        centres = self._place(rng, sizes, i)
        for k in range(n):
            size, (x, y) = float(sizes[k]), centres[k]
            out["shape"][k] = rng.integers(len(c.shapes))
            out["color"][k] = rng.integers(len(CLEVR_COLORS))
            out["material"][k] = rng.integers(len(CLEVR_MATERIALS))
            out["size"][k] = size
            out["translation"][k] = (x, y, size)
            out["rotation"][k] = rng.uniform()
            out["rgb"][k] = CLEVR_COLORS[out["color"][k]] if c.colors else rng.uniform(0.1, 1, 3)
        cam = clevr_camera(c)
        fwd = -cam / np.linalg.norm(cam)
        side = np.cross(fwd, [0.0, 0.0, 1.0])
        side /= np.linalg.norm(side)
        key = cam + 2.0 * side + [0.0, 0.0, 3.0]  # CLEVR: key light left of and above the camera
        fill = cam - 2.5 * side + [0.0, 0.0, 1.0]
        back = -cam + [0.0, 0.0, 3.0]
        lights = np.stack([key, fill, back]) + c.light_jitter * rng.normal(size=(3, 3))
        out["lights"] = lights.astype(np.float32)
        out["light_rgb"] = np.array([[0.75] * 3, [0.3] * 3, [0.25] * 3], np.float32)
        return out

    def _place(self, rng: np.random.Generator, sizes: np.ndarray, i: int) -> list:
        """Centres (x, y) whose footprints' bounding circles keep `min_gap` apart: each object
        gets 100 tries, and the whole layout is redrawn (up to 100 times) when one fails."""
        c = self.config
        radii = np.sqrt(2.0) * sizes  # bounding circle of the box's footprint
        for _ in range(100):
            placed: list[tuple[float, float]] = []
            for r in radii:
                for _ in range(100):
                    x, y = rng.uniform(-c.translation_range, c.translation_range, 2)
                    if all(math.hypot(x - px, y - py) >= r + pr + c.min_gap
                           for (px, py), pr in zip(placed, radii)):  # fmt: skip
                        placed.append((float(x), float(y)))
                        break
                else:
                    break
            if len(placed) == len(radii):
                return placed
        raise RuntimeError(f"scene {i}: could not place {len(radii)} objects without overlap; "
                           "lower max_objects or size_range, or raise translation_range")

    def _geometry(self, layout: dict):
        """Padded scene mesh: verts, faces, corner normals, face rgb, face material params,
        face object id (-1 ground)."""
        c = self.config
        V, F = self._max_verts, self._max_faces
        h = _GROUND_HALF
        verts = [np.array([[-h, -h, 0], [h, -h, 0], [h, h, 0], [-h, h, 0]], np.float64)]
        faces = [np.array([[0, 1, 2], [0, 2, 3]])]
        normals = [np.broadcast_to([0.0, 0.0, 1.0], (2, 3, 3))]
        rgb = [np.broadcast_to(_GROUND_RGB, (2, 3))]
        mat = [np.broadcast_to(_MATERIAL_PARAMS[0], (2, 3))]
        obj = [np.full(2, -1)]
        offset = 4
        for k in range(int(layout["num_objects"])):
            v, f, n = _template(c.shapes[layout["shape"][k]])
            R = _rot_z(2.0 * math.pi * float(layout["rotation"][k]))
            s = float(layout["size"][k])
            verts.append(v * s @ R.T + layout["translation"][k])
            faces.append(f + offset)
            normals.append(n @ R.T)
            rgb.append(np.broadcast_to(layout["rgb"][k], (len(f), 3)))
            mat.append(np.broadcast_to(_MATERIAL_PARAMS[layout["material"][k]], (len(f), 3)))
            obj.append(np.full(len(f), k))
            offset += len(v)
        verts, faces = np.concatenate(verts), np.concatenate(faces)
        nv, nf = len(verts), len(faces)
        return {
            "verts": _pad(verts.astype(np.float32), V, 0.0),
            "faces": _pad(faces.astype(np.int32), F, -1),
            "num_verts": np.int32(nv),
            "num_faces": np.int32(nf),
            "normals": _pad(np.concatenate(normals).astype(np.float32), F, 0.0),
            "face_rgb": _pad(np.concatenate(rgb).astype(np.float32), F, 0.0),
            "face_mat": _pad(np.concatenate(mat).astype(np.float32), F, 0.0),
            "face_obj": _pad(np.concatenate(obj).astype(np.int32), F, -1),
        }

    def __getitem__(self, i: int) -> dict:
        return {k: v[0] for k, v in self.get_batch([i]).items()}

    def get_batch(self, indices) -> dict:
        """Scenes `indices` rendered in one call: the `layout` keys stacked, plus

        images (B, H, W, 3) float32 RGB in [0, 1]; masks (B, M, H, W) float32, the share of
        each pixel covered by object m (visible parts; rows past num_objects are 0);
        index (B,) int64 scene indices.
        """
        idx = [int(i) for i in np.asarray(indices).reshape(-1)]
        if not idx:
            raise ValueError("indices must not be empty")
        layouts = [self.layout(i) for i in idx]
        geo = [self._geometry(lay) for lay in layouts]
        g = {k: jnp.asarray(np.stack([x[k] for x in geo])) for k in geo[0]}
        c = self.config
        eye = np.broadcast_to(clevr_camera(c), (len(idx), 3)).astype(np.float32)
        lights = jnp.asarray(np.stack([lay["lights"] for lay in layouts]))
        light_rgb = jnp.asarray(np.stack([lay["light_rgb"] for lay in layouts]))
        rgb, masks = _render(
            g["verts"], g["faces"], g["num_verts"], g["num_faces"], g["normals"], g["face_rgb"],
            g["face_mat"], g["face_obj"], jnp.asarray(eye), lights, light_rgb,
            size=c.image_size, supersample=c.supersample, n_objects=c.max_objects,
            fov=float(c.fov),
        )  # fmt: skip
        batch = {k: np.stack([lay[k] for lay in layouts]) for k in layouts[0]}
        batch["images"] = np.asarray(rgb)
        batch["masks"] = np.asarray(masks)
        batch["index"] = np.asarray(idx, np.int64)
        return batch


def _pad(x: np.ndarray, n: int, value) -> np.ndarray:
    out = np.full((n,) + x.shape[1:], value, x.dtype)
    out[: len(x)] = x
    return out


def _normalize(v):
    return v / jnp.maximum(jnp.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


@functools.partial(jax.jit, static_argnames=("size", "supersample", "n_objects", "fov"))
def _render(verts, faces, num_verts, num_faces, normals, face_rgb, face_mat, face_obj, eye,
            lights, light_rgb, *, size, supersample, n_objects, fov):  # fmt: skip
    """Phong-shaded images (B, size, size, 3) and object coverage (B, n_objects, size, size)."""
    from jax3d.renderer import (
        FoVPerspectiveCameras,
        MeshRasterizer,
        RasterizationSettings,
        look_at_view_transform,
    )
    from jax3d.structures import Meshes

    B = verts.shape[0]
    hi = size * supersample
    R, T = look_at_view_transform(eye=eye, at=((0.0, 0.0, 0.0),), up=((0.0, 0.0, 1.0),))
    cameras = FoVPerspectiveCameras(R=R, T=T, fov=fov, znear=0.1, zfar=100.0)
    meshes = Meshes(verts, faces, num_verts=num_verts, num_faces=num_faces)
    settings = RasterizationSettings(image_size=hi, blur_radius=0.0, faces_per_pixel=1)
    frags = MeshRasterizer(cameras=cameras, raster_settings=settings)(meshes)
    pix = frags.pix_to_face[..., 0]
    covered = pix >= 0
    local = jnp.maximum(pix - meshes.mesh_to_faces_packed_first_idx()[:, None, None], 0)
    flat = local.reshape(B, -1)

    def gather(a):  # (B, F, ...) -> (B, H, W, ...)
        g = jax.vmap(lambda x, i: x[i])(a, flat)
        return g.reshape((B, hi, hi) + a.shape[2:])

    bary = frags.bary_coords[..., 0, :]  # (B, H, W, 3)
    tri = jax.vmap(lambda v, f: v[jnp.maximum(f, 0)])(verts, faces)  # (B, F, 3, 3)
    pos = jnp.einsum("bhwk,bhwkc->bhwc", bary, gather(tri))
    n = _normalize(jnp.einsum("bhwk,bhwkc->bhwc", bary, gather(normals)))
    to_eye = _normalize(eye[:, None, None] - pos)
    n = jnp.where(jnp.sum(n * to_eye, -1, keepdims=True) < 0, -n, n)  # two-sided
    albedo, mat = gather(face_rgb), gather(face_mat)
    shade_d = jnp.zeros_like(pos)
    shade_s = jnp.zeros_like(pos)
    for k in range(lights.shape[1]):
        to_l = _normalize(lights[:, k, None, None] - pos)
        ndl = jnp.maximum(jnp.sum(n * to_l, -1, keepdims=True), 0.0)
        refl = 2.0 * ndl * n - to_l
        rdv = jnp.maximum(jnp.sum(refl * to_eye, -1, keepdims=True), 0.0)
        col = light_rgb[:, k, None, None]
        shade_d = shade_d + col * ndl
        shade_s = shade_s + col * jnp.where(ndl > 0, rdv ** mat[..., 2:3], 0.0)
    ambient = 0.3
    rgb = albedo * mat[..., 0:1] * (ambient + shade_d) + mat[..., 1:2] * shade_s
    rgb = jnp.where(covered[..., None], jnp.clip(rgb, 0.0, 1.0), 0.0)
    obj = jnp.where(covered, gather(face_obj), -1)
    masks = (obj[:, None] == jnp.arange(n_objects)[None, :, None, None]).astype(jnp.float32)
    pool = (B, size, supersample, size, supersample)
    rgb = rgb.reshape(pool + (3,)).mean(axis=(2, 4))
    masks = masks.reshape((B, n_objects) + pool[1:]).mean(axis=(3, 5))
    return rgb, masks


# ------------------------------------------------------------------------------ cache

_IMAGE_KEYS = ("images", "masks")


def cache_clevr_npz(dataset: ClevrScenes, path, *, batch_size: int = 32, log=None) -> str:
    """Render every scene of `dataset` once into `path` (".npz" appended when missing).

    Images and masks are stored as uint8 (1/255 steps); the config is stored as JSON. The
    file is written under a temporary name and renamed (no partial cache after a crash).

    Args:
        dataset: the `ClevrScenes`.
        path: output file.
        batch_size: scenes per render call (the last batch is padded: one compilation).
        log: optional callable `(done, total)` after each batch.

    Returns:
        The path written.
    """
    if not isinstance(dataset, ClevrScenes):
        raise TypeError(f"dataset must be a ClevrScenes, got {type(dataset).__name__}")
    path = os.fspath(path)
    path = path if path.endswith(".npz") else path + ".npz"
    n = len(dataset)
    chunks = []
    for start in range(0, n, batch_size):
        idx = np.arange(start, min(start + batch_size, n))
        padded = np.pad(idx, (0, batch_size - len(idx)), mode="edge")
        b = {k: v[: len(idx)] for k, v in dataset.get_batch(padded).items()}
        for k in _IMAGE_KEYS:
            b[k] = np.round(np.clip(b[k], 0.0, 1.0) * 255).astype(np.uint8)
        chunks.append(b)
        if log is not None:
            log(int(idx[-1]) + 1, n)
    arrays = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    arrays["config_json"] = np.array(json.dumps(dataclasses.asdict(dataset.config)))
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return path


class NpzClevrScenes:
    """A `cache_clevr_npz` file read back: `len`, `[i]`, `get_batch(indices)` with the keys of
    `ClevrScenes.get_batch` (images and masks as float32 in [0, 1]), and `images_uint8` (all
    images, (N, H, W, 3) uint8) for fast batching. Loaded into memory without pickle."""

    def __init__(self, path):
        path = os.fspath(path)
        try:
            with np.load(path, allow_pickle=False) as f:
                self._arrays = {k: f[k] for k in f.files}
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: not a readable ClevrScenes cache ({e})") from e
        if "config_json" not in self._arrays:
            raise ValueError(f"{path}: not a ClevrScenes cache (no config_json)")
        raw = json.loads(str(self._arrays.pop("config_json")))
        raw = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
        self.config = ClevrConfig(**raw)
        n = len(self._arrays["images"])
        if n != self.config.num_samples or any(len(v) != n for v in self._arrays.values()):
            raise ValueError(f"{path}: inconsistent array lengths in the cache")
        self.path = path

    def __len__(self) -> int:
        return self.config.num_samples

    @property
    def images_uint8(self) -> np.ndarray:
        return self._arrays["images"]

    def __getitem__(self, i: int) -> dict:
        return {k: v[0] for k, v in self.get_batch([i]).items()}

    def get_batch(self, indices) -> dict:
        idx = np.asarray(indices, np.int64).reshape(-1)
        if idx.size == 0 or idx.min() < 0 or idx.max() >= len(self):
            raise IndexError(f"indices must be in [0, {len(self)}), got {idx.tolist()[:8]}")
        b = {k: v[idx] for k, v in self._arrays.items()}
        for k in _IMAGE_KEYS:
            b[k] = b[k].astype(np.float32) / 255.0
        return b
