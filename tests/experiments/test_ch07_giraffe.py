"""experiments/ch07_giraffe.py: presets, settings and data plumbing (fast); the --quick run
end to end (slow)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from jax3d.train import read_jsonl

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ch07():
    spec = importlib.util.spec_from_file_location(
        "ch07_giraffe", ROOT / "experiments" / "ch07_giraffe.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["ch07_giraffe"] = module
    spec.loader.exec_module(module)
    return module


def test_presets_and_settings(ch07):
    names = sorted(p.stem for p in ch07.PRESET_DIR.glob("*.yaml"))
    for name in ("cars_64", "cars_256", "celebahq_256", "church_64", "chairs_64", "clevr2_256",
                 "clevr_synthetic_64", "cpu"):  # fmt: skip
        assert name in names
    raw = ch07.load_preset("celebahq_256")
    config, st = ch07._settings(ch07._parse(["--preset", "celebahq_256"]), raw)
    assert config.data.center_crop_size == 650 and config.training.learning_rate == 2.5e-4
    assert st["programs"] == ["rotation_object", "interpolate_app", "interpolate_shape"]
    config, st = ch07._settings(ch07._parse(["--quick"]), ch07.load_preset("cpu"))
    assert config.data.img_size == 16 and st["n_steps"] == 6 and len(st["programs"]) == 10
    with pytest.raises(SystemExit, match="presets"):
        ch07.load_preset("no_such_preset")


def test_batches_are_a_function_of_the_step(ch07):
    steps = [ch07.step_indices(18, 4, s, seed=3) for s in range(8)]
    np.testing.assert_array_equal(steps[5], ch07.step_indices(18, 4, 5, seed=3))
    first = np.concatenate(steps[:4])  # 4 full batches per epoch, 2 images left out
    assert len(set(first.tolist())) == 16 and first.max() < 18
    assert not np.array_equal(np.concatenate(steps[4:]), first)  # a new epoch, a new order
    with pytest.raises(ValueError, match="fewer than batch_size"):
        ch07.step_indices(3, 4, 0, seed=0)


@pytest.mark.slow  # minutes on the shared CPU: compiles the tiny GAN step, VGG16 and renders
def test_quick_run(ch07, tmp_path):
    out = tmp_path / "giraffe"
    metrics = ch07.main(["--quick", "--out", str(out)])
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert metrics["steps"] == 6
    q = metrics["quality"]
    assert q["label"].startswith("Frechet distance on VGG16 features")
    assert q["kid_label"].startswith("KID on VGG16 features")
    for name in ("init", "mean_image", "real_vs_real_floor", "final_ema"):
        assert np.isfinite(q[name]["frechet"]) and np.isfinite(q[name]["kid"]), name
    # held-out real images are closer to the training images than an untrained generator is
    assert q["real_vs_real_floor"]["frechet"] < q["init"]["frechet"]
    assert q["real_vs_real_floor"]["kid"] < q["init"]["kid"]
    for key in ("a_translation_monotonicity", "b_object_code_isolation",
                "c_background_code_isolation"):  # fmt: skip
        assert key in metrics["controls"]
    for name in metrics["rendered"]:
        assert (out / "render" / f"{name}.gif").stat().st_size > 0
        assert (out / "render" / f"{name}.png").stat().st_size > 0
    assert (out / "curves.png").stat().st_size > 5_000
    rows = read_jsonl(out / "run" / "metrics.jsonl")
    assert [r["step"] for r in rows if "g_loss" in r] == [1, 2, 3, 4, 5, 6]
    assert (out / "samples.png").stat().st_size > 0 and (out / "real.png").stat().st_size > 0
    assert any("eval/frechet" in r for r in rows)
    assert list((out / "run" / "images").glob("samples_*.png"))
    # resume: nothing left to train, the references are reused
    again = ch07.main(["--quick", "--out", str(out), "--resume", "--no-render"])
    assert again["steps"] == 6 and again["quality"]["init"] == q["init"]
