"""The book's NeRF training recipe: Monte Carlo rays, one jitted optax step, checkpoints."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from tqdm import tqdm

from jax3d.models.nerf.render import _renders_itself
from jax3d.renderer.implicit.raymarching import EmissionAbsorptionRaymarcher
from jax3d.renderer.implicit.raysampling import MonteCarloRaysampler

__all__ = [
    "NeRFTrainConfig",
    "NeRFTrainState",
    "huber",
    "init_train_state",
    "load_checkpoint",
    "make_train_step",
    "sample_images_at_xys",
    "save_checkpoint",
    "train",
]


@dataclasses.dataclass(frozen=True)
class NeRFTrainConfig:
    """The book's recipe (PyTorch3D's NeRF tutorial); every field fixes a shape or a schedule."""

    n_iter: int = 3000
    batch_size: int = 6  # cameras per step
    n_rays_per_image: int = 750
    n_pts_per_ray: int = 128
    min_depth: float = 0.1
    max_depth: float = 3.0
    lr: float = 1e-3
    lr_decay_at: float = 0.75  # the learning rate is divided by 10 after this fraction
    huber_scaling: float = 0.1
    stratified_sampling: bool = False
    warmup_steps: int = 0  # linear learning-rate warm-up (not in the book; see docs/nerf.md)

    def __post_init__(self):
        for name in ("n_iter", "batch_size", "n_rays_per_image", "n_pts_per_ray"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be an int >= 1, got {getattr(self, name)!r}")
        warm = self.warmup_steps
        if not isinstance(warm, int) or warm < 0 or (warm and warm >= self._decay_step()):
            raise ValueError(f"warmup_steps must be 0 or an int below the decay step "
                             f"{self._decay_step()}, got {warm!r}")

    def _decay_step(self) -> int:
        return int(round(self.lr_decay_at * self.n_iter))

    def schedule(self) -> optax.Schedule:
        """Learning rate per step: `lr` (after a linear ramp from `lr / warmup_steps` over
        `warmup_steps` steps, if any), divided by 10 from step `lr_decay_at * n_iter` on."""
        boundary, warm = self._decay_step(), self.warmup_steps
        if warm == 0:
            return optax.piecewise_constant_schedule(self.lr, {boundary: 0.1})
        ramp = optax.linear_schedule(self.lr / warm, self.lr, warm)
        rest = optax.piecewise_constant_schedule(self.lr, {boundary - warm: 0.1})
        return optax.join_schedules([ramp, rest], [warm])

    def optimizer(self) -> optax.GradientTransformation:
        """Adam on :meth:`schedule`."""
        return optax.adam(self.schedule())

    def raysampler(self) -> MonteCarloRaysampler:
        """Random rays through the whole NDC square [-1, 1]^2, as in the book."""
        return MonteCarloRaysampler(
            min_x=-1.0, max_x=1.0, min_y=-1.0, max_y=1.0,
            n_rays_per_image=self.n_rays_per_image, n_pts_per_ray=self.n_pts_per_ray,
            min_depth=self.min_depth, max_depth=self.max_depth,
            stratified_sampling=self.stratified_sampling,
        )  # fmt: skip


@struct.dataclass
class NeRFTrainState:
    """`step () int32`, `params` and `opt_state` pytrees: everything a checkpoint holds."""

    step: jax.Array
    params: dict
    opt_state: optax.OptState


def huber(x: jax.Array, y: jax.Array, scaling: float = 0.1) -> jax.Array:
    """Pseudo-Huber error `scaling (sqrt(1 + (x - y)^2 / scaling^2) - 1)`, elementwise, >= 0."""
    return scaling * (jnp.sqrt(jnp.maximum(1.0 + ((x - y) / scaling) ** 2, 1e-4)) - 1.0)


def sample_images_at_xys(images: jax.Array, xys: jax.Array) -> jax.Array:
    """Bilinear samples of `images: (B, H, W, C)` at NDC points `xys: (B, R, 2)` -> (B, R, C).

    NDC follows PyTorch3D (+X left, +Y up, the shorter side spans [-1, 1], pixel centres);
    points outside the image take the nearest border value.
    """
    b, h, w, _ = images.shape
    rx, ry = max(w / h, 1.0), max(h / w, 1.0)
    col = (rx - xys[..., 0]) * (w / (2.0 * rx)) - 0.5
    row = (ry - xys[..., 1]) * (h / (2.0 * ry)) - 0.5
    col = jnp.clip(col, 0.0, w - 1.0)
    row = jnp.clip(row, 0.0, h - 1.0)
    c0 = jnp.clip(jnp.floor(col).astype(jnp.int32), 0, w - 2 if w > 1 else 0)
    r0 = jnp.clip(jnp.floor(row).astype(jnp.int32), 0, h - 2 if h > 1 else 0)
    c1, r1 = jnp.minimum(c0 + 1, w - 1), jnp.minimum(r0 + 1, h - 1)
    fc, fr = (col - c0)[..., None], (row - r0)[..., None]
    bi = jnp.arange(b)[:, None]
    top = images[bi, r0, c0] * (1 - fc) + images[bi, r0, c1] * fc
    bottom = images[bi, r1, c0] * (1 - fc) + images[bi, r1, c1] * fc
    return top * (1 - fr) + bottom * fr


def _rendered(params, apply_fn, bundle, key) -> list[jax.Array]:
    """(..., 4) colour + opacity renders: one for a field, coarse and fine for `PaperNeRF`."""
    if _renders_itself(apply_fn):
        out = apply_fn(params, bundle, key)
        return [jnp.concatenate([out.rgb_coarse, out.opacity_coarse], axis=-1),
                jnp.concatenate([out.rgb_fine, out.opacity_fine], axis=-1)]  # fmt: skip
    densities, colors = apply_fn(params, bundle)
    return [EmissionAbsorptionRaymarcher()(rays_densities=densities, rays_features=colors)]


def _loss(params, apply_fn, config: NeRFTrainConfig, key, cameras, images, silhouettes):
    key_rays, key_fine = jax.random.split(key)
    bundle = config.raysampler()(cameras, key_rays)
    target = sample_images_at_xys(
        jnp.concatenate([images, silhouettes[..., None]], axis=-1), bundle.xys
    )
    color_err = sil_err = 0.0
    for out in _rendered(params, apply_fn, bundle, key_fine):
        color_err += jnp.mean(huber(out[..., :3], target[..., :3], config.huber_scaling))
        sil_err += jnp.mean(huber(out[..., 3], target[..., 3], config.huber_scaling))
    return color_err + sil_err, (color_err, sil_err)


@functools.lru_cache(maxsize=16)
def make_train_step(apply_fn, config: NeRFTrainConfig) -> Callable:
    """One jitted step `step(state, key, cameras, images, silhouettes) -> (state, losses)`.

    Each step draws `config.batch_size` of the N training views at random (without
    replacement), casts `n_rays_per_image` Monte Carlo rays per view, renders them with the
    emission-absorption raymarcher and takes an Adam step on the pseudo-Huber colour error plus
    silhouette error (for a `PaperNeRF`, the sum over its coarse and fine renders, the fine
    samples drawn at random). `losses = {"loss", "color", "silhouette"}` (() float32 each).
    Cached per (apply_fn, config), so repeated `train` calls reuse the compiled step.

    Args of the step: `state: NeRFTrainState`, `key` (PRNG key), `cameras` (N cameras),
    `images: (N, H, W, 3)`, `silhouettes: (N, H, W)` float32.
    """
    optimizer = config.optimizer()

    @jax.jit
    def step(state: NeRFTrainState, key, cameras, images, silhouettes):
        key_views, key_rays = jax.random.split(key)
        n = images.shape[0]
        idx = jax.random.permutation(key_views, n)[: config.batch_size]
        batch_cams = jax.tree.map(lambda x: x[idx] if x.shape[:1] == (n,) else x, cameras)
        grads, (color_err, sil_err) = jax.grad(_loss, has_aux=True)(
            state.params, apply_fn, config, key_rays, batch_cams, images[idx], silhouettes[idx]
        )
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        losses = {"loss": color_err + sil_err, "color": color_err, "silhouette": sil_err}
        return NeRFTrainState(state.step + 1, params, opt_state), losses

    return step


def init_train_state(model, config: NeRFTrainConfig, key, cameras) -> NeRFTrainState:
    """Fresh parameters of `model` (a Flax module taking a RayBundle) and Adam state."""
    return _init_fn(model, config, len(cameras))(key, cameras)


@functools.lru_cache(maxsize=16)
def _init_fn(model, config: NeRFTrainConfig, n: int):
    @jax.jit
    def init(key, cameras):
        first = jax.tree.map(lambda x: x[:1] if x.shape[:1] == (n,) else x, cameras)
        params = model.init(key, config.raysampler()(first, key))
        return NeRFTrainState(jnp.zeros((), jnp.int32), params, config.optimizer().init(params))

    return init


def save_checkpoint(path, state: NeRFTrainState) -> Path:
    """Write `state` with `flax.serialization` (msgpack) to `path`, atomically."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(flax.serialization.to_bytes(jax.device_get(state)))
    tmp.replace(path)
    return path


def load_checkpoint(path, template: NeRFTrainState) -> NeRFTrainState:
    """Read a checkpoint written by `save_checkpoint` into the structure of `template`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no NeRF checkpoint at {path}")
    state = flax.serialization.from_bytes(template, path.read_bytes())
    return jax.tree.map(jnp.asarray, state)


def train(
    model,
    cameras,
    images,
    silhouettes,
    *,
    key,
    config: NeRFTrainConfig = NeRFTrainConfig(),
    state: NeRFTrainState | None = None,
    callback: Callable | None = None,
    progress: bool = True,
) -> tuple[NeRFTrainState, dict[str, list[float]]]:
    """Fit `model` to N posed views with the book's recipe.

    Step `i` uses the key `fold_in(split(key)[1], i)`, so training resumed from a checkpoint at
    step `i` continues exactly as the uninterrupted run would.

    Args:
        model: a Flax module mapping a RayBundle to (opacities, colours), e.g.
            `NeuralRadianceField()`, or a `PaperNeRF` (with `stratified_sampling=True` and
            `n_pts_per_ray=64` in `config` for the paper's coarse samples).
        cameras: N cameras of the views.
        images: (N, H, W, 3) float32 colours in [0, 1].
        silhouettes: (N, H, W) float32 in [0, 1].
        key: PRNG key (initialisation and sampling).
        config: the recipe (`NeRFTrainConfig`).
        state: resume from this state (e.g. `load_checkpoint`) instead of initialising.
        callback: called as `callback(step, state, losses)` after every step (`step` counts
            completed steps); use it for figures and checkpoints. Returning True stops early.
        progress: show a tqdm bar with the losses.

    Returns:
        The final state and the per-step loss history `{"loss", "color", "silhouette"}`
        (of the steps run by this call).
    """
    images = jnp.asarray(images, jnp.float32)
    silhouettes = jnp.asarray(silhouettes, jnp.float32)
    n = len(cameras)
    if images.ndim != 4 or images.shape[0] != n or images.shape[-1] != 3:
        raise ValueError(f"images must be (N={n}, H, W, 3), got {images.shape}")
    if silhouettes.shape != images.shape[:-1]:
        raise ValueError(f"silhouettes must be {images.shape[:-1]}, got {silhouettes.shape}")
    if config.batch_size > n:
        raise ValueError(f"batch_size {config.batch_size} exceeds the {n} training views")
    key_init, key_steps = jax.random.split(key)
    if state is None:
        state = init_train_state(model, config, key_init, cameras)
    step_fn = make_train_step(model.apply, config)
    history: dict[str, list[float]] = {"loss": [], "color": [], "silhouette": []}
    start = int(state.step)
    bar = tqdm(range(start, config.n_iter), disable=not progress, desc="nerf", initial=start,
               total=config.n_iter)  # fmt: skip
    for i in bar:
        state, losses = step_fn(
            state, jax.random.fold_in(key_steps, i), cameras, images, silhouettes
        )
        losses = {k: float(v) for k, v in losses.items()}
        for k, v in losses.items():
            history[k].append(v)
        bar.set_postfix(loss=f"{losses['loss']:.4f}", color=f"{losses['color']:.4f}",
                        sil=f"{losses['silhouette']:.4f}")  # fmt: skip
        if callback is not None and callback(i + 1, state, losses):
            break  # the callback asked to stop early
    if not np.all(np.isfinite(history["loss"])):
        raise FloatingPointError("NeRF training produced a non-finite loss")
    return state, history
