"""Smoke test of experiments/ch02_rendering.py (--quick), procedural and with JAX3D_DATA."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("light_at_front", "light_at_back", "dark", "green", "red", "blue")


@pytest.fixture(scope="module")
def ch02():
    sys.path.insert(0, str(ROOT / "experiments"))
    spec = importlib.util.spec_from_file_location("ch02_rendering",
                                                  ROOT / "experiments" / "ch02_rendering.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check(metrics, out: Path):
    images = metrics["images"]
    assert set(images) == set(NAMES)
    assert json.loads((out / "metrics.json").read_text())["images"] == images
    for name in NAMES:
        img = np.asarray(Image.open(out / f"{name}.png"))
        assert img.shape == (128, 128, 3)
        assert 0.05 < images[name]["coverage"] < 0.9
    mean = {k: float(np.mean(v["mean_rgb"])) for k, v in images.items()}
    assert mean["light_at_front"] > mean["light_at_back"] > mean["dark"]  # lit side faces us
    green, red, blue = (np.asarray(images[k]["mean_rgb"]) for k in ("green", "red", "blue"))
    assert green[1] - red[1] > 0 and red[0] - green[0] > 0  # highlights take their colour
    assert blue[2] - green[2] > 0.02  # shininess 0: the blue tint covers the lit side


def test_quick_procedural(ch02, tmp_path, monkeypatch):
    monkeypatch.delenv("JAX3D_DATA", raising=False)
    metrics = ch02.main(["--quick", "--out", str(tmp_path)])
    assert metrics["data"] == "procedural"
    _check(metrics, tmp_path)


@pytest.mark.slow
def test_quick_with_data(ch02, data, tmp_path):
    data("meshes/cow_mesh/cow.obj")
    metrics = ch02.main(["--quick", "--out", str(tmp_path)])
    assert metrics["data"] == "JAX3D_DATA"
    _check(metrics, tmp_path)
