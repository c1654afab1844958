"""write_gallery: an offline index.html whose every link points at an existing file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest

from jax3d.vis import save_gif, save_image, write_gallery


def _fake_out(root: Path) -> None:
    a, b = root / "ch01_demo", root / "ch02_more"
    (a / "frames").mkdir(parents=True)
    b.mkdir()
    (root / "empty").mkdir()
    save_image(a / "figure.png", np.zeros((4, 4, 3)))
    save_gif(a / "frames" / "turn table.gif", [np.zeros((4, 4, 3)), np.ones((4, 4, 3))])
    (a / "metrics.json").write_text(json.dumps({
        "psnr": 23.456789, "nested": {"loss": [1.0, 0.5], "rate": 0.25},
        "curve": list(range(20)), "per_start": [{"x": 1}, {"x": 2}], "note": "<b>&",
    }))  # fmt: skip
    save_image(b / "only #1?.png", np.ones((4, 4, 3)))


def linked_files(root: Path) -> tuple[str, list[str]]:
    """Write the gallery of ``root``; its page and its links (decoded), each checked to be a
    relative link to an existing file under ``root``."""
    index = write_gallery(root)
    assert index == root / "index.html"
    page = index.read_text()
    links = [unquote(link) for link in re.findall(r'(?:src|href)="([^"#][^"]*)"', page)]
    for link in links:
        assert not Path(link).is_absolute() and (root / link).is_file(), link
    return page, links


def test_every_link_exists_and_metrics_are_tabulated(tmp_path):
    _fake_out(tmp_path)
    page, links = linked_files(tmp_path)
    assert {"ch01_demo/figure.png", "ch01_demo/frames/turn table.gif", "ch02_more/only #1?.png",
            "ch01_demo/metrics.json"} <= set(links)  # fmt: skip
    assert 'src="ch02_more/only%20%231%3F.png"' in page  # percent-encoded links
    assert "empty" not in page  # folders without outputs get no section
    assert "<td>nested.rate</td><td>0.25</td>" in page and "<td>psnr</td><td>23.46</td>" in page
    assert "(20 items)" in page and "2 entries" in page
    assert "&lt;b&gt;&amp;" in page and "<b>&" not in page  # values are escaped
    assert "http" not in page  # viewable offline


def test_missing_folder():
    with pytest.raises(FileNotFoundError):
        write_gallery("/nonexistent/out")
