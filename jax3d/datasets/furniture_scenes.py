"""Multi-object furniture scenes for Mesh R-CNN: Pix3D-like images rendered by jax3d.

Scene `i` of a `FurnitureSceneConfig` is a room corner (a textured floor, walls and ceiling)
holding 1 to `max_objects` pieces of procedural furniture (`jax3d.datasets.furniture`: chairs,
tables, sofas, beds, bookcases, desks, stools, lamps) at their real-world sizes, standing on
the floor at random positions and headings (their footprints do not overlap, but they may hide
each other), seen by a camera at a random azimuth, elevation, distance and field of view that
looks at the group, lit by a point light, each object plain, multi-coloured per part, or
textured. It is rendered by the mesh renderer (`MeshRasterizer` + `HardPhongShader`), and the
rasterizer's `pix_to_face` gives every pixel its instance: the visible masks.

An object whose visible mask has fewer than `min_visible_pixels` pixels (fully hidden, out of
the frame, or a sliver) is removed from the scene and the scene is rendered again without it
(removing an object only uncovers the others, so one more render settles it); a scene left
without objects is drawn again (`attempt` + 1). Every scene is a pure function of `(seed,
split, index)`: shapes, layout, camera and materials come from NumPy generators keyed by them,
so "train", "val" and "test" are disjoint streams of distinct shapes.

Each scene is a record of `jax3d.datasets.instance_targets` (OpenCV camera frame, pixel `K`,
visible-mask boxes, ROI voxels, meshes and surface samples in camera coordinates) plus
`amodal_boxes` (the projected mesh's box, clipped to the image) and `visible_pixels`;
`get_batch` pads to `max_objects` slots with a `valid` mask. `cache_furniture_scenes` /
`NpzFurnitureScenes` store a generated split as `.npz` and read it back.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.datasets.furniture import ALL_CLASSES, FURNITURE_CLASSES, Shape, make_shape
from jax3d.datasets.instance_targets import collate_instances, mask_boxes, roi_voxels
from jax3d.datasets.procedural_textures import atlas_uvs, random_texture, texture_atlas
from jax3d.datasets.shape_renders import sample_surface
from jax3d.datasets.voxelize import voxelize_mesh
from jax3d.io.safe_npz import load_npz

__all__ = [
    "FurnitureSceneConfig",
    "FurnitureScenes",
    "NpzFurnitureScenes",
    "SceneLayout",
    "cache_furniture_scenes",
    "make_scene_layout",
    "render_layouts",
    "scene_record",
    "settle_layouts",
]

_SPLITS = ("train", "val", "test")
# Longest bounding-box diagonal of each class in metres (the shapes have a unit diagonal).
_CLASS_DIAGONAL = {"chair": 1.15, "table": 1.7, "sofa": 2.3, "bed": 2.6, "bookcase": 2.0,
                   "desk": 1.8, "stool": 0.85, "lamp": 1.3}  # fmt: skip
_ATLAS_GRID = 4  # tiles: floor, walls, ceiling, palette, then object textures
_PALETTE_CELLS = 8  # the palette tile is 8 x 8 colour cells: row k for object k
_ROOM_FACES = 512  # face capacity of the room part of a scene


@dataclass(frozen=True)
class FurnitureSceneConfig:
    """What `FurnitureScenes` generates. Defaults are the CPU preset; `authors()` is larger.

    Attributes:
        seed: the collection; with `split` it fixes every scene.
        split: "train", "val" or "test" (disjoint streams).
        num_scenes: the dataset's length.
        classes: object categories (a subset of `jax3d.datasets.furniture.ALL_CLASSES`); the
            class id of an instance is its index here.
        image_size: square image side in pixels.
        objects: (min, max) objects placed per scene (max <= 8); fewer may survive.
        min_visible_pixels: the smallest visible mask an instance may have.
        voxel_size: G of the ROI occupancy grids (Mesh R-CNN on Pix3D: 24).
        object_resolution: the object-space solid grid the ROI voxels are computed from.
        num_points: surface points (and normals) sampled per instance (0: none).
        max_faces: the face capacity of one object's mesh (a bigger shape raises).
        fov_degrees: (min, max) field of view.
        elevation: (min, max) camera elevation above the floor in degrees.
        distance_scale: (min, max) camera distance over the distance that frames the group.
        spread: radius in metres of the disk the objects stand in.
        textured: probability that an object gets a procedural texture (else per-part colours).
        texture_size: side of each texture tile.
    """

    seed: int = 0
    split: str = "train"
    num_scenes: int = 256
    classes: tuple[str, ...] = FURNITURE_CLASSES
    image_size: int = 96
    objects: tuple[int, int] = (1, 4)
    min_visible_pixels: int = 24
    voxel_size: int = 24
    object_resolution: int = 48
    num_points: int = 1000
    max_faces: int = 512
    fov_degrees: tuple[float, float] = (45.0, 65.0)
    elevation: tuple[float, float] = (12.0, 35.0)
    distance_scale: tuple[float, float] = (0.9, 1.25)
    spread: float = 1.6
    textured: float = 0.3
    texture_size: int = 64

    def __post_init__(self):
        if self.split not in _SPLITS:
            raise ValueError(f"split must be one of {_SPLITS}, got {self.split!r}")
        bad = [c for c in self.classes if c not in ALL_CLASSES]
        if bad or not self.classes:
            raise ValueError(f"classes must be a non-empty subset of {ALL_CLASSES}, got {bad}")
        lo, hi = self.objects
        if not 1 <= lo <= hi <= _PALETTE_CELLS:
            raise ValueError(f"objects must be (min, max) with 1 <= min <= max <= 8, got "
                             f"{self.objects}")  # fmt: skip
        for name in ("num_scenes", "min_visible_pixels", "max_faces", "object_resolution"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.texture_size < _PALETTE_CELLS or self.texture_size % _PALETTE_CELLS:
            raise ValueError(f"texture_size must be a multiple of 8, got {self.texture_size}")
        if self.image_size < 16 or self.voxel_size < 2 or self.num_points < 0:
            raise ValueError("need image_size >= 16, voxel_size >= 2 and num_points >= 0")
        if not 10.0 <= self.fov_degrees[0] <= self.fov_degrees[1] <= 120.0:
            raise ValueError(f"fov_degrees must be (min, max) in [10, 120], got "
                             f"{self.fov_degrees}")  # fmt: skip
        if not 0.0 <= self.elevation[0] <= self.elevation[1] < 90.0:
            raise ValueError(f"elevation must be (min, max) in [0, 90), got {self.elevation}")
        if not 0.0 < self.distance_scale[0] <= self.distance_scale[1]:
            raise ValueError(f"distance_scale must be (min, max) with 0 < min <= max, got "
                             f"{self.distance_scale}")  # fmt: skip
        if not self.spread > 0.0 or not 0.0 <= self.textured <= 1.0:
            raise ValueError(f"need spread > 0 and textured in [0, 1], got {self.spread}, "
                             f"{self.textured}")  # fmt: skip

    def replace(self, **changes) -> FurnitureSceneConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def authors(cls, **changes) -> FurnitureSceneConfig:
        """A GPU-sized preset: 320 px images, up to 6 objects, 5,000 points per instance."""
        base = dict(image_size=320, objects=(1, 6), min_visible_pixels=200, num_points=5000,
                    object_resolution=64, texture_size=128, num_scenes=4096)  # fmt: skip
        return cls(**{**base, **changes})

    @property
    def max_objects(self) -> int:
        return self.objects[1]


@dataclass(frozen=True)
class SceneObject:
    """One placed object: its shape (object frame), class id, the affine `object_to_world`
    (4, 4) map (scale, heading, position) and its texture coordinates per face corner."""

    shape: Shape
    class_id: int
    object_to_world: np.ndarray
    corner_uvs: np.ndarray  # (F, 3, 2) atlas uvs


@dataclass(frozen=True)
class SceneLayout:
    """Everything of a scene but its pixels.

    objects: the placed objects; world_to_camera: (4, 4) OpenCV pose; K: (3, 3) pixel
    intrinsics; room: (verts (V, 3) world, faces (F, 3), corner uvs (F, 3, 2)); atlas: (A, A, 3)
    texture; light: (3,) point-light position (camera frame); shading: (ambient, diffuse,
    specular, shininess); attempt: the draw of the scene this layout comes from.
    """

    objects: tuple[SceneObject, ...]
    world_to_camera: np.ndarray
    K: np.ndarray
    room: tuple[np.ndarray, np.ndarray, np.ndarray]
    atlas: np.ndarray
    light: np.ndarray
    shading: tuple[float, float, float, float]
    attempt: int

    def keep(self, keep) -> SceneLayout:
        """This layout with only the objects where `keep` is true."""
        kept = tuple(o for o, k in zip(self.objects, keep) if k)
        return dataclasses.replace(self, objects=kept)

    def object_to_camera(self, k: int) -> np.ndarray:
        return self.world_to_camera @ self.objects[k].object_to_world


# ------------------------------------------------------------------------------------ layout


def _quad_grid(origin, axis_a, axis_b, cells_a: int, cells_b: int, normal):
    """Quads spanning `origin + s axis_a + t axis_b` (s, t in [0, 1]) as triangles facing
    `normal`, with tile-local uvs per face corner. Returns verts, faces, corner uvs (F, 3, 2)."""
    o, a, b = (np.asarray(x, np.float64) for x in (origin, axis_a, axis_b))
    s, t = np.meshgrid(np.arange(cells_a + 1) / cells_a, np.arange(cells_b + 1) / cells_b,
                       indexing="ij")  # fmt: skip
    verts = o + s[..., None] * a + t[..., None] * b  # (A + 1, B + 1, 3)
    idx = np.arange(verts.shape[0] * verts.shape[1]).reshape(verts.shape[:2])
    q = np.stack([idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]], -1).reshape(-1, 4)
    faces = np.concatenate([q[:, [0, 1, 2]], q[:, [0, 2, 3]]])
    corner = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
    uvs = np.concatenate([np.broadcast_to(corner[[0, 1, 2]], (len(q), 3, 2)),
                          np.broadcast_to(corner[[0, 2, 3]], (len(q), 3, 2))])  # fmt: skip
    if np.dot(np.cross(a, b), normal) < 0:
        faces, uvs = faces[:, ::-1], uvs[:, ::-1]
    return verts.reshape(-1, 3), faces, uvs


def _room(rng, centre, half: float, height: float, yaw: float, tile_size: int):
    """Floor, ceiling and four walls of a square room (inward-facing), about 1.5 m per texture
    repeat. Returns verts (V, 3), faces (F, 3), atlas corner uvs (F, 3, 2)."""
    n = max(1, int(round(2 * half / 1.5)))
    nh = max(1, int(round(height / 1.5)))
    L = 2 * half
    c, s = math.cos(yaw), math.sin(yaw)
    ex, ez = np.array([c, 0.0, -s]) * L, np.array([s, 0.0, c]) * L
    up = np.array([0.0, height, 0.0])
    p0 = np.asarray(centre, np.float64) - 0.5 * ex - 0.5 * ez
    ux, uz = ex / L, ez / L
    planes = [  # (origin, a, b, cells, normal, tile)
        (p0, ex, ez, (n, n), (0, 1, 0), 0),
        (p0 + up, ex, ez, (n, n), (0, -1, 0), 2),
        (p0, ex, up, (n, nh), uz, 1),
        (p0 + ez, ex, up, (n, nh), -uz, 1),
        (p0, ez, up, (n, nh), ux, 1),
        (p0 + ex, ez, up, (n, nh), -ux, 1),
    ]
    verts, faces, uvs, nv = [], [], [], 0
    for origin, a, b, (na, nb), normal, tile in planes:
        v, f, uv = _quad_grid(origin, a, b, na, nb, np.asarray(normal, np.float64))
        verts.append(v)
        faces.append(f + nv)
        uvs.append(atlas_uvs(uv, tile, _ATLAS_GRID, tile_size))
        nv += len(v)
    return np.concatenate(verts), np.concatenate(faces), np.concatenate(uvs)


def _object_uvs(rng, shape: Shape, k: int, textured: bool, tile_size: int) -> np.ndarray:
    """(F, 3, 2) atlas uvs of object k: a procedural texture (tile 4 + k) projected along each
    face's dominant normal axis, or per-part colours (the centres of palette row k)."""
    F = len(shape.faces)
    if textured:
        tri = shape.verts[shape.faces].astype(np.float64)  # (F, 3, 3)
        n = np.abs(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]))
        axis = np.argmax(n, -1)
        keep = np.array([[1, 2], [0, 2], [0, 1]])[axis]  # the two other axes
        uv = np.take_along_axis(tri, keep[:, None, :], -1) + 0.5  # unit diagonal: in [0, 1]
        return atlas_uvs(uv, 4 + k, _ATLAS_GRID, tile_size)
    plain = rng.random() < 0.5
    part = np.repeat(np.arange(shape.num_parts), np.diff(shape.part_faces))
    cell = np.zeros(F, np.int64) if plain else part % _PALETTE_CELLS
    centre = np.stack([(cell + 0.5) / _PALETTE_CELLS,
                       np.full(F, 1.0 - (k + 0.5) / _PALETTE_CELLS)], -1)  # fmt: skip
    return np.broadcast_to(atlas_uvs(centre, 3, _ATLAS_GRID, tile_size)[:, None], (F, 3, 2))


def _place(rng, shapes, spread: float):
    """Scales, headings and floor positions of the shapes; footprints (circles) do not overlap.
    Returns a list of (4, 4) object_to_world (None where no free spot was found)."""
    placed, out = [], []
    for shape in shapes:
        diag = _CLASS_DIAGONAL.get(shape.category, 0.9) * rng.uniform(0.85, 1.15)
        lo, hi = shape.verts.min(0) * diag, shape.verts.max(0) * diag
        radius = 0.5 * math.hypot(hi[0] - lo[0], hi[2] - lo[2])
        yaw = rng.uniform(0.0, 2 * math.pi)
        for _ in range(40):
            r, a = spread * math.sqrt(rng.uniform()), rng.uniform(0.0, 2 * math.pi)
            xz = np.array([r * math.cos(a), r * math.sin(a)])
            if all(np.hypot(*(xz - p)) > radius + q for p, q in placed):
                break
        else:
            out.append(None)
            continue
        placed.append((xz, radius))
        c, s = math.cos(yaw), math.sin(yaw)
        A = np.eye(4)
        A[:3, :3] = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]) * diag
        A[:3, 3] = (xz[0], -lo[1], xz[1])  # standing on the floor
        out.append(A)
    return out


def _look_at(position, target) -> np.ndarray:
    """OpenCV world-to-camera (4, 4) of a camera at `position` looking at `target`, +Y up."""
    f = np.asarray(target, np.float64) - position
    f /= np.linalg.norm(f)
    right = np.cross(f, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(f, right)
    P = np.eye(4)
    P[:3, :3] = np.stack([right, down, f])
    P[:3, 3] = -P[:3, :3] @ position
    return P


def _camera(rng, config, objects):
    """World-to-camera pose and K framing the objects' bounding spheres."""
    target = np.mean([A[:3, 3] for A in objects], 0)
    target[1] = 0.45
    # the distance from the target to the far side of each object's bounding sphere
    reach = max(np.linalg.norm((A[:3, 3] - target)[[0, 2]]) + 0.5 * np.linalg.norm(A[:3, 0])
                for A in objects)  # fmt: skip
    reach = max(reach, 0.9)
    fov = math.radians(rng.uniform(*config.fov_degrees))
    dist = reach / math.tan(0.5 * fov) * rng.uniform(*config.distance_scale)
    az, el = rng.uniform(0.0, 2 * math.pi), math.radians(rng.uniform(*config.elevation))
    pos = target + dist * np.array([math.cos(el) * math.sin(az), math.sin(el),
                                    math.cos(el) * math.cos(az)])  # fmt: skip
    S = config.image_size
    f = 0.5 * S / math.tan(0.5 * fov)
    K = np.array([[f, 0.0, 0.5 * S], [0.0, f, 0.5 * S], [0.0, 0.0, 1.0]], np.float32)
    return _look_at(pos, target), K, target, dist


def make_scene_layout(config: FurnitureSceneConfig, index: int, attempt: int = 0) -> SceneLayout:
    """The layout of scene `index` (before hidden objects are removed): a pure function of
    `(config.seed, config.split, index, attempt)`."""
    if not 0 <= int(index) < config.num_scenes:
        raise IndexError(f"scene {index} out of range for {config.num_scenes} scenes")
    key = [int(config.seed), _SPLITS.index(config.split), int(index), int(attempt)]
    rng = np.random.default_rng(key + [31])
    n = int(rng.integers(config.objects[0], config.objects[1] + 1))
    cats = [config.classes[int(rng.integers(len(config.classes)))] for _ in range(n)]
    shapes = [make_shape(c, np.random.default_rng(key + [k, 1])) for k, c in enumerate(cats)]
    for s in shapes:
        if len(s.faces) > config.max_faces:
            raise ValueError(f"scene {index}: a {s.category} has {len(s.faces)} faces, more than "
                             f"max_faces={config.max_faces}")  # fmt: skip
    poses = _place(rng, shapes, config.spread)
    shapes, poses = zip(*[(s, p) for s, p in zip(shapes, poses) if p is not None])
    world_to_camera, K, target, dist = _camera(rng, config, poses)
    T = config.texture_size
    tiles = [random_texture(rng, T) for _ in range(3)]
    palette = 0.1 + 0.9 * rng.random((_PALETTE_CELLS, _PALETTE_CELLS, 3))
    tiles.append(np.repeat(np.repeat(palette, T // _PALETTE_CELLS, 0), T // _PALETTE_CELLS, 1)
                 .astype(np.float32))  # fmt: skip
    objects = []
    for k, (shape, A) in enumerate(zip(shapes, poses)):
        textured = bool(rng.random() < config.textured)
        if textured:
            tiles.append(random_texture(rng, T))
        else:
            tiles.append(np.full((T, T, 3), 0.5, np.float32))
        uvs = _object_uvs(rng, shape, k, textured, T)
        objects.append(SceneObject(shape, config.classes.index(shape.category), A, uvs))
    half = dist + rng.uniform(0.8, 2.0)  # the camera stands inside the room ...
    camera_y = -(world_to_camera[:3, :3].T @ world_to_camera[:3, 3])[1]
    height = max(rng.uniform(2.6, 3.2), camera_y + 0.5)  # ... under its ceiling
    room = _room(rng, (target[0], 0.0, target[2]), half, height, rng.uniform(0.0, 2 * math.pi), T)
    light_world = target + np.array([rng.uniform(-2, 2), rng.uniform(2.0, 2.5), rng.uniform(-2, 2)])
    light = world_to_camera[:3, :3] @ light_world + world_to_camera[:3, 3]
    shading = (rng.uniform(0.35, 0.6), rng.uniform(0.35, 0.65), rng.uniform(0.0, 0.25),
               rng.uniform(8.0, 64.0))  # fmt: skip
    return SceneLayout(tuple(objects), world_to_camera, K, room,
                       texture_atlas(tiles, _ATLAS_GRID), light.astype(np.float32), shading,
                       int(attempt))  # fmt: skip


# --------------------------------------------------------------------------------- rendering


def _scene_mesh(layout: SceneLayout, F: int):
    """Camera-frame padded arrays of a layout: verts (3F, 3) (one vertex per face corner),
    faces (F, 3), corner uvs (3F, 2), the number of faces, and each face's instance (F,) (-1
    for the room and padding)."""
    P = layout.world_to_camera
    rv, rf, ruv = layout.room
    parts = [(rv @ P[:3, :3].T + P[:3, 3], rf, ruv, -1)]
    for k, o in enumerate(layout.objects):
        A = P @ o.object_to_world
        parts.append((o.shape.verts @ A[:3, :3].T + A[:3, 3], o.shape.faces, o.corner_uvs, k))
    corners = np.concatenate([v[f] for v, f, _, _ in parts]).reshape(-1, 3)
    uvs = np.concatenate([uv for _, _, uv, _ in parts]).reshape(-1, 2)
    inst = np.concatenate([np.full(len(f), k, np.int32) for _, f, _, k in parts])
    n = len(inst)
    if n > F:
        raise ValueError(f"a scene has {n} faces, more than its capacity {F}")
    verts = np.zeros((3 * F, 3), np.float32)
    verts[: 3 * n] = corners
    uv = np.zeros((3 * F, 2), np.float32)
    uv[: 3 * n] = uvs
    faces = np.full((F, 3), -1, np.int32)
    faces[:n] = np.arange(3 * n).reshape(n, 3)
    instance = np.full(F, -1, np.int32)
    instance[:n] = inst
    return verts, faces, uv, n, instance


@functools.partial(jax.jit, static_argnames=("size",))
def _render(verts, faces, uvs, num_faces, atlas, K, light, shading, *, size: int):
    """RGB (B, S, S, 3) and per-mesh face index (B, S, S) (-1: empty) of camera-frame scenes."""
    from jax3d.renderer import (
        HardPhongShader,
        Materials,
        MeshRasterizer,
        MeshRendererWithFragments,
        PointLights,
        RasterizationSettings,
        TexturesUV,
        cameras_from_opencv_projection,
    )
    from jax3d.structures import Meshes

    B = verts.shape[0]
    textures = TexturesUV(maps=atlas, faces_uvs=faces, verts_uvs=uvs)
    meshes = Meshes(verts, faces, textures=textures, num_verts=3 * num_faces,
                    num_faces=num_faces)  # fmt: skip
    cameras = cameras_from_opencv_projection(
        jnp.broadcast_to(jnp.eye(3), (B, 3, 3)), jnp.zeros((B, 3)), K,
        jnp.full((B, 2), float(size), jnp.float32))  # fmt: skip
    # the room surrounds the camera: clip faces at the near plane
    settings = RasterizationSettings(image_size=size, faces_per_pixel=1, z_clip_value=0.05)
    ones = jnp.ones((B, 3))
    lights = PointLights(location=light, ambient_color=ones * shading[:, :1],
                         diffuse_color=ones * shading[:, 1:2],
                         specular_color=ones * shading[:, 2:3])  # fmt: skip
    materials = Materials(shininess=shading[:, 3])
    shader = HardPhongShader(cameras=cameras, lights=lights, materials=materials)
    images, fragments = MeshRendererWithFragments(MeshRasterizer(cameras, settings), shader)(meshes)
    first = jnp.cumsum(num_faces) - num_faces
    p2f = fragments.pix_to_face[..., 0]
    local = jnp.where(p2f >= 0, p2f - first[:, None, None], -1)
    return jnp.clip(images[..., :3], 0.0, 1.0), local


def render_layouts(layouts: list[SceneLayout], config: FurnitureSceneConfig):
    """Render layouts in one jitted call. Returns images (B, S, S, 3) float32 and instance maps
    (B, S, S) int32 (the object index of each pixel in its layout, -1 for the room)."""
    # Import the renderer outside the trace: modules first imported while tracing would keep
    # traced module-level constants (jax3d.renderer.camera_conversions has some).
    import jax3d.renderer  # noqa: F401

    F = _ROOM_FACES + config.max_objects * config.max_faces
    meshes = [_scene_mesh(lay, F) for lay in layouts]
    stack = lambda i: np.stack([m[i] for m in meshes])  # noqa: E731
    images, local = _render(
        jnp.asarray(stack(0)), jnp.asarray(stack(1)), jnp.asarray(stack(2)),
        jnp.asarray(np.array([m[3] for m in meshes], np.int32)),
        jnp.asarray(np.stack([lay.atlas for lay in layouts])),
        jnp.asarray(np.stack([lay.K for lay in layouts])),
        jnp.asarray(np.stack([lay.light for lay in layouts])),
        jnp.asarray(np.array([lay.shading for lay in layouts], np.float32)),
        size=config.image_size,
    )  # fmt: skip
    local = np.asarray(local)
    instance = np.stack([np.where(lo >= 0, m[4][np.maximum(lo, 0)], -1)
                         for lo, m in zip(local, meshes)])  # fmt: skip
    return np.asarray(images, np.float32), instance.astype(np.int32)


# ----------------------------------------------------------------------------------- records


def _instance_record(config, layout: SceneLayout, k: int, mask, box, index: int) -> dict:
    """Per-instance ground truth of object k (see `jax3d.datasets.instance_targets`)."""
    o = layout.objects[k]
    A = layout.object_to_camera(k)
    verts = o.shape.verts.astype(np.float64) @ A[:3, :3].T + A[:3, 3]
    zrange = np.array([verts[:, 2].min(), verts[:, 2].max()])
    grid = voxelize_mesh(o.shape.verts, o.shape.faces, config.object_resolution,
                         robust=not o.shape.closed)  # fmt: skip
    key = [config.seed, _SPLITS.index(config.split), index, k]
    surface = sample_surface(verts, o.shape.faces, 20 * config.voxel_size**2,
                             np.random.default_rng(key + [3]))[0]  # fmt: skip
    uv = verts @ layout.K.astype(np.float64).T
    uv = uv[:, :2] / np.maximum(uv[:, 2:], 1e-6)
    S = config.image_size
    amodal = np.clip([*uv.min(0), *uv.max(0)], 0, S)
    F, V = config.max_faces, config.max_faces + 2
    rec = {
        "boxes": box,
        "amodal_boxes": amodal.astype(np.float32),
        "classes": np.int32(o.class_id),
        "masks": mask,
        "visible_pixels": np.int32(mask.sum()),
        "voxels": roi_voxels(grid, A, box, layout.K, zrange, config.voxel_size, surface),
        "zrange": zrange.astype(np.float32),
        "verts": _pad(verts.astype(np.float32), V, 0.0),
        "faces": _pad(o.shape.faces.astype(np.int32), F, -1),
        "num_verts": np.int32(len(verts)),
        "num_faces": np.int32(len(o.shape.faces)),
    }
    if config.num_points:
        rng = np.random.default_rng(key + [2])
        rec["points"], rec["normals"] = sample_surface(rec["verts"][: len(verts)], o.shape.faces,
                                                       config.num_points, rng)  # fmt: skip
    return rec


def _pad(x: np.ndarray, n: int, value) -> np.ndarray:
    if len(x) > n:
        raise ValueError(f"{len(x)} rows do not fit a capacity of {n}")
    out = np.full((n,) + x.shape[1:], value, x.dtype)
    out[: len(x)] = x
    return out


def scene_record(config, layout: SceneLayout, image, instance, index: int) -> dict:
    """The record of a rendered scene (every object visible): `image`, `K` and the
    per-instance arrays of `jax3d.datasets.instance_targets`, plus `amodal_boxes` (M, 4) and
    `visible_pixels` (M,)."""
    masks = instance[None] == np.arange(len(layout.objects))[:, None, None]
    boxes = mask_boxes(masks)
    inst = [_instance_record(config, layout, k, masks[k], boxes[k], index)
            for k in range(len(layout.objects))]  # fmt: skip
    rec = {key: np.stack([r[key] for r in inst]) for key in inst[0]}
    rec["image"] = image
    rec["K"] = layout.K
    return rec


def settle_layouts(layouts: list[SceneLayout], config: FurnitureSceneConfig, redraw=None):
    """Render layouts, removing objects with fewer than `config.min_visible_pixels` visible
    pixels, until every object left is visible.

    All pending layouts are rendered together (padded to `len(layouts)`, one compiled batch
    size). An object below the threshold is removed; if it drew any pixel the layout is
    rendered again (removing objects only uncovers the others, so the second render keeps
    them all), else its image stands. A layout left without objects is replaced by
    `redraw(j, layout.attempt + 1)` (a RuntimeError without `redraw`).

    Returns:
        a list of `(layout, image (S, S, 3), instance (S, S) int32)`: the final layout, its
        image and each pixel's object index in it (-1 for the room).
    """
    out = [None] * len(layouts)
    lays = list(layouts)
    pending = list(range(len(lays)))
    while pending:
        batch = [lays[j] for j in pending]
        batch += [batch[-1]] * (len(lays) - len(batch))
        images, instance = render_layouts(batch, config)
        still = []
        for row, j in enumerate(pending):
            lay, inst = lays[j], instance[row]
            counts = np.bincount(inst[inst >= 0], minlength=len(lay.objects))
            keep = counts >= config.min_visible_pixels
            if keep.all():
                out[j] = (lay, images[row], inst)
                continue
            if not keep.any():
                if redraw is None:
                    raise RuntimeError(f"layout {j}: no object is visible")
                lays[j] = redraw(j, lay.attempt + 1)
            elif np.all(counts[~keep] == 0):  # the removed objects drew no pixel
                remap = np.cumsum(keep) - 1
                out[j] = (lay.keep(keep), images[row], np.where(inst >= 0, remap[inst], -1))
                continue
            else:
                lays[j] = lay.keep(keep)
            still.append(j)
        pending = still
    return out


class FurnitureScenes:
    """Reproducible multi-object scenes (module docstring): `len` is `config.num_scenes`,
    `dataset[i]` the record of scene i, `get_batch(indices)` a padded batch."""

    def __init__(self, config: FurnitureSceneConfig = FurnitureSceneConfig()):
        if not isinstance(config, FurnitureSceneConfig):
            raise TypeError(f"config must be a FurnitureSceneConfig, got {type(config).__name__}")
        self.config = config

    def __len__(self) -> int:
        return self.config.num_scenes

    def __getitem__(self, i: int) -> dict:
        return self.records([i])[0]

    def layouts(self, indices, max_attempts: int = 8):
        """Settled layouts, images and instance maps of scenes `indices` (see
        `settle_layouts`)."""
        c = self.config
        indices = [int(i) for i in np.asarray(indices).reshape(-1)]
        if not indices:
            raise ValueError("indices must not be empty")
        lays = [make_scene_layout(c, i) for i in indices]

        def redraw(j, attempt):
            if attempt >= max_attempts:
                raise RuntimeError(f"scene {indices[j]}: no visible object in {max_attempts} draws")
            return make_scene_layout(c, indices[j], attempt)

        return settle_layouts(lays, c, redraw)

    def records(self, indices) -> list[dict]:
        """The records (see `scene_record`) of scenes `indices`, rendered in batched calls."""
        indices = [int(i) for i in np.asarray(indices).reshape(-1)]
        done = self.layouts(indices)
        return [scene_record(self.config, lay, img, inst, i)
                for i, (lay, img, inst) in zip(indices, done)]  # fmt: skip

    def get_batch(self, indices) -> dict:
        """Scenes `indices` as a batch with `config.max_objects` instance slots:
        images (B, S, S, 3) float32, K (B, 3, 3), valid (B, M) bool, boxes / amodal_boxes
        (B, M, 4), classes (B, M) int32, masks (B, M, S, S) bool, voxels (B, M, G, G, G) bool,
        zrange (B, M, 2), verts (B, M, V, 3), faces (B, M, F, 3), num_verts / num_faces /
        visible_pixels (B, M), points / normals (B, M, P, 3) (see `instance_targets`)."""
        return collate_instances(self.records(indices), self.config.max_objects)


# -------------------------------------------------------------------------------- npz cache


def cache_furniture_scenes(config: FurnitureSceneConfig, path, *, scenes_per_call: int = 8,
                           log=None) -> dict:  # fmt: skip
    """Render every scene of `config` into one `.npz` at `path` (written under a temporary
    name, then renamed). Images are stored as uint8, masks and voxels bit-packed; points and
    normals are not stored (`NpzFurnitureScenes` samples them again, identically).

    Returns:
        `{"path": ..., "seconds": wall time, "scenes_per_second": ...}`.
    """
    path = os.fspath(path)
    path = path if path.endswith(".npz") else path + ".npz"
    data = FurnitureScenes(config.replace(num_points=0))
    t0 = time.perf_counter()
    chunks = []
    for start in range(0, config.num_scenes, scenes_per_call):
        idx = list(range(start, min(start + scenes_per_call, config.num_scenes)))
        b = data.get_batch(idx)
        b["images"] = np.round(b["images"] * 255).astype(np.uint8)
        b["masks"] = np.packbits(b["masks"].reshape(len(idx), config.max_objects, -1), -1)
        b["voxels"] = np.packbits(b["voxels"].reshape(len(idx), config.max_objects, -1), -1)
        chunks.append(b)
        if log is not None:
            log(idx[-1] + 1, config.num_scenes)
    arrays = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    arrays["config_json"] = np.array(json.dumps(dataclasses.asdict(config)))
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    seconds = time.perf_counter() - t0
    return {"path": path, "seconds": seconds, "scenes_per_second": config.num_scenes / seconds}


class NpzFurnitureScenes:
    """A `cache_furniture_scenes` file read back (no pickle): `len`, `get_batch(indices)` with
    the keys of `FurnitureScenes.get_batch` (images quantised to 1/255; points and normals
    sampled again from the stored meshes with the same generators)."""

    def __init__(self, path, *, max_bytes: int = 8 << 30):
        path = os.fspath(path)
        try:
            self._arrays = load_npz(path, max_bytes=max_bytes)
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: not a readable furniture-scenes cache ({e})") from e
        if "config_json" not in self._arrays:
            raise ValueError(f"{path}: not a furniture-scenes cache (no config_json)")
        d = json.loads(str(self._arrays.pop("config_json")))
        self.config = FurnitureSceneConfig(**{k: tuple(v) if isinstance(v, list) else v
                                              for k, v in d.items()})  # fmt: skip
        n = self.config.num_scenes
        if any(len(v) != n for v in self._arrays.values()):
            raise ValueError(f"{path}: inconsistent array lengths in the cache")
        self.path = path

    def __len__(self) -> int:
        return self.config.num_scenes

    def get_batch(self, indices) -> dict:
        """The stacked scenes `indices` (see `FurnitureScenes.get_batch`)."""
        c = self.config
        idx = np.asarray(indices, np.int64).reshape(-1)
        if idx.size == 0 or idx.min() < 0 or idx.max() >= len(self):
            raise IndexError(f"indices must be in [0, {len(self)}), got {idx.tolist()[:8]}")
        b = {k: v[idx] for k, v in self._arrays.items()}
        B, M, S, G = len(idx), c.max_objects, c.image_size, c.voxel_size
        b["images"] = b["images"].astype(np.float32) / 255.0
        b["masks"] = np.unpackbits(b["masks"], -1, count=S * S).reshape(B, M, S, S) > 0
        b["voxels"] = np.unpackbits(b["voxels"], -1, count=G**3).reshape(B, M, G, G, G) > 0
        if c.num_points:
            pts = np.zeros((B, M, c.num_points, 3), np.float32)
            nrm = np.zeros_like(pts)
            for row, i in enumerate(idx):
                for k in np.flatnonzero(b["valid"][row]):
                    rng = np.random.default_rng([c.seed, _SPLITS.index(c.split), int(i), int(k),
                                                 2])  # fmt: skip
                    faces = b["faces"][row, k, : b["num_faces"][row, k]]
                    pts[row, k], nrm[row, k] = sample_surface(b["verts"][row, k], faces,
                                                              c.num_points, rng)  # fmt: skip
            b["points"], b["normals"] = pts, nrm
        return b
