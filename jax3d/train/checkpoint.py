"""Checkpoints with orbax-checkpoint: keep the last N and the best by a metric, atomically."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as cm

__all__ = ["CheckpointManager"]


class CheckpointManager:
    """Saves and restores training states (any pytree, e.g. `TrainState` or `GANState`).

    A thin layer over `orbax.checkpoint.CheckpointManager`: every step is written to a
    temporary folder and renamed when complete (a crash never leaves a half checkpoint that
    `latest_step` would pick), the last `max_to_keep` steps are kept, plus the `keep_best` best
    by `best_metric` when one is given. Saving is synchronous by default, so the files exist
    when `save` returns. On several hosts every process calls `save`/`restore` (orbax
    coordinates them); `directory` must be shared.

    Args:
        directory: the run's checkpoint folder (created).
        max_to_keep: how many of the latest checkpoints to keep (None: all).
        best_metric: name of a metric passed to `save(..., metrics=)` to keep the best by.
        best_mode: "min" or "max" for `best_metric`.
        keep_best: how many best checkpoints to keep besides the latest ones.
        async_save: let orbax write in the background (call `wait()` or `close()` before
            relying on the files).
    """

    def __init__(
        self,
        directory,
        *,
        max_to_keep: int | None = 3,
        best_metric: str | None = None,
        best_mode: str = "min",
        keep_best: int = 1,
        async_save: bool = False,
    ):
        if best_mode not in ("min", "max"):
            raise ValueError(f"best_mode must be 'min' or 'max', got {best_mode!r}")
        if max_to_keep is not None and max_to_keep < 1:
            raise ValueError(f"max_to_keep must be >= 1 or None, got {max_to_keep!r}")
        self.directory = Path(directory).absolute()
        self.best_metric = best_metric
        self.best_mode = best_mode
        policies = [cm.LatestN(max_to_keep)]
        if best_metric is not None:
            sign = 1.0 if best_mode == "min" else -1.0
            policies.append(cm.BestN(
                get_metric_fn=lambda m: -sign * float(m[best_metric]),
                n=keep_best, keep_checkpoints_without_metrics=False,
            ))  # fmt: skip
        # best_fn makes orbax persist each step's metrics (a constant when no best is kept)
        options = ocp.CheckpointManagerOptions(
            best_fn=(lambda m: float(m[best_metric])) if best_metric else (lambda m: 0.0),
            best_mode=best_mode,
            preservation_policy=cm.AnyPreservationPolicy(policies),
            enable_async_checkpointing=async_save,
            create=True,
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def save(self, step: int, state: Any, *, metrics: dict | None = None,
             force: bool = False) -> bool:  # fmt: skip
        """Write `state` as checkpoint `step` (with `metrics`, used for the best one).

        Returns whether a checkpoint was written (False if `step` exists already).
        """
        if int(step) in self._manager.all_steps():
            return False
        metrics = None if metrics is None else {k: float(v) for k, v in metrics.items()}
        if metrics is not None and self.best_metric is not None:
            if not math.isfinite(metrics.get(self.best_metric, float("nan"))):
                raise ValueError(f"metrics must hold a finite {self.best_metric!r}: {metrics}")
        return self._manager.save(
            int(step), args=ocp.args.StandardSave(state), metrics=metrics, force=force
        )

    def restore(self, template: Any, step: int | None = None) -> Any:
        """The state saved at `step` (the latest if None), with `template`'s structure, dtypes
        and shardings (e.g. a freshly created state; static fields such as the optimizer come
        from it).

        Raises:
            FileNotFoundError: there is no checkpoint (at that step).
        """
        step = self.latest_step() if step is None else int(step)
        if step is None or step not in self._manager.all_steps():
            raise FileNotFoundError(f"no checkpoint at step {step} in {self.directory}")
        abstract = jax.tree.map(_abstract, template)
        return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))

    def latest_step(self) -> int | None:
        """The newest step on disk, or None."""
        return self._manager.latest_step()

    def best_step(self) -> int | None:
        """The best step by `best_metric` among the kept ones, or None."""
        if self.best_metric is None:
            return None
        return self._manager.best_step()

    def all_steps(self) -> list[int]:
        """Steps on disk, ascending."""
        return sorted(self._manager.all_steps())

    def metrics(self, step: int) -> dict | None:
        """The metrics saved with `step`, or None."""
        try:
            m = self._manager.metrics(int(step))
        except (FileNotFoundError, ValueError):
            return None
        return None if m is None else dict(m)

    def wait(self):
        """Block until background saves are done."""
        self._manager.wait_until_finished()

    def close(self):
        self._manager.wait_until_finished()
        self._manager.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _abstract(x):
    if isinstance(x, jax.Array):
        return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)
    if isinstance(x, np.ndarray | np.generic):
        return jax.ShapeDtypeStruct(np.shape(x), x.dtype)
    return x
