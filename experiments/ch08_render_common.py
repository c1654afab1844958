"""Mesh figures for the chapter 8 experiments, drawn with jax3d's own mesh renderer.

`render_meshes` rasterises (`MeshRasterizer`, one face per pixel) and Phong-shades
(`HardPhongShader`, one `PointLights`) meshes with per-vertex colours (`TexturesVertex`) for
any cameras; `render_front` frames one body (+Y up, facing +Z) with `frontal_camera`;
`render_smplify_view` uses SMPLify's fitted camera (screen-space `PerspectiveCameras`, focal
length 5000 px, image centre); `part_colors` colours vertices by their dominant skinning
joint.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.models.smpl import SMPL_JOINT_NAMES
from jax3d.models.smplify import smplify_cameras
from jax3d.renderer import (
    FoVPerspectiveCameras,
    HardPhongShader,
    MeshRasterizer,
    MeshRenderer,
    PointLights,
    RasterizationSettings,
    TexturesVertex,
    look_at_view_transform,
)
from jax3d.structures import Meshes

BODY_RGB = (0.8, 0.82, 0.9)  # light grey-blue for fitted bodies


def part_colors(weights, names=SMPL_JOINT_NAMES) -> np.ndarray:
    """(V, 3) float32 colour per vertex from its dominant joint in ``weights (V, J)``: the
    body's left side orange, its right side blue, the trunk and head grey-green, in alternating
    shades from joint to joint so that the parts stand apart."""
    side = {"left": np.array([0.95, 0.6, 0.3]), "right": np.array([0.35, 0.55, 0.95])}
    trunk = np.array([0.7, 0.8, 0.65])
    rgb = np.stack([side.get(n.split("_")[0], trunk) * (1.0 - 0.2 * (j % 2))
                    for j, n in enumerate(names)])  # fmt: skip
    return rgb[np.asarray(weights).argmax(1)].astype(np.float32)


def frontal_camera(verts, *, azim: float = 0.0, fov_degrees: float = 30.0,
                   margin: float = 1.08):  # fmt: skip
    """A `FoVPerspectiveCameras` at elevation 0 and azimuth ``azim`` (degrees; 0 is on +Z, the
    front of an SMPL body in its own frame) around the centre of ``verts (V, 3)``'s bounding box,
    at the smallest distance that keeps every vertex inside a square image with ``margin``."""
    verts = np.asarray(verts, np.float64)
    center = (verts.min(0) + verts.max(0)) / 2
    a = math.radians(azim)
    forward = np.array([math.sin(a), 0.0, math.cos(a)])  # from the centre towards the camera
    offsets = verts - center
    lateral = np.abs(np.stack([offsets @ np.array([math.cos(a), 0.0, -math.sin(a)]),
                               offsets[:, 1]], 1)).max(1)  # fmt: skip
    tan = math.tan(math.radians(fov_degrees) / 2)
    dist = float(np.max(margin * lateral / tan + offsets @ forward))
    R, T = look_at_view_transform(dist, 0.0, azim, at=(tuple(float(c) for c in center),))
    return FoVPerspectiveCameras(fov=fov_degrees, R=R, T=T, znear=0.05 * dist, zfar=10 * dist)


@functools.cache
def _renderer(image_size):
    settings = RasterizationSettings(image_size=image_size, faces_per_pixel=1)
    renderer = MeshRenderer(MeshRasterizer(None, settings), HardPhongShader())
    return jax.jit(lambda mesh, cameras, lights: renderer(mesh, cameras=cameras, lights=lights))


def render_meshes(verts, faces, colors, cameras, image_size, light_location) -> np.ndarray:
    """(N, H, W, 4) float32 RGBA hard-Phong renders of N meshes sharing their faces.

    Args:
        verts: (N, V, 3) float32 world coordinates. faces: (F, 3) int.
        colors: (V, 3) or (N, V, 3) float32 RGB per vertex (``TexturesVertex``).
        cameras: N cameras (any jax3d camera; screen-space ones carry their ``image_size``).
        image_size: int or ``(H, W)``, static. light_location: (3,) or (N, 3) world position
            of a point light (ambient 0.45, diffuse 0.55, specular 0.1).
    """
    verts = jnp.asarray(verts, jnp.float32)
    n = verts.shape[0]
    colors = jnp.broadcast_to(jnp.asarray(colors, jnp.float32), verts.shape)
    faces = jnp.broadcast_to(jnp.asarray(faces, jnp.int32), (n, *np.shape(faces)))
    mesh = Meshes(verts, faces, textures=TexturesVertex(colors))
    gray = lambda g: jnp.full((n, 3), g, jnp.float32)  # noqa: E731
    location = jnp.broadcast_to(jnp.asarray(light_location, jnp.float32), (n, 3))
    lights = PointLights(ambient_color=gray(0.45), diffuse_color=gray(0.55),
                         specular_color=gray(0.1), location=location)  # fmt: skip
    size = image_size if isinstance(image_size, int) else tuple(int(s) for s in image_size)
    return np.asarray(_renderer(size)(mesh, cameras, lights))


def render_front(verts, faces, colors, *, image_size: int = 320, azim: float = 0.0):
    """(H, W, 4) render of one body ``verts (V, 3)`` with `frontal_camera` and a light above
    the camera."""
    cameras = frontal_camera(verts, azim=azim)
    light = np.asarray(cameras.get_camera_center())[0] + np.array([0.0, 1.0, 0.0])
    return render_meshes(np.asarray(verts)[None], faces, colors, cameras, image_size, light)[0]


def render_smplify_view(verts, faces, image_size_hw, *, scale: float = 1.0,
                        focal_length: float = 5000.0, colors=BODY_RGB):  # fmt: skip
    """(N, round(scale H), round(scale W), 4) renders of fitted bodies as SMPLify's camera sees
    them (``smplify_cameras``: pinhole, ``focal_length`` px, principal point at the image
    centre, R = I), at ``scale`` times the image resolution.

    Args:
        verts: (N, V, 3) float32 in the camera frame (``smpl_forward(..., transl=camera_t)``),
            so the cameras' own translation is 0. image_size_hw: ``(H, W)`` of the image.
    """
    verts = np.asarray(verts, np.float32)
    n = verts.shape[0]
    h, w = (round(scale * float(s)) for s in image_size_hw)
    size = jnp.broadcast_to(jnp.array([h, w], jnp.float32), (n, 2))
    cameras = smplify_cameras(jnp.zeros((n, 3)), size, focal_length * h / float(image_size_hw[0]))
    colors = np.broadcast_to(np.asarray(colors, np.float32), verts.shape)
    return render_meshes(verts, faces, colors, cameras, (h, w), np.zeros(3))


def on_white(rgba) -> np.ndarray:
    """(H, W, 3) render composited over a white background."""
    a = rgba[..., 3:]
    return np.clip(rgba[..., :3] * a + (1.0 - a), 0.0, 1.0)
