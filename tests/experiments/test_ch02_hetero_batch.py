"""Smoke test of experiments/ch02_hetero_batch.py (--quick), without and with JAX3D_DATA."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ch02():
    path = ROOT / "experiments" / "ch02_hetero_batch.py"
    spec = importlib.util.spec_from_file_location("ch02_hetero_batch", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["ch02_hetero_batch"] = module
    spec.loader.exec_module(module)
    return module


def _check(metrics, out: Path):
    assert metrics["max_abs_error"] < 0.1, metrics["motion_estimate"]
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert (out / "hetero_batch.png").stat().st_size > 10_000
    assert (out / "trajectory.png").stat().st_size > 10_000
    for name in ("cube", "diamond", "dodecahedron"):
        assert (out / f"{name}_fitted.ply").exists()
    assert metrics["num_verts_per_mesh"] == [8, 6, 20]
    assert metrics["verts_padded_shape"] == [3, 20, 3]
    assert metrics["verts_packed_shape"] == [34, 3]
    losses = np.asarray(metrics["loss_trajectory"])
    assert losses[-10:].mean() < 0.2 * losses[:3].mean()  # the loss went down


def test_quick_procedural(ch02, tmp_path, monkeypatch):
    monkeypatch.delenv("JAX3D_DATA", raising=False)
    metrics = ch02.main(["--quick", "--out", str(tmp_path)])
    assert metrics["data"] == "procedural"
    _check(metrics, tmp_path)


@pytest.mark.slow
def test_quick_with_data(ch02, data, tmp_path):
    data("meshes/diamond.obj")
    metrics = ch02.main(["--quick", "--out", str(tmp_path)])
    assert metrics["data"] == "JAX3D_DATA" and metrics["num_faces_per_mesh"] == [12, 9, 36]
    _check(metrics, tmp_path)
