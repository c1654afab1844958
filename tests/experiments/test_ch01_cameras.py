"""Smoke test of experiments/ch01_cameras.py (--quick) and checks of its camera set-up."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ch01():
    spec = importlib.util.spec_from_file_location(
        "ch01_cameras", ROOT / "experiments" / "ch01_cameras.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["ch01_cameras"] = module
    spec.loader.exec_module(module)
    return module


def test_quick_run_writes_outputs(ch01, tmp_path, monkeypatch):
    monkeypatch.delenv("JAX3D_DATA", raising=False)  # procedural fallback
    metrics = ch01.main(["--quick", "--out", str(tmp_path)])
    for name in [
        "cubes_screen.png",
        "conventions_spaces.png",
        "orbit.gif",
        "metrics.json",
        "cube_view_camera0.obj",
    ]:
        assert (tmp_path / name).stat().st_size > 0, name
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["data_source"] == "procedural" and saved["num_cameras"] == 8
    assert metrics["roundtrip_max_abs_error"] < 1e-2
    assert saved["view_depth_range"][0] > 0  # every vertex is in front of every camera


def test_procedural_cube_matches_data_file(ch01, data):
    path = data(ch01.CUBE_NAME)
    verts, faces, source = ch01.load_camera_cube()
    assert source == "JAX3D_DATA"
    np.testing.assert_array_equal(verts, ch01.CUBE_VERTS)
    np.testing.assert_array_equal(faces, ch01.CUBE_FACES)
    assert path.exists()


def test_book_rotations_are_extrinsic_zyx(ch01):
    from scipy.spatial.transform import Rotation

    cams = ch01.book_cameras()
    n = np.arange(-4, 4)
    want = Rotation.from_euler("zyx", np.stack([5 * n, n, n], 1), degrees=True).as_matrix()
    np.testing.assert_allclose(cams.R, want, atol=1e-6)
    np.testing.assert_allclose(cams.T, np.stack([n, 0 * n, 0 * n], 1))
    assert not cams.in_ndc() and len(cams) == 8


def test_world_to_screen_against_naive_pinhole(ch01):
    cams = ch01.book_cameras()
    verts = ch01.CUBE_VERTS
    screen = np.asarray(cams.transform_points_screen(verts))
    (fx, fy), (px, py) = ch01.FOCAL, ch01.PRINCIPAL
    for i in range(8):
        view = verts @ np.asarray(cams.R[i], np.float64) + np.asarray(cams.T[i], np.float64)
        # view +X left / +Y up become image +X right / +Y down
        u = px - fx * view[:, 0] / view[:, 2]
        v = py - fy * view[:, 1] / view[:, 2]
        np.testing.assert_allclose(screen[i, :, 0], u, rtol=1e-4, atol=0.05)
        np.testing.assert_allclose(screen[i, :, 1], v, rtol=1e-4, atol=0.05)
