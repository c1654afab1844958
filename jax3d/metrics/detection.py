"""Detection metrics: COCO box / mask AP and Mesh R-CNN's Pix3D box / mask / mesh AP (NumPy).

Inputs are per image, as lists of dicts of NumPy arrays (one dict per image, same order in
predictions and ground truths):

- prediction: "boxes" (D, 4) XYXY pixels, "scores" (D,), "classes" (D,) int, optionally
  "masks" (D, H, W) bool and, for mesh AP, "mesh_f1" (D, G) F1@0.3 in [0, 1] of every
  prediction against every ground truth of the image (`mesh_f1_matrix`);
- ground truth: "boxes" (G, 4), "classes" (G,), optionally "masks" (G, H, W) bool.

`coco_evaluate` follows pycocotools' COCOeval for area range "all" (no crowd regions): per
image and class the `max_dets` best detections are greedily matched, by decreasing score, to
the unmatched ground truth of highest IoU >= t, for t in 0.50:0.05:0.95; precision is made
monotone and read at 101 recall points; AP averages over thresholds and over the classes that
have ground truth. Values are fractions in [0, 1] (NaN where no class has ground truth).

`pix3d_evaluate` is Mesh R-CNN's `evaluate_for_pix3d` generalised to several objects per image:
predictions whose box IoU with every ground truth of the image is <= `filter_iou` (0.3) are not
evaluated at all (as in the authors' code); the others, by decreasing score, are true
positives for boxes / masks when their IoU is > 0.5 with a not-yet-matched ground truth of
their class, and for meshes when box IoU > 0.3 and F1@0.3 > 0.5 with one (the candidate of
highest box IoU is taken); AP is PASCAL VOC's all-point AP per class, averaged over classes.
"""

from __future__ import annotations

import jax
import numpy as np

from jax3d.metrics.mesh_metrics import compare_meshes

__all__ = [
    "COCO_IOU_THRESHOLDS",
    "COCO_RECALL_THRESHOLDS",
    "box_iou_numpy",
    "coco_evaluate",
    "mask_iou",
    "mesh_f1_matrix",
    "pix3d_evaluate",
    "voc_ap",
]

COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)  # pycocotools' iouThrs
COCO_RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)  # pycocotools' recThrs


def box_iou_numpy(a, b) -> np.ndarray:
    """(D, 4), (G, 4) XYXY boxes -> (D, G) float64 IoU; 0 for non-overlapping or empty boxes."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    wh = np.minimum(a[:, None, 2:], b[None, :, 2:]) - np.maximum(a[:, None, :2], b[None, :, :2])
    inter = np.prod(np.clip(wh, 0.0, None), axis=-1)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0.0, None), -1)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(inter > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def mask_iou(a, b) -> np.ndarray:
    """(D, H, W), (G, H, W) boolean masks -> (D, G) float64 IoU (0 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    if a.ndim != 3 or b.ndim != 3 or a.shape[1:] != b.shape[1:]:
        raise ValueError(f"masks must be (D, H, W) and (G, H, W), got {a.shape}, {b.shape}")
    fa = a.reshape(len(a), -1).astype(np.float64)
    fb = b.reshape(len(b), -1).astype(np.float64)
    inter = fa @ fb.T
    union = fa.sum(1)[:, None] + fb.sum(1)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _check_images(predictions, ground_truths, need_masks):
    if len(predictions) != len(ground_truths):
        raise ValueError(
            f"predictions ({len(predictions)} images) and ground_truths ({len(ground_truths)})"
            " must list the same images"
        )
    keys = ("boxes", "classes") + (("masks",) if need_masks else ())
    for i, (p, g) in enumerate(zip(predictions, ground_truths)):
        for name, d, extra in (("predictions", p, ("scores",)), ("ground_truths", g, ())):
            missing = [k for k in keys + extra if k not in d]
            if missing:
                raise ValueError(f"{name}[{i}] lacks {missing}")
            n = len(d["classes"])
            if np.asarray(d["boxes"]).reshape(-1, 4).shape[0] != n:
                raise ValueError(f"{name}[{i}]: boxes and classes differ in length")


def _ious(p, g, iou_type):
    if iou_type == "bbox":
        return box_iou_numpy(p["boxes"], g["boxes"])
    return mask_iou(p["masks"], g["masks"])


def _coco_match(ious, thresholds):
    """Greedy COCO matching of score-sorted detections: (T, D) bool, matched or not."""
    D, G = ious.shape
    matched = np.zeros((len(thresholds), D), bool)
    for t, thr in enumerate(thresholds):
        taken = np.zeros(G, bool)
        for d in range(D):
            best, m = min(thr, 1 - 1e-10), -1
            for g in range(G):
                if taken[g] or ious[d, g] < best:
                    continue
                best, m = ious[d, g], g
            if m >= 0:
                taken[m] = True
                matched[t, d] = True
    return matched


def _coco_precision(scores, matched, num_gt, recall_thresholds):
    """(T, R) interpolated precision of one class from its detections of all images."""
    order = np.argsort(-scores, kind="mergesort")
    tp = np.cumsum(matched[:, order], axis=1, dtype=np.float64)
    fp = np.cumsum(~matched[:, order], axis=1, dtype=np.float64)
    out = np.zeros((matched.shape[0], len(recall_thresholds)))
    for t in range(matched.shape[0]):
        rc = tp[t] / num_gt
        pr = tp[t] / (tp[t] + fp[t] + np.spacing(1))
        pr = np.maximum.accumulate(pr[::-1])[::-1]  # precision envelope
        idx = np.searchsorted(rc, recall_thresholds, side="left")
        ok = idx < len(pr)
        out[t, ok] = pr[idx[ok]]
    return out


def coco_evaluate(
    predictions, ground_truths, *, iou_type: str = "bbox", num_classes: int | None = None,
    max_dets: int = 100, iou_thresholds=COCO_IOU_THRESHOLDS,
    recall_thresholds=COCO_RECALL_THRESHOLDS,
) -> dict:  # fmt: skip
    """COCO AP of boxes (`iou_type="bbox"`) or masks (`"segm"`), area range "all".

    Args:
        predictions, ground_truths: per-image dicts (module doc).
        iou_type: "bbox" or "segm".
        num_classes: classes are 0 .. num_classes - 1 (default: 1 + the largest class seen).
        max_dets: detections kept per image and class (pycocotools' maxDets, 100).
        iou_thresholds, recall_thresholds: pycocotools' iouThrs and recThrs.

    Returns:
        dict: "AP" (mean over thresholds and classes with ground truth), "AP50", "AP75" (when
        0.5 / 0.75 are thresholds), "per_class_AP" {class: AP}, "precision" (T, R, K) with NaN
        for classes without ground truth, "num_gt" (K,).
    """
    if iou_type not in ("bbox", "segm"):
        raise ValueError(f'iou_type must be "bbox" or "segm", got {iou_type!r}')
    _check_images(predictions, ground_truths, iou_type == "segm")
    thresholds = np.asarray(iou_thresholds, np.float64)
    recall_thresholds = np.asarray(recall_thresholds, np.float64)
    seen = [np.asarray(d["classes"]).reshape(-1) for d in list(predictions) + list(ground_truths)]
    K = (
        num_classes
        if num_classes is not None
        else int(max([c.max() for c in seen if c.size] + [-1]) + 1)
    )
    scores = [[] for _ in range(K)]
    matches = [[] for _ in range(K)]
    num_gt = np.zeros(K, int)
    for p, g in zip(predictions, ground_truths):
        p_cls, g_cls = np.asarray(p["classes"]).reshape(-1), np.asarray(g["classes"]).reshape(-1)
        ious = _ious(p, g, iou_type)
        p_scores = np.asarray(p["scores"], np.float64).reshape(-1)
        for k in range(K):
            gi, di = np.flatnonzero(g_cls == k), np.flatnonzero(p_cls == k)
            num_gt[k] += len(gi)
            di = di[np.argsort(-p_scores[di], kind="mergesort")][:max_dets]
            scores[k].append(p_scores[di])
            matches[k].append(_coco_match(ious[np.ix_(di, gi)], thresholds))
    precision = np.full((len(thresholds), len(recall_thresholds), K), np.nan)
    for k in range(K):
        if num_gt[k] == 0:
            continue
        precision[:, :, k] = _coco_precision(
            np.concatenate(scores[k]), np.concatenate(matches[k], axis=1), num_gt[k],
            recall_thresholds,
        )  # fmt: skip
    has_gt = num_gt > 0
    mean = lambda x: float(np.mean(x)) if x.size else float("nan")  # noqa: E731
    out = {
        "AP": mean(precision[:, :, has_gt]),
        "per_class_AP": {k: mean(precision[:, :, k]) for k in np.flatnonzero(has_gt).tolist()},
        "precision": precision,
        "num_gt": num_gt,
    }
    for name, t in (("AP50", 0.5), ("AP75", 0.75)):
        hit = np.flatnonzero(np.isclose(thresholds, t))
        if hit.size:
            out[name] = mean(precision[hit[0]][:, has_gt])
    return out


def voc_ap(scores, true_positive, num_gt: int) -> float:
    """PASCAL VOC all-point AP (Mesh R-CNN's `VOCap.compute_ap`): 0 without detections.

    Args:
        scores: (D,) detection scores; true_positive: (D,) bool; num_gt: positives to find.
    """
    scores = np.asarray(scores, np.float64).reshape(-1)
    tp = np.asarray(true_positive, bool).reshape(-1)
    if scores.size == 0 or num_gt <= 0:
        return 0.0
    order = np.argsort(-scores, kind="mergesort")
    tp_sum = np.cumsum(tp[order], dtype=np.float64)
    fp_sum = np.cumsum(~tp[order], dtype=np.float64)
    mrec = np.concatenate([[0.0], tp_sum / num_gt, [1.0]])
    mpre = np.concatenate([[0.0], tp_sum / (tp_sum + fp_sum), [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    step = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[step] - mrec[step - 1]) * mpre[step]))


def _pix3d_image(p, g, filter_iou, iou_thresh, kinds):
    """Per prediction of one image: evaluated?, and true positive per kind ({kind: (D,)})."""
    p_cls, g_cls = np.asarray(p["classes"]).reshape(-1), np.asarray(g["classes"]).reshape(-1)
    D, G = len(p_cls), len(g_cls)
    biou = box_iou_numpy(p["boxes"], g["boxes"])
    quality = {"box": biou}
    if "mask" in kinds:
        quality["mask"] = mask_iou(p["masks"], g["masks"])
    evaluated = biou.max(axis=1) > filter_iou if G else np.zeros(D, bool)
    tp = {k: np.zeros(D, bool) for k in kinds}
    covered = {k: np.zeros(G, bool) for k in kinds}
    order = np.argsort(-np.asarray(p["scores"], np.float64).reshape(-1), kind="mergesort")
    for d in order[evaluated[order]]:
        same = g_cls == p_cls[d]
        for kind in kinds:
            if kind == "mesh":
                f1 = np.asarray(p["mesh_f1"], np.float64).reshape(D, G)[d]
                ok = same & (biou[d] > filter_iou) & (f1 > iou_thresh)
            else:
                ok = same & (quality[kind][d] > iou_thresh)
            ok &= ~covered[kind]
            if ok.any():
                covered[kind][np.argmax(np.where(ok, biou[d], -1.0))] = True
                tp[kind][d] = True
    return evaluated, tp


def pix3d_evaluate(
    predictions, ground_truths, *, num_classes: int, filter_iou: float = 0.3,
    iou_thresh: float = 0.5,
) -> dict:  # fmt: skip
    """Mesh R-CNN's Pix3D box / mask / mesh AP for images with several objects (module doc).

    Mask AP is computed when every image has "masks", mesh AP when every prediction has
    "mesh_f1" (D, G) (F1@0.3 in [0, 1], see `mesh_f1_matrix`).

    Returns:
        dict with "box_ap@0.5", "mask_ap@0.5", "mesh_ap@0.5" (means over the classes with
        ground truth; keys use `iou_thresh`), the same per class as "<kind>_ap@0.5 - <k>",
        and "num_gt" (K,).
    """
    need_masks = all("masks" in d for d in list(predictions) + list(ground_truths))
    _check_images(predictions, ground_truths, need_masks)
    kinds = ["box"] + (["mask"] if need_masks else [])
    kinds += ["mesh"] if all("mesh_f1" in p for p in predictions) else []
    scores, labels, tps = [], [], {k: [] for k in kinds}
    num_gt = np.zeros(num_classes, int)
    for p, g in zip(predictions, ground_truths):
        num_gt += np.bincount(np.asarray(g["classes"], int).reshape(-1), minlength=num_classes)
        evaluated, tp = _pix3d_image(p, g, filter_iou, iou_thresh, kinds)
        scores.append(np.asarray(p["scores"], np.float64).reshape(-1)[evaluated])
        labels.append(np.asarray(p["classes"], int).reshape(-1)[evaluated])
        for k in kinds:
            tps[k].append(tp[k][evaluated])
    scores, labels = np.concatenate(scores), np.concatenate(labels)
    out = {"num_gt": num_gt}
    classes = np.flatnonzero(num_gt > 0)
    for kind in kinds:
        tp = np.concatenate(tps[kind])
        per = {k: voc_ap(scores[labels == k], tp[labels == k], num_gt[k]) for k in classes}
        for k, v in per.items():
            out[f"{kind}_ap@{iou_thresh:.1f} - {k}"] = v
        out[f"{kind}_ap@{iou_thresh:.1f}"] = (
            float(np.mean(list(per.values()))) if per else float("nan")
        )
    return out


def mesh_f1_matrix(
    pred_meshes, gt_meshes, *, key, threshold: float = 0.3, num_samples: int = 10000,
    scale="gt-10",
) -> np.ndarray:  # fmt: skip
    """F1@threshold of every predicted mesh against every ground-truth mesh, in [0, 1].

    `compare_meshes` (Mesh R-CNN's protocol: both meshes scaled so the ground truth's longest
    box edge is 10, `num_samples` surface points each) for each ground truth in turn.

    Args:
        pred_meshes: `Meshes` of D predictions (in the ground truth's frame, e.g. camera).
        gt_meshes: `Meshes` of G ground truths.
        key: PRNG key for the surface sampling.

    Returns:
        (D, G) float64, F1 / 100.
    """
    D, G = len(pred_meshes), len(gt_meshes)
    out = np.zeros((D, G))
    for g in range(G):
        res = compare_meshes(
            pred_meshes, gt_meshes[g], key=jax.random.fold_in(key, g), num_samples=num_samples,
            scale=scale, thresholds=(threshold,), reduce=False,
        )  # fmt: skip
        out[:, g] = np.asarray(res[f"F1@{threshold:f}"], np.float64) / 100.0
    return out
