"""experiments/ch10_mesh_rcnn.py and ch10_demo.py.

Fast: the evaluation (detections scored by COCO / Pix3D AP, meshes placed at the ground truth's
centre depth) on hand-made scenes where the "detections" are the truth, the class-prior
reference, the batches of a step, the demo's image / mesh preparation: no renderer, no model.
Slow: the whole --quick run of both scripts (compiles dominate: minutes on a shared CPU)."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from jax3d.io import load_obj
from jax3d.models.mesh_rcnn import Detections
from jax3d.transforms.roi_frustum import camera_to_roi
from jax3d.utils import ico_sphere_verts_faces

ROOT = Path(__file__).resolve().parents[2]


def _load(name):
    sys.path.insert(0, str(ROOT / "experiments"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rcnn():
    return _load("ch10_mesh_rcnn")


@pytest.fixture(scope="module")
def demo(rcnn):
    return _load("ch10_demo")


S, M, D, V, F = 64, 3, 4, 96, 192
K = np.array([[60.0, 0.0, 32.0], [0.0, 60.0, 32.0], [0.0, 0.0, 1.0]], np.float32)


def _shape(kind: str, centre, size):
    """A sphere (42 verts, 80 faces) or a dumbbell (two small spheres side by side) in the
    camera frame."""
    v, f = ico_sphere_verts_faces(1)
    if kind == "dumbbell":
        v = np.concatenate([v * 0.25 - [0.75, 0, 0], v * 0.25 + [0.75, 0, 0]])
        f = np.concatenate([f, f + 42])
    v = (v * size + np.asarray(centre)).astype(np.float32)
    return v, f.astype(np.int32)


def _scene():
    """2 images, M = 3 slots: image 0 holds a sphere (class 1) and a dumbbell (class 2), image 1 a
    sphere (class 1); boxes / masks from the projection, zrange from the depths."""
    objects = [[("sphere", (-0.5, 0.0, 3.0), 0.35, 1), ("dumbbell", (0.6, 0.2, 3.5), 0.5, 2)],
               [("sphere", (0.1, -0.1, 2.5), 0.4, 1)]]  # fmt: skip
    b = {"images": np.zeros((2, S, S, 3), np.float32), "K": np.stack([K, K]),
         "valid": np.zeros((2, M), bool), "boxes": np.zeros((2, M, 4), np.float32),
         "classes": np.zeros((2, M), np.int32), "masks": np.zeros((2, M, S, S), bool),
         "zrange": np.zeros((2, M, 2), np.float32), "verts": np.zeros((2, M, V, 3), np.float32),
         "faces": np.full((2, M, F, 3), -1, np.int32), "num_verts": np.zeros((2, M), np.int32),
         "num_faces": np.zeros((2, M), np.int32)}  # fmt: skip
    ys, xs = np.mgrid[0:S, 0:S] + 0.5
    for i, objs in enumerate(objects):
        for k, (kind, centre, size, cls) in enumerate(objs):
            v, f = _shape(kind, centre, size)
            uv = v[:, :2] / v[:, 2:] * K[0, 0] + K[0, 2]
            box = np.concatenate([uv.min(0), uv.max(0)])
            b["valid"][i, k], b["classes"][i, k], b["boxes"][i, k] = True, cls, box
            b["masks"][i, k] = (xs >= box[0]) & (xs < box[2]) & (ys >= box[1]) & (ys < box[3])
            b["zrange"][i, k] = v[:, 2].min(), v[:, 2].max()
            b["verts"][i, k, : len(v)], b["faces"][i, k, : len(f)] = v, f
            b["num_verts"][i, k], b["num_faces"][i, k] = len(v), len(f)
    return b


def _truth_detections(b, swap_meshes=False):
    """`Detections` equal to the truth (ROI-frame meshes, dz from the zrange) plus, in image 0,
    a low-scored wrong detection (class 0, box of the dumbbell)."""
    z = lambda *s, dtype=np.float32: np.zeros(s, dtype)  # noqa: E731
    out = dict(boxes=z(2, D, 4), classes=z(2, D, dtype=np.int32), scores=z(2, D),
               valid=z(2, D, dtype=bool), masks=z(2, D, S, S, dtype=bool), mask_probs=z(2, D, 2, 2),
               dz=z(2, D), zrange=z(2, D, 2), voxel_scores=z(2, D, 2, 2, 2), verts=z(2, D, V, 3),
               faces=np.full((2, D, F, 3), -1, np.int32), num_verts=z(2, D, dtype=np.int32),
               num_faces=z(2, D, dtype=np.int32), roi_verts=z(2, D, V, 3),
               cubify_overflow=z(2, D, dtype=bool))  # fmt: skip
    for i in range(2):
        for k in np.flatnonzero(b["valid"][i]):
            src = 1 - k if swap_meshes and i == 0 else k  # image 0's two meshes exchanged
            box, zr = b["boxes"][i, k], b["zrange"][i, k]
            out["roi_verts"][i, k] = camera_to_roi(b["verts"][i, src], b["boxes"][i, src], K,
                                                   b["zrange"][i, src])  # fmt: skip
            out["faces"][i, k] = b["faces"][i, src]
            out["num_verts"][i, k], out["num_faces"][i, k] = (b["num_verts"][i, src],
                                                              b["num_faces"][i, src])
            zc = zr.mean()
            out["dz"][i, k] = (zr[1] - zr[0]) / zc * K[1, 1] / (box[3] - box[1])
            out["boxes"][i, k], out["classes"][i, k] = box, b["classes"][i, k]
            out["scores"][i, k], out["valid"][i, k] = 0.9 - 0.1 * k, True
            out["masks"][i, k] = b["masks"][i, k]
    out["boxes"][0, 3], out["scores"][0, 3], out["valid"][0, 3] = b["boxes"][0, 1], 0.05, True
    return Detections(**out)


def test_truth_scores_perfect_ap_and_mesh_ap_sees_the_meshes(rcnn):
    b = _scene()
    truths = rcnn.ground_truths(b)
    assert [len(t["classes"]) for t in truths] == [2, 1]
    results = {}
    for swap in (False, True):
        det = _truth_detections(b, swap)
        f1 = rcnn.mesh_f1(det, b, num_samples=5000, seed=(1, 2), bucket=4)
        assert f1.shape == (2, D, M)
        # only same-class pairs of overlapping boxes are compared (the others cannot count)
        assert np.count_nonzero(f1) == 3 and f1[0, 3].max() == 0.0
        if not swap:  # each mesh against itself (placed at its own depth): F1@0.3 near 1
            assert f1[0, 0, 0] > 0.95 and f1[0, 1, 1] > 0.95 and f1[1, 0, 0] > 0.95
        else:  # each mesh in the other's box: a wrong shape, however placed
            assert f1[0, 0, 0] < 0.5 and f1[0, 1, 1] < 0.5
        preds = rcnn.detections_to_numpy(det, 2, f1, b)
        assert [len(p["scores"]) for p in preds] == [3, 1]
        assert preds[0]["mesh_f1"].shape == (3, 2) and preds[1]["mesh_f1"].shape == (1, 1)
        results[swap] = rcnn.ap_summary(preds, truths, num_classes=3)
        if not swap:  # image 0's two classes exchanged: found, misnamed (agnostic AP still 1)
            named = [dict(p) for p in preds]
            named[0]["classes"] = np.array([2, 1, 0])
            wrong = rcnn.ap_summary(named, truths, num_classes=3, mesh=False)
            assert wrong["box_AP50"] < 0.6 and wrong["box_AP50_agnostic"] == pytest.approx(1.0)
    r = results[False]
    for key in ("box_AP", "box_AP50", "mask_AP", "mask_AP50", "pix3d_box_AP50",
                "pix3d_mask_AP50", "pix3d_mesh_AP50", "box_AP50_agnostic"):  # fmt: skip
        assert r[key] == pytest.approx(1.0), key
    assert r["num_gt"] == [0, 2, 1] and r["num_detections"] == 4
    # swapped meshes: boxes and masks unchanged, both mesh classes lose their mesh AP
    assert results[True]["box_AP"] == pytest.approx(1.0)
    assert results[True]["pix3d_mesh_AP50"] < 0.75
    assert results[True]["mesh_AP50_per_class"]["2"] == 0.0


class _Data:
    def __init__(self, batch):
        self.batch = batch

    def __len__(self):
        return len(self.batch["images"])

    def get_batch(self, idx):
        return {k: v[np.asarray(idx)] for k, v in self.batch.items()}


def test_class_prior_reference(rcnn):
    b = _scene()
    prior = rcnn.class_prior(_Data(b), num_classes=3, batch_size=1)
    np.testing.assert_array_equal(prior["classes"], [1, 2])
    np.testing.assert_allclose(prior["scores"], [2 / 3, 1 / 3])
    np.testing.assert_allclose(prior["boxes"][0], b["boxes"][[0, 1], 0].mean(0), rtol=1e-6)
    np.testing.assert_allclose(prior["boxes"][1], b["boxes"][0, 1], rtol=1e-6)
    truths = rcnn.ground_truths(b)
    preds = rcnn.prior_predictions(prior, truths, S)
    assert len(preds) == 2 and preds[0]["masks"].shape == (2, S, S)
    r = rcnn.ap_summary(preds, truths, 3, mesh=False)
    # the dumbbell is where its class's mean box is: found; the two spheres are not at their mean
    assert r["box_AP_per_class"]["2"] == pytest.approx(1.0)
    assert r["box_AP_per_class"]["1"] < 0.5 and "pix3d_mesh_AP50" not in r


def test_train_batches_are_epoch_permutations(rcnn):
    steps = np.concatenate([rcnn.train_indices(s, 2, 6, seed=3) for s in range(6)])
    assert sorted(steps[:6]) == sorted(steps[6:]) == list(range(6))
    np.testing.assert_array_equal(rcnn.train_indices(4, 2, 6, seed=3), steps[8:10])
    extra = {k: np.zeros((2, M, 1)) for k in ("voxels", "points", "normals")}
    batch = rcnn.make_batch_fn(_Data({**_scene(), **extra}), 2, 0)(0)
    assert set(batch) == set(rcnn.BATCH_KEYS)  # no verts / faces: the loss's keys only


def test_presets_build(rcnn):
    presets = ((["--quick"], 64), (["--preset", "cpu"], 96), (["--preset", "authors"], 320))
    for argv, size in presets:
        st = rcnn.settings_from_args(rcnn._parse(argv))
        config = rcnn.model_config(st)
        scenes = rcnn.scene_config(st, "test", 3)
        assert config.image_size == scenes.image_size == size
        assert config.num_classes == len(scenes.classes) == len(st["classes"])
        assert scenes.num_points == config.gt_num_samples and scenes.split == "test"
        json.dumps(st)  # the settings are plain JSON (run/settings.json)
    st = rcnn.settings_from_args(rcnn._parse(["--quick", "--steps", "3", "--lr", "0.1"]))
    assert st["steps"] == 3 and st["lr"] == 0.1


def test_scene_mesh_render_lines_up_with_the_input_view(rcnn):
    # a sphere in the camera frame of a 32 px view, drawn 2x enlarged: its silhouette's
    # centroid lands where K projects its centre, times the enlargement
    K32 = np.array([[30.0, 0.0, 16.0], [0.0, 30.0, 16.0], [0.0, 0.0, 1.0]], np.float32)
    centre = np.array([0.5, 0.3, 4.0])
    img = rcnn.render_scene_meshes([_shape("sphere", centre, 0.4)], K32, 32, scale=2)
    assert img.shape == (64, 64, 3)
    ys, xs = np.nonzero(img.min(axis=-1) < 0.99)
    expected = 2 * (K32[:2, :2] @ (centre[:2] / centre[2]) + K32[:2, 2])  # (u, v) at 64 px
    assert 80 < len(xs) < 200  # a disc of radius 2 * 30 * 0.4 / 4 = 6 px
    np.testing.assert_allclose([xs.mean() + 0.5, ys.mean() + 0.5], expected, atol=0.5)


def test_demo_letterbox_and_view_normalisation(demo):
    image = np.random.default_rng(0).random((30, 60, 3)).astype(np.float32)
    out, K = demo.letterbox(image, 64, focal_mm=20.0)
    assert out.shape == (64, 64, 3) and np.all(out[32:] == 0)  # 60 -> 64 wide, 32 rows high
    assert out[:32].mean() == pytest.approx(image.mean(), abs=0.02)
    np.testing.assert_allclose(K, [[40.0, 0, 32.0], [0, 40.0, 16.0], [0, 0, 1]])
    v = np.array([[1.0, 2.0, 5.0], [3.0, 2.5, 6.0], [2.0, 4.0, 5.5]])
    n = demo.normalise_for_view(v)
    assert np.ptp(n, 0).max() == pytest.approx(1.0)
    np.testing.assert_allclose((n.min(0) + n.max(0)) / 2, 0.0, atol=1e-7)
    assert n[2, 1] < n[0, 1]  # OpenCV's y (down) became y up
    assert n[1, 0] < n[0, 0]  # x right became x left


# ------------------------------------------------------------------------------------- slow


@pytest.mark.slow
def test_quick_run_and_demo(rcnn, demo, tmp_path):
    out = tmp_path / "run"
    m = rcnn.main(["--quick", "--out", str(out)])
    assert m["steps"] == 8 and m["complete"]
    # the quick preset overfits one fixed batch: the loss goes down
    assert m["final_loss"] < 0.9 * m["first_losses_mean"]
    for name in ("model", "initial model", "class prior"):
        r = m["results"][name]
        for kind in ("box", "mask"):
            ap, ap50 = r[f"{kind}_AP"], r[f"{kind}_AP50"]
            assert np.isfinite(ap) and np.isfinite(ap50), (name, kind)  # every class has truth
            # AP over IoU 0.5:0.95 averages thresholds stricter than 0.5: never above AP50
            assert 0.0 <= ap <= ap50 + 1e-9 <= 1.0 + 1e-9, (name, kind, ap, ap50)
    assert 0.0 <= m["pix3d_mesh_AP50"] <= 1.0
    for f in ("metrics.json", "curves.png", "figure.png", "run/settings.json"):
        assert (out / f).exists(), f
    objs = sorted((out / "predictions").rglob("*_mesh_*.obj"))
    assert objs, "no OBJ written"
    for obj in objs[:3]:
        verts, faces, _ = load_obj(obj)
        assert len(faces.verts_idx) > 0 and np.isfinite(np.asarray(verts)).all()
        assert np.asarray(verts)[:, 2].min() > 0  # in front of the camera

    # the demo on the checkpoint just written, on a held-out scene, --onlyhighest
    d = demo.main(["--checkpoint", str(out), "--output", str(tmp_path / "demo"), "--quick",
                   "--onlyhighest"])  # fmt: skip
    assert d["trained"] and len(d["detections"]) <= 1
    assert (tmp_path / "demo" / "overlay.png").exists()
    for det in d["detections"]:
        obj = tmp_path / "demo" / det["obj"]
        verts, faces, _ = load_obj(obj)
        assert len(np.asarray(verts)) == det["verts"]
        assert obj.with_suffix(".png").exists()
        assert det["obj"].startswith("0_mesh_") and det["class"] in det["obj"]

    # no checkpoint: an untrained model, said so; a user image when the data are there
    data = os.environ.get("JAX3D_DATA")
    image = Path(data) / "images" / "appartement.jpg" if data else None
    argv = ["--quick", "--output", str(tmp_path / "fresh")]
    if image is not None and image.exists():
        argv += ["--input", str(image)]
    d = demo.main(argv)
    assert not d["trained"]
    assert json.loads((tmp_path / "fresh" / "detections.json").read_text())["trained"] is False
