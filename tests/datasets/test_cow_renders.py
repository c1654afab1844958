"""generate_cow_renders: shapes, camera placement, silhouettes vs projected geometry."""

from __future__ import annotations

import numpy as np
import pytest

from jax3d.datasets import DataNotFoundError, generate_cow_renders
from jax3d.datasets.cow_renders import _normalise, procedural_textured_mesh


def _check(cams, images, sils, n, size):
    assert images.shape == (n, size, size, 3) and sils.shape == (n, size, size)
    assert len(cams) == n
    images, sils = np.asarray(images), np.asarray(sils)
    assert set(np.unique(sils)) <= {0.0, 1.0}
    assert 0.03 < sils.mean() < 0.6
    assert images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_array_equal(images[sils == 0], 0.0)  # black background
    assert images[sils == 1].mean() > 0.1
    # cameras at distance 2.7, elevation 0, looking at the origin
    centres = np.asarray(cams.get_camera_center())
    np.testing.assert_allclose(np.linalg.norm(centres, axis=-1), 2.7, rtol=1e-5)
    np.testing.assert_allclose(centres[:, 1], 0.0, atol=1e-5)


def test_procedural(tmp_path):
    # 6 views at 32 px with batches of 4: the shapes of ch05_volume_reconstruction --quick
    cams, images, sils, src = generate_cow_renders(6, azimuth_range=90.0, image_size=32,
                                                   mesh="procedural", batch_size=4,
                                                   return_source=True)
    assert src == "procedural"
    _check(cams, images, sils, 6, 32)
    # azimuths linspace(-90, 90) + 180 at elevation 0 (azimuth 180 is on -z)
    azim = np.deg2rad(np.linspace(-90.0, 90.0, 6) + 180.0)
    expected = 2.7 * np.stack([np.sin(azim), np.zeros(6), np.cos(azim)], -1)
    np.testing.assert_allclose(np.asarray(cams.get_camera_center()), expected, atol=1e-5)
    # the last, partial batch is rendered like the others
    again = generate_cow_renders(2, azimuth_range=90.0, image_size=32, mesh="procedural",
                                 batch_size=4)
    np.testing.assert_allclose(again[1][0], images[0], atol=1e-5)
    # the silhouette covers the projected vertices' bounding box roughly
    mesh = _normalise(procedural_textured_mesh())
    verts = np.asarray(mesh.verts_packed())
    scr = np.asarray(cams.transform_points_screen(np.broadcast_to(verts, (6, *verts.shape)),
                                                  image_size=(32, 32)))
    for i in range(6):
        ys, xs = np.nonzero(np.asarray(sils[i]))
        assert abs(xs.min() - scr[i, :, 0].min()) < 2 and abs(xs.max() - scr[i, :, 0].max()) < 2
        assert abs(ys.min() - scr[i, :, 1].min()) < 2 and abs(ys.max() - scr[i, :, 1].max()) < 2


@pytest.mark.slow  # compiles the UV-texture renderer (~15 s); the procedural test is the fast one
def test_cow(data):
    data("meshes/cow_mesh/cow.obj")
    cams, images, sils, src = generate_cow_renders(2, image_size=32, return_source=True)
    assert src == "cow"
    _check(cams, images, sils, 2, 32)


def test_validation(monkeypatch):
    with pytest.raises(ValueError, match="num_views"):
        generate_cow_renders(0)
    with pytest.raises(ValueError, match="mesh"):
        generate_cow_renders(2, mesh="horse")
    monkeypatch.delenv("JAX3D_DATA", raising=False)
    with pytest.raises(DataNotFoundError):
        generate_cow_renders(2, image_size=16, mesh="cow")
