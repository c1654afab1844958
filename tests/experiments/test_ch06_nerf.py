"""Smoke test of experiments/ch06_nerf.py (--quick): it trains and clearly improves."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import imageio.v2 as imageio
import pytest

from jax3d.train import read_jsonl

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ch06():
    spec = importlib.util.spec_from_file_location(
        "ch06_nerf", ROOT / "experiments" / "ch06_nerf.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["ch06_nerf"] = module
    spec.loader.exec_module(module)
    return module


def _check(metrics, out: Path):
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert metrics["steps"] == metrics["settings"]["iters"]
    assert metrics["num_heldout_views"] >= 2 and metrics["num_train_views"] >= 6
    # clear improvement over the untrained field, on views never used for training
    assert metrics["final_loss"] < 0.5 * metrics["first_loss"]
    assert metrics["heldout"]["psnr"] > metrics["heldout_untrained"]["psnr"] + 2.0
    assert metrics["heldout"]["ssim"] > metrics["heldout_untrained"]["ssim"]
    assert metrics["heldout"]["lpips_vgg"] < metrics["heldout_untrained"]["lpips_vgg"]
    st = metrics["settings"]  # throughput = ray points processed / training wall time
    batch = min(st["batch"], metrics["num_train_views"])
    points = metrics["steps"] * batch * st["rays"] * st["points"]
    assert metrics["ray_points_per_second"] * metrics["train_seconds_incl_compile"] == (
        pytest.approx(points, rel=1e-6))
    frames = imageio.mimread(out / "novel_views.gif")
    assert len(frames) >= 15 and frames[0].shape[:2] == (32, 32)
    for name in ("progress.png", "heldout.png"):
        assert (out / name).stat().st_size > 5_000
    # the toolkit's run folder: checkpoints (latest at the last step), logs, TensorBoard
    steps = sorted(int(p.name) for p in (out / "run" / "checkpoints").iterdir() if p.name.isdigit())
    assert steps[-1] == metrics["steps"]
    rows = read_jsonl(out / "run" / "metrics.jsonl")
    assert [r["step"] for r in rows if "loss" in r] == list(range(1, metrics["steps"] + 1))
    assert any((out / "run" / "tensorboard").iterdir())


@pytest.mark.slow  # ~60 s on 2 cores (trains NeRF); the unit tests stay in the default suite
def test_quick_procedural(ch06, tmp_path, monkeypatch):
    monkeypatch.delenv("JAX3D_DATA", raising=False)
    metrics = ch06.main(["--quick", "--out", str(tmp_path)])
    assert metrics["data"] in ("procedural", "spheres")
    _check(metrics, tmp_path)


@pytest.mark.slow
def test_quick_with_data(ch06, data, tmp_path):
    data("meshes/cow_mesh/cow.obj")
    metrics = ch06.main(["--quick", "--out", str(tmp_path)])
    assert metrics["data"] == "cow"
    _check(metrics, tmp_path)
