"""Checkpoints (last N + best, exact restore), the `fit` loop, bit-exact resume, logs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import chex
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.train import CheckpointManager, FitConfig, MetricLogger, fit, read_jsonl
from tests.train._resume_script import flat_bytes, run
from tests.train._toy import make_state

ROOT = Path(__file__).resolve().parents[2]


def test_manager_keeps_the_latest_and_the_best(tmp_path):
    state = make_state(ema_decay=0.5)
    with CheckpointManager(tmp_path, max_to_keep=2, best_metric="err") as mgr:
        for step, err in zip(range(1, 6), [5.0, 1.0, 4.0, 3.0, 2.0]):
            assert mgr.save(step, state.replace(step=jnp.int32(step)), metrics={"err": err})
        assert not mgr.save(5, state)  # already there
        assert mgr.all_steps() == [2, 4, 5]  # latest two + the best (err 1.0)
        assert mgr.best_step() == 2 and mgr.metrics(4) == {"err": 3.0}
        with pytest.raises(ValueError, match="finite 'err'"):
            mgr.save(6, state, metrics={"loss": 1.0})
    with CheckpointManager(tmp_path, max_to_keep=1) as mgr:  # reopened: lists what is on disk
        restored = mgr.restore(make_state(seed=7, ema_decay=0.5), step=2)
        assert int(restored.step) == 2 and restored.tx is not None
        chex.assert_trees_all_equal(restored.params, state.params)
        chex.assert_trees_all_equal(restored.opt_state, state.opt_state)
        chex.assert_trees_all_equal(restored.ema_params, state.ema_params)
        with pytest.raises(FileNotFoundError):
            mgr.restore(state, step=3)
    with pytest.raises(ValueError, match="best_mode"):
        CheckpointManager(tmp_path / "x", best_mode="lowest")


def test_resume_in_a_fresh_process_is_bit_exact(tmp_path):
    """N steps straight == k steps, a checkpoint, a restore in a new process, N - k steps."""
    straight, rows = run(tmp_path / "straight", 10)
    assert [r["step"] for r in rows] == list(range(1, 11))
    run(tmp_path / "resumed", 4)  # stops at k = 4, checkpoint written at 4
    out = tmp_path / "resumed.npz"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    subprocess.run([sys.executable, "-m", "tests.train._resume_script",
                    str(tmp_path / "resumed"), "10", str(out)],
                   check=True, cwd=ROOT, env=env, capture_output=True, timeout=300)
    want = flat_bytes(straight)
    with np.load(out) as got:
        assert sorted(got.files) == sorted(want)
        for name, value in want.items():
            assert got[name].tobytes() == value.tobytes(), name
    # the resumed run's log continues the first one: steps 1..10 once each
    log = read_jsonl(tmp_path / "resumed" / "metrics.jsonl")
    assert [r["step"] for r in log] == list(range(1, 11))
    assert all(np.isfinite(r["loss"]) for r in log)


def test_fit_evaluates_logs_images_and_stops(tmp_path):
    calls = []

    def step_fn(state, batch):
        return state.replace(step=state.step + 1), {"loss": jnp.float32(batch)}

    def eval_fn(state, step):
        calls.append(step)
        return {"score": 10.0 - step}

    def images_fn(state, step):
        return {"grid": np.zeros((2, 4, 4, 3), np.float32)}

    config = FitConfig(num_steps=9, log_every=2, checkpoint_every=3, eval_every=4,
                       images_every=5, best_metric="eval/score", best_mode="max",
                       max_to_keep=1, progress=False)  # fmt: skip
    state = make_state()
    out, rows = fit(step_fn, state, lambda s: float(s), config, tmp_path, eval_fn=eval_fn,
                    images_fn=images_fn, callback=lambda step, st, m: step == 8)
    assert int(out.step) == 8 and calls == [4, 8]  # stopped by the callback at 8
    logged = [(r["step"], "loss" in r) for r in rows]
    assert logged == [(2, True), (4, True), (4, False), (6, True), (8, True), (8, False)]
    assert rows[0]["loss"] == 1.0  # the batch of step index 1
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == [
        "grid_0000005.png", "grid_0000008.png"]
    assert list((tmp_path / "tensorboard").iterdir())  # event files
    # saved at 3, 6, every evaluation (4, 8) and the end; kept: the latest and the best
    mgr = CheckpointManager(tmp_path / "checkpoints", best_metric="eval/score", best_mode="max")
    assert mgr.all_steps() == [4, 8] and mgr.best_step() == 4
    with pytest.raises(FloatingPointError, match="non-finite"):
        fit(lambda s, b: (s.replace(step=s.step + 1), {"loss": jnp.nan}), make_state(),
            lambda s: 0, FitConfig(num_steps=2, log_every=1, progress=False,
                                   tensorboard=False), tmp_path / "nan")  # fmt: skip
    with pytest.raises(ValueError, match="log_every"):
        FitConfig(num_steps=3, log_every=0)


def test_logger_rows_and_resume_truncation(tmp_path):
    with MetricLogger(tmp_path, tensorboard=False) as log:
        for step in range(1, 6):
            log.log(step, {"loss": 1.0 / step, "lr": jnp.float32(0.1)})
        log.log_images(5, "samples", np.ones((3, 8, 8, 3)))
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5] and rows[1]["loss"] == 0.5
    assert (tmp_path / "images" / "samples_0000005.png").exists()
    with MetricLogger(tmp_path, tensorboard=False, resume_step=3) as log:
        log.log(4, {"loss": 9.0})
    assert [r["step"] for r in read_jsonl(tmp_path / "metrics.jsonl")] == [1, 2, 3, 4]
