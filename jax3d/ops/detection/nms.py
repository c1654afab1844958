"""Non-maximum suppression with static shapes, and the RPN's top-k / NMS proposal selection.

`nms` keeps at most `max_output_size` boxes and returns a fixed-size index array plus a valid
mask, so it runs under `jax.jit` and `jax.vmap`. The algorithm is torchvision's greedy NMS:
boxes are visited by decreasing score (ties: lower index first), and a box is kept unless its
IoU with an already kept box is > `iou_threshold`. Cost: one loop step per kept box (at most
`max_output_size`), each computing the IoU of that box with all N boxes; memory O(N).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jax3d.ops.detection.boxes import check_boxes, clip_boxes, nonempty_boxes, pairwise_iou

__all__ = ["NMSResult", "Proposals", "batched_nms", "find_top_rpn_proposals", "nms"]


class NMSResult(NamedTuple):
    """Kept boxes, best first.

    Attributes:
        indices: (K,) int32: `indices[k] = n` means input box n is the k-th kept box (by
            decreasing score); -1 where `valid[k]` is False (fewer than K boxes kept).
        valid: (K,) bool.
    """

    indices: jax.Array
    valid: jax.Array


def _check_nms_args(boxes, scores, valid, max_output_size):
    boxes = check_boxes("boxes", boxes)
    scores = jnp.asarray(scores)
    if boxes.ndim != 2:
        raise ValueError(f"boxes must be (N, 4), got {boxes.shape} (vmap for batches)")
    if scores.shape != boxes.shape[:1]:
        raise ValueError(f"scores must be (N,) = ({boxes.shape[0]},), got {scores.shape}")
    if not isinstance(max_output_size, int) or max_output_size < 1:
        raise ValueError(f"max_output_size must be a positive int, got {max_output_size!r}")
    if valid is None:
        valid = jnp.ones(scores.shape, bool)
    valid = jnp.asarray(valid, bool)
    if valid.shape != scores.shape:
        raise ValueError(f"valid must be (N,) like scores, got {valid.shape}")
    return boxes, scores, valid


@partial(jax.jit, static_argnames=("max_output_size",))
def _nms(boxes, scores, valid, iou_threshold, max_output_size):
    valid = valid & jnp.isfinite(scores) & jnp.all(jnp.isfinite(boxes), axis=-1)
    order = jnp.argsort(jnp.where(valid, -scores, jnp.inf), stable=True)
    sorted_boxes = jnp.where(valid[:, None], boxes, 0.0)[order]

    # Each step keeps the best box still alive and kills the boxes it overlaps: one O(N) IoU
    # row per kept box, O(N) memory, at most max_output_size steps.
    def cond(state):
        alive, _, count = state
        return (count < max_output_size) & jnp.any(alive)

    def body(state):
        alive, kept, count = state
        i = jnp.argmax(alive)  # the first alive box in score order
        alive = alive & ~(pairwise_iou(sorted_boxes[i][None], sorted_boxes)[0] > iou_threshold)
        return alive.at[i].set(False), kept.at[count].set(i), count + 1

    kept0 = jnp.zeros((max_output_size,), jnp.int32)
    state = (valid[order], kept0, jnp.int32(0))
    _, kept, count = jax.lax.while_loop(cond, body, state)
    ok = jnp.arange(max_output_size) < count
    return NMSResult(jnp.where(ok, order[kept], -1).astype(jnp.int32), ok)


def nms(boxes, scores, iou_threshold, *, max_output_size: int, valid=None) -> NMSResult:
    """Greedy non-maximum suppression with a static output size (see the module doc).

    Args:
        boxes: (N, 4) XYXY boxes.
        scores: (N,) float; NaN / inf scores or non-finite boxes are never kept.
        iou_threshold: float (may be traced); a box is suppressed by a kept box when their
            IoU is > iou_threshold.
        max_output_size: K, static: the size of the outputs.
        valid: optional (N,) bool; False entries (padding) are ignored.

    Returns:
        `NMSResult(indices (K,), valid (K,))`, kept boxes by decreasing score.
    """
    boxes, scores, valid = _check_nms_args(boxes, scores, valid, max_output_size)
    return _nms(boxes, scores, valid, jnp.asarray(iou_threshold, boxes.dtype), max_output_size)


def batched_nms(
    boxes, scores, idxs, iou_threshold, *, max_output_size: int, valid=None
) -> NMSResult:
    """NMS within each category: boxes of different `idxs` never suppress each other.

    Torchvision's coordinate trick: every box is offset by `idxs * (max coordinate + 1)` so
    boxes of different categories cannot overlap, then one `nms` runs.

    Args:
        boxes: (N, 4) XYXY boxes.
        scores: (N,) float.
        idxs: (N,) int category of each box (class id, or FPN level for the RPN).
        iou_threshold, max_output_size, valid: as in `nms`.

    Returns:
        `NMSResult(indices (K,), valid (K,))`, kept boxes of all categories by decreasing score.
    """
    boxes, scores, valid = _check_nms_args(boxes, scores, valid, max_output_size)
    idxs = jnp.asarray(idxs)
    if idxs.shape != scores.shape:
        raise ValueError(f"idxs must be (N,) like scores, got {idxs.shape}")
    finite = jnp.all(jnp.isfinite(boxes), axis=-1) & valid
    span = jnp.max(jnp.where(finite[:, None], jnp.abs(boxes), 0.0)) + 1.0
    shifted = boxes + (idxs.astype(boxes.dtype) * 2.0 * span)[:, None]
    return nms(shifted, scores, iou_threshold, max_output_size=max_output_size, valid=valid)


class Proposals(NamedTuple):
    """Per-image proposals of the RPN, best first.

    Attributes:
        boxes: (B, K, 4) XYXY boxes clipped to the image; zeros where not valid.
        logits: (B, K) objectness logits; -inf where not valid.
        valid: (B, K) bool.
    """

    boxes: jax.Array
    logits: jax.Array
    valid: jax.Array


def _top_k_per_level(boxes, logits, pre_nms_topk):
    """Top-k of each level, concatenated: (B, sum k_l, 4), (B, sum k_l), (sum k_l,) level."""
    out_boxes, out_logits, levels = [], [], []
    for level, (b, s) in enumerate(zip(boxes, logits)):
        k = min(pre_nms_topk, s.shape[1])
        top, idx = jax.lax.top_k(s, k)  # (B, k)
        out_logits.append(top)
        out_boxes.append(jnp.take_along_axis(b, idx[..., None], axis=1))
        levels.append(jnp.full((k,), level, jnp.int32))
    return (
        jnp.concatenate(out_boxes, 1),
        jnp.concatenate(out_logits, 1),
        jnp.concatenate(levels),
    )


def find_top_rpn_proposals(
    proposals,
    pred_objectness_logits,
    image_sizes,
    *,
    nms_thresh: float = 0.7,
    pre_nms_topk: int = 1000,
    post_nms_topk: int = 1000,
    min_box_size: float = 0.0,
) -> Proposals:
    """Detectron2's `find_top_rpn_proposals` with static shapes.

    Per image: the `pre_nms_topk` best boxes of every level, clipped to the image; boxes with a
    side <= `min_box_size` or non-finite values are dropped; NMS within each level
    (`batched_nms` with the level as category); then the `post_nms_topk` best overall.
    Detectron2's Mask R-CNN: pre 2000 / post 1000 per image in training, 1000 / 1000 at test.

    Args:
        proposals: per level, (B, N_l, 4) decoded anchor boxes.
        pred_objectness_logits: per level, (B, N_l) logits.
        image_sizes: (B, 2) (height, width) of each image (may be traced).
        nms_thresh, pre_nms_topk, post_nms_topk (static), min_box_size: as above.

    Returns:
        `Proposals` with K = post_nms_topk.
    """
    if len(proposals) != len(pred_objectness_logits) or not proposals:
        raise ValueError("give the same non-zero number of levels of proposals and logits")
    for b, s in zip(proposals, pred_objectness_logits):
        if b.ndim != 3 or b.shape[-1] != 4 or s.shape != b.shape[:2]:
            raise ValueError(
                f"proposals must be (B, N, 4) and logits (B, N); got {b.shape}, {s.shape}"
            )
    image_sizes = jnp.asarray(image_sizes)
    if image_sizes.shape != (proposals[0].shape[0], 2):
        raise ValueError(f"image_sizes must be (B, 2), got {image_sizes.shape}")
    return _find_top_rpn_proposals(
        [jnp.asarray(b) for b in proposals], [jnp.asarray(s) for s in pred_objectness_logits],
        image_sizes, nms_thresh, min_box_size, pre_nms_topk, post_nms_topk,
    )  # fmt: skip


@partial(jax.jit, static_argnames=("pre_nms_topk", "post_nms_topk"))
def _find_top_rpn_proposals(
    proposals, pred_objectness_logits, image_sizes, nms_thresh, min_box_size, pre_nms_topk,
    post_nms_topk,
):  # fmt: skip
    boxes, logits, levels = _top_k_per_level(proposals, pred_objectness_logits, pre_nms_topk)
    finite = jnp.all(jnp.isfinite(boxes), axis=-1) & jnp.isfinite(logits)
    boxes = clip_boxes(jnp.where(finite[..., None], boxes, 0.0), image_sizes[:, None, :])
    keep = nonempty_boxes(boxes, min_box_size) & finite

    def one(b, s, v):
        res = batched_nms(b, s, levels, nms_thresh, max_output_size=post_nms_topk, valid=v)
        i = jnp.maximum(res.indices, 0)
        out_b = jnp.where(res.valid[:, None], b[i], 0.0)
        return Proposals(out_b, jnp.where(res.valid, s[i], -jnp.inf), res.valid)

    return jax.vmap(one)(boxes, logits, keep)
