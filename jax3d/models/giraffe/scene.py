"""What a GIRAFFE image is generated from: codes, object boxes, camera and background pose.

A `Scene` is a pytree of arrays with a leading batch axis `B` and a static number of object
slots `N` (`BoundingBoxConfig.n_boxes`); `object_mask` says which slots hold an object, so the
number of objects can change from call to call (and from image to image) without a recompile.
Every control of the book's chapter is a change of one field: `latents` (shape and appearance
of each object and of the background), `transforms` (scale, translation and rotation of each
box), `camera_R` / `camera_T` (the camera) and `bg_rotation`.

Values in [0, 1] select a quantity within its configured range, as in the authors' code
(`get_transformations`, `get_camera`): `transforms_from_values`, `camera_from_values`;
`sample_scene` draws all of them at random.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from flax import struct

from jax3d.models.giraffe.config import BoundingBoxConfig, GeneratorConfig, ModelConfig
from jax3d.renderer.cameras import look_at_view_transform

_EPS = float(jnp.finfo(jnp.float32).eps)

__all__ = [
    "Latents",
    "ObjectTransforms",
    "Scene",
    "camera_from_values",
    "camera_position",
    "check_scene",
    "fast_key",
    "interpolate_sphere",
    "rotation_z",
    "sample_latents",
    "sample_object_mask",
    "sample_scene",
    "sample_transforms",
    "scene_batch",
    "transforms_from_values",
]


@struct.dataclass
class Latents:
    """Codes ~ N(0, tmp^2): `z_shape_obj, z_app_obj (B, N, z_dim)`,
    `z_shape_bg, z_app_bg (B, z_dim_bg)`."""

    z_shape_obj: jax.Array
    z_app_obj: jax.Array
    z_shape_bg: jax.Array
    z_app_bg: jax.Array


@struct.dataclass
class ObjectTransforms:
    """Boxes: `scale (B, N, 3)` half-sizes, `translation (B, N, 3)` centres (world, z up),
    `rotation (B, N, 3, 3)`; world points map into box `i` as `R_i (p - t_i) / s_i`."""

    scale: jax.Array
    translation: jax.Array
    rotation: jax.Array


@struct.dataclass
class Scene:
    """One batch of scenes to render.

    Attributes:
        latents: `Latents`.
        transforms: `ObjectTransforms`.
        object_mask: (B, N) float32, 1 for slots holding an object, 0 for empty slots.
        camera_R, camera_T: (B, 3, 3), (B, 3) world-to-view of PyTorch3D-convention cameras
            (`X_view = X_world @ R + T`).
        bg_rotation: (B, 3, 3) rotation applied to world points before the background field.
    """

    latents: Latents
    transforms: ObjectTransforms
    object_mask: jax.Array
    camera_R: jax.Array  # noqa: N815 - PyTorch3D's names
    camera_T: jax.Array  # noqa: N815
    bg_rotation: jax.Array

    @property
    def batch_size(self) -> int:
        return self.object_mask.shape[0]

    @property
    def n_objects(self) -> int:
        """The static number of object slots N."""
        return self.object_mask.shape[1]


def check_scene(scene: Scene, config: ModelConfig) -> None:
    """Raise `ValueError` naming the field whose shape does not fit `config`."""
    if not isinstance(scene, Scene):
        raise TypeError(f"scene must be a giraffe Scene, got {type(scene).__name__}")
    b, n = scene.object_mask.shape if scene.object_mask.ndim == 2 else (None, None)
    if b is None:
        raise ValueError(f"scene.object_mask must be (B, N), got {scene.object_mask.shape}")
    z, zb = config.z_dim, config.z_dim_bg
    expected = {
        "latents.z_shape_obj": (scene.latents.z_shape_obj, (b, n, z)),
        "latents.z_app_obj": (scene.latents.z_app_obj, (b, n, z)),
        "latents.z_shape_bg": (scene.latents.z_shape_bg, (b, zb)),
        "latents.z_app_bg": (scene.latents.z_app_bg, (b, zb)),
        "transforms.scale": (scene.transforms.scale, (b, n, 3)),
        "transforms.translation": (scene.transforms.translation, (b, n, 3)),
        "transforms.rotation": (scene.transforms.rotation, (b, n, 3, 3)),
        "camera_R": (scene.camera_R, (b, 3, 3)),
        "camera_T": (scene.camera_T, (b, 3)),
        "bg_rotation": (scene.bg_rotation, (b, 3, 3)),
    }
    for name, (value, shape) in expected.items():
        if tuple(value.shape) != shape:
            raise ValueError(f"scene.{name} must be {shape} (B={b}, N={n}), got "
                             f"{tuple(value.shape)}")  # fmt: skip


def fast_key(key: jax.Array) -> jax.Array:
    """An "rbg" key (XLA's RngBitGenerator) drawn from `key` (raw or typed threefry).

    Large draws from it compile in constant time: with jax's partitionable threefry the
    compile time of a draw grows with its size (seconds for 10^4 numbers on a CPU), which
    dominated compiling GIRAFFE's sampler and training step. Its values are deterministic for
    a given key on a given backend (not across backends).
    """
    return jax.random.wrap_key_data(jax.random.bits(key, (4,), jnp.uint32), impl="rbg")


def rotation_z(fraction: jax.Array) -> jax.Array:
    """Rotations about z by `2 pi fraction`: `(...,) -> (..., 3, 3)`, as scipy's
    `Rotation.from_euler("z", 2 pi fraction).as_matrix()`."""
    a = 2.0 * math.pi * jnp.asarray(fraction, jnp.float32)
    c, s = jnp.cos(a), jnp.sin(a)
    zero, one = jnp.zeros_like(a), jnp.ones_like(a)
    rows = [jnp.stack([c, -s, zero], -1), jnp.stack([s, c, zero], -1),
            jnp.stack([zero, zero, one], -1)]  # fmt: skip
    return jnp.stack(rows, -2)


def _lerp(lo_hi, value) -> jax.Array:
    lo, hi = jnp.asarray(lo_hi[0], jnp.float32), jnp.asarray(lo_hi[1], jnp.float32)
    return lo + jnp.asarray(value, jnp.float32) * (hi - lo)


def transforms_from_values(
    config: BoundingBoxConfig, val_s: jax.Array, val_t: jax.Array, val_r: jax.Array
) -> ObjectTransforms:
    """Boxes from values in [0, 1] (the authors' `get_transformations`).

    Args:
        config: the ranges.
        val_s: (B, N, 3) scale values (only `[..., 0]` is used when `fix_scale_ratio`).
        val_t: (B, N, 3) translation values (z is replaced by `z_level_plane` when
            `object_on_plane`).
        val_r: (B, N) rotation values.

    Returns:
        `ObjectTransforms` with `scale = min + v (max - min)` per axis, likewise the
        translation, and `rotation = rotation_z(r0 + v (r1 - r0))`.
    """
    val_s, val_t = jnp.asarray(val_s, jnp.float32), jnp.asarray(val_t, jnp.float32)
    if config.fix_scale_ratio:
        val_s = jnp.broadcast_to(val_s[..., :1], val_s.shape)
    scale = _lerp((config.scale_range_min, config.scale_range_max), val_s)
    t = _lerp((config.translation_range_min, config.translation_range_max), val_t)
    if config.object_on_plane:
        t = t.at[..., 2].set(config.z_level_plane)
    rotation = rotation_z(_lerp(config.rotation_range, val_r))
    return ObjectTransforms(scale=scale, translation=t, rotation=rotation)


def _collisions(scale: jax.Array, translation: jax.Array, padding: float) -> jax.Array:
    """(B, N) bool: box i overlaps (per the authors' test) a box j < i.

    Two boxes are free when, along some axis, their centres are at least the sum of their
    half-sizes plus `padding` apart.
    """
    d_t = jnp.abs(translation[:, :, None] - translation[:, None, :])  # (B, N, N, 3)
    d_s = scale[:, :, None] + scale[:, None, :] + padding
    hit = ~jnp.any(d_t >= d_s, axis=-1)
    n = scale.shape[1]
    earlier = jnp.arange(n)[None, :] < jnp.arange(n)[:, None]  # [i, j]: j < i
    return jnp.any(hit & earlier, axis=-1)


def _n_uniform_boxes(config: BoundingBoxConfig) -> int:
    n = config.n_boxes
    rounds = config.collision_rounds if config.check_collision and n > 1 else 0
    return 7 * n + 3 * n * rounds


def _transforms_from_uniform(config: BoundingBoxConfig, u: jax.Array) -> ObjectTransforms:
    """Boxes from `(B, _n_uniform_boxes(config))` uniform values (see `sample_transforms`)."""
    b, n = u.shape[0], config.n_boxes
    val_s = u[:, : 3 * n].reshape(b, n, 3)
    val_t = u[:, 3 * n : 6 * n].reshape(b, n, 3)
    val_r = u[:, 6 * n : 7 * n]
    out = transforms_from_values(config, val_s, val_t, val_r)
    if not config.check_collision or n < 2:
        return out
    redraws = u[:, 7 * n :].reshape(b, config.collision_rounds, n, 3)

    def body(i, t):
        hit = _collisions(out.scale, t, config.collision_padding)
        fresh = transforms_from_values(config, val_s, redraws[:, i], val_r).translation
        return jnp.where(hit[..., None], fresh, t)

    t = jax.lax.fori_loop(0, config.collision_rounds, body, out.translation)
    return out.replace(translation=t)


def sample_transforms(
    key: jax.Array, config: BoundingBoxConfig, batch_size: int
) -> ObjectTransforms:
    """Random boxes: uniform values in [0, 1] (the authors' `get_random_offset`).

    With `check_collision`, a box that overlaps an earlier one is redrawn, for at most
    `collision_rounds` rounds (a static bound; the authors loop until all are free).

    Returns:
        `ObjectTransforms` of `(batch_size, config.n_boxes)` boxes.
    """
    u = jax.random.uniform(fast_key(key), (batch_size, _n_uniform_boxes(config)))
    return _transforms_from_uniform(config, u)


def _latents_from_normal(config: ModelConfig, z: jax.Array, n: int) -> Latents:
    b, zo, zb = z.shape[0], config.z_dim, config.z_dim_bg
    return Latents(
        z_shape_obj=z[:, : n * zo].reshape(b, n, zo),
        z_app_obj=z[:, n * zo : 2 * n * zo].reshape(b, n, zo),
        z_shape_bg=z[:, 2 * n * zo : 2 * n * zo + zb],
        z_app_bg=z[:, 2 * n * zo + zb :],
    )


def sample_latents(
    key: jax.Array, config: ModelConfig, batch_size: int, *, tmp: float = 1.0,
    n_boxes: int | None = None,
) -> Latents:  # fmt: skip
    """Codes `tmp * N(0, 1)` (tmp < 1 is the authors' truncation for visualisations, 0.65).

    Returns:
        `Latents` with `N = n_boxes` (default `config.bounding_box.n_boxes`) object slots.
    """
    n = config.bounding_box.n_boxes if n_boxes is None else n_boxes
    size = 2 * n * config.z_dim + 2 * config.z_dim_bg
    z = tmp * jax.random.normal(fast_key(key), (batch_size, size))
    return _latents_from_normal(config, z, n)


def _mask_from_uniform(config: BoundingBoxConfig, u: jax.Array) -> jax.Array:
    """(B, N) object mask from `(B, N + 1)` uniform values (see `sample_object_mask`)."""
    b, n = u.shape[0], config.n_boxes
    if config.n_boxes_min is None or config.n_boxes_min == n:
        return jnp.ones((b, n), jnp.float32)
    lo = config.n_boxes_min
    count = jnp.minimum(jnp.floor(u[:, :1] * (n - lo + 1)), n - lo) + lo
    rank = jnp.argsort(jnp.argsort(u[:, 1:], axis=-1), axis=-1)  # a random permutation
    return (rank < count).astype(jnp.float32)


def sample_object_mask(key: jax.Array, config: BoundingBoxConfig, batch_size: int) -> jax.Array:
    """(B, N) float32: all ones, or, with `n_boxes_min`, a uniform count in
    `[n_boxes_min, n_boxes]` of randomly chosen slots."""
    u = jax.random.uniform(fast_key(key), (batch_size, config.n_boxes + 1))
    return _mask_from_uniform(config, u)


def camera_position(config: GeneratorConfig, val_u, val_v, val_r) -> jax.Array:
    """(B, 3) camera centres from values in [0, 1] (`(B,)` each): see `GeneratorConfig`."""
    u = _lerp(config.range_u, val_u)
    v = _lerp(config.range_v, val_v)
    radius = _lerp(config.range_radius, val_r)
    theta = 2.0 * math.pi * u
    phi = jnp.arccos(jnp.clip(1.0 - 2.0 * v, -1.0, 1.0))
    loc = jnp.stack([jnp.sin(phi) * jnp.cos(theta), jnp.sin(phi) * jnp.sin(theta),
                     jnp.cos(phi)], -1)  # fmt: skip
    return loc * radius[..., None]


def camera_from_values(
    config: GeneratorConfig, val_u, val_v, val_r
) -> tuple[jax.Array, jax.Array]:
    """PyTorch3D `(R (B, 3, 3), T (B, 3))` of cameras at `camera_position(...)` looking at the
    origin with +z up (the authors' `get_camera_pose`; `val_*` are `(B,)` in [0, 1])."""
    eye = camera_position(config, val_u, val_v, val_r)
    # Straight above or below the origin the look-at frame is undefined; nudge off the axis.
    near_pole = jnp.linalg.norm(eye[:, :2], axis=-1, keepdims=True) < 1e-4
    eye = jnp.where(near_pole, eye + jnp.array([1e-4, 0.0, 0.0]), eye)
    return look_at_view_transform(eye=eye, at=((0.0, 0.0, 0.0),), up=((0.0, 0.0, 1.0),))


def sample_scene(
    key: jax.Array, config: ModelConfig, batch_size: int, *, tmp: float = 1.0
) -> Scene:
    """A random batch of scenes: codes, boxes, object counts, cameras and background poses.

    One uniform draw (from `fast_key(key)`) feeds every quantity, the codes through the
    normal inverse CDF, so the sampler compiles quickly.

    Args:
        key: PRNG key (the only randomness).
        config: the model's settings (ranges and sizes).
        batch_size: B.
        tmp: the codes' standard deviation.

    Returns:
        `Scene` with `N = config.bounding_box.n_boxes` slots.
    """
    box, gen = config.bounding_box, config.generator
    n = box.n_boxes
    n_box = _n_uniform_boxes(box)
    z_size = 2 * n * config.z_dim + 2 * config.z_dim_bg
    u = jax.random.uniform(fast_key(key), (batch_size, n_box + n + 1 + 4 + z_size))
    z = tmp * jax.scipy.special.ndtri(jnp.clip(u[:, -z_size:], _EPS, 1.0 - _EPS))
    u = u[:, :-z_size]
    rest = u[:, n_box + n + 1 :]
    R, T = camera_from_values(gen, rest[:, 0], rest[:, 1], rest[:, 2])
    return Scene(
        latents=_latents_from_normal(config, z, n),
        transforms=_transforms_from_uniform(box, u[:, :n_box]),
        object_mask=_mask_from_uniform(box, u[:, n_box : n_box + n + 1]),
        camera_R=R,
        camera_T=T,
        bg_rotation=rotation_z(_lerp(gen.background_rotation_range, rest[:, 3])),
    )


@functools.partial(jax.jit, static_argnames=("config", "batch_size", "tmp"))
def _sample_jit(key, config: ModelConfig, batch_size: int, tmp: float) -> Scene:
    return sample_scene(key, config, batch_size, tmp=tmp)


def scene_batch(key: jax.Array, config: ModelConfig, batch_size: int, *, tmp: float = 1.0):
    """`sample_scene`, jitted (compiled once per config, batch size and `tmp`)."""
    return _sample_jit(key, config, batch_size, float(tmp))


def interpolate_sphere(z1: jax.Array, z2: jax.Array, t) -> jax.Array:
    """Spherical interpolation between codes (the authors' `interpolate_sphere`), `(..., Z)`;
    falls back to linear interpolation when the codes are (anti)parallel."""
    z1, z2 = jnp.asarray(z1), jnp.asarray(z2)
    t = jnp.asarray(t, jnp.float32)
    n1 = jnp.linalg.norm(z1, axis=-1, keepdims=True)
    n2 = jnp.linalg.norm(z2, axis=-1, keepdims=True)
    cos = jnp.sum(z1 * z2, axis=-1, keepdims=True) / jnp.maximum(n1 * n2, 1e-12)
    omega = jnp.arccos(jnp.clip(cos, -1.0, 1.0))
    sin = jnp.sin(omega)
    degenerate = sin < 1e-6
    sin_safe = jnp.where(degenerate, 1.0, sin)
    s1 = jnp.where(degenerate, 1.0 - t, jnp.sin((1.0 - t) * omega) / sin_safe)
    s2 = jnp.where(degenerate, t, jnp.sin(t * omega) / sin_safe)
    return s1 * z1 + s2 * z2
