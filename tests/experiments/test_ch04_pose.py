"""Smoke tests of the chapter 4 pose experiments (--quick, procedural assets): outputs,
metrics, a decreasing loss and the vmapped multi-start path."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def _load(name):
    sys.path.insert(0, str(ROOT / "experiments"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check(metrics, out: Path, stem: str, iters: int):
    assert metrics["data"] == "procedural"
    assert json.loads((out / "metrics.json").read_text()) == metrics
    for name in ("target_rgb.png", "target_silhouette.png", f"{stem}_loss.png"):
        assert (out / name).stat().st_size > 200
    gif = Image.open(out / f"{stem}.gif")
    assert gif.n_frames == (metrics["iterations"] if metrics["reached_threshold"] else iters)
    assert metrics["final_position_error"] < np.linalg.norm(
        np.asarray([3.0, 6.9, 2.5]) - metrics["target_position"])  # moved towards the target


@pytest.mark.parametrize("name,stem", [
    ("ch04_pose_silhouette", "silhouette_fit"),
    # ~95 s on 2 cores (silhouette + soft Phong renders every step): run by `make test-all`.
    pytest.param("ch04_pose_texture", "texture_fit", marks=pytest.mark.slow),
])
def test_quick_procedural(name, stem, tmp_path, monkeypatch):
    monkeypatch.delenv("JAX3D_DATA", raising=False)
    module = _load(name)
    metrics = module.main(["--quick", "--iters", "12", "--starts", "2", "--out", str(tmp_path)])
    _check(metrics, tmp_path, stem, 12)
    multi = metrics["multistart"]
    assert multi["starts"] == 2 and 0.0 <= multi["success_rate"] <= 1.0


def test_random_starts_on_spheres():
    common = _load("ch04_pose_common")
    starts = common.random_starts(0, 50)
    r = np.linalg.norm(starts, axis=1)
    assert starts.shape == (50, 3) and r.min() >= 3.0 and r.max() <= 7.0
