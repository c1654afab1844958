"""Smoke test of experiments/ch05_ray_sampling.py --quick: the book's shapes and outputs."""

from __future__ import annotations

import json

from tests.experiments._ch05_loader import load
from tests.vis.test_gallery import linked_files


def test_quick(tmp_path, capsys):
    out = tmp_path / "ch05_ray_sampling"  # as `make demo` lays it out: out/<experiment>/
    metrics = load("ch05_ray_sampling").main(["--quick", "--out", str(out)])
    assert metrics["shapes"] == {"origins": [10, 64, 64, 3], "directions": [10, 64, 64, 3],
                                 "lengths": [10, 64, 64, 50], "xys": [10, 64, 64, 2]}
    assert metrics["origin_to_camera_centre_max"] < 1e-4  # perspective rays start at the camera
    assert abs(metrics["depth_range"][0] - 0.1) < 1e-6 and abs(metrics["depth_range"][1] - 3) < 1e-6
    assert "origins shape = (10, 64, 64, 3)" in capsys.readouterr().out
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert (out / "rays.png").stat().st_size > 1000
    # make demo's last step: the gallery links this experiment's figure and metrics
    _, links = linked_files(tmp_path)
    assert {"ch05_ray_sampling/rays.png", "ch05_ray_sampling/metrics.json"} <= set(links)
