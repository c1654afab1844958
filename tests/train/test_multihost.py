"""Two local processes (one CPU device each) train NeRF data-parallel through
`jax.distributed`, and agree with each other and with one process holding two devices."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE = "tests.train._multihost_script"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _result(stdout: str) -> dict:
    return json.loads([ln for ln in stdout.splitlines() if ln.startswith("RESULT ")][-1][7:])


@pytest.mark.slow  # two JAX processes plus a reference (~1-2 min on 2 cores)
def test_two_processes_train_nerf_and_agree(tmp_path):
    base = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    base.pop("XLA_FLAGS", None)
    port = _free_port()
    procs = []
    for pid in range(2):
        env = {**base, "JAX3D_COORDINATOR": f"127.0.0.1:{port}", "JAX3D_NUM_PROCESSES": "2",
               "JAX3D_PROCESS_ID": str(pid)}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", MODULE, str(tmp_path / "run")], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))  # fmt: skip
    outs = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=600)
        assert p.returncode == 0, stderr[-3000:]
        outs.append(_result(stdout))
    ref = subprocess.run([sys.executable, "-m", MODULE], cwd=ROOT, capture_output=True,
                         text=True, timeout=600, check=True,
                         env={**base, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    single = _result(ref.stdout)
    assert [o["process"] for o in outs] == [0, 1]
    assert all(o["processes"] == 2 and o["devices"] == 2 and o["mesh_devices"] == 2
               for o in outs)  # fmt: skip
    assert outs[0]["digest"] == outs[1]["digest"]  # the replicas agree exactly
    np.testing.assert_allclose(outs[0]["losses"], single["losses"], rtol=1e-5)
    for a, b in zip(outs[0]["params"], single["params"]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert (tmp_path / "run" / "checkpoints").is_dir()  # both processes took part
