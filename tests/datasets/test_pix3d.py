"""The Pix3D loader on a tiny folder in Pix3D's layout (2 images, generated OBJ models)."""

import json

import numpy as np
import pytest
from PIL import Image

from jax3d.datasets.pix3d import PIX3D_CLASSES, Pix3D
from jax3d.transforms.roi_frustum import roi_to_camera
from jax3d.utils import cube_verts_faces

FLIP = np.diag([-1.0, -1.0, 1.0])  # Pix3D's camera frame (+X left, +Y up) to OpenCV's


def _rot_y(deg):
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def _rot_x(deg):
    a = np.deg2rad(deg)
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


def _hull_mask(uv, w, h):
    """Pixels whose centres lie in the convex hull of `uv` (monotone chain + half-planes)."""
    pts = sorted(map(tuple, uv))

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    def half(points):
        out = []
        for p in points:
            while len(out) >= 2 and cross(out[-2], out[-1], p) <= 0:
                out.pop()
            out.append(p)
        return out[:-1]

    hull = np.array(half(pts) + half(pts[::-1]))
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    inside = np.ones((h, w), bool)
    for a, b in zip(hull, np.roll(hull, -1, 0)):
        inside &= (b[0] - a[0]) * (ys - a[1]) - (b[1] - a[1]) * (xs - a[0]) >= 0
    return inside


def _write_obj(path, verts, faces):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in verts]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    path.write_text("\n".join(lines) + "\n")


def _entry(root, img, mask, model, category, size, R, t, focal_mm, verts):
    """A pix3d.json entry whose mask is the model's projected silhouette."""
    w, h = size
    f = focal_mm * w / 32.0
    cam = (verts @ R.T + t) @ FLIP.T  # OpenCV frame
    uv = cam[:, :2] / cam[:, 2:] * f + [w / 2, h / 2]
    m = _hull_mask(uv, w, h)
    (root / mask).parent.mkdir(parents=True, exist_ok=True)
    ys, xs = np.nonzero(m)
    bbox = [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]
    return m, {"img": img, "mask": mask, "model": model, "category": category,
               "img_size": [w, h], "bbox": bbox, "rot_mat": R.tolist(), "trans_mat": list(t),
               "focal_length": focal_mm}  # fmt: skip


@pytest.fixture(scope="module")
def pix3d_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("pix3d")
    cube_v, cube_f = cube_verts_faces()
    cube_v = cube_v.astype(np.float64) - 0.5  # [-0.5, 0.5]^3
    slab_v = cube_v * [1.0, 0.3, 0.6]
    _write_obj(root / "model/chair/c1/model.obj", cube_v, cube_f)
    _write_obj(root / "model/table/t1/model.obj", slab_v, cube_f)
    specs = [  # image A (48 x 40): a chair and a table; image B (40 x 40): the table
        ("img/chair/0001.png", "mask/chair/0001.png", "model/chair/c1/model.obj", "chair",
         (48, 40), _rot_y(30) @ _rot_x(20), np.array([0.4, 0.1, 4.0]), 35.0, cube_v),
        ("img/chair/0001.png", "mask/chair/0001_t.png", "model/table/t1/model.obj", "table",
         (48, 40), _rot_y(-25), np.array([-0.6, -0.3, 5.0]), 35.0, slab_v),
        ("img/table/0002.png", "mask/table/0002.png", "model/table/t1/model.obj", "table",
         (40, 40), _rot_y(60) @ _rot_x(-30), np.array([0.0, 0.0, 3.0]), 40.0, slab_v),
    ]  # fmt: skip
    entries, masks = [], {}
    for img, mask, model, cat, size, R, t, focal, verts in specs:
        m, e = _entry(root, img, mask, model, cat, size, R, t, focal, verts)
        Image.fromarray((m * 255).astype(np.uint8)).save(root / mask)
        masks[mask] = m
        entries.append(e)
    rng = np.random.default_rng(0)
    for img, size in (("img/chair/0001.png", (48, 40)), ("img/table/0002.png", (40, 40))):
        (root / img).parent.mkdir(parents=True, exist_ok=True)
        pix = (rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)
        Image.fromarray(pix).save(root / img)
    (root / "pix3d.json").write_text(json.dumps(entries))
    return root, entries, masks


def test_records(pix3d_root):
    root, entries, masks = pix3d_root
    data = Pix3D(root, voxel_size=16, object_resolution=32, num_points=200)
    assert len(data) == 2 and data.images == ["img/chair/0001.png", "img/table/0002.png"]
    rec = data[0]
    assert rec["image"].shape == (40, 48, 3) and rec["masks"].shape == (2, 40, 48)
    assert list(rec["classes"]) == [PIX3D_CLASSES.index("chair"), PIX3D_CLASSES.index("table")]
    f = 35.0 * 48 / 32.0
    np.testing.assert_allclose(rec["K"], [[f, 0, 24], [0, f, 20], [0, 0, 1]], rtol=1e-6)
    for k, e in enumerate(entries[:2]):
        np.testing.assert_array_equal(rec["masks"][k], masks[e["mask"]])
        x0, y0, x1, y1 = e["bbox"]
        np.testing.assert_array_equal(rec["boxes"][k], [x0, y0, x1 + 1, y1 + 1])
        n = rec["num_verts"][k]
        verts = rec["verts"][k, :n]
        model = data.model(e["model"])[0]
        ref = (model @ np.array(e["rot_mat"]).T + e["trans_mat"]) @ FLIP.T
        np.testing.assert_allclose(verts, ref, rtol=1e-5, atol=1e-5)
        # camera-frame points project with K into the box (nothing is hidden here)
        p = rec["points"][k] @ rec["K"].T
        uv = p[:, :2] / p[:, 2:]
        assert np.all(uv >= rec["boxes"][k][:2] - 0.75) and np.all(uv <= rec["boxes"][k][2:] + 0.75)
        # voxel centres taken back to the camera lie inside the posed model's box (a cube),
        # and the frustum of a box-shaped object is mostly full
        vox = rec["voxels"][k]
        G = vox.shape[0]
        c = 2.0 * np.arange(G) / (G - 1) - 1.0
        zz, yy, xx = np.meshgrid(c, c, c, indexing="ij")
        cells = np.stack([xx, yy, zz], -1)[vox]
        cam = roi_to_camera(cells, rec["boxes"][k], rec["K"], rec["zrange"][k])
        local = ((cam @ FLIP) - e["trans_mat"]) @ np.array(e["rot_mat"])
        half = np.abs(model).max(0)
        cell = np.abs(model).max() * 2 / 32 * 2
        assert np.all(np.abs(local) <= half + cell)
        assert 0.3 < vox.mean() < 0.95
    assert data[1]["masks"].shape == (1, 40, 40)


def test_coco_style_annotations_match(pix3d_root):
    root, entries, _ = pix3d_root
    images = [{"id": 1, "file_name": "img/chair/0001.png", "width": 48, "height": 40},
              {"id": 2, "file_name": "img/table/0002.png", "width": 40, "height": 40}]  # fmt: skip
    cats = [{"id": i + 1, "name": n} for i, n in enumerate(PIX3D_CLASSES)]
    anns = []
    for e, image_id in zip(entries, (1, 1, 2)):
        w, h = e["img_size"]
        x0, y0, x1, y1 = e["bbox"]
        anns.append({"image_id": image_id, "bbox": [x0, y0, x1 - x0, y1 - y0],
                     "category_id": PIX3D_CLASSES.index(e["category"]) + 1,
                     "segmentation": e["mask"], "model": e["model"],
                     "K": [e["focal_length"] * w / 32.0, w / 2, h / 2],
                     "rot_mat": e["rot_mat"], "trans_mat": e["trans_mat"]})  # fmt: skip
    (root / "coco.json").write_text(json.dumps({"images": images, "annotations": anns,
                                                "categories": cats}))  # fmt: skip
    a = Pix3D(root, voxel_size=0, num_points=50)[0]
    b = Pix3D(root, "coco.json", voxel_size=0, num_points=50)[0]
    for key in ("image", "K", "boxes", "masks", "verts", "faces", "points", "classes"):
        np.testing.assert_allclose(a[key], b[key], rtol=1e-6, err_msg=key)


def test_letterboxed_batch(pix3d_root):
    root, _, _ = pix3d_root
    data = Pix3D(root, voxel_size=16, object_resolution=32, num_points=100)
    batch = data.get_batch([0, 1], image_size=32, max_instances=3)
    assert batch["images"].shape == (2, 32, 32, 3) and batch["masks"].shape == (2, 3, 32, 32)
    assert batch["valid"].tolist() == [[True, True, False], [True, False, False]]
    assert batch["verts"].shape[:2] == (2, 3) and np.all(batch["faces"][~batch["valid"]] == -1)
    rec = data[0]
    np.testing.assert_array_equal(batch["voxels"][0, :2], rec["voxels"])
    np.testing.assert_allclose(batch["K"][0, 0, 0], rec["K"][0, 0] * 32 / 48, rtol=1e-6)
    assert not batch["images"][0, 27:].any()  # 40 x 48 scaled to 27 x 32, then padding
    for b in range(2):
        for k in np.flatnonzero(batch["valid"][b]):
            p = batch["points"][b, k] @ batch["K"][b].T
            uv = p[:, :2] / p[:, 2:]
            box = batch["boxes"][b, k]
            assert np.all(uv >= box[:2] - 1.0) and np.all(uv <= box[2:] + 1.0)


def test_errors_name_the_file(pix3d_root, tmp_path):
    root, entries, _ = pix3d_root
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(root, bad)
    with pytest.raises(FileNotFoundError, match="nope"):
        Pix3D(tmp_path / "nope")
    e = dict(entries[2])
    del e["rot_mat"]
    (bad / "a.json").write_text(json.dumps([e]))
    with pytest.raises(ValueError, match=r"a.json: entry 0: missing key 'rot_mat'"):
        Pix3D(bad, "a.json")
    e = dict(entries[2], mask="mask/table/missing.png")
    (bad / "b.json").write_text(json.dumps([e]))
    with pytest.raises(FileNotFoundError, match="missing.png"):
        Pix3D(bad, "b.json")[0]
    e = dict(entries[2], model="../outside.obj")
    (bad / "c.json").write_text(json.dumps([e]))
    with pytest.raises(ValueError, match="outside.obj"):
        Pix3D(bad, "c.json")[0]
    e = dict(entries[2], img_size=[41, 40])
    (bad / "d.json").write_text(json.dumps([e]))
    with pytest.raises(ValueError, match="0002.png.*does not match"):
        Pix3D(bad, "d.json")[0]
    (bad / "model/table/t1/model.obj").write_text("v 0 0 0\nf 1 2 3\n")
    with pytest.raises(ValueError, match="model.obj"):
        Pix3D(bad)[1]
    (bad / "e.json").write_text("{not json")
    with pytest.raises(ValueError, match="e.json"):
        Pix3D(bad, "e.json")
