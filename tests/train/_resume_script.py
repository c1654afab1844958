"""Run the toy training with `fit` to a number of steps; used by test_checkpoint_fit in a fresh
process: `python -m tests.train._resume_script DIR STEPS OUT.npz`."""

from __future__ import annotations

import sys

import jax
import numpy as np

from jax3d.train import FitConfig, fit, make_train_step
from tests.train._toy import MLP, batch_for_step, loss_fn_for, make_state


def run(directory, steps: int, checkpoint_every: int = 4):
    model = MLP(dropout=0.3, batch_norm=True)
    state = make_state(model, ema_decay=0.9)
    step = make_train_step(loss_fn_for(model), accum_steps=2)
    config = FitConfig(num_steps=steps, log_every=1, checkpoint_every=checkpoint_every,
                       progress=False, tensorboard=False)
    return fit(step, state, batch_for_step, config, directory)


def flat_bytes(state) -> dict[str, np.ndarray]:
    leaves = jax.tree_util.tree_leaves_with_path(state)
    return {jax.tree_util.keystr(p): np.asarray(x) for p, x in leaves}


if __name__ == "__main__":
    directory, steps, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    state, _ = run(directory, steps)
    np.savez(out, **flat_bytes(state))
