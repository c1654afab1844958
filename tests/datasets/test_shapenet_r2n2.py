"""The ShapeNet R2N2 loader on a tiny folder in that layout, and the binvox reader."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from jax3d.datasets import (
    ShapeNetR2N2,
    align_bbox,
    make_shape,
    read_binvox,
    voxelize_mesh,
    write_binvox,
)
from jax3d.io import save_obj
from jax3d.transforms import blender_intrinsic_matrix, r2n2_extrinsic_matrix

VIEWS = [(30.0, 25.5, 0.0, 0.7, 25.0), (200.0, 29.0, 0.0, 0.9, 25.0)]


def _model(root, sid, mid, verts, faces, binvox_name="model.presolid.binvox"):
    (root / "ShapeNetCore.v1" / sid / mid).mkdir(parents=True)
    save_obj(root / "ShapeNetCore.v1" / sid / mid / "model.obj", verts, faces)
    (root / "binvox" / sid / mid).mkdir(parents=True)
    grid = voxelize_mesh(verts, faces, 32)
    write_binvox(root / "binvox" / sid / mid / binvox_name, grid.occupancy, grid.origin, 1.0)
    rdir = root / "ShapeNetRendering" / sid / mid / "rendering"
    rdir.mkdir(parents=True)
    (rdir / "renderings.txt").write_text("00.png\n01.png\n")
    (rdir / "rendering_metadata.txt").write_text("\n".join(" ".join(map(str, v)) for v in VIEWS))
    rng = np.random.default_rng(0)
    for n in ("00.png", "01.png"):
        Image.fromarray(rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)).save(rdir / n)
    return grid


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapenet")
    chair = make_shape("chair", np.random.default_rng(0))
    table = make_shape("table", np.random.default_rng(1))
    grids = {
        "03001627": _model(root, "03001627", "m0", chair.verts, chair.faces),
        "04379243": _model(root, "04379243", "m1", table.verts, table.faces, "model.binvox"),
    }
    splits = {"train": {"03001627": {"m0": [0, 1]}}, "test": {"04379243": {"m1": [1]}}}
    (root / "splits.json").write_text(json.dumps(splits))
    dirs = (root / "ShapeNetRendering", root / "ShapeNetCore.v1", root / "binvox")
    return root, dirs, {"03001627": chair, "04379243": table}, grids


def voxelize_naive(coords, verts, P, G, zmin=0.67, zmax=0.92):
    """Mesh R-CNN's preprocessing, step by step: align, project, rescale z, flip y, round."""
    pts = align_bbox(coords, verts)
    hom = np.concatenate([pts, np.ones((len(pts), 1))], 1) @ P.T
    ndc = hom[:, :3] / hom[:, 3:]
    ndc[:, 2] = ndc[:, 2] * 2 / (zmax - zmin) - 2 * zmin / (zmax - zmin) - 1
    ndc[:, 1] *= -1
    idx = np.round(0.5 * (G - 1) * (ndc + 1)).astype(int)
    ok = np.all((idx >= 0) & (idx < G), 1)
    out = np.zeros((G, G, G), bool)
    out[idx[ok, 2], idx[ok, 1], idx[ok, 0]] = True
    return out


def test_samples_follow_mesh_rcnn_preprocessing(layout):
    root, dirs, shapes, grids = layout
    ds = ShapeNetR2N2(*dirs, root / "splits.json", split="train", voxel_size=16, num_points=50)
    assert len(ds) == 2 and ds.synsets == ["03001627"] and ds.category_name("03001627") == "chair"
    for i, view in enumerate(VIEWS):
        s = ds[i]
        RT = r2n2_extrinsic_matrix(view[0], view[1], 1.75 * view[3], np.float64)
        np.testing.assert_allclose(s["RT"], RT, atol=1e-6)
        verts = shapes["03001627"].verts.astype(np.float64)
        np.testing.assert_allclose(s["verts"], verts @ RT[:3, :3].T + RT[:3, 3], atol=1e-5)
        P = blender_intrinsic_matrix(np.float64) @ RT
        coords = read_binvox(root / "binvox/03001627/m0/model.presolid.binvox").coords()
        np.testing.assert_array_equal(s["voxels"], voxelize_naive(coords, verts, P, 16))
        assert 20 < s["voxels"].sum() < 16**3 / 2
        assert s["images"].shape == (16, 16, 3) and s["masks"].shape == (16, 16)
        lo, hi = s["verts"].min(0) - 1e-5, s["verts"].max(0) + 1e-5
        assert np.all((s["points"] >= lo) & (s["points"] <= hi))
    test = ShapeNetR2N2(*dirs, root / "splits.json", split="test", image_size=8, num_points=0)
    assert len(test) == 1 and test[0]["images"].shape == (8, 8, 3) and "points" not in test[0]
    every = ShapeNetR2N2(*dirs, voxel_size=0)  # no splits file: every view of every model
    assert len(every) == 4 and every.synsets == ["03001627", "04379243"]
    batch = every.get_batch([0, 3])
    assert batch["verts"].shape[0] == 2 and batch["faces"][np.arange(2), -1].min() >= -1
    nf = batch["num_faces"]
    assert np.all(batch["faces"][0, nf[0]:] == -1) or nf[0] == batch["faces"].shape[1]


def test_binvox_round_trip_and_coords_order(tmp_path):
    rng = np.random.default_rng(0)
    occ = rng.random((6, 6, 6)) < 0.3
    occ[0, 0, :] = True  # a long run
    write_binvox(tmp_path / "a.binvox", occ, (0.5, -1.0, 2.0), 0.75)
    vox = read_binvox(tmp_path / "a.binvox")
    np.testing.assert_array_equal(vox.occupancy, occ)
    np.testing.assert_allclose(vox.translate, [0.5, -1.0, 2.0])
    assert vox.scale == 0.75
    x, y, z = vox.coords().T
    assert np.all(occ[z, y, x]) and len(x) == occ.sum()
    flat = x * 36 + z * 6 + y  # binvox's storage order: x slowest, then z, then y
    assert np.all(np.diff(flat) > 0)


@pytest.mark.parametrize(
    "payload, match",
    [
        (b"#binvox 2\n", "header line 1"),
        (b"#binvox 1\ndim 2 2 3\ntranslate 0 0 0\nscale 1\ndata\n", "header line 2"),
        (b"#binvox 1\ndim 2 2 2\ntranslate 0 0\nscale 1\ndata\n", "header line 3"),
        (b"#binvox 1\ndim 2 2 2\ntranslate 0 0 0\nscale 1\ndata\n\x01\x07", "cover 7"),
        (b"#binvox 1\ndim 2 2 2\ntranslate 0 0 0\nscale 1\ndata\n\x02\x08", "not 0 or 1"),
        (b"#binvox 1\ndim 2 2 2\ntranslate 0 0 0\nscale 1\ndata\n\x01\x00\x01\x08", "length 0"),
        (b"#binvox 1\ndim 2 2 2\ntranslate 0 0 0\nscale 1\ndata\n\x01", "odd number"),
        (b"#binvox 1\ndim 9999 9999 9999\ntranslate 0 0 0\nscale 1\ndata\n", "header line 2"),
    ],
)
def test_binvox_rejects_malformed_files(tmp_path, payload, match):
    path = tmp_path / "bad.binvox"
    path.write_bytes(payload)
    with pytest.raises(ValueError, match=match) as err:
        read_binvox(path)
    assert "bad.binvox" in str(err.value)


def test_binvox_limits(tmp_path):
    write_binvox(tmp_path / "a.binvox", np.ones((4, 4, 4)))
    with pytest.raises(ValueError, match="max_bytes"):
        read_binvox(tmp_path / "a.binvox", max_bytes=10)
    with pytest.raises(ValueError, match="regular file"):
        read_binvox(tmp_path)


def test_loader_errors_name_the_file(layout, tmp_path):
    root, dirs, _, _ = layout
    with pytest.raises(ValueError, match="split"):
        ShapeNetR2N2(*dirs, root / "splits.json", split="val")
    with pytest.raises(ValueError, match="is not a folder"):
        ShapeNetR2N2(tmp_path / "missing", dirs[1], dirs[2])
    meta = dirs[0] / "04379243/m1/rendering/rendering_metadata.txt"
    good = meta.read_text()
    meta.write_text("1 2 three 4 5\n")
    try:
        with pytest.raises(ValueError, match="rendering_metadata.txt, line 1"):
            ShapeNetR2N2(*dirs, synsets=["04379243"])[0]
    finally:
        meta.write_text(good)
    empty = ShapeNetR2N2(dirs[0], dirs[1], tmp_path, synsets=["04379243"])
    with pytest.raises(ValueError, match="no binvox file"):
        empty[0]
