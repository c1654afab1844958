"""Smoke test of experiments/ch08_smpl.py (--quick) with the synthetic body and a saved model."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from jax3d.io import load_obj
from jax3d.models.smpl import save_smpl, synthetic_body_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ch08():
    spec = importlib.util.spec_from_file_location(
        "ch08_smpl", ROOT / "experiments" / "ch08_smpl.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["ch08_smpl"] = module
    spec.loader.exec_module(module)
    return module


def test_quick_run_writes_outputs(ch08, tmp_path, monkeypatch):
    monkeypatch.delenv("JAX3D_DATA", raising=False)
    metrics = ch08.main(["--quick", "--out", str(tmp_path)])
    for name in ["smpl_bodies.png", "smpl_random_body.obj", "smpl_template.obj", "metrics.json"]:
        assert (tmp_path / name).stat().st_size > 0, name
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["num_joints"] == 24 and saved["data_source"].startswith("synthetic")
    assert 0.0 < metrics["max_displacement_from_template_m"] < 1.0
    verts, faces, _ = load_obj(tmp_path / "smpl_random_body.obj", load_textures=False)
    assert verts.shape == (saved["num_verts"], 3) and faces.verts_idx.shape[0] == saved["num_faces"]
    # the book's global rotation (pi about x) turns the body upside down: the feet are on top
    lo, hi = saved["posed_y_range_m"]
    assert np.argmax(np.asarray(verts)[:, 1]) != 411 and hi > 0.5 and lo < -1.0


def test_model_flag_loads_a_file(ch08, tmp_path):
    path = save_smpl(tmp_path / "model.npz", synthetic_body_model(3, n_around=8, n_cap=2, n_mid=1))
    model, source = ch08.load_model(path)
    assert model.num_verts == 1176 and "model.npz" in source
