"""The book's NeRF training recipe on `jax3d.train`: Monte Carlo rays, one jitted optax step."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path

import flax.serialization
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from jax3d.models.nerf.render import _renders_itself
from jax3d.renderer.implicit.raymarching import EmissionAbsorptionRaymarcher
from jax3d.renderer.implicit.raysampling import MonteCarloRaysampler
from jax3d.train import (
    CheckpointManager,
    FitConfig,
    TrainState,
    fit,
    replicate,
    shard_batch,
)
from jax3d.train import make_train_step as make_toolkit_step

__all__ = [
    "NeRFTrainConfig",
    "NeRFTrainState",
    "huber",
    "init_train_state",
    "load_checkpoint",
    "make_train_step",
    "nerf_loss_fn",
    "sample_images_at_xys",
    "train",
    "view_batches",
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


NeRFTrainState = TrainState  # the toolkit's state (kept as a name for older code)


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


def nerf_loss_fn(apply_fn, config: NeRFTrainConfig) -> Callable:
    """The book's loss in the toolkit's convention, `loss_fn(params, batch, key)`.

    `batch = {"cameras": B cameras, "images": (B, H, W, 3), "silhouettes": (B, H, W)}`;
    `n_rays_per_image` Monte Carlo rays per view are cast with `key` and rendered with the
    emission-absorption raymarcher; the loss is the pseudo-Huber colour error plus silhouette
    error (for a `PaperNeRF`, summed over its coarse and fine renders, the fine samples drawn
    at random). Returns `(loss, {"color", "silhouette"})`.
    """

    def loss_fn(params, batch, key):
        loss, (color_err, sil_err) = _loss(params, apply_fn, config, key, batch["cameras"],
                                           batch["images"], batch["silhouettes"])  # fmt: skip
        return loss, {"color": color_err, "silhouette": sil_err}

    return loss_fn


@functools.lru_cache(maxsize=16)
def make_train_step(apply_fn, config: NeRFTrainConfig, mesh: Mesh | None = None,
                    accum_steps: int = 1) -> Callable:  # fmt: skip
    """One jitted Adam step `step(state, batch) -> (state, losses)` (`jax3d.train`).

    `batch` is what :func:`view_batches` returns for a step (B = `config.batch_size` views);
    `losses = {"loss", "color", "silhouette"}` (() float32 each). The step's rays come from
    the state's key and step number. With `mesh`, the views are split over its `data` axis
    (B must be a multiple of the device count) and the state is replicated. Cached per
    (apply_fn, config, mesh, accum_steps), so repeated `train` calls reuse the compiled step.
    """
    return make_toolkit_step(nerf_loss_fn(apply_fn, config), mesh=mesh, accum_steps=accum_steps)


def view_batches(cameras, images, silhouettes, config: NeRFTrainConfig, key) -> Callable:
    """`batch_fn(step)`: `config.batch_size` of the N views, drawn without replacement.

    The views of step `i` are the first B of `permutation(fold_in(key, i), N)`: a pure
    function of the step, so a resumed run sees the same views as an uninterrupted one.
    """
    n = len(cameras)
    images = jnp.asarray(images, jnp.float32)
    silhouettes = jnp.asarray(silhouettes, jnp.float32)
    pick = jax.jit(lambda k: jax.random.permutation(k, n)[: config.batch_size])

    def batch_fn(step: int) -> dict:
        idx = pick(jax.random.fold_in(key, step))
        cams = jax.tree.map(lambda x: x[idx] if x.shape[:1] == (n,) else x, cameras)
        return {"cameras": cams, "images": images[idx], "silhouettes": silhouettes[idx]}

    return batch_fn


def init_train_state(model, config: NeRFTrainConfig, key, cameras, *,
                     run_key=None) -> TrainState:  # fmt: skip
    """Fresh parameters of `model` (a Flax module taking a RayBundle) and Adam state.

    `key` initialises the parameters; `run_key` (default `fold_in(key, 1)`) is the state's
    key, from which every step draws its rays.
    """
    params = _init_fn(model, config, len(cameras))(key, cameras)
    run_key = jax.random.fold_in(key, 1) if run_key is None else run_key
    return TrainState.create(params=params, tx=config.optimizer(), key=run_key)


@functools.lru_cache(maxsize=16)
def _init_fn(model, config: NeRFTrainConfig, n: int):
    @jax.jit
    def init(key, cameras):
        first = jax.tree.map(lambda x: x[:1] if x.shape[:1] == (n,) else x, cameras)
        return model.init(key, config.raysampler()(first, key))

    return init


def load_checkpoint(path, template: TrainState) -> TrainState:
    """A NeRF state from a checkpoint into the structure of `template`.

    `path` is a `jax3d.train` checkpoint folder (a run's `checkpoints/` folder: the latest
    step; or one step's folder), or a `.msgpack` file written by jax3d <= 0.1's
    `save_checkpoint` (fields `step`, `params`, `opt_state`; the run key comes from
    `template`, since those files did not hold one).
    """
    path = Path(path)
    if path.is_file() and path.suffix == ".msgpack":
        raw = flax.serialization.msgpack_restore(path.read_bytes())
        missing = {"step", "params", "opt_state"} - set(raw)
        if missing:
            raise ValueError(f"{path}: not a NeRF msgpack checkpoint (missing {sorted(missing)})")
        return template.replace(
            step=jnp.asarray(raw["step"], jnp.int32),
            params=jax.tree.map(jnp.asarray, flax.serialization.from_state_dict(
                template.params, raw["params"])),
            opt_state=jax.tree.map(jnp.asarray, flax.serialization.from_state_dict(
                template.opt_state, raw["opt_state"])),
        )  # fmt: skip
    if path.is_dir():
        if (path / "_CHECKPOINT_METADATA").exists():
            with CheckpointManager(path.parent) as mgr:
                return mgr.restore(template, step=int(path.name))
        with CheckpointManager(path) as mgr:
            if mgr.latest_step() is not None:
                return mgr.restore(template)
    raise FileNotFoundError(f"no NeRF checkpoint at {path}")


def train(
    model,
    cameras,
    images,
    silhouettes,
    *,
    key,
    config: NeRFTrainConfig = NeRFTrainConfig(),
    state: TrainState | None = None,
    callback: Callable | None = None,
    progress: bool = True,
    directory=None,
    mesh: Mesh | None = None,
    fit_config: FitConfig | None = None,
    eval_fn: Callable | None = None,
    images_fn: Callable | None = None,
) -> tuple[TrainState, dict[str, list[float]]]:
    """Fit `model` to N posed views with the book's recipe, on the `jax3d.train` loop.

    With `key`, split into (init, run, views): the parameters come from the first, each
    step's rays from the state's key (`fold_in(run, step)`), its views from
    `fold_in(views, step)`, so a run resumed at step `i` continues exactly as the
    uninterrupted one.

    Args:
        model: a Flax module mapping a RayBundle to (opacities, colours), e.g.
            `NeuralRadianceField()`, or a `PaperNeRF` (with `stratified_sampling=True` and
            `n_pts_per_ray=64` in `config` for the paper's coarse samples).
        cameras: N cameras of the views.
        images: (N, H, W, 3) float32 colours in [0, 1].
        silhouettes: (N, H, W) float32 in [0, 1].
        key: PRNG key.
        config: the recipe (`NeRFTrainConfig`).
        state: resume from this state (e.g. `load_checkpoint`) instead of initialising.
        callback: called as `callback(step, state, losses)` after every step (`step` counts
            completed steps). Returning True stops early.
        progress: show a tqdm bar with the losses and the ray-point throughput.
        directory: a run folder for checkpoints (resumed from automatically), metrics.jsonl,
            TensorBoard files and images (see `jax3d.train.fit`); None writes nothing.
        mesh: train data-parallel on this device mesh (`jax3d.train.make_data_mesh`).
        fit_config: loop settings (intervals, time limit, ...); `num_steps` is always
            `config.n_iter` and `log_every` 1.
        eval_fn, images_fn: passed to `jax3d.train.fit`.

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
    if mesh is not None and config.batch_size % mesh.devices.size:
        raise ValueError(f"batch_size {config.batch_size} must be a multiple of the "
                         f"{mesh.devices.size} devices of the mesh")  # fmt: skip
    key_init, key_run, key_views = jax.random.split(key, 3)
    if state is None:
        state = init_train_state(model, config, key_init, cameras, run_key=key_run)
    step_fn = make_train_step(model.apply, config, mesh)
    batch_fn = view_batches(cameras, images, silhouettes, config, key_views)
    if mesh is not None:
        state = replicate(state, mesh)
        batch_fn = _sharded(batch_fn, mesh)
    settings = fit_config or FitConfig(num_steps=config.n_iter, checkpoint_every=0)
    settings = dataclasses.replace(
        settings, num_steps=config.n_iter, log_every=1, progress=progress, desc="nerf",
        items_per_step=config.batch_size * config.n_rays_per_image * config.n_pts_per_ray,
        item_name="ray_pt",
    )  # fmt: skip
    state, rows = fit(step_fn, state, batch_fn, settings, directory, eval_fn=eval_fn,
                      images_fn=images_fn, callback=callback)  # fmt: skip
    history = {k: [r[k] for r in rows if "loss" in r] for k in ("loss", "color", "silhouette")}
    return state, history


def _sharded(batch_fn, mesh):
    return lambda step: shard_batch(batch_fn(step), mesh)
