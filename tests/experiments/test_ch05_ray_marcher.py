"""Smoke test of experiments/ch05_ray_marcher.py --quick."""

from __future__ import annotations

import json

from PIL import Image

from tests.experiments._ch05_loader import load


def test_quick(tmp_path, capsys):
    metrics = load("ch05_ray_marcher").main(["--quick", "--out", str(tmp_path),
                                             "--chunk-size", "3000"])
    assert metrics["image_features_shape"] == [10, 64, 64, 4]
    assert metrics["chunked_vs_unchunked_max_abs_diff"] < 1e-5
    assert 0.02 < metrics["mean_opacity"] < 0.6
    assert "image_features shape = (10, 64, 64, 4)" in capsys.readouterr().out
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    with Image.open(tmp_path / "views.gif") as gif:
        assert gif.n_frames == 5
