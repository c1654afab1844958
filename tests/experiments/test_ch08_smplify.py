"""Smoke test of experiments/ch08_smplify.py (--quick) without data, and of its metrics."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.transforms import random_rotations

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ch08():
    spec = importlib.util.spec_from_file_location(
        "ch08_smplify", ROOT / "experiments" / "ch08_smplify.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["ch08_smplify"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # ~35 s on 2 cores; test_smplify covers the fit in the default suite
def test_quick_run_without_data(ch08, tmp_path, monkeypatch):
    monkeypatch.delenv("JAX3D_DATA", raising=False)
    metrics = ch08.main(["--quick", "--num-bodies", "3", "--out", str(tmp_path)])
    assert (tmp_path / "smplify_synthetic.png").stat().st_size > 0
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["pose_prior"] == "synthetic GMM" and saved["lsp"].startswith("skipped")
    synth = metrics["synthetic"]
    assert synth["num_bodies"] == 3
    for key in ("mean_reprojection_error_px", "mpjpe_mm", "pa_mpjpe_mm"):
        assert np.isfinite(synth[key]) and synth[key] >= 0, key
    assert synth["pa_mpjpe_mm"] <= synth["mpjpe_mm"] + 1e-3
    assert synth["mean_reprojection_error_px"] < 50.0  # far below a failed fit's hundreds


def pa_mpjpe_naive(pred, gt):
    """Similarity Procrustes in float64 (Umeyama) per body, mean distance in the same units."""
    out = []
    for p, g in zip(pred.astype(np.float64), gt.astype(np.float64)):
        mp, mg = p.mean(0), g.mean(0)
        p0, g0 = p - mp, g - mg
        u, s, vt = np.linalg.svd(p0.T @ g0)
        d = np.sign(np.linalg.det(u @ vt))
        fix = np.diag([1.0, 1.0, d])
        r = u @ fix @ vt
        scale = np.trace(np.diag(s) @ fix) / (p0**2).sum()
        out.append(np.linalg.norm(scale * p0 @ r + mg - g, axis=1).mean())
    return np.array(out)


def test_joint_errors_against_naive(ch08):
    gt = jax.random.normal(jax.random.PRNGKey(0), (3, 14, 3))
    r = random_rotations(3, key=jax.random.PRNGKey(1))
    pred = 1.3 * gt @ r + jnp.array([0.1, 2.0, 5.0])
    pred = pred + 0.01 * jax.random.normal(jax.random.PRNGKey(2), pred.shape)
    mpjpe, pa = ch08.joint_errors_mm(pred, gt)
    np.testing.assert_allclose(
        pa, 1e3 * pa_mpjpe_naive(np.asarray(pred), np.asarray(gt)), rtol=1e-3
    )
    assert np.all(mpjpe > 10 * pa)  # a similarity misalignment that PA removes
