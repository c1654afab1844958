"""`fit`: the one training loop (resume, checkpoints, logs, images, evaluation, time limit)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jax3d.train.checkpoint import CheckpointManager
from jax3d.train.logger import MetricLogger, ProgressBar

__all__ = ["FitConfig", "fit"]


@dataclasses.dataclass(frozen=True)
class FitConfig:
    """How `fit` runs a training: lengths, intervals, files.

    Attributes:
        num_steps: train until the state's step counter reaches this.
        log_every: log the step's metrics every this many steps (a host sync).
        checkpoint_every: save a checkpoint every this many steps and at the end (0: only at
            the end); with `best_metric`, also at every evaluation.
        eval_every: call `eval_fn` every this many steps (and at the end); 0: never.
        images_every: call `images_fn` every this many steps (and at the end); 0: never.
        max_to_keep: latest checkpoints kept.
        best_metric: an `eval_fn` metric (with its `eval/` prefix, e.g. "eval/psnr") to keep
            the best checkpoint by.
        best_mode: "min" or "max".
        resume: continue from the newest checkpoint in `directory/checkpoints` if any.
        max_seconds: stop (with a checkpoint) after this much wall time in this call.
        tensorboard: also write TensorBoard event files.
        progress: show a tqdm bar.
        items_per_step: items (images, rays, ...) per step, for the throughput shown/logged.
        item_name: what an item is called in the bar ("img", "ray", ...).
        desc: the bar's label.
    """

    num_steps: int
    log_every: int = 10
    checkpoint_every: int = 1000
    eval_every: int = 0
    images_every: int = 0
    max_to_keep: int = 3
    best_metric: str | None = None
    best_mode: str = "min"
    resume: bool = True
    max_seconds: float | None = None
    tensorboard: bool = True
    progress: bool = True
    items_per_step: int | None = None
    item_name: str = "it"
    desc: str = "train"

    def __post_init__(self):
        if not isinstance(self.num_steps, int) or self.num_steps < 0:
            raise ValueError(f"num_steps must be an int >= 0, got {self.num_steps!r}")
        for name in ("log_every", "checkpoint_every", "eval_every", "images_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        if self.log_every == 0:
            raise ValueError("log_every must be >= 1")


def _due(step: int, every: int, last: bool) -> bool:
    return every > 0 and (step % every == 0 or last)


def fit(
    step_fn: Callable[[Any, Any], tuple[Any, dict]],
    state: Any,
    batch_fn: Callable[[int], Any],
    config: FitConfig,
    directory=None,
    *,
    eval_fn: Callable[[Any, int], dict] | None = None,
    images_fn: Callable[[Any, int], dict] | None = None,
    callback: Callable[[int, Any, dict], bool | None] | None = None,
) -> tuple[Any, list[dict]]:
    """Run `state, metrics = step_fn(state, batch_fn(step))` until `config.num_steps`.

    Resuming is exact: `batch_fn(step)` must depend only on `step` (e.g. a dataset indexed by
    the step, or batches drawn from `fold_in(key, step)`), and the step's randomness comes from
    the state's own key (see `TrainState.step_key`), so a run stopped at step k and resumed
    gives the same parameters, bit for bit, as one that never stopped.

    Files under `directory`: `checkpoints/<step>/` (orbax), `metrics.jsonl`,
    `tensorboard/`, `images/<name>_<step>.png`. On several hosts only process 0 writes logs
    and images; every process takes part in checkpoints. With `directory=None` nothing is
    written (no checkpoints, no images): the loop, the bar and the returned rows only.

    Args:
        step_fn: a jitted step (`make_train_step`, `make_gan_step`, or your own).
        state: the initial state (also the template a checkpoint is restored into); a pytree
            with an integer `step` field.
        batch_fn: `step -> batch`.
        config: `FitConfig`.
        directory: the run folder, or None.
        eval_fn: `(state, step) -> {name: scalar}`, logged with an `eval/` prefix.
        images_fn: `(state, step) -> {name: (N, H, W, 3) images in [0, 1]}`.
        callback: `(step, state, metrics)` after every step; returning True stops the run.

    Returns:
        The final state and the logged rows (dicts with `step`, `time` and the metrics) of
        this call.
    """
    run = _Run(config, directory)
    try:
        state = run.restore(state)
        step = int(state.step)
        run.open(step)
        t0 = time.perf_counter()
        while step < config.num_steps:
            state, metrics = step_fn(state, batch_fn(step))
            step += 1
            out_of_time = config.max_seconds is not None and (
                time.perf_counter() - t0 > config.max_seconds
            )
            log_now = _due(step, config.log_every, step == config.num_steps or out_of_time)
            if log_now or callback is not None:
                metrics = run.record(step, metrics, log_now)
            stop = out_of_time or bool(callback is not None and callback(step, state, metrics))
            run.after_step(step, state, stop or step == config.num_steps, eval_fn, images_fn)
            if stop:
                break
    finally:
        run.close()
    return state, run.rows


class _Run:
    """The files and bar of one `fit` call (only process 0 logs; all processes checkpoint)."""

    def __init__(self, config: FitConfig, directory):
        self.config = config
        self.directory = None if directory is None else Path(directory)
        self.main = jax.process_index() == 0
        self.rows: list[dict] = []
        self.ckpt = None
        if self.directory is not None:
            self.ckpt = CheckpointManager(
                self.directory / "checkpoints", max_to_keep=config.max_to_keep,
                best_metric=config.best_metric, best_mode=config.best_mode,
            )  # fmt: skip
        self.logger = self.bar = None
        self._t0 = time.perf_counter()

    def restore(self, state):
        if self.ckpt is not None and self.config.resume and self.ckpt.latest_step() is not None:
            return self.ckpt.restore(state)
        return state

    def open(self, start: int):
        cfg = self.config
        if self.directory is not None and self.main:
            self.logger = MetricLogger(self.directory, tensorboard=cfg.tensorboard,
                                       resume_step=start if cfg.resume else None)  # fmt: skip
        self.bar = ProgressBar(cfg.num_steps, initial=start, desc=cfg.desc,
                               items_per_step=cfg.items_per_step, item_name=cfg.item_name,
                               disable=not (cfg.progress and self.main))  # fmt: skip

    def _log(self, step: int, values: dict):
        if self.logger is not None:
            self.rows.append(self.logger.log(step, values))
        elif self.main:
            elapsed = round(time.perf_counter() - self._t0, 3)
            self.rows.append({"step": step, "time": elapsed, **values})

    def record(self, step: int, metrics: dict, log_now: bool) -> dict:
        """Metrics as floats (a host sync), checked finite, shown, and logged if due."""
        metrics = {k: float(np.asarray(v)) for k, v in metrics.items()}
        if not all(np.isfinite(list(metrics.values()))):
            raise FloatingPointError(f"non-finite metrics at step {step}: {metrics}")
        self.bar.update(step, metrics)
        if log_now:
            tput = self.bar.throughput()
            extra = {} if tput is None else {f"{self.config.item_name}_per_second": tput}
            self._log(step, {**metrics, **extra})
        return metrics

    def after_step(self, step: int, state, end: bool, eval_fn, images_fn):
        cfg = self.config
        evals = None
        if eval_fn is not None and _due(step, cfg.eval_every, end):
            evals = {f"eval/{k}": float(v) for k, v in eval_fn(state, step).items()}
            self._log(step, evals)
        if images_fn is not None and _due(step, cfg.images_every, end) and self.logger:
            for name, images in images_fn(state, step).items():
                self.logger.log_images(step, name, images)
        keep_score = cfg.best_metric is not None and evals is not None
        if self.ckpt is not None and (end or _due(step, cfg.checkpoint_every, False)
                                      or keep_score):  # fmt: skip
            self.ckpt.save(step, state, metrics=evals)

    def close(self):
        if self.bar is not None:
            self.bar.close()
        if self.ckpt is not None:
            self.ckpt.close()
        if self.logger is not None:
            self.logger.close()
