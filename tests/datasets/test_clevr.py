"""CLEVR-like scenes: layouts (counts, sizes, no overlap, determinism), one small render
(images, masks against the layout, colours), the npz cache round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jax3d.datasets.clevr import (
    CLEVR_COLORS,
    ClevrConfig,
    ClevrScenes,
    NpzClevrScenes,
    cache_clevr_npz,
    clevr_camera,
)

SMALL = ClevrConfig(num_samples=4, image_size=16, supersample=1, min_objects=1, max_objects=2,
                    size_range=(0.3, 0.35), translation_range=0.5)  # fmt: skip


def test_layouts():
    config = ClevrConfig(num_samples=200, max_objects=3)
    ds = ClevrScenes(config)
    counts = []
    for i in range(200):
        lay = ds.layout(i)
        n = int(lay["num_objects"])
        counts.append(n)
        assert 1 <= n <= 3
        size, t = lay["size"][:n], lay["translation"][:n]
        assert np.all((size >= 0.14) & (size <= 0.22)) and not lay["size"][n:].any()
        np.testing.assert_allclose(t[:, 2], size)  # resting on the plane
        assert np.all(np.abs(t[:, :2]) <= 0.7)
        for a in range(n):
            for b in range(a):
                gap = math.dist(t[a, :2], t[b, :2]) - math.sqrt(2) * (size[a] + size[b])
                assert gap >= config.min_gap - 1e-6
        np.testing.assert_allclose(lay["rgb"][:n], CLEVR_COLORS[lay["color"][:n]])
    assert set(counts) == {1, 2, 3}
    again = ClevrScenes(config).layout(7)
    assert all(np.array_equal(again[k], ds.layout(7)[k]) for k in again)
    other = ClevrScenes(config.replace(split="val")).layout(7)
    assert not np.array_equal(other["translation"], ds.layout(7)["translation"])
    cam = clevr_camera(config)
    assert abs(math.degrees(math.asin(cam[2] / np.linalg.norm(cam))) - 30.0) < 1e-9
    assert abs(config.generator_range_v - 0.25) < 1e-12
    with pytest.raises(ValueError, match="split"):
        ClevrConfig(split="dev")
    with pytest.raises(ValueError, match="cannot be placed"):
        ClevrConfig(max_objects=40, translation_range=0.2)
    with pytest.raises(IndexError):
        ds.layout(200)


@pytest.mark.slow  # compiles the mesh rasterizer: ~100 s on the shared CPU
def test_render_masks_and_cache(tmp_path):
    ds = ClevrScenes(SMALL)
    batch = ds.get_batch([0, 1])
    images, masks = batch["images"], batch["masks"]
    assert images.shape == (2, 16, 16, 3) and masks.shape == (2, 2, 16, 16)
    assert images.min() >= 0 and images.max() <= 1 and images.std() > 0.02
    assert masks.sum(1).max() <= 1.0 + 1e-6
    for b in range(2):
        n = int(batch["num_objects"][b])
        assert not masks[b, n:].any()
        for k in range(n):
            m = masks[b, k] > 0.99
            assert m.sum() >= 2  # each object is visible
            # the object's pixels are its colour (shaded): chromaticity close to its rgb
            rgb = images[b][m].mean(0)
            want = batch["rgb"][b, k]
            cos = rgb @ want / (np.linalg.norm(rgb) * np.linalg.norm(want))
            assert cos > 0.9
    path = cache_clevr_npz(ds, tmp_path / "small", batch_size=2)
    back = NpzClevrScenes(path)
    assert len(back) == 4 and back.config == SMALL
    got = back.get_batch([1])
    np.testing.assert_allclose(got["images"][0], images[1], atol=1 / 255)
    np.testing.assert_allclose(got["masks"][0], masks[1], atol=1 / 255)
    np.testing.assert_array_equal(got["translation"][0], batch["translation"][1])
    assert back.images_uint8.dtype == np.uint8
    with pytest.raises(ValueError, match="not a readable"):
        NpzClevrScenes(tmp_path / "missing.npz")
