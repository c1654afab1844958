"""jax3d.train: the one training toolkit every model of jax3d uses.

- `TrainState` (params, optax state, step, PRNG key, optional EMA and mutable collections) and
  `GANState` (a generator and a discriminator);
- `make_train_step` / `make_gan_step`: one jitted update from a loss function
  `loss_fn(params, batch, key) -> (loss, aux)`, with gradient accumulation and data
  parallelism over a device mesh;
- `CheckpointManager` (orbax: the last N and the best by a metric, atomic) and `fit`, the loop
  with exact resume, JSONL + TensorBoard logs, image summaries and a tqdm bar;
- `levenberg_marquardt` (and its `_init` / `_step`): damped Gauss-Newton with forward-mode
  Jacobians for small least-squares problems (a camera pose fitted to an image);
- scale-out helpers: `make_data_mesh`, `shard_batch`, `replicate`, `sharded_map`,
  `host_local_to_global`, `initialize_distributed`.

See docs/training.md.
"""

from jax3d.train.checkpoint import CheckpointManager
from jax3d.train.least_squares import (
    LevenbergMarquardtState,
    levenberg_marquardt,
    levenberg_marquardt_init,
    levenberg_marquardt_step,
)
from jax3d.train.logger import MetricLogger, ProgressBar, image_grid, read_jsonl
from jax3d.train.loop import FitConfig, fit
from jax3d.train.parallel import (
    DATA_AXIS,
    data_sharding,
    host_local_to_global,
    initialize_distributed,
    make_data_mesh,
    replicate,
    replicated_sharding,
    shard_batch,
    sharded_map,
)
from jax3d.train.state import TrainState, ema_update, key_for_step
from jax3d.train.step import GANState, accumulate_gradients, make_gan_step, make_train_step

__all__ = [
    "DATA_AXIS",
    "CheckpointManager",
    "FitConfig",
    "GANState",
    "LevenbergMarquardtState",
    "MetricLogger",
    "ProgressBar",
    "TrainState",
    "accumulate_gradients",
    "data_sharding",
    "ema_update",
    "fit",
    "host_local_to_global",
    "image_grid",
    "initialize_distributed",
    "key_for_step",
    "levenberg_marquardt",
    "levenberg_marquardt_init",
    "levenberg_marquardt_step",
    "make_data_mesh",
    "make_gan_step",
    "make_train_step",
    "read_jsonl",
    "replicate",
    "replicated_sharding",
    "shard_batch",
    "sharded_map",
]
