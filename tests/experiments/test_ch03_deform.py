"""Smoke test of experiments/ch03_deform.py (--quick), without and with JAX3D_DATA."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from jax3d.io import load_ply

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ch03():
    spec = importlib.util.spec_from_file_location(
        "ch03_deform", ROOT / "experiments" / "ch03_deform.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["ch03_deform"] = module
    spec.loader.exec_module(module)
    return module


def _check(metrics, out: Path, raw_points: np.ndarray):
    runs = metrics["runs"]
    assert set(runs) == {"deform1", "deform2", "deform3"}
    # The fully regularised fit is smoother than the chamfer-only one.
    assert metrics["regularised_smoother_than_chamfer_only"]
    assert runs["deform1"]["final_normal"] < runs["deform2"]["final_normal"]
    assert runs["deform1"]["final_laplacian"] < runs["deform2"]["final_laplacian"]
    assert runs["deform3"]["final_edge"] < runs["deform2"]["final_edge"]
    assert json.loads((out / "metrics.json").read_text()) == metrics
    for name in runs:
        verts, faces = load_ply(out / f"{name}.ply")
        assert faces.shape == (320, 3)  # ico_sphere(2) in --quick
        # saved in the original frame: the fitted mesh covers the raw point cloud's box
        lo, hi = raw_points.min(0), raw_points.max(0)
        assert np.all(np.abs(verts.mean(0) - (lo + hi) / 2) < 0.5 * (hi - lo).max())
        assert runs[name]["final_chamfer"] < 0.05
    assert (out / "deform.png").stat().st_size > 10_000
    assert (out / "losses.png").stat().st_size > 10_000


def test_quick_procedural(ch03, tmp_path, monkeypatch):
    monkeypatch.delenv("JAX3D_DATA", raising=False)
    metrics = ch03.main(["--quick", "--out", str(tmp_path)])
    assert metrics["data"] == "procedural"
    _check(metrics, tmp_path, ch03.procedural_pedestrian(239))


@pytest.mark.slow
def test_quick_with_data(ch03, data, tmp_path):
    path = data("pointclouds/pedestrian.ply")
    metrics = ch03.main(["--quick", "--out", str(tmp_path)])
    assert metrics["data"] == "JAX3D_DATA" and metrics["num_target_points"] == 239
    _check(metrics, tmp_path, load_ply(path)[0])
