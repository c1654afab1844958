"""The controls of the book's chapter 7 (the authors' `render.py` programs) and three measures
of how well they are disentangled.

Programs build sequences of scenes that change one thing (an object's appearance or shape
code, the background code, an object's depth or horizontal position, its rotation, the number
of objects); `render_program` renders them into frames `(T, B, H, W, 3)`. As in the authors'
renderer, codes are drawn with standard deviation 0.65 and the other quantities sit in the
middle of their ranges (objects at their smallest scale).

Measures (none is reported by the GIRAFFE paper; they quantify what its figures show):

- `translation_monotonicity`: sweeping an object's horizontal translation should move the
  centroid of its alpha map monotonically across the image: the Spearman correlation between
  the translation value and the centroid's column, per random code.
- `object_code_isolation`: changing only one object's codes should leave the pixels outside
  that object's alpha mask unchanged: the mean absolute change there.
- `background_code_isolation`: changing only the background codes should leave the objects'
  pixels unchanged: the mean absolute change inside the objects' alpha mask.

Everything takes `render_fn(scene) -> (images (B, H, W, 3), object_alpha (B, N, h, w))`, e.g.
`make_render_fn(config, params)` (the generator in evaluation mode, jitted).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.models.giraffe.config import ModelConfig
from jax3d.models.giraffe.generator import Generator
from jax3d.models.giraffe.scene import (
    Scene,
    camera_from_values,
    camera_position,
    interpolate_sphere,
    rotation_z,
    sample_latents,
    scene_batch,
    transforms_from_values,
)
from jax3d.renderer.cameras import look_at_view_transform

__all__ = [
    "PROGRAMS",
    "background_code_isolation",
    "base_scene",
    "compiled_render",
    "make_render_fn",
    "object_code_isolation",
    "program_scenes",
    "render_program",
    "spearman",
    "translation_monotonicity",
    "upsample_alpha",
    "with_camera_azimuth",
]

RenderFn = Callable[[Scene], tuple[jax.Array, jax.Array]]
PROGRAMS = (
    "interpolate_app",
    "interpolate_shape",
    "interpolate_bg_app",
    "translation_object_depth",
    "translation_object_horizontal",
    "rotation_object",
    "rotation_camera",
    "translation_object_circle",
    "add_objects",
    "remove_objects",
)
SAMPLE_TMP = 0.65


@functools.cache
def compiled_render(config: ModelConfig) -> Callable:
    """The jitted `(params, scene) -> (images (B, H, W, 3), object_alpha (B, N, h, w))` of the
    generator in evaluation mode (no noise), one per config, so that sampling, evaluation and
    every control share its compilations (one per scene shape)."""
    generator = Generator(config)

    @jax.jit
    def render(p, scene):
        images, out = generator.apply({"params": p}, scene, method=Generator.render)
        return images, out.object_alpha

    return render


def make_render_fn(config: ModelConfig, params) -> RenderFn:
    """`scene -> (images, object_alpha)` of the generator with `params` (`compiled_render`)."""
    render = compiled_render(config)
    return lambda scene: render(params, scene)


@functools.partial(jax.jit, static_argnames=("config", "batch_size", "n_slots", "active", "tmp"))
def _base_scene(key, config, batch_size, n_slots, active, tmp):
    b, n = batch_size, n_slots
    half = jnp.full((b,), 0.5)
    R, T = camera_from_values(config.generator, half, half, half)
    transforms = transforms_from_values(config.bounding_box, jnp.zeros((b, n, 3)),
                                        jnp.full((b, n, 3), 0.5), jnp.full((b, n), 0.5))
    lo, hi = config.generator.background_rotation_range
    mask = (jnp.arange(n)[None] < active).astype(jnp.float32) * jnp.ones((b, 1))
    return Scene(
        latents=sample_latents(key, config, b, tmp=tmp, n_boxes=n),
        transforms=transforms,
        object_mask=mask,
        camera_R=R,
        camera_T=T,
        bg_rotation=rotation_z(jnp.full((b,), 0.5 * (lo + hi))),
    )  # fmt: skip


def base_scene(config: ModelConfig, key: jax.Array, batch_size: int, *, n_slots: int = 1,
               active: int = 1, tmp: float = SAMPLE_TMP) -> Scene:  # fmt: skip
    """Scenes for a program: random codes (std `tmp`), `n_slots` boxes at the middle of the
    translation and rotation ranges and the smallest scale, the first `active` slots on, the
    camera and the background rotation at the middle of their ranges."""
    return _base_scene(key, config, batch_size, n_slots, active, float(tmp))


@functools.partial(jax.jit, static_argnames=("config",))
def _transforms(config, val_s, val_t, val_r):
    return transforms_from_values(config.bounding_box, val_s, val_t, val_r)


@functools.partial(jax.jit, static_argnames=("config", "batch_size", "n_boxes", "tmp"))
def _latents(key, config, batch_size, n_boxes, tmp):
    return sample_latents(key, config, batch_size, tmp=tmp, n_boxes=n_boxes)


_slerp = jax.jit(interpolate_sphere)


def _with_translation(config: ModelConfig, scene: Scene, slot: int, val_t) -> Scene:
    b, n = scene.object_mask.shape
    vals = np.broadcast_to(np.asarray(val_t, np.float32), (b, n, 3))
    t = np.asarray(_transforms(config, np.zeros((b, n, 3), np.float32), vals,
                               np.zeros((b, n), np.float32)).translation)  # fmt: skip
    new = np.array(scene.transforms.translation)
    new[:, slot] = t[:, slot]
    return scene.replace(transforms=scene.transforms.replace(translation=jnp.asarray(new)))


def _with_rotation(config: ModelConfig, scene: Scene, val_r: float) -> Scene:
    b, n = scene.object_mask.shape
    rot = _transforms(config, np.zeros((b, n, 3), np.float32), np.zeros((b, n, 3), np.float32),
                      np.full((b, n), val_r, np.float32)).rotation  # fmt: skip
    return scene.replace(transforms=scene.transforms.replace(rotation=rot))


@jax.jit
def _look_at_origin(eye):
    return look_at_view_transform(eye=eye, at=((0.0, 0.0, 0.0),), up=((0.0, 0.0, 1.0),))


def with_camera_azimuth(config: ModelConfig, scene: Scene, turn: float) -> Scene:
    """`scene` seen from the middle of the camera's elevation and distance ranges, at
    azimuth `turn` (a fraction of a full turn about z, outside `range_u` too)."""
    b = scene.batch_size
    half = np.full((1,), 0.5, np.float32)
    eye = np.asarray(camera_position(config.generator, half, half, half))[0]
    c, s = np.cos(2 * np.pi * turn), np.sin(2 * np.pi * turn)
    eye = np.array([c * eye[0] - s * eye[1], s * eye[0] + c * eye[1], eye[2]], np.float32)
    R, T = _look_at_origin(np.broadcast_to(eye, (b, 3)))
    return scene.replace(camera_R=R, camera_T=T)


def _interpolation(config, key, batch_size, n_keyframes, n_steps, field: str):
    scene = base_scene(config, key, batch_size)
    k = jax.random.split(jax.random.fold_in(key, 1), n_keyframes)
    lat = scene.latents
    codes = [_latents(ki, config, batch_size, 1, SAMPLE_TMP) for ki in k]
    scenes = []
    for j in range(n_keyframes):
        z1, z2 = getattr(codes[j], field), getattr(codes[(j + 1) % n_keyframes], field)
        for w in np.linspace(0.0, 1.0, n_steps, endpoint=False):
            z = _slerp(z1, z2, np.float32(w))
            scenes.append(scene.replace(latents=lat.replace(**{field: z})))
    return scenes


def _grid_positions(k: int) -> np.ndarray:
    """k translation values on a grid over the plane (the authors' CLEVR add-objects layout
    generalised): (k, 3)."""
    cols = int(np.ceil(np.sqrt(k)))
    rows = int(np.ceil(k / cols))
    xs = np.linspace(0.15, 0.85, rows) if rows > 1 else np.array([0.5])
    ys = np.linspace(0.15, 0.85, cols) if cols > 1 else np.array([0.5])
    grid = np.array([(x, y, 0.0) for x in xs for y in ys])
    return grid[:k]


def program_scenes(program: str, config: ModelConfig, key: jax.Array, *, batch_size: int = 8,
                   n_steps: int = 16, n_keyframes: int = 4,
                   max_objects: int = 4) -> list[Scene]:  # fmt: skip
    """The sequence of scenes of one of `PROGRAMS` (each a `Scene` of `batch_size` images).

    - interpolate_app / interpolate_shape: object appearance / shape codes moved along
      great circles through `n_keyframes` random codes, `n_steps` frames each (a loop);
    - interpolate_bg_app: the background's appearance code, likewise;
    - translation_object_depth / _horizontal: the object's x (towards the camera's default
      position, +x) / y value swept over [0, 1] in `n_steps` frames;
    - rotation_object: the rotation value over [0, 1] (a full range) or [0.1, 0.9];
    - rotation_camera: the camera orbiting the scene by a full turn of azimuth at the middle
      of its elevation and distance ranges (beyond `range_u` when that is narrower: views
      the generator never saw in training);
    - translation_object_circle: the object's (x, y) values around the circle of radius 0.5
      about the middle;
    - add_objects / remove_objects: 1 .. `max_objects` objects on a grid, added one per frame
      (or removed), each with its own codes.
    """
    if program not in PROGRAMS:
        raise ValueError(f"program must be one of {PROGRAMS}, got {program!r}")
    b = batch_size
    if program.startswith("interpolate"):
        field = {"interpolate_app": "z_app_obj", "interpolate_shape": "z_shape_obj",
                 "interpolate_bg_app": "z_app_bg"}[program]  # fmt: skip
        return _interpolation(config, key, b, n_keyframes, n_steps, field)
    values = np.linspace(0.0, 1.0, n_steps)
    if program == "rotation_object":
        scene = base_scene(config, key, b)
        lo, hi = config.bounding_box.rotation_range
        full = lo == 0.0 and hi == 1.0
        vals = np.linspace(0.0, 1.0, n_steps, endpoint=False) if full else 0.1 + 0.8 * values
        return [_with_rotation(config, scene, float(v)) for v in vals]
    if program == "rotation_camera":
        scene = base_scene(config, key, b)
        turns = np.linspace(0.0, 1.0, n_steps, endpoint=False)
        return [with_camera_azimuth(config, scene, float(t)) for t in turns]
    if program.startswith("translation"):
        scene = base_scene(config, key, b)
        if program == "translation_object_depth":
            return [_with_translation(config, scene, 0, (v, 0.5, 0.5)) for v in values]
        if program == "translation_object_horizontal":
            return [_with_translation(config, scene, 0, (0.5, v, 0.5)) for v in values]
        angles = 2 * np.pi * np.linspace(0.0, 1.0, n_steps, endpoint=False)
        return [_with_translation(config, scene, 0, (0.5 + 0.5 * np.cos(a),
                                                     0.5 + 0.5 * np.sin(a), 0.5))
                for a in angles]  # fmt: skip
    k = max_objects
    scene = base_scene(config, key, b, n_slots=k, active=0)
    grid = np.broadcast_to(_grid_positions(k).astype(np.float32), (b, k, 3))
    t = _transforms(config, np.zeros((b, k, 3), np.float32), grid, np.zeros((b, k), np.float32))
    scene = scene.replace(transforms=t)
    counts = range(k + 1) if program == "add_objects" else range(k, -1, -1)
    masks = [np.broadcast_to(np.arange(k)[None] < c, (b, k)).astype(np.float32) for c in counts]
    return [scene.replace(object_mask=jnp.asarray(m)) for m in masks]


def render_program(render_fn: RenderFn, scenes: list[Scene]) -> np.ndarray:
    """Frames `(T, B, H, W, 3)` float32 of a program's scenes (one render call per frame)."""
    return np.stack([np.asarray(render_fn(s)[0]) for s in scenes])


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation of two 1-D samples (average ranks for ties); 0 when one
    of them is constant."""
    def ranks(v):
        v = np.asarray(v, np.float64)
        order = np.argsort(v, kind="mergesort")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=np.float64)
        for value in np.unique(v):  # average the ranks of ties
            tie = v == value
            r[tie] = r[tie].mean()
        return r

    rx, ry = ranks(x), ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = np.sqrt((rx**2).sum() * (ry**2).sum())
    return float((rx * ry).sum() / denom) if denom > 0 else 0.0


def upsample_alpha(alpha: jax.Array, size: int) -> np.ndarray:
    """`(B, N, h, w)` alpha maps bilinearly resized to `(B, N, size, size)`."""
    b, n = alpha.shape[:2]
    return np.asarray(jax.image.resize(alpha, (b, n, size, size), "bilinear"))


def translation_monotonicity(render_fn: RenderFn, config: ModelConfig, key: jax.Array, *,
                             n_codes: int = 16, n_steps: int = 9) -> dict:  # fmt: skip
    """Control measure (a): Spearman correlation between an object's horizontal translation
    value and the column of its alpha centroid.

    One object (random codes, std 0.65, middle of the other ranges) is swept over
    `n_steps` values of y in [0, 1] (the authors' `translation_object_horizontal`); for each
    of `n_codes` codes, the correlation over the sweep. +y is the camera's right at the
    default camera (u = 0), so a perfect control gives +1.

    Returns:
        `{"spearman_mean", "spearman_min", "fraction_above_0.9", "per_code": [...],
        "visible_fraction"}` (frames where the object's alpha sums to > 0.5 pixel; a code with
        an invisible frame counts as correlation 0).
    """
    scene = base_scene(config, key, n_codes)
    values = np.linspace(0.0, 1.0, n_steps)
    cols, visible = [], []
    for v in values:
        _, alpha = render_fn(_with_translation(config, scene, 0, (0.5, float(v), 0.5)))
        a = np.asarray(alpha[:, 0], np.float64)  # (B, h, w)
        mass = a.sum(axis=(1, 2))
        col = (a * np.arange(a.shape[2])[None, None]).sum(axis=(1, 2)) / np.maximum(mass, 1e-9)
        cols.append(col)
        visible.append(mass > 0.5)
    cols, visible = np.stack(cols, 1), np.stack(visible, 1)  # (B, T)
    rho = np.array([spearman(values, c) if ok.all() else 0.0 for c, ok in zip(cols, visible)])
    return {
        "spearman_mean": float(rho.mean()),
        "spearman_min": float(rho.min()),
        "fraction_above_0.9": float((rho >= 0.9).mean()),
        "visible_fraction": float(visible.mean()),
        "per_code": rho.round(4).tolist(),
    }


def _changed(render_fn, scene_a, scene_b):
    img_a, alpha_a = render_fn(scene_a)
    img_b, alpha_b = render_fn(scene_b)
    size = img_a.shape[1]
    diff = np.abs(np.asarray(img_a) - np.asarray(img_b)).mean(axis=-1)  # (B, H, W)
    return diff, upsample_alpha(alpha_a, size), upsample_alpha(alpha_b, size)


def _scene_and_codes(config: ModelConfig, key: jax.Array, n: int):
    """Training-like scenes (codes std 0.65) with slot 0 on, and fresh codes."""
    k_scene, k_codes = jax.random.split(key)
    a = scene_batch(k_scene, config, n, tmp=SAMPLE_TMP)
    mask = np.array(a.object_mask)
    mask[:, 0] = 1.0
    fresh = _latents(k_codes, config, n, config.bounding_box.n_boxes, SAMPLE_TMP)
    return a.replace(object_mask=jnp.asarray(mask)), fresh


def _masked_mean(values: np.ndarray, mask: np.ndarray) -> float | None:
    return float(values[mask].mean()) if mask.any() else None


def object_code_isolation(render_fn: RenderFn, config: ModelConfig, key: jax.Array, *,
                          n_scenes: int = 32, threshold: float = 0.05) -> dict:  # fmt: skip
    """Control measure (b): mean absolute pixel change outside an object's alpha mask when
    only that object's shape and appearance codes change.

    Scenes are drawn as in training (`sample_scene`, codes std 0.65, slot 0 switched on);
    slot 0 gets new codes. "Outside" is where slot 0's alpha (bilinearly upsampled) is below
    `threshold` in both renders.

    Returns:
        `{"outside_mean_abs_change", "inside_mean_abs_change", "outside_fraction"}`
        (pixel values in [0, 1]; inside: alpha above 0.5 in either render, for scale).
    """
    a, fresh = _scene_and_codes(config, key, n_scenes)
    lat = a.latents
    z_shape, z_app = np.array(lat.z_shape_obj), np.array(lat.z_app_obj)
    z_shape[:, 0], z_app[:, 0] = fresh.z_shape_obj[:, 0], fresh.z_app_obj[:, 0]
    lat = lat.replace(z_shape_obj=jnp.asarray(z_shape), z_app_obj=jnp.asarray(z_app))
    diff, alpha_a, alpha_b = _changed(render_fn, a, a.replace(latents=lat))
    obj = np.maximum(alpha_a[:, 0], alpha_b[:, 0])
    outside = obj < threshold
    return {
        "outside_mean_abs_change": _masked_mean(diff, outside),
        "inside_mean_abs_change": _masked_mean(diff, obj > 0.5),
        "outside_fraction": float(outside.mean()),
        "threshold": threshold,
    }


def background_code_isolation(render_fn: RenderFn, config: ModelConfig, key: jax.Array, *,
                              n_scenes: int = 32, threshold: float = 0.95,
                              profile: tuple[float, ...] = (0.5, 0.8, 0.95)) -> dict:  # fmt: skip
    """Control measure (c): mean absolute pixel change inside the objects' alpha mask when
    only the background codes change.

    "Inside" is where the objects' union alpha `1 - prod_i (1 - alpha_i)` (bilinearly
    upsampled) is above `threshold` in both renders. A partly transparent object lets the
    background show through by construction, so the change is also reported for each
    threshold of `profile`, with the fraction of pixels it covers: a generator whose objects
    rarely reach `threshold` has a measure over few pixels, and the profile says so.

    Returns:
        `{"inside_mean_abs_change", "outside_mean_abs_change", "inside_fraction",
        "threshold", "profile": [{"threshold", "inside_mean_abs_change", "inside_fraction"},
        ...]}` (outside: union alpha below 0.05, the background, for scale; a change is None
        where no pixel qualifies).
    """
    a, fresh = _scene_and_codes(config, key, n_scenes)
    lat = a.latents.replace(z_shape_bg=fresh.z_shape_bg, z_app_bg=fresh.z_app_bg)
    diff, alpha_a, alpha_b = _changed(render_fn, a, a.replace(latents=lat))
    union_a = 1.0 - np.prod(1.0 - alpha_a, axis=1)
    union_b = 1.0 - np.prod(1.0 - alpha_b, axis=1)
    both = np.minimum(union_a, union_b)
    inside = both > threshold
    return {
        "inside_mean_abs_change": _masked_mean(diff, inside),
        "outside_mean_abs_change": _masked_mean(diff, np.maximum(union_a, union_b) < 0.05),
        "inside_fraction": float(inside.mean()),
        "threshold": threshold,
        "profile": [{"threshold": float(t), "inside_mean_abs_change": _masked_mean(diff, both > t),
                     "inside_fraction": float((both > t).mean())} for t in profile],
    }
