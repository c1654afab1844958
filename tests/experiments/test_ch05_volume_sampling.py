"""Smoke test of experiments/ch05_volume_sampling.py --quick."""

from __future__ import annotations

import json

from tests.experiments._ch05_loader import load


def test_quick(tmp_path, capsys):
    metrics = load("ch05_volume_sampling").main(["--quick", "--out", str(tmp_path)])
    assert metrics["rays_densities_shape"] == [10, 64, 64, 50, 1]
    assert metrics["rays_features_shape"] == [10, 64, 64, 50, 3]
    assert 0.05 < metrics["fraction_of_rays_hitting"] < 0.6  # the torus and ball are seen
    assert abs(metrics["max_sampled_density"] - 0.3) < 1e-5
    assert "rays_features shape = (10, 64, 64, 50, 3)" in capsys.readouterr().out
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    assert (tmp_path / "densest_samples.png").exists()
