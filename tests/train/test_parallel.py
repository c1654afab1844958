"""Data parallelism: 4 forced CPU devices against 1 (in a subprocess), and the mesh helpers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from jax3d.train import make_data_mesh, replicate, shard_batch

ROOT = Path(__file__).resolve().parents[2]


def run_with_devices(module: str, n: int = 4, timeout: int = 600) -> dict:
    """Run `python -m module` with `n` forced CPU devices; the dict it prints after RESULT."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": f"--xla_force_host_platform_device_count={n}"}
    proc = subprocess.run([sys.executable, "-m", module], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_four_devices_equal_one_device():
    r = run_with_devices("tests.train._multidevice_script")
    # the step: params and batch really are spread, and the results agree
    assert r["params_devices_1"] == 1 and r["params_devices_4"] == 4
    assert r["batch_sharded_over"] == 4
    assert r["train_params"] < 1e-5 and r["train_mutable"] < 1e-5 and r["train_metrics"] < 1e-5
    # batch renders of 8 cameras: mesh (soft silhouette), points (alpha), implicit (EA)
    for name in ("mesh", "points", "implicit"):
        assert r[f"render_{name}"] < 1e-5, name
        assert r[f"render_{name}_mean"] > 0.05, name  # something was drawn
    assert "multiple of the 4 devices" in r["indivisible"]
    assert "num_devices must be in [1, 4]" in r["too_many"]


def test_single_device_helpers():
    mesh = make_data_mesh()
    assert mesh.axis_names == ("data",) and mesh.devices.size == jax.device_count()
    batch = shard_batch({"x": np.arange(6.0).reshape(3, 2)}, mesh)
    np.testing.assert_array_equal(batch["x"], np.arange(6.0).reshape(3, 2))
    assert replicate({"w": np.ones(3)}, mesh)["w"].sharding.is_fully_replicated
    n = jax.device_count() + 1  # too many: the message says how to get more host devices
    with pytest.raises(ValueError, match=f"xla_force_host_platform_device_count={n}"):
        make_data_mesh(n)
    with pytest.raises(ValueError, match="leading axis"):
        shard_batch({"x": np.float32(1.0)}, mesh)
    with pytest.raises(ValueError, match="num_devices"):
        make_data_mesh(0)
