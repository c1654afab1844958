"""Smoke test of experiments/ch05_volume_reconstruction.py --quick (procedural targets; the
cow with JAX3D_DATA in the slow variant), plus the loss and volume helpers."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from tests.experiments._ch05_loader import load


def _check(metrics, out):
    assert metrics["final_loss"] < 0.7 * metrics["initial_loss"]  # the fit makes progress
    assert metrics["psnr"] > 12.0 and metrics["silhouette_iou"] > 0.3
    assert json.loads((out / "metrics.json").read_text()) == metrics
    grid = np.asarray(Image.open(out / "rotating_volume.png"))
    assert grid.shape[:2] == (4 * 34 + 2, 7 * 34 + 2)  # 7x4 grid of 32x32 renders, pad 2
    with Image.open(out / "rotating_volume.gif") as gif:
        assert gif.n_frames == 28
    assert (out / "losses.png").exists() and (out / "held_out.png").exists()


def test_quick_procedural(tmp_path, monkeypatch):
    monkeypatch.delenv("JAX3D_DATA", raising=False)
    metrics = load("ch05_volume_reconstruction").main(["--quick", "--out", str(tmp_path)])
    assert metrics["source"] == "procedural"
    assert metrics["settings"]["volume_size"] == 32
    _check(metrics, tmp_path)


@pytest.mark.slow
def test_quick_cow(tmp_path, data):
    data("meshes/cow_mesh/cow.obj")
    metrics = load("ch05_volume_reconstruction").main(["--quick", "--out", str(tmp_path)])
    assert metrics["source"] == "cow"
    _check(metrics, tmp_path)


def test_huber_and_volumes():
    ch05 = load("ch05_volume_reconstruction")
    x = jnp.array([0.0, 0.05, 1.0])
    h = np.asarray(ch05.huber(x, 0.0))
    np.testing.assert_allclose(h, 0.1 * (np.sqrt(1 + np.asarray(x) ** 2 / 0.01) - 1), rtol=1e-6)
    assert h[0] == 0.0 and abs(h[2] - 0.9) < 0.01  # ~|x| - scaling for large residuals
    params = ch05.init_params(4)
    vols = ch05.to_volumes(params)
    assert vols.densities().shape == (1, 1, 4, 4, 4) and vols.features().shape == (1, 3, 4, 4, 4)
    np.testing.assert_allclose(vols.densities(), 1 / (1 + np.exp(4.0)), rtol=1e-6)
    np.testing.assert_allclose(vols.voxel_size, 0.75)
