"""Training targets and losses of Mask R-CNN (RPN, box head, mask head), Detectron2's rules.

Everything has static shapes so it runs inside one jitted training step:

- `Matcher` labels predictions (anchors or proposals) by their best IoU with the ground truth
  (foreground 1, background 0, ignored -1), optionally promoting each ground truth's
  best-matching predictions ("low-quality matches");
- `subsample_labels` draws at most `num_samples` labels with at most a `positive_fraction` of
  foreground, uniformly at random from a PRNG key, and returns masks plus a fixed-size index
  array;
- `label_and_sample_anchors` / `label_and_sample_proposals` combine both for the RPN and the
  ROI heads; `mask_targets` crops the ground-truth masks to the proposals with ROIAlign;
- `rpn_losses`, `fast_rcnn_losses` and `mask_rcnn_loss` are Detectron2's losses with its
  normalisations.

Ground truth is padded per image: boxes (B, G, 4) XYXY in image pixels, classes (B, G) in
[0, K) for K foreground classes, a (B, G) bool `gt_valid`, masks (B, G, H, W) bool. In the ROI
heads the background class is K (Detectron2's convention), ignored entries are -1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jax3d.ops.detection import Box2BoxTransform, check_boxes, pairwise_iou, roi_align

__all__ = [
    "ROI_BOX_TRANSFORM",
    "ROI_MATCHER",
    "RPN_BOX_TRANSFORM",
    "RPN_MATCHER",
    "Matcher",
    "SampledLabels",
    "SampledProposals",
    "binary_cross_entropy_with_logits",
    "fast_rcnn_losses",
    "label_and_sample_anchors",
    "label_and_sample_proposals",
    "mask_rcnn_loss",
    "mask_targets",
    "rpn_losses",
    "smooth_l1_loss",
    "subsample_labels",
]


@dataclass(frozen=True)
class Matcher:
    """Detectron2's `Matcher`: assigns every prediction its best ground truth and a label.

    With thresholds (t_1 < ... < t_k) and labels (l_0, ..., l_k), a prediction whose best IoU
    lies in [t_i, t_{i+1}) (t_0 = -inf, t_{k+1} = +inf) gets label l_i. The RPN uses
    thresholds (0.3, 0.7), labels (0, -1, 1) and low-quality matches; the ROI heads (0.5,),
    labels (0, 1), no low-quality matches.

    `allow_low_quality_matches`: for every ground truth, the predictions with its highest IoU
    (ties included) get label 1 even below the top threshold (their match stays their own
    best ground truth, as in Detectron2). Unlike Detectron2, a ground truth that overlaps no
    prediction at all (highest IoU 0) promotes nothing.
    """

    thresholds: tuple[float, ...] = (0.3, 0.7)
    labels: tuple[int, ...] = (0, -1, 1)
    allow_low_quality_matches: bool = True

    def __post_init__(self):
        t = tuple(float(v) for v in self.thresholds)
        if list(t) != sorted(t):
            raise ValueError(f"thresholds must be increasing, got {t}")
        if len(self.labels) != len(t) + 1 or any(lb not in (-1, 0, 1) for lb in self.labels):
            raise ValueError(
                f"labels must be len(thresholds) + 1 values in -1, 0, 1: {self.labels}"
            )
        object.__setattr__(self, "thresholds", t)
        object.__setattr__(self, "labels", tuple(int(v) for v in self.labels))

    def __call__(self, match_quality_matrix, gt_valid=None, pred_valid=None):
        """Match.

        Args:
            match_quality_matrix: (G, N) IoU of ground truth g with prediction n.
            gt_valid: optional (G,) bool; padding rows never match.
            pred_valid: optional (N,) bool; padding predictions get label -1.

        Returns:
            matches (N,) int32 (index of the best valid ground truth, 0 when there is none) and
            match_labels (N,) int32 in {-1, 0, 1}. With no valid ground truth every valid
            prediction gets labels[0] (background).
        """
        iou = jnp.asarray(match_quality_matrix)
        if iou.ndim != 2:
            raise ValueError(f"match_quality_matrix must be (G, N), got {iou.shape}")
        G, N = iou.shape
        gt_valid = jnp.ones((G,), bool) if gt_valid is None else jnp.asarray(gt_valid, bool)
        pred_valid = jnp.ones((N,), bool) if pred_valid is None else jnp.asarray(pred_valid, bool)
        if gt_valid.shape != (G,) or pred_valid.shape != (N,):
            raise ValueError(f"gt_valid must be ({G},) and pred_valid ({N},)")
        return _match(self, iou, gt_valid, pred_valid)


@partial(jax.jit, static_argnums=0)
def _match(matcher, iou, gt_valid, pred_valid):
    G, N = iou.shape
    q = jnp.where(gt_valid[:, None], iou, -1.0)
    if G == 0:
        matches, vals = jnp.zeros((N,), jnp.int32), jnp.full((N,), -1.0)
    else:
        matches, vals = jnp.argmax(q, axis=0).astype(jnp.int32), jnp.max(q, axis=0)
    any_gt = jnp.any(gt_valid)
    bounds = (-jnp.inf,) + matcher.thresholds + (jnp.inf,)
    labels = jnp.zeros((N,), jnp.int32)
    for lab, lo, hi in zip(matcher.labels, bounds[:-1], bounds[1:]):
        labels = jnp.where((vals >= lo) & (vals < hi), lab, labels)
    labels = jnp.where(any_gt, labels, matcher.labels[0])
    if matcher.allow_low_quality_matches and G > 0:
        q_valid = jnp.where(pred_valid[None, :], q, -1.0)
        best = jnp.max(q_valid, axis=1, keepdims=True)  # (G, 1)
        is_best = (q_valid == best) & (best > 0) & gt_valid[:, None]
        labels = jnp.where(jnp.any(is_best, axis=0), 1, labels)
    return jnp.where(any_gt, matches, 0), jnp.where(pred_valid, labels, -1)


class SampledLabels(NamedTuple):
    """A random subset of labelled predictions.

    Attributes:
        positive: (N,) bool, the sampled foreground.
        negative: (N,) bool, the sampled background.
        indices: (S,) int32 sampled indices, foreground first (by index), then background;
            -1 padding where fewer than S were available.
        valid: (S,) bool.
    """

    positive: jax.Array
    negative: jax.Array
    indices: jax.Array
    valid: jax.Array


def _random_subset(mask, count, key):
    """(N,) bool: `count` (traced) entries of `mask` chosen uniformly at random."""
    r = jax.random.uniform(key, mask.shape)
    order = jnp.argsort(jnp.where(mask, r, 2.0))
    rank = (
        jnp.zeros(mask.shape, jnp.int32).at[order].set(jnp.arange(mask.shape[0], dtype=jnp.int32))
    )
    return mask & (rank < count)


def subsample_labels(
    labels, num_samples: int, positive_fraction: float, bg_label: int, *, key
) -> SampledLabels:
    """Detectron2's `subsample_labels` with static shapes.

    Foreground is every label other than -1 and `bg_label`. At most
    `floor(num_samples * positive_fraction)` foreground entries are drawn, then background
    fills up to `num_samples`; each draw is uniform without replacement.

    Args:
        labels: (N,) int labels (-1 ignored).
        num_samples: S, static.
        positive_fraction: in [0, 1].
        bg_label: the background label (0 for the RPN, K for the ROI heads).
        key: PRNG key.

    Returns:
        `SampledLabels`.
    """
    labels = jnp.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be (N,), got {labels.shape}")
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive int, got {num_samples!r}")
    if not 0.0 <= positive_fraction <= 1.0:
        raise ValueError(f"positive_fraction must be in [0, 1], got {positive_fraction}")
    return _subsample(labels, num_samples, float(positive_fraction), int(bg_label), key)


@partial(jax.jit, static_argnums=(1, 2, 3))
def _subsample(labels, num_samples, positive_fraction, bg_label, key):
    is_pos = (labels != -1) & (labels != bg_label)
    is_neg = labels == bg_label
    num_pos = jnp.minimum(jnp.sum(is_pos), int(num_samples * positive_fraction))
    num_neg = jnp.minimum(jnp.sum(is_neg), num_samples - num_pos)
    k_pos, k_neg = jax.random.split(key)
    pos = _random_subset(is_pos, num_pos, k_pos)
    neg = _random_subset(is_neg, num_neg, k_neg)
    priority = jnp.where(pos, 0, jnp.where(neg, 1, 2))
    order = jnp.argsort(priority, stable=True)
    if order.shape[0] < num_samples:
        order = jnp.concatenate([order, jnp.zeros((num_samples - order.shape[0],), order.dtype)])
    order = order[:num_samples]
    valid = (jnp.arange(num_samples) < num_pos + num_neg) & (priority[order] < 2)
    return SampledLabels(pos, neg, jnp.where(valid, order, -1).astype(jnp.int32), valid)


def _check_gt(gt_boxes, gt_valid):
    gt_boxes = check_boxes("gt_boxes", gt_boxes)
    if gt_boxes.ndim != 3:
        raise ValueError(f"gt_boxes must be (B, G, 4), got {gt_boxes.shape}")
    if gt_valid is None:
        gt_valid = jnp.ones(gt_boxes.shape[:2], bool)
    gt_valid = jnp.asarray(gt_valid, bool)
    if gt_valid.shape != gt_boxes.shape[:2]:
        raise ValueError(f"gt_valid must be {gt_boxes.shape[:2]}, got {gt_valid.shape}")
    return gt_boxes, gt_valid


# Detectron2's Mask R-CNN defaults.
RPN_MATCHER = Matcher((0.3, 0.7), (0, -1, 1), True)
ROI_MATCHER = Matcher((0.5,), (0, 1), False)
RPN_BOX_TRANSFORM = Box2BoxTransform((1.0, 1.0, 1.0, 1.0))
ROI_BOX_TRANSFORM = Box2BoxTransform((10.0, 10.0, 5.0, 5.0))


def label_and_sample_anchors(
    anchors, gt_boxes, gt_valid=None, *, key, matcher: Matcher = RPN_MATCHER,
    batch_size_per_image: int = 256, positive_fraction: float = 0.5,
):  # fmt: skip
    """RPN targets (Detectron2's `RPN.label_and_sample_anchors`).

    Args:
        anchors: (N, 4) anchors of all levels, concatenated.
        gt_boxes: (B, G, 4); gt_valid: optional (B, G) bool.
        key: PRNG key (split per image).
        matcher, batch_size_per_image, positive_fraction: Detectron2's RPN defaults.

    Returns:
        gt_labels (B, N) int32: 1 sampled foreground, 0 sampled background, -1 not sampled;
        matched_gt_boxes (B, N, 4): the matched ground-truth box of each anchor (zeros for
        images without ground truth).
    """
    anchors = check_boxes("anchors", anchors)
    gt_boxes, gt_valid = _check_gt(gt_boxes, gt_valid)
    if not isinstance(batch_size_per_image, int):
        raise ValueError(f"batch_size_per_image must be an int, got {batch_size_per_image!r}")
    return _label_anchors(
        anchors, gt_boxes, gt_valid, key, matcher, batch_size_per_image, float(positive_fraction)
    )


@partial(jax.jit, static_argnums=(4, 5, 6))
def _label_anchors(anchors, gt_boxes, gt_valid, key, matcher, batch_size, fraction):
    def one(boxes, valid, k):
        matches, labels = matcher(pairwise_iou(boxes, anchors), valid)
        s = subsample_labels(labels, batch_size, fraction, 0, key=k)
        out = jnp.where(s.positive, 1, jnp.where(s.negative, 0, -1)).astype(jnp.int32)
        if boxes.shape[0] == 0:
            return out, jnp.zeros(anchors.shape, anchors.dtype)
        return out, jnp.where(jnp.any(valid), boxes[matches], 0.0)

    return jax.vmap(one)(gt_boxes, gt_valid, jax.random.split(key, gt_boxes.shape[0]))


class SampledProposals(NamedTuple):
    """Proposals sampled for the ROI heads, S = batch_size_per_image per image.

    Attributes:
        boxes: (B, S, 4) proposal boxes (zeros where not valid).
        gt_classes: (B, S) int32 in [0, K]: the matched class, K for background.
        gt_boxes: (B, S, 4) the matched ground-truth boxes (meaningful for foreground).
        matched_idxs: (B, S) int32 index of the matched ground truth in [0, G).
        valid: (B, S) bool.
    """

    boxes: jax.Array
    gt_classes: jax.Array
    gt_boxes: jax.Array
    matched_idxs: jax.Array
    valid: jax.Array


def label_and_sample_proposals(
    proposals, proposals_valid, gt_boxes, gt_classes, gt_valid=None, *, key, num_classes: int,
    matcher: Matcher = ROI_MATCHER, batch_size_per_image: int = 512,
    positive_fraction: float = 0.25, proposal_append_gt: bool = True,
) -> SampledProposals:  # fmt: skip
    """ROI-head targets (Detectron2's `ROIHeads.label_and_sample_proposals`).

    The ground-truth boxes are appended to the proposals (`proposal_append_gt`), proposals are
    matched (IoU >= 0.5 foreground), labelled with the matched class (background K), and
    `batch_size_per_image` are sampled with at most `positive_fraction` foreground.

    Args:
        proposals: (B, P, 4); proposals_valid: (B, P) bool.
        gt_boxes: (B, G, 4); gt_classes: (B, G) int in [0, K); gt_valid: optional (B, G).
        key: PRNG key; num_classes: K.

    Returns:
        `SampledProposals`.
    """
    gt_boxes, gt_valid = _check_gt(gt_boxes, gt_valid)
    proposals = check_boxes("proposals", proposals)
    proposals_valid = jnp.asarray(proposals_valid, bool)
    if proposals.ndim != 3 or proposals_valid.shape != proposals.shape[:2]:
        raise ValueError(f"proposals must be (B, P, 4) with (B, P) valid: {proposals.shape}")
    gt_classes = jnp.asarray(gt_classes, jnp.int32)
    if gt_classes.shape != gt_boxes.shape[:2]:
        raise ValueError(f"gt_classes must be {gt_boxes.shape[:2]}, got {gt_classes.shape}")
    if proposal_append_gt:
        proposals = jnp.concatenate([proposals, gt_boxes.astype(proposals.dtype)], 1)
        proposals_valid = jnp.concatenate([proposals_valid, gt_valid], 1)
    if gt_boxes.shape[1] == 0:
        raise ValueError("gt_boxes must hold G >= 1 boxes per image (pad with gt_valid False)")
    if not isinstance(batch_size_per_image, int) or not isinstance(num_classes, int):
        raise ValueError("batch_size_per_image and num_classes must be ints")
    return _label_proposals(
        proposals, proposals_valid, gt_boxes, gt_classes, gt_valid, key, matcher,
        batch_size_per_image, float(positive_fraction), num_classes,
    )  # fmt: skip


@partial(jax.jit, static_argnums=(6, 7, 8, 9))
def _label_proposals(
    proposals, proposals_valid, gt_boxes, gt_classes, gt_valid, key, matcher, batch_size,
    fraction, num_classes,
):  # fmt: skip
    def one(props, pvalid, boxes, classes, gvalid, k):
        matches, labels = matcher(pairwise_iou(boxes, props), gvalid, pvalid)
        cls = jnp.where(labels == 1, classes[matches], jnp.where(labels == 0, num_classes, -1))
        s = subsample_labels(cls, batch_size, fraction, num_classes, key=k)
        i = jnp.maximum(s.indices, 0)
        return SampledProposals(
            jnp.where(s.valid[:, None], props[i], 0.0), jnp.where(s.valid, cls[i], -1),
            boxes[matches[i]], matches[i], s.valid,
        )  # fmt: skip

    keys = jax.random.split(key, gt_boxes.shape[0])
    return jax.vmap(one)(proposals, proposals_valid, gt_boxes, gt_classes, gt_valid, keys)


def smooth_l1_loss(input, target, beta: float) -> jax.Array:
    """Elementwise smooth-L1 (fvcore's): 0.5 x^2 / beta below beta, |x| - beta / 2 above;
    plain L1 when beta < 1e-5 (Detectron2's default beta 0.0)."""
    x = jnp.abs(jnp.asarray(input) - jnp.asarray(target))
    if beta < 1e-5:
        return x
    return jnp.where(x < beta, 0.5 * x * x / beta, x - 0.5 * beta)


def binary_cross_entropy_with_logits(logits, targets) -> jax.Array:
    """Elementwise, numerically stable: max(x, 0) - x z + log(1 + exp(-|x|))."""
    x, z = jnp.asarray(logits), jnp.asarray(targets, jnp.asarray(logits).dtype)
    return jnp.maximum(x, 0.0) - x * z + jnp.log1p(jnp.exp(-jnp.abs(x)))


def rpn_losses(
    anchors, pred_objectness_logits, pred_anchor_deltas, gt_labels, matched_gt_boxes, *,
    box2box_transform: Box2BoxTransform = RPN_BOX_TRANSFORM,
    batch_size_per_image: int = 256, smooth_l1_beta: float = 0.0,
) -> dict[str, jax.Array]:  # fmt: skip
    """Detectron2's RPN losses.

    `loss_rpn_cls`: binary cross-entropy of the objectness logits over the sampled anchors
    (labels 0 / 1); `loss_rpn_loc`: smooth-L1 (L1 for beta 0) between predicted deltas and the
    deltas of the matched ground truth over the sampled foreground. Both are sums divided by
    `batch_size_per_image * B`, as in Detectron2.

    Args:
        anchors: (N, 4); pred_objectness_logits: (B, N); pred_anchor_deltas: (B, N, 4);
        gt_labels: (B, N) in {-1, 0, 1}; matched_gt_boxes: (B, N, 4)
        (from `label_and_sample_anchors`).

    Returns:
        {"loss_rpn_cls": scalar, "loss_rpn_loc": scalar}.
    """
    logits = jnp.asarray(pred_objectness_logits)
    deltas = jnp.asarray(pred_anchor_deltas)
    gt_labels = jnp.asarray(gt_labels)
    if logits.ndim != 2 or deltas.shape != logits.shape + (4,) or gt_labels.shape != logits.shape:
        raise ValueError(
            f"pred_objectness_logits (B, N), pred_anchor_deltas (B, N, 4) and gt_labels (B, N)"
            f" expected, got {logits.shape}, {deltas.shape}, {gt_labels.shape}"
        )
    return _rpn_losses(
        check_boxes("anchors", anchors), logits, deltas, gt_labels,
        check_boxes("matched_gt_boxes", matched_gt_boxes), box2box_transform,
        batch_size_per_image, float(smooth_l1_beta),
    )  # fmt: skip


@partial(jax.jit, static_argnums=(5, 6, 7))
def _rpn_losses(
    anchors, logits, deltas, gt_labels, matched_gt_boxes, box2box_transform,
    batch_size_per_image, smooth_l1_beta,
):  # fmt: skip
    target = box2box_transform.get_deltas(anchors[None], matched_gt_boxes)
    pos = (gt_labels == 1)[..., None]
    loc = jnp.sum(
        jnp.where(pos, smooth_l1_loss(deltas, jnp.where(pos, target, 0.0), smooth_l1_beta), 0.0)
    )
    bce = binary_cross_entropy_with_logits(logits, gt_labels == 1)
    cls = jnp.sum(jnp.where(gt_labels >= 0, bce, 0.0))
    normalizer = float(batch_size_per_image * logits.shape[0])
    return {"loss_rpn_cls": cls / normalizer, "loss_rpn_loc": loc / normalizer}


def fast_rcnn_losses(
    pred_class_logits, pred_proposal_deltas, proposal_boxes, gt_classes, gt_boxes, valid=None,
    *, box2box_transform: Box2BoxTransform = ROI_BOX_TRANSFORM,
    smooth_l1_beta: float = 0.0,
) -> dict[str, jax.Array]:  # fmt: skip
    """Detectron2's box-head losses (`FastRCNNOutputLayers.losses`).

    `loss_cls`: softmax cross-entropy over K + 1 classes, mean over the sampled proposals;
    `loss_box_reg`: smooth-L1 of the deltas of the ground-truth class (or the class-agnostic
    deltas) against the encoded matched box, summed over foreground and divided by the number
    of sampled proposals.

    Args:
        pred_class_logits: (B, S, K + 1); pred_proposal_deltas: (B, S, 4 K) or (B, S, 4).
        proposal_boxes: (B, S, 4); gt_classes: (B, S) in [0, K] (K background, -1 ignored);
        gt_boxes: (B, S, 4) matched boxes; valid: optional (B, S) bool.

    Returns:
        {"loss_cls": scalar, "loss_box_reg": scalar}.
    """
    logits = jnp.asarray(pred_class_logits)
    deltas = jnp.asarray(pred_proposal_deltas)
    gt_classes = jnp.asarray(gt_classes, jnp.int32)
    if logits.ndim != 3 or gt_classes.shape != logits.shape[:2]:
        raise ValueError(f"pred_class_logits (B, S, K + 1) and gt_classes (B, S) expected, got "
                         f"{logits.shape}, {gt_classes.shape}")  # fmt: skip
    K = logits.shape[-1] - 1
    if deltas.shape[:2] != logits.shape[:2] or deltas.shape[-1] not in (4, 4 * K):
        raise ValueError(
            f"pred_proposal_deltas must be (B, S, 4 K) or (B, S, 4), got {deltas.shape}"
        )
    valid = jnp.ones(gt_classes.shape, bool) if valid is None else jnp.asarray(valid, bool)
    return _fast_rcnn_losses(
        logits, deltas, check_boxes("proposal_boxes", proposal_boxes), gt_classes,
        check_boxes("gt_boxes", gt_boxes), valid, box2box_transform, float(smooth_l1_beta),
    )  # fmt: skip


@partial(jax.jit, static_argnums=(6, 7))
def _fast_rcnn_losses(
    logits, deltas, proposal_boxes, gt_classes, gt_boxes, valid, box2box_transform, smooth_l1_beta
):  # fmt: skip
    K = logits.shape[-1] - 1
    valid = valid & (gt_classes >= 0)
    n = jnp.maximum(jnp.sum(valid), 1).astype(logits.dtype)
    logp = jax.nn.log_softmax(logits, axis=-1)
    nll = -jnp.take_along_axis(logp, jnp.clip(gt_classes, 0, K)[..., None], -1)[..., 0]
    loss_cls = jnp.sum(jnp.where(valid, nll, 0.0)) / n
    fg = valid & (gt_classes < K)
    if deltas.shape[-1] == 4 * K and K > 1:
        d = deltas.reshape(deltas.shape[:2] + (K, 4))
        deltas = jnp.take_along_axis(d, jnp.clip(gt_classes, 0, K - 1)[..., None, None], 2)[:, :, 0]
    target = box2box_transform.get_deltas(proposal_boxes, gt_boxes)
    per = jnp.sum(smooth_l1_loss(deltas, jnp.where(fg[..., None], target, 0.0), smooth_l1_beta), -1)
    return {"loss_cls": loss_cls, "loss_box_reg": jnp.sum(jnp.where(fg, per, 0.0)) / n}


def mask_targets(
    gt_masks, proposal_boxes, matched_idxs, mask_size: int = 28, sampling_ratio: int = 2
) -> jax.Array:
    """Mask targets: each proposal's matched ground-truth mask cropped and resized to the box.

    Detectron2's `BitMasks.crop_and_resize`: ROIAlign (aligned=True, spatial scale 1) of the
    binary mask over the proposal box, thresholded at 0.5. Detectron2 uses the adaptive
    sampling ratio; here it is a fixed `sampling_ratio` (static shapes; see `roi_align`).

    Args:
        gt_masks: (B, G, H, W) bool or float in [0, 1], at input-image resolution.
        proposal_boxes: (B, S, 4) in image pixels; matched_idxs: (B, S) int in [0, G).
        mask_size: M, the side of the targets (28 in Mask R-CNN).

    Returns:
        (B, S, M, M) float32 in {0, 1}.
    """
    masks = jnp.asarray(gt_masks)
    if masks.ndim != 4:
        raise ValueError(f"gt_masks must be (B, G, H, W), got {masks.shape}")
    idx = jnp.asarray(matched_idxs, jnp.int32)
    boxes = check_boxes("proposal_boxes", proposal_boxes)
    if boxes.ndim != 3 or idx.shape != boxes.shape[:2] or boxes.shape[0] != masks.shape[0]:
        raise ValueError(f"proposal_boxes (B, S, 4) and matched_idxs (B, S) expected, got "
                         f"{boxes.shape}, {idx.shape}")  # fmt: skip
    if not isinstance(sampling_ratio, int) or sampling_ratio < 1:
        raise ValueError(f"sampling_ratio must be an int >= 1, got {sampling_ratio!r}")
    return _mask_targets(masks, boxes, idx, mask_size, sampling_ratio)


@partial(jax.jit, static_argnums=(3, 4))
def _mask_targets(masks, proposal_boxes, idx, mask_size, sampling_ratio):
    feats = masks.astype(jnp.float32).transpose(0, 2, 3, 1)  # (B, H, W, G): masks as channels
    crops = roi_align(feats, proposal_boxes, mask_size, 1.0, sampling_ratio, True)  # (B,S,M,M,G)
    picked = jnp.take_along_axis(crops, idx[:, :, None, None, None], axis=-1)[..., 0]
    return (picked >= 0.5).astype(jnp.float32)


def mask_rcnn_loss(pred_mask_logits, gt_classes, gt_masks, valid=None, *, num_classes: int):
    """Detectron2's `mask_rcnn_loss`: per-pixel binary cross-entropy of the mask logits of the
    ground-truth class (or the class-agnostic channel), mean over foreground proposals' pixels;
    0 (with zero gradients) when there is no foreground.

    Args:
        pred_mask_logits: (B, S, M, M, K) or (B, S, M, M, 1) channels-last.
        gt_classes: (B, S) in [0, K] (K background, -1 ignored).
        gt_masks: (B, S, M, M) targets from `mask_targets`.
        valid: optional (B, S) bool.
        num_classes: K.

    Returns:
        scalar.
    """
    logits = jnp.asarray(pred_mask_logits)
    gt_classes = jnp.asarray(gt_classes, jnp.int32)
    gt_masks = jnp.asarray(gt_masks)
    if logits.ndim != 5 or logits.shape[-1] not in (1, num_classes):
        raise ValueError(f"pred_mask_logits must be (B, S, M, M, {num_classes} or 1), got "
                         f"{logits.shape}")  # fmt: skip
    if gt_masks.shape != logits.shape[:4] or gt_classes.shape != logits.shape[:2]:
        raise ValueError(f"gt_masks {gt_masks.shape} / gt_classes {gt_classes.shape} do not "
                         f"match pred_mask_logits {logits.shape}")  # fmt: skip
    valid = jnp.ones(gt_classes.shape, bool) if valid is None else jnp.asarray(valid, bool)
    return _mask_rcnn_loss(logits, gt_classes, gt_masks, valid, num_classes)


@partial(jax.jit, static_argnums=4)
def _mask_rcnn_loss(logits, gt_classes, gt_masks, valid, num_classes):
    fg = (gt_classes >= 0) & (gt_classes < num_classes) & valid
    c = jnp.clip(gt_classes, 0, logits.shape[-1] - 1)
    x = jnp.take_along_axis(logits, c[:, :, None, None, None], axis=-1)[..., 0]  # (B, S, M, M)
    bce = binary_cross_entropy_with_logits(x, gt_masks)
    n = jnp.maximum(jnp.sum(fg) * math.prod(logits.shape[2:4]), 1).astype(x.dtype)
    return jnp.sum(jnp.where(fg[..., None, None], bce, 0.0)) / n
