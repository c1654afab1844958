"""Smoke test of experiments/ch02_transforms.py (--quick) and checks of its pieces."""

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
    spec = importlib.util.spec_from_file_location(
        "ch02_transforms", ROOT / "experiments" / "ch02_transforms.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["ch02_transforms"] = module
    spec.loader.exec_module(module)
    return module


def test_quick_run_writes_outputs(ch02, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("JAX3D_DATA", raising=False)  # procedural fallback
    metrics = ch02.main(["--quick", "--out", str(tmp_path)])
    for name in ["log_map_accuracy.png", "transform3d.png", "geodesic.gif",
                 "mesh_transformed.obj", "metrics.json"]:
        assert (tmp_path / name).stat().st_size > 0, name
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["data_source"] == "procedural"
    assert saved["hat_roundtrip_error"] == 0.0
    assert saved["log_exp_abs_error"] < 1e-8  # the book's angles are ~1e-3
    assert saved["log_exp_rel_error"] < 1e-5
    assert saved["orthogonality_error"] < 1e-6 and saved["det_error"] < 1e-6
    assert saved["sweep_max_error_jax3d"] < 1e-5
    assert saved["sweep_max_error_acos_below_pi"] > 1e-3  # the textbook formula breaks near pi
    assert saved["transform_inverse_max_error"] < 1e-4
    assert metrics["geodesic_end_log_error"] < 1e-5
    printed = capsys.readouterr().out
    assert "so3_exp_map(log_rot) (4, 3, 3)" in printed and "hat(log_rot) (4, 3, 3)" in printed


def test_book_values_against_float64(ch02):
    log_rot = ch02.book_log_rotations()
    assert log_rot.shape == (4, 3)
    np.testing.assert_array_equal(log_rot[3], np.float32([0.001, 0.002, 0.003]))
    res = ch02.lie_round_trip(log_rot)
    np.testing.assert_allclose(res["R"], ch02.rodrigues_float64(log_rot), atol=1e-7)
    np.testing.assert_allclose(res["log"], log_rot, rtol=1e-5)


def test_rodrigues_float64_against_scipy(ch02):
    from scipy.spatial.transform import Rotation

    w = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_allclose(ch02.rodrigues_float64(w), Rotation.from_rotvec(w).as_matrix(),
                               atol=1e-12)


def test_mesh_from_data(ch02, data):
    data(ch02.COW_NAME)
    verts, faces, source = ch02.load_mesh()
    assert source == "JAX3D_DATA" and verts.shape == (2930, 3) and faces.shape == (5856, 3)
