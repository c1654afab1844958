"""Smoke test of experiments/ch01_io.py (--quick), without and with JAX3D_DATA."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ch01_io():
    spec = importlib.util.spec_from_file_location("ch01_io", ROOT / "experiments" / "ch01_io.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["ch01_io"] = module
    spec.loader.exec_module(module)
    return module


def test_quick_procedural(ch01_io, tmp_path, monkeypatch):
    monkeypatch.delenv("JAX3D_DATA", raising=False)
    metrics = ch01_io.main(["--quick", "--out", str(tmp_path)])
    assert metrics["data"] == "procedural" and metrics["all_round_trips_exact"]
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    assert (tmp_path / "meshes.png").stat().st_size > 1000
    assert metrics["assets"]["sphere_texture.obj"]["texture_images"] == {"mesh": [250, 250, 3]}
    for name in (
        "cube_from_ply.ply",
        "cube_from_ply_ascii.ply",
        "cube_from_obj.obj",
        "sphere_texture_from_obj.png",
        "sphere_texture_from_obj.mtl",
    ):
        assert (tmp_path / name).exists(), name


def test_quick_with_data(ch01_io, tmp_path, data):
    data("meshes/cube_texture/cube_texture.obj")  # skips without JAX3D_DATA
    metrics = ch01_io.main(["--quick", "--out", str(tmp_path)])
    assets = metrics["assets"]
    assert metrics["data"] == "JAX3D_DATA" and metrics["all_round_trips_exact"]
    assert assets["cube_texture.obj"]["texture_images"] == {"Skin": [250, 250, 3]}
    assert assets["cube.obj"]["materials"] == ["Door"]
    assert assets["parallel_plane_color.ply"]["colors"] is True
    assert assets["cow.ply"]["verts"] == [2903, 3]
