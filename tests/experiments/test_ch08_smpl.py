"""Smoke test of experiments/ch08_smpl.py (--quick) with the synthetic body and a saved model."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from jax3d.io import load_obj
from jax3d.models.smpl import save_smpl, smpl_forward, synthetic_body_model

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
    verts, faces, _ = load_obj(tmp_path / "smpl_random_body.obj", load_textures=False)
    assert verts.shape == (saved["num_verts"], 3) and faces.verts_idx.shape[0] == saved["num_faces"]
    template, _, _ = load_obj(tmp_path / "smpl_template.obj", load_textures=False)
    model = synthetic_body_model(0)
    np.testing.assert_allclose(template, model.v_template, atol=1e-5)  # rest pose, zero betas
    # the saved body is the seed-0 random body turned by pi about x around its root joint
    betas, pose, _ = ch08.random_body(jax.random.PRNGKey(0), model)
    upright = smpl_forward(model, betas, pose)
    root = np.asarray(upright.joints[0, 0])
    turned = (np.asarray(upright.vertices[0]) - root) * np.array([1.0, -1.0, -1.0]) + root
    np.testing.assert_allclose(verts, turned, atol=1e-5)
    # the metric is the largest vertex displacement of that (upright) body from the template
    displacement = np.abs(np.asarray(upright.vertices[0]) - template).max()
    assert metrics["max_displacement_from_template_m"] == pytest.approx(displacement, abs=1e-5)
    # the book's global rotation (pi about x) turns the body upside down: the feet are on top
    lo, hi = saved["posed_y_range_m"]
    assert np.argmax(np.asarray(verts)[:, 1]) != 411 and hi > 0.5 and lo < -1.0


def test_model_flag_loads_a_file(ch08, tmp_path):
    path = save_smpl(tmp_path / "model.npz", synthetic_body_model(3, n_around=8, n_cap=2, n_mid=1))
    model, source = ch08.load_model(path)
    assert model.num_verts == 1176 and "model.npz" in source
