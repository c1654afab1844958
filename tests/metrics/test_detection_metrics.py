"""COCO box / mask AP and the Pix3D box / mesh AP on hand-made detections, and against
pycocotools on random ones (skipped when pycocotools is not installed)."""

import contextlib
import io

import jax
import numpy as np
import pytest

from jax3d.metrics.detection import (
    box_iou_numpy,
    coco_evaluate,
    mask_iou,
    mesh_f1_matrix,
    pix3d_evaluate,
    voc_ap,
)

# 101-point AP of one class with 2 gts and detections TP, FP, TP (by score): precision 1 up to
# recall 0.5, then 2/3 up to recall 1 -> (51 + 50 * 2/3) / 101; with only the first TP
# matched: 51 / 101.
AP_BOTH = (51 + 50 * 2 / 3) / 101
AP_FIRST = 51 / 101


def _one_image():
    gt = {"boxes": np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float), "classes": [0, 0]}
    pred = {
        # IoU with the gts: .81, 0, .62
        "boxes": np.array([[0, 0, 10, 8.1], [40, 40, 50, 50], [20, 20, 30, 26.2]]),
        "scores": np.array([0.9, 0.8, 0.7]),
        "classes": [0, 0, 0],
    }  # fmt: skip
    return pred, gt


def test_coco_box_ap_by_hand():
    pred, gt = _one_image()
    np.testing.assert_allclose(
        box_iou_numpy(pred["boxes"], gt["boxes"])[[0, 2], [0, 1]], [0.81, 0.62]
    )
    out = coco_evaluate([pred], [gt], iou_type="bbox")
    # thresholds .50 .55 .60: both TPs; .65 .. .80: only the first; .85 .. .95: none
    np.testing.assert_allclose(out["AP50"], AP_BOTH)
    np.testing.assert_allclose(out["AP75"], AP_FIRST)
    np.testing.assert_allclose(out["AP"], (3 * AP_BOTH + 4 * AP_FIRST) / 10)
    capped = coco_evaluate([pred], [gt], max_dets=1)  # only the best detection per image
    np.testing.assert_allclose(capped["AP50"], AP_FIRST)


def test_coco_mask_ap_by_hand():
    gt_masks = np.zeros((2, 32, 32), bool)
    gt_masks[0, 0:10, 0:10] = True
    gt_masks[1, 20:30, 20:30] = True
    pred_masks = np.zeros((3, 32, 32), bool)
    pred_masks[0, 0:9, 0:9] = True  # IoU 81 / 100
    pred_masks[1, 0:10, 22:32] = True  # IoU 0
    pred_masks[2, 21:29, 21:29] = True  # IoU 64 / 100
    np.testing.assert_allclose(
        mask_iou(pred_masks, gt_masks)[[0, 1, 2], [0, 1, 1]], [0.81, 0, 0.64]
    )
    pred, gt = _one_image()
    pred["masks"], gt["masks"] = pred_masks, gt_masks
    pred["boxes"] = np.array([[50, 50, 60, 60]] * 3)  # boxes do not matter for "segm"
    out = coco_evaluate([pred], [gt], iou_type="segm")
    np.testing.assert_allclose(out["AP"], (3 * AP_BOTH + 4 * AP_FIRST) / 10)


def test_coco_several_images_and_classes():
    box = np.array([[0, 0, 10, 10]], float)
    gts = [{"boxes": box, "classes": [0]}, {"boxes": box, "classes": [1]}]
    preds = [
        {"boxes": box, "scores": [0.9], "classes": [0]},  # TP of class 0
        {"boxes": np.concatenate([box, box]), "scores": [0.95, 0.5], "classes": [0, 2]},
    ]  # image 2: a class-0 FP scored above the TP; a class-2 detection (no class-2 gt)
    out = coco_evaluate(preds, gts, num_classes=3)
    # class 0: FP then TP -> precision 1/2 at every recall -> 0.5; class 1: no detection -> 0;
    # class 2 has no gt and is left out of the mean
    assert out["per_class_AP"] == pytest.approx({0: 0.5, 1: 0.0})
    assert out["AP"] == pytest.approx(0.25) and out["AP50"] == pytest.approx(0.25)
    assert np.all(np.isnan(out["precision"][:, :, 2]))
    with pytest.raises(ValueError, match="same images"):
        coco_evaluate(preds, gts[:1])
    with pytest.raises(ValueError, match="masks"):
        coco_evaluate(preds, gts, iou_type="segm")


def test_voc_ap_by_hand():
    # TP, FP, FP with 2 positives: recall .5 at precision 1, never more -> 0.5
    assert voc_ap([0.9, 0.85, 0.8], [True, False, False], 2) == pytest.approx(0.5)
    assert voc_ap([0.3, 0.9], [True, True], 2) == pytest.approx(1.0)
    assert voc_ap([], [], 3) == 0.0


def test_pix3d_mesh_ap_by_hand():
    g = np.array([[0, 0, 10, 10], [50, 50, 60, 60]], float)
    image_a = {
        "boxes": np.array([[0, 0, 10, 8], [0, 0, 10, 8], [50, 50, 60, 53.5], [100, 100, 110, 110]]),
        "scores": np.array([0.9, 0.8, 0.7, 0.95]),
        "classes": np.array([0, 0, 1, 1]),
        # box IoU: .8, .8 with gt 0; .35 with gt 1; 0 (never evaluated: below filter_iou .3)
        "mesh_f1": np.array([[0.7, 0.0], [0.9, 0.0], [0.0, 0.6], [0.0, 0.0]]),
    }  # fmt: skip
    image_b = {"boxes": np.array([[0, 0, 10, 9]]), "scores": [0.85], "classes": [0],
               "mesh_f1": np.array([[0.4]])}  # fmt: skip
    gts = [{"boxes": g, "classes": [0, 1]}, {"boxes": g[:1], "classes": [0]}]
    out = pix3d_evaluate([image_a, image_b], gts, num_classes=2)
    # mesh, class 0: .9 TP, .85 FP (F1 .4), .8 FP (gt 0 already matched) of 2 -> 0.5;
    # class 1: .7 TP (box IoU .35 > .3, F1 .6 > .5) of 1 -> 1.0
    assert out["mesh_ap@0.5 - 0"] == pytest.approx(0.5)
    assert out["mesh_ap@0.5 - 1"] == pytest.approx(1.0)
    assert out["mesh_ap@0.5"] == pytest.approx(0.75)
    # box (IoU > .5): class 0: TP, TP, FP -> 1.0; class 1: the .35 box is a FP -> 0.0
    assert out["box_ap@0.5"] == pytest.approx(0.5)
    assert "mask_ap@0.5" not in out
    np.testing.assert_array_equal(out["num_gt"], [2, 1])


@pytest.mark.slow  # compiles the surface sampling and KNN of compare_meshes (~10 s)
def test_mesh_f1_matrix():
    from jax3d.structures import Meshes
    from jax3d.utils import ico_sphere

    s = ico_sphere(1)
    v, f = s.verts_list()[0], s.faces_list()[0]
    preds = Meshes(verts=[v, v + 5.0], faces=[f, f])  # the same sphere, and one far away
    f1 = mesh_f1_matrix(
        preds, Meshes(verts=[v], faces=[f]), key=jax.random.key(0), num_samples=2000, scale=1.0
    )
    assert f1.shape == (2, 1)
    assert f1[0, 0] > 0.9 and f1[1, 0] == 0.0


def _random_scene(rng, n_images, num_classes, size=48):
    """Random gts and noisy detections (boxes and rectangle masks) for n_images."""
    preds, gts = [], []
    for _ in range(n_images):
        G = rng.integers(1, 5)
        xy = rng.integers(0, size - 12, (G, 2))
        wh = rng.integers(4, 12, (G, 2))
        gt_boxes = np.concatenate([xy, xy + wh], 1).astype(float)
        D = rng.integers(0, 9)
        src = rng.integers(0, G, D)
        jitter = rng.normal(0, 1.5, (D, 4)).round()
        boxes = np.clip(gt_boxes[src] + jitter, 0, size)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        gt_cls = rng.integers(0, num_classes, G)
        cls = np.where(rng.uniform(size=D) < 0.8, gt_cls[src], rng.integers(0, num_classes, D))
        preds.append({"boxes": boxes, "scores": rng.uniform(size=D), "classes": cls,
                      "masks": _rasterize(boxes, size)})  # fmt: skip
        gts.append({"boxes": gt_boxes, "classes": gt_cls, "masks": _rasterize(gt_boxes, size)})
    return preds, gts


def _rasterize(boxes, size):
    masks = np.zeros((len(boxes), size, size), bool)
    for i, (x0, y0, x1, y1) in enumerate(boxes.astype(int)):
        masks[i, y0:y1, x0:x1] = True
    return masks


def _pycocotools_stats(preds, gts, iou_type, num_classes):
    coco_mod = pytest.importorskip("pycocotools.coco")
    cocoeval = pytest.importorskip("pycocotools.cocoeval")
    mask_util = pytest.importorskip("pycocotools.mask")
    rle = lambda m: mask_util.encode(np.asfortranarray(m.astype(np.uint8)))  # noqa: E731
    xywh = lambda b: [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]  # noqa: E731
    images, anns, results = [], [], []
    for i, (p, g) in enumerate(zip(preds, gts)):
        images.append({"id": i, "height": 48, "width": 48})
        for b, c, m in zip(g["boxes"], g["classes"], g["masks"]):
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(c), "bbox": xywh(b),
                         "area": float(m.sum()), "iscrowd": 0, "segmentation": rle(m)})  # fmt: skip
        for b, s, c, m in zip(p["boxes"], p["scores"], p["classes"], p["masks"]):
            r = {"image_id": i, "category_id": int(c), "score": float(s)}
            r.update({"bbox": xywh(b)} if iou_type == "bbox" else {"segmentation": rle(m)})
            results.append(r)
    gt = coco_mod.COCO()
    cats = [{"id": k, "name": str(k)} for k in range(num_classes)]
    gt.dataset = {"images": images, "annotations": anns, "categories": cats}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = cocoeval.COCOeval(gt, dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_coco_against_pycocotools(iou_type):
    rng = np.random.default_rng(7 if iou_type == "bbox" else 8)
    preds, gts = _random_scene(rng, 12, 3)
    stats = _pycocotools_stats(preds, gts, iou_type, 3)
    out = coco_evaluate(preds, gts, iou_type=iou_type, num_classes=3)
    np.testing.assert_allclose([out["AP"], out["AP50"], out["AP75"]], stats[:3], atol=1e-9)
