"""Multi-view rooms rendered by jax3d: SynSin's training data without a download.

A scene is a box-shaped room (floor, ceiling and four walls, each tiled with a procedural
texture from `jax3d.datasets.procedural_textures`) holding textured objects (cubes, spheres,
the Utah teapot, and the cow when `JAX3D_DATA` holds it), lit by a point light under the
ceiling. A camera moves through it like RealEstate10K's walk-throughs: a smooth trajectory of
`views_per_scene` frames with a constant small translation per frame (forward, backward,
sideways or a mix, 3 to 9 cm) and a slow turn (up to 2.5 degrees per frame about the vertical,
0.5 about the horizontal). Every frame is rendered with the mesh renderer (`MeshRasterizer` +
`HardPhongShader`, `supersample`x supersampling) together with its z-depth.

Conventions are `jax3d.models.synsin.geometry`'s: OpenCV camera frame, normalised intrinsics
`K` (square images, `fov_degrees` across), world-to-camera poses `P` (4 x 4, `X_cam = P X`).
The world has +Y up, the floor at y = 0.

`RoomViews(config)` generates scenes (pure functions of `(config.seed, config.split, i)`);
`render_rooms` renders them; `cache_rooms` writes an `.npz` file and `RoomPairs` reads it back
and serves SynSin batches: pairs `(src, tgt)` of frames of one scene at most `max_gap` frames
apart, with `K`, the relative pose `RT = P_tgt P_src^-1` and the ground-truth depths (for
evaluation only). Splits "train", "val" and "test" draw disjoint scene streams, so held-out
scenes are never trained on.
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

from jax3d.datasets.procedural_textures import atlas_uvs, random_texture, texture_atlas

__all__ = [
    "RoomConfig",
    "RoomPairs",
    "RoomScene",
    "cache_rooms",
    "look_pose",
    "make_room_scene",
    "render_rooms",
]

_SPLITS = ("train", "val", "test")
_ATLAS_GRID = 4  # 16 texture tiles per scene: 6 room faces, up to 9 objects, 1 spare
_OBJECT_KINDS = ("cube", "sphere", "teapot", "cow")


@dataclass(frozen=True)
class RoomConfig:
    """What `make_room_scene` / `render_rooms` generate.

    Attributes:
        seed: the collection; with `split` it fixes every scene.
        split: "train", "val" or "test" (disjoint scene streams).
        num_scenes: scenes in the dataset.
        views_per_scene: frames of each camera trajectory.
        image_size: square image side (64 for CPU runs, 128 / 256 for longer ones).
        supersample: render at this factor and average down (anti-aliasing).
        fov_degrees: the square image's field of view.
        num_objects: (min, max) objects per room.
        use_cow: include the cow among the objects when `JAX3D_DATA` holds it.
        texture_size: side of each procedural texture tile.
        max_faces: the padded face capacity of a scene (a scene with more raises).
    """

    seed: int = 0
    split: str = "train"
    num_scenes: int = 64
    views_per_scene: int = 8
    image_size: int = 64
    supersample: int = 2
    fov_degrees: float = 70.0
    num_objects: tuple[int, int] = (3, 6)
    use_cow: bool = True
    texture_size: int = 128
    max_faces: int = 16384

    def __post_init__(self):
        if self.split not in _SPLITS:
            raise ValueError(f"split must be one of {_SPLITS}, got {self.split!r}")
        if self.num_scenes < 1 or self.views_per_scene < 2:
            raise ValueError("need num_scenes >= 1 and views_per_scene >= 2")
        if self.image_size < 8 or self.supersample < 1:
            raise ValueError("need image_size >= 8 and supersample >= 1")
        if not 10.0 <= self.fov_degrees <= 150.0:
            raise ValueError(f"fov_degrees must be in [10, 150], got {self.fov_degrees}")
        lo, hi = self.num_objects
        if not 0 <= lo <= hi <= 9:
            raise ValueError(f"num_objects must be (min, max) with 0 <= min <= max <= 9, got "
                             f"{self.num_objects}")  # fmt: skip

    def replace(self, **changes) -> RoomConfig:
        return dataclasses.replace(self, **changes)

    @property
    def K(self) -> np.ndarray:  # noqa: N802 - the usual name of the intrinsic matrix
        """(3, 3) float32 normalised intrinsics of every view."""
        f = 1.0 / math.tan(math.radians(self.fov_degrees) / 2.0)
        return np.array([[f, 0, 0], [0, f, 0], [0, 0, 1]], np.float32)


@dataclass
class RoomScene:
    """One generated scene (host NumPy arrays).

    verts (V, 3), faces (F, 3) int32, verts_uvs (T, 2), faces_uvs (F, 3) int32, atlas
    (A, A, 3) texture in [0, 1], light (3,) point-light position, poses (N, 4, 4) world-to-
    camera (OpenCV) of the trajectory, objects: the kinds placed.
    """

    verts: np.ndarray
    faces: np.ndarray
    verts_uvs: np.ndarray
    faces_uvs: np.ndarray
    atlas: np.ndarray
    light: np.ndarray
    poses: np.ndarray
    objects: tuple[str, ...]


# ----------------------------------------------------------------------------------- geometry


def look_pose(position, yaw: float, pitch: float) -> np.ndarray:
    """World-to-camera (OpenCV) 4x4 pose of a camera at `position` looking along
    `(sin yaw cos pitch, sin pitch, cos yaw cos pitch)` with +Y up (radians)."""
    f = np.array([math.sin(yaw) * math.cos(pitch), math.sin(pitch),
                  math.cos(yaw) * math.cos(pitch)])  # fmt: skip
    down = np.array([0.0, -1.0, 0.0])
    right = np.cross(down, f)
    right /= np.linalg.norm(right)
    down = np.cross(f, right)
    R = np.stack([right, down, f])
    P = np.eye(4)
    P[:3, :3] = R
    P[:3, 3] = -R @ np.asarray(position, np.float64)
    return P


def _plane(origin, axis_a, axis_b, cells_a: int, cells_b: int, normal):
    """A grid of `cells_a x cells_b` quads spanning `origin + s axis_a + t axis_b`, two
    triangles per quad wound so that their normal is `normal`; per-cell local UVs [0, 1]^2.

    Returns verts (V, 3), faces (F, 3), local uvs (T, 2), faces_uvs (F, 3)."""
    origin, axis_a, axis_b = (np.asarray(x, np.float64) for x in (origin, axis_a, axis_b))
    verts, faces, uvs, fuv = [], [], [], []
    for i in range(cells_a):
        for j in range(cells_b):
            p = [origin + axis_a * (i + di) / cells_a + axis_b * (j + dj) / cells_b
                 for di, dj in ((0, 0), (1, 0), (1, 1), (0, 1))]  # fmt: skip
            base = len(verts)
            verts += p
            uvs += [(0, 0), (1, 0), (1, 1), (0, 1)]
            tri = [(0, 1, 2), (0, 2, 3)]
            if np.dot(np.cross(p[1] - p[0], p[2] - p[0]), normal) < 0:
                tri = [(0, 2, 1), (0, 3, 2)]
            for t in tri:
                faces.append([base + k for k in t])
                fuv.append([base + k for k in t])
    return (np.array(verts, np.float32), np.array(faces, np.int32),
            np.array(uvs, np.float32), np.array(fuv, np.int32))  # fmt: skip


def _room_planes(size):
    """The six inward-facing faces of a `(W, H, D)` room box, about 2 m per texture repeat."""
    W, H, D = size
    n = lambda x: max(1, int(round(x / 2.0)))  # noqa: E731
    return [
        _plane((0, 0, 0), (W, 0, 0), (0, 0, D), n(W), n(D), (0, 1, 0)),      # floor
        _plane((0, H, 0), (W, 0, 0), (0, 0, D), n(W), n(D), (0, -1, 0)),     # ceiling
        _plane((0, 0, 0), (W, 0, 0), (0, H, 0), n(W), n(H), (0, 0, 1)),      # wall z = 0
        _plane((0, 0, D), (W, 0, 0), (0, H, 0), n(W), n(H), (0, 0, -1)),     # wall z = D
        _plane((0, 0, 0), (0, 0, D), (0, H, 0), n(D), n(H), (1, 0, 0)),      # wall x = 0
        _plane((W, 0, 0), (0, 0, D), (0, H, 0), n(D), n(H), (-1, 0, 0)),     # wall x = W
    ]


@functools.lru_cache(maxsize=1)
def _unit_cube():
    """Unit cube [-0.5, 0.5]^3 with per-face UVs (24 verts, 12 outward faces)."""
    parts = []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            normal = np.zeros(3)
            normal[axis] = sign
            a, b = np.zeros(3), np.zeros(3)
            a[(axis + 1) % 3], b[(axis + 2) % 3] = 1.0, 1.0
            origin = normal * 0.5 - a * 0.5 - b * 0.5
            parts.append(_plane(origin, a, b, 1, 1, normal))
    return _concat(parts)


@functools.lru_cache(maxsize=1)
def _unit_sphere():
    from jax3d.utils import ico_sphere_uvs, ico_sphere_verts_faces

    v, f = ico_sphere_verts_faces(2)
    uv, fuv = ico_sphere_uvs(2)
    return v.astype(np.float32), f.astype(np.int32), uv.astype(np.float32), fuv.astype(np.int32)


@functools.lru_cache(maxsize=1)
def _unit_teapot():
    """The teapot scaled to a 1 m footprint, standing on y = 0."""
    from jax3d.utils import teapot_uvs, teapot_verts_faces

    v, f = teapot_verts_faces(4)
    uv, fuv = teapot_uvs(4)
    v = v - np.array([(v[:, 0].min() + v[:, 0].max()) / 2, v[:, 1].min(),
                      (v[:, 2].min() + v[:, 2].max()) / 2])  # fmt: skip
    v = v / np.abs(v[:, [0, 2]]).max() * 0.5
    return v.astype(np.float32), f.astype(np.int32), uv.astype(np.float32), fuv.astype(np.int32)


@functools.lru_cache(maxsize=1)
def _unit_cow():
    """The cow (JAX3D_DATA) standing on y = 0, 1 m long, and its texture; None without it."""
    from jax3d.datasets.data_path import has_data

    if not has_data("meshes/cow_mesh/cow.obj"):
        return None
    from PIL import Image

    from jax3d.datasets.data_path import data_path
    from jax3d.io import load_obj

    verts, faces, aux = load_obj(data_path("meshes/cow_mesh/cow.obj"))
    v = np.asarray(verts, np.float32)
    v = v - np.array([(v[:, 0].min() + v[:, 0].max()) / 2, v[:, 1].min(),
                      (v[:, 2].min() + v[:, 2].max()) / 2], np.float32)  # fmt: skip
    v = v / np.abs(v[:, [0, 2]]).max() * 0.5
    tex_path = data_path("meshes/cow_mesh/cow_texture.png")
    texture = np.asarray(Image.open(tex_path).convert("RGB"), np.float32) / 255.0
    return (v, np.asarray(faces.verts_idx, np.int32), np.asarray(aux.verts_uvs, np.float32),
            np.asarray(faces.textures_idx, np.int32), texture)  # fmt: skip


def _concat(parts):
    verts, faces, uvs, fuvs = [], [], [], []
    nv = nt = 0
    for v, f, uv, fuv in parts:
        verts.append(v)
        faces.append(f + nv)
        uvs.append(uv)
        fuvs.append(fuv + nt)
        nv += len(v)
        nt += len(uv)
    return (np.concatenate(verts), np.concatenate(faces), np.concatenate(uvs),
            np.concatenate(fuvs))  # fmt: skip


def _rotation_y(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], np.float32)


def _resize_tile(img: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    im = Image.fromarray(np.round(np.clip(img, 0, 1) * 255).astype(np.uint8))
    return np.asarray(im.resize((size, size), Image.BILINEAR), np.float32) / 255.0


# ---------------------------------------------------------------------------------- the scene


def _trajectory(rng, room, n: int):
    """Positions (n, 3), yaws, pitches of a RealEstate10K-like walk inside `room`."""
    W, H, D = room
    margin = 0.6
    start = np.array([rng.uniform(margin + 0.4, W - margin - 0.4), rng.uniform(1.2, 1.7),
                      rng.uniform(margin + 0.4, D - margin - 0.4)])  # fmt: skip
    # look towards the room's far side: the centre mirrored through the start, +-35 degrees
    far = np.array([W - 2 * start[0], 0.0, D - 2 * start[2]])
    yaw0 = rng.uniform(0, 2 * math.pi)
    if np.hypot(far[0], far[2]) > 0.5:
        yaw0 = math.atan2(far[0], far[2]) + math.radians(rng.uniform(-35.0, 35.0))
    pitch0 = math.radians(rng.uniform(-12.0, 5.0))
    speed = rng.uniform(0.03, 0.09)
    heading = rng.choice([0.0, math.pi, math.pi / 2, -math.pi / 2, rng.uniform(0, 2 * math.pi)])
    turn = math.radians(rng.uniform(-2.5, 2.5))
    tilt = math.radians(rng.uniform(-0.5, 0.5))
    pos, yaws, pitches = [start], [yaw0], [pitch0]
    for _ in range(n - 1):
        yaw = yaws[-1]
        move = np.array([math.sin(yaw + heading), 0.0, math.cos(yaw + heading)]) * speed
        move[1] = rng.uniform(-0.005, 0.005)
        p = pos[-1] + move
        p = np.clip(p, [margin, 0.8, margin], [W - margin, H - 0.5, D - margin])
        pos.append(p)
        yaws.append(yaw + turn)
        pitches.append(float(np.clip(pitches[-1] + tilt, math.radians(-20), math.radians(10))))
    return np.array(pos), np.array(yaws), np.array(pitches)


def _place_objects(rng, room, cams, yaw0, kinds):
    """Object placements (kind, scale, position, yaw, radius) on the floor, apart from each
    other and at least 0.5 m (plus their radius) from every camera position; every other
    object is first tried in front of the first camera (1.3 to 3.5 m, +-25 degrees)."""
    W, H, D = room
    placed = []
    for n, kind in enumerate(kinds):
        for attempt in range(60):
            scale = {"cube": rng.uniform(0.3, 0.9), "sphere": rng.uniform(0.25, 0.6),
                     "teapot": rng.uniform(0.5, 1.0), "cow": rng.uniform(0.8, 1.3)}[kind]
            radius = scale * (0.75 if kind == "cube" else 0.5)
            x, z = rng.uniform(radius + 0.05, W - radius - 0.05), rng.uniform(
                radius + 0.05, D - radius - 0.05)
            if n % 2 == 0 and attempt < 30:
                dist, ang = rng.uniform(1.3, 3.5), yaw0 + math.radians(rng.uniform(-25, 25))
                x, z = cams[0, 0] + dist * math.sin(ang), cams[0, 2] + dist * math.cos(ang)
                if not (radius < x < W - radius and radius < z < D - radius):
                    continue
            d_cam = np.hypot(cams[:, 0] - x, cams[:, 2] - z).min()
            if d_cam < radius + 0.5:
                continue
            if any(np.hypot(x - p[2][0], z - p[2][2]) < radius + p[4] + 0.05 for p in placed):
                continue
            y = 0.0
            if kind == "sphere":
                y = scale * 0.5 if rng.uniform() < 0.7 else rng.uniform(scale, H - scale - 0.3)
            elif kind == "cube":
                y = scale * 0.5
            placed.append((kind, scale, np.array([x, y, z]), rng.uniform(0, 2 * math.pi), radius))
            break
    return placed


def make_room_scene(config: RoomConfig, index: int) -> RoomScene:
    """Scene `index` of `config`'s stream (a pure function of seed, split and index)."""
    rng = np.random.default_rng([config.seed, _SPLITS.index(config.split), int(index), 17])
    room = (rng.uniform(4.0, 7.0), rng.uniform(2.6, 3.2), rng.uniform(4.5, 8.0))
    tiles = [random_texture(rng, config.texture_size) for _ in range(6)]
    parts = []
    for t, (v, f, uv, fuv) in enumerate(_room_planes(room)):
        parts.append((v, f, atlas_uvs(uv, t, _ATLAS_GRID, config.texture_size), fuv))
    pos, yaws, pitches = _trajectory(rng, room, config.views_per_scene)
    cow = _unit_cow() if config.use_cow else None
    kinds_avail = [k for k in _OBJECT_KINDS if k != "cow" or cow is not None]
    n_obj = int(rng.integers(config.num_objects[0], config.num_objects[1] + 1))
    kinds = [kinds_avail[int(rng.integers(len(kinds_avail)))] for _ in range(n_obj)]
    if kinds.count("cow") > 1:  # one cow per room (5856 faces each)
        first = kinds.index("cow")
        kinds = [k if k != "cow" or i == first else "sphere" for i, k in enumerate(kinds)]
    placed = _place_objects(rng, room, pos, yaws[0], kinds)
    for kind, scale, p, yaw, _ in placed:
        t = len(tiles)
        if kind == "cow":
            v, f, uv, fuv, tex = cow
            tiles.append(_resize_tile(tex, config.texture_size))
        else:
            v, f, uv, fuv = {"cube": _unit_cube, "sphere": _unit_sphere,
                             "teapot": _unit_teapot}[kind]()  # fmt: skip
            tiles.append(random_texture(rng, config.texture_size))
        v = (v * scale) @ _rotation_y(yaw).T + p.astype(np.float32)
        parts.append((v.astype(np.float32), f, atlas_uvs(uv, t, _ATLAS_GRID,
                                                          config.texture_size), fuv))
    verts, faces, uvs, fuvs = _concat(parts)
    if len(faces) > config.max_faces:
        raise ValueError(f"scene {index} has {len(faces)} faces > max_faces {config.max_faces}")
    poses = np.stack([look_pose(p, y, q) for p, y, q in zip(pos, yaws, pitches)])
    light = np.array([room[0] * rng.uniform(0.3, 0.7), room[1] - 0.2,
                      room[2] * rng.uniform(0.3, 0.7)], np.float32)  # fmt: skip
    return RoomScene(verts.astype(np.float32), faces.astype(np.int32), uvs.astype(np.float32),
                     fuvs.astype(np.int32), texture_atlas(tiles, _ATLAS_GRID), light,
                     poses.astype(np.float32), tuple(p[0] for p in placed))  # fmt: skip


# ---------------------------------------------------------------------------------- rendering


@functools.partial(jax.jit, static_argnames=("size",))
def _render_views(meshes, light, R, tvec, K_pixels, *, size: int):
    """RGB (B, size, size, 3) and z-depth (B, size, size) (0 where empty) of B views."""
    from jax3d.renderer import (
        HardPhongShader,
        Materials,
        MeshRasterizer,
        MeshRendererWithFragments,
        PointLights,
        RasterizationSettings,
        cameras_from_opencv_projection,
    )

    B = R.shape[0]
    image_size = jnp.full((B, 2), float(size), jnp.float32)
    cameras = cameras_from_opencv_projection(R, tvec, K_pixels, image_size)
    settings = RasterizationSettings(image_size=size, blur_radius=0.0, faces_per_pixel=1,
                                     z_clip_value=0.05)  # faces crossing the camera plane
    lights = PointLights(location=light, ambient_color=jnp.full((B, 3), 0.55),
                         diffuse_color=jnp.full((B, 3), 0.5),
                         specular_color=jnp.zeros((B, 3)))  # fmt: skip
    materials = Materials(specular_color=jnp.zeros((1, 3)))
    shader = HardPhongShader(cameras=cameras, lights=lights, materials=materials)
    renderer = MeshRendererWithFragments(MeshRasterizer(cameras, settings), shader)
    images, fragments = renderer(meshes)
    depth = jnp.maximum(fragments.zbuf[..., 0], 0.0)
    return jnp.clip(images[..., :3], 0.0, 1.0), depth


def _pad(x: np.ndarray, n: int, value) -> np.ndarray:
    out = np.full((n,) + x.shape[1:], value, x.dtype)
    out[: len(x)] = x
    return out


def render_rooms(config: RoomConfig, indices, scenes: list[RoomScene] | None = None) -> dict:
    """Render every frame of scenes `indices` (one jitted call for all of them).

    Returns:
        dict of NumPy arrays: `images` (S, N, H, W, 3) float32 in [0, 1], `depths`
        (S, N, H, W) float32 z-depth, `poses` (S, N, 4, 4) world-to-camera, `K` (3, 3)
        normalised intrinsics; N = `views_per_scene`, H = W = `image_size`.
    """
    from jax3d.renderer import TexturesUV
    from jax3d.structures import Meshes

    indices = [int(i) for i in np.asarray(indices).reshape(-1)]
    if scenes is None:
        scenes = [make_room_scene(config, i) for i in indices]
    N, S = config.views_per_scene, config.image_size
    size = S * config.supersample
    F = config.max_faces
    Vmax = Tmax = 2 * F  # fixed capacities: one compilation per (batch, size, max_faces)
    for s in scenes:
        if len(s.verts) > Vmax or len(s.verts_uvs) > Tmax:
            raise ValueError(f"a scene has more than 2 * max_faces = {Vmax} vertices or UVs")
    rep = lambda x: np.repeat(x[:, None], N, 1).reshape((-1,) + x.shape[1:])  # noqa: E731
    verts = rep(np.stack([_pad(s.verts, Vmax, 0.0) for s in scenes]))
    faces = rep(np.stack([_pad(s.faces, F, -1) for s in scenes]))
    uvs = rep(np.stack([_pad(s.verts_uvs, Tmax, 0.0) for s in scenes]))
    fuvs = rep(np.stack([_pad(s.faces_uvs, F, -1) for s in scenes]))
    maps = rep(np.stack([s.atlas for s in scenes]))
    nv = rep(np.array([len(s.verts) for s in scenes], np.int32))
    nf = rep(np.array([len(s.faces) for s in scenes], np.int32))
    textures = TexturesUV(maps=maps, faces_uvs=fuvs, verts_uvs=uvs)
    meshes = Meshes(verts, faces, textures=textures, num_verts=nv, num_faces=nf)
    poses = np.stack([s.poses for s in scenes]).reshape(-1, 4, 4)
    light = rep(np.stack([s.light for s in scenes]))
    K = config.K
    K_pix = np.array([[K[0, 0] * size / 2, 0, size / 2], [0, K[1, 1] * size / 2, size / 2],
                      [0, 0, 1]], np.float32)  # fmt: skip
    K_pix = np.broadcast_to(K_pix, (len(poses), 3, 3))
    images, depth = _render_views(meshes, light, poses[:, :3, :3], poses[:, :3, 3], K_pix,
                                  size=size)  # fmt: skip
    images, depth = np.asarray(images), np.asarray(depth)
    if config.supersample > 1:
        k = config.supersample
        images = images.reshape(-1, S, k, S, k, 3).mean((2, 4))
        depth = depth.reshape(-1, S, k, S, k).mean((2, 4))
    return {
        "images": images.reshape(len(scenes), N, S, S, 3).astype(np.float32),
        "depths": depth.reshape(len(scenes), N, S, S).astype(np.float32),
        "poses": poses.reshape(len(scenes), N, 4, 4).astype(np.float32),
        "K": K,
    }


# -------------------------------------------------------------------------- cache and pairs


def cache_rooms(config: RoomConfig, path, *, scenes_per_call: int = 2, log=None) -> dict:
    """Render every scene of `config` and store them in one `.npz` file at `path`.

    Images are stored as uint8, depths as float16; the file is written under a temporary name
    and renamed, so an interrupted run leaves no partial cache. Rendering is batched
    (`scenes_per_call` scenes, all their views, per jitted call; the last call is padded so
    there is one compilation).

    Args:
        config: the `RoomConfig`.
        path: output file (".npz" appended when missing).
        scenes_per_call: scenes rendered per call.
        log: optional callable receiving `(done, total)` after each call.

    Returns:
        `{"path": ..., "seconds": wall time, "views_per_second": ...}`.
    """
    path = os.fspath(path)
    path = path if path.endswith(".npz") else path + ".npz"
    n = config.num_scenes
    t0 = time.perf_counter()
    chunks = []
    for start in range(0, n, scenes_per_call):
        idx = list(range(start, min(start + scenes_per_call, n)))
        padded = idx + [idx[-1]] * (scenes_per_call - len(idx))
        out = render_rooms(config, padded)
        k = len(idx)
        chunks.append({
            "images": np.round(out["images"][:k] * 255).astype(np.uint8),
            "depths": out["depths"][:k].astype(np.float16),
            "poses": out["poses"][:k],
        })  # fmt: skip
        if log is not None:
            log(idx[-1] + 1, n)
    arrays = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    arrays["K"] = config.K
    arrays["config_json"] = np.array(json.dumps(dataclasses.asdict(config)))
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    seconds = time.perf_counter() - t0
    return {"path": path, "seconds": seconds,
            "views_per_second": n * config.views_per_scene / seconds}  # fmt: skip


def _load_config(text: str) -> RoomConfig:
    d = json.loads(text)
    d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    return RoomConfig(**d)


class RoomPairs:
    """SynSin batches from a `cache_rooms` file: pairs of frames of one scene.

    A pair `(scene, i, j)` takes frame `i` as the source and frame `j` as the target, for every
    `i != j` with `|i - j| <= max_gap` (both directions, so forward and backward moves).

    Args:
        path: the `.npz` written by `cache_rooms` (read without pickle).
        max_gap: the largest frame distance of a pair.

    Attributes:
        config: the `RoomConfig` the file was rendered with.
        pairs: (M, 3) int `(scene, src_frame, tgt_frame)`.
    """

    def __init__(self, path, max_gap: int = 4):
        path = os.fspath(path)
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: not a readable rooms cache ({e})") from e
        needed = ("images", "depths", "poses", "K", "config_json")
        if any(k not in arrays for k in needed):
            raise ValueError(f"{path}: not a rooms cache (needs {needed})")
        self.config = _load_config(str(arrays["config_json"]))
        self.images, self.depths = arrays["images"], arrays["depths"]
        self.poses, self.K = arrays["poses"].astype(np.float32), arrays["K"].astype(np.float32)
        S, N = self.images.shape[:2]
        if self.depths.shape[:2] != (S, N) or self.poses.shape != (S, N, 4, 4):
            raise ValueError(f"{path}: inconsistent array shapes in the cache")
        if not isinstance(max_gap, int) or not 1 <= max_gap < N:
            raise ValueError(f"max_gap must be an int in [1, {N - 1}], got {max_gap!r}")
        self.path, self.max_gap = path, max_gap
        self.pairs = np.array([(s, i, j) for s in range(S) for i in range(N) for j in range(N)
                               if i != j and abs(i - j) <= max_gap], np.int64)  # fmt: skip

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def num_scenes(self) -> int:
        return self.images.shape[0]

    def get_batch(self, indices) -> dict:
        """Pairs `indices` as a SynSin batch (NumPy float32).

        Returns:
            `src`, `tgt` (B, H, W, 3) in [0, 1]; `K` (B, 3, 3) normalised intrinsics; `RT`
            (B, 4, 4) source-to-target pose; `depth_src`, `depth_tgt` (B, H, W, 1) z-depths
            (ground truth, for evaluation).
        """
        idx = np.asarray(indices, np.int64).reshape(-1)
        if idx.size == 0 or idx.min() < 0 or idx.max() >= len(self):
            raise IndexError(f"pair indices must be in [0, {len(self)}), got {idx.tolist()[:8]}")
        s, i, j = self.pairs[idx].T
        P_src, P_tgt = self.poses[s, i], self.poses[s, j]
        RT = P_tgt @ np.linalg.inv(P_src)
        return {
            "src": self.images[s, i].astype(np.float32) / 255.0,
            "tgt": self.images[s, j].astype(np.float32) / 255.0,
            "K": np.broadcast_to(self.K, (len(idx), 3, 3)).copy(),
            "RT": RT.astype(np.float32),
            "depth_src": self.depths[s, i].astype(np.float32)[..., None],
            "depth_tgt": self.depths[s, j].astype(np.float32)[..., None],
        }

    def sample_indices(self, step: int, batch_size: int, seed: int = 0) -> np.ndarray:
        """`batch_size` pair indices drawn with replacement, a pure function of
        `(seed, step)` (so `batch_fn(step)` resumes exactly)."""
        rng = np.random.default_rng([int(seed), int(step), 9])
        return rng.integers(0, len(self), size=batch_size)

    def fixed_indices(self, n: int, seed: int = 0) -> np.ndarray:
        """`n` distinct pair indices (or all), one pass over scenes first: the evaluation set."""
        rng = np.random.default_rng([int(seed), 11])
        order = rng.permutation(len(self))
        _, first = np.unique(self.pairs[order, 0], return_index=True)
        rest = np.ones(len(order), bool)
        rest[first] = False
        chosen = np.concatenate([order[np.sort(first)], order[rest]])
        return chosen[: min(int(n), len(self))].astype(np.int64)
