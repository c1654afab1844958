"""Mask R-CNN targets and losses (jax3d.loss.detection) on hand-made cases."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.loss.detection import (
    ROI_MATCHER,
    RPN_MATCHER,
    fast_rcnn_losses,
    label_and_sample_anchors,
    label_and_sample_proposals,
    mask_rcnn_loss,
    mask_targets,
    rpn_losses,
    smooth_l1_loss,
    subsample_labels,
)
from jax3d.ops.detection import Box2BoxTransform

IOU = np.array([[0.8, 0.5, 0.1, 0.2, 0.0], [0.1, 0.6, 0.25, 0.65, 0.0]], np.float32)


def test_matcher_by_hand():
    matches, labels = RPN_MATCHER(IOU)
    np.testing.assert_array_equal(matches, [0, 1, 1, 1, 0])
    # best IoUs 0.8, 0.6, 0.25, 0.65, 0: >= 0.7 fg, < 0.3 bg, between ignored; then each gt's
    # best prediction (0 for gt 0, 3 for gt 1) is promoted to foreground
    np.testing.assert_array_equal(labels, [1, -1, 0, 1, 0])
    no_low = type(RPN_MATCHER)((0.3, 0.7), (0, -1, 1), allow_low_quality_matches=False)
    np.testing.assert_array_equal(no_low(IOU)[1], [1, -1, 0, -1, 0])
    np.testing.assert_array_equal(ROI_MATCHER(IOU)[1], [1, 1, 0, 1, 0])
    # gt 1 is padding: only gt 0 counts
    m, lab = RPN_MATCHER(IOU, gt_valid=[True, False])
    np.testing.assert_array_equal(m, [0, 0, 0, 0, 0])
    np.testing.assert_array_equal(lab, [1, -1, 0, 0, 0])
    # ties for a gt's best are all promoted; padded predictions are ignored
    tie = np.array([[0.4, 0.4, 0.1]], np.float32)
    np.testing.assert_array_equal(RPN_MATCHER(tie)[1], [1, 1, 0])
    np.testing.assert_array_equal(RPN_MATCHER(tie, pred_valid=[True, False, True])[1], [1, -1, 0])
    # no ground truth: all background
    np.testing.assert_array_equal(RPN_MATCHER(IOU, gt_valid=[False, False])[1], [0] * 5)
    with pytest.raises(ValueError, match="thresholds"):
        type(RPN_MATCHER)((0.7, 0.3), (0, -1, 1))


def test_subsample_labels_counts_and_order():
    labels = np.array([1] * 10 + [0] * 50 + [-1] * 5)
    s = subsample_labels(labels, 16, 0.25, 0, key=np.array([0, 7], np.uint32))
    assert int(s.positive.sum()) == 4 and int(s.negative.sum()) == 12
    assert np.all(labels[np.asarray(s.positive)] == 1) and np.all(
        labels[np.asarray(s.negative)] == 0
    )
    idx = np.asarray(s.indices)
    assert np.all(s.valid) and np.all(labels[idx[:4]] == 1) and np.all(labels[idx[4:]] == 0)
    assert sorted(idx.tolist()) == np.flatnonzero(s.positive | s.negative).tolist()
    few = subsample_labels(np.array([3, 3, 7, 7, 7, -1]), 8, 0.5, 7, key=jax.random.key(1))
    np.testing.assert_array_equal(few.valid, [True] * 5 + [False] * 3)
    np.testing.assert_array_equal(few.indices[5:], -1)
    # every positive is equally likely: 4 of 10 drawn -> frequency 0.4
    # raw uint32 keys as NumPy rows: the compiled call above is reused, no eager slicing
    keys = np.asarray(jax.random.key_data(jax.random.split(jax.random.key(2), 300)))
    pos = np.stack([subsample_labels(labels, 16, 0.25, 0, key=k).positive for k in keys])
    np.testing.assert_allclose(np.mean(pos[:, :10], 0), 0.4, atol=0.1)


def test_label_and_sample_anchors_by_hand():
    anchors = np.array(
        [[0, 0, 10, 10], [0, 0, 20, 20], [50, 50, 60, 60], [5, 0, 15, 10]], np.float32
    )  # fmt: skip
    gt = np.array([[[0, 0, 10, 10], [0, 0, 0, 0]], [[0, 0, 0, 0], [0, 0, 0, 0]]], np.float32)
    valid = np.array([[True, False], [False, False]])
    labels, matched = label_and_sample_anchors(anchors, gt, valid, key=jax.random.key(0))
    # IoUs with the gt: 1, 0.25, 0, 1/3 -> fg, bg, bg, ignored; the second image: background
    np.testing.assert_array_equal(labels, [[1, 0, 0, -1], [0, 0, 0, 0]])
    np.testing.assert_allclose(matched[0, 0], gt[0, 0])
    np.testing.assert_allclose(matched[1], 0.0)


def test_label_and_sample_proposals_by_hand():
    proposals = np.array([[[0, 0, 10, 10], [1, 1, 11, 11], [30, 30, 40, 40], [0, 0, 0, 0]]])
    gt = np.array([[[0, 0, 10, 10], [30, 30, 35, 40]]], np.float32)
    out = label_and_sample_proposals(
        proposals.astype(np.float32), [[True, True, True, False]], gt, [[2, 0]],
        key=jax.random.key(0), num_classes=3, batch_size_per_image=8, positive_fraction=0.75,
    )  # fmt: skip
    # foreground: proposals 0 (IoU 1), 1 (IoU 81/119 > .5), 2 (IoU .5 with gt 1), both
    # appended gt boxes; padding never sampled; the background class is K = 3
    v = np.asarray(out.valid[0])
    assert v.sum() == 5 and np.all(out.gt_classes[0, v] < 3)
    got = sorted(zip(np.asarray(out.boxes[0, v]).tolist(), np.asarray(out.gt_classes[0, v])))
    expected = sorted([([0, 0, 10, 10], 2), ([0, 0, 10, 10], 2), ([1, 1, 11, 11], 2),
                       ([30, 30, 40, 40], 0), ([30, 30, 35, 40], 0)])  # fmt: skip
    assert [(b, int(c)) for b, c in got] == expected
    for b, g in zip(np.asarray(out.boxes[0, v]), np.asarray(out.gt_boxes[0, v])):
        assert np.array_equal(g, gt[0, 0] if b[0] < 20 else gt[0, 1])
    bg = label_and_sample_proposals(
        np.array([[[50, 50, 60, 60]]], np.float32), [[True]], gt, [[2, 0]],
        key=jax.random.key(1), num_classes=3, batch_size_per_image=4, proposal_append_gt=False,
    )  # fmt: skip
    np.testing.assert_array_equal(bg.gt_classes, [[3, -1, -1, -1]])


def _bce(x, z):
    return -(z * math.log(1 / (1 + math.exp(-x))) + (1 - z) * math.log(1 - 1 / (1 + math.exp(-x))))


def test_rpn_losses_by_hand():
    anchors = np.array([[0, 0, 10, 10], [0, 0, 20, 20], [5, 5, 9, 9]], np.float32)
    matched = np.array([[[0, 0, 20, 10], [0, 0, 20, 20], [0, 0, 0, 0]]], np.float32)
    logits = np.array([[1.5, -0.5, 3.0]], np.float32)
    labels = np.array([[1, 0, -1]])
    deltas = np.zeros((1, 3, 4), np.float32)
    deltas[0, 0] = [0.1, 0.0, 0.0, 0.0]
    out = rpn_losses(anchors, logits, deltas, labels, matched, batch_size_per_image=4)
    # anchor 0 -> (0, 0, 20, 10): deltas (0.5, 0, log 2, 0), L1 vs (0.1, 0, 0, 0)
    np.testing.assert_allclose(out["loss_rpn_loc"], (0.4 + math.log(2.0)) / 4, rtol=1e-5)
    np.testing.assert_allclose(out["loss_rpn_cls"], (_bce(1.5, 1) + _bce(-0.5, 0)) / 4, rtol=1e-5)
    beta = smooth_l1_loss(np.array([0.05, 2.0]), 0.0, beta=0.1)
    np.testing.assert_allclose(beta, [0.5 * 0.05**2 / 0.1, 2.0 - 0.05], rtol=1e-6)


def test_fast_rcnn_losses_by_hand():
    logits = np.array([[[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 5.0]]], np.float32)
    gt_classes = np.array([[0, 2, 1]])  # K = 2: the second proposal is background
    props = np.array([[[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]]], np.float32)
    gts = np.array([[[0, 0, 10, 20], [0, 0, 0, 0], [2, 0, 12, 10]]], np.float32)
    deltas = np.zeros((1, 3, 8), np.float32)
    deltas[0, 2, :4] = 7.0  # class-0 deltas of a class-1 proposal: not used
    out = fast_rcnn_losses(logits, deltas, props, gt_classes, gts, valid=[[True, True, True]])
    lse = lambda v: math.log(sum(math.exp(t) for t in v))  # noqa: E731
    ce = [lse([2, 0, 0]) - 2, lse([0, 1, 0]) - 0, lse([0, 0, 5]) - 0]
    np.testing.assert_allclose(out["loss_cls"], sum(ce) / 3, rtol=1e-5)
    # weights (10, 10, 5, 5): proposal 0 -> (0, 10 * 5 / 10, 0, 5 log 2),
    # proposal 2 -> (10 * 2 / 10, 0, 0, 0)
    box = 5.0 + 5 * math.log(2.0) + 2.0
    np.testing.assert_allclose(out["loss_box_reg"], box / 3, rtol=1e-5)
    agnostic = fast_rcnn_losses(logits, deltas[..., :4], props, gt_classes, gts)
    # the shared deltas (7, 7, 7, 7) of proposal 2 against (2, 0, 0, 0): 5 + 3 * 7
    np.testing.assert_allclose(agnostic["loss_box_reg"], (box - 2.0 + 26.0) / 3, rtol=1e-5)
    masked = fast_rcnn_losses(logits, deltas, props, gt_classes, gts, valid=[[True, False, False]])
    np.testing.assert_allclose(masked["loss_cls"], ce[0], rtol=1e-5)


def test_mask_targets_and_loss_by_hand():
    masks = np.zeros((1, 2, 16, 16), bool)
    masks[0, 0, 4:12, 4:12] = True  # gt 0: a centred square; gt 1: empty
    boxes = np.array([[[4, 4, 12, 12], [0, 0, 16, 16], [0, 0, 16, 16]]], np.float32)
    targets = mask_targets(masks, boxes, [[0, 0, 1]], mask_size=4)
    np.testing.assert_array_equal(targets[0, 0], np.ones((4, 4)))
    ring = np.zeros((4, 4))
    ring[1:3, 1:3] = 1
    np.testing.assert_array_equal(targets[0, 1], ring)
    np.testing.assert_array_equal(targets[0, 2], np.zeros((4, 4)))
    logits = np.zeros((1, 3, 4, 4, 2), np.float32)
    logits[0, :, :, :, 1] = 50.0  # the class-1 channel is never the gt class: ignored
    loss = mask_rcnn_loss(logits, [[0, 0, 2]], targets, num_classes=2)  # 3rd is background
    np.testing.assert_allclose(loss, math.log(2.0), rtol=1e-6)
    logits[0, 0, :, :, 0] = 2.0
    loss = mask_rcnn_loss(logits, [[0, 0, 2]], targets, num_classes=2)
    np.testing.assert_allclose(loss, (16 * _bce(2.0, 1) + 16 * math.log(2.0)) / 32, rtol=1e-5)
    none = jax.grad(lambda x: mask_rcnn_loss(x, jnp.array([[2, 2, 2]]), targets, num_classes=2))
    assert float(mask_rcnn_loss(logits, [[2, 2, 2]], targets, num_classes=2)) == 0.0
    assert np.all(none(jnp.asarray(logits)) == 0.0)


def test_losses_jit_and_grads():
    anchors = jnp.array([[0, 0, 10, 10], [0, 0, 20, 20], [5, 5, 9, 9]], jnp.float32)
    gt = jnp.array([[[0, 0, 12, 10]]], jnp.float32)

    @jax.jit
    def total(logits, deltas, key):
        labels, matched = label_and_sample_anchors(anchors, gt, key=key)
        out = rpn_losses(anchors, logits, deltas, labels, matched,
                         box2box_transform=Box2BoxTransform())  # fmt: skip
        return out["loss_rpn_cls"] + out["loss_rpn_loc"]

    logits, deltas = jnp.zeros((1, 3)), jnp.full((1, 3, 4), 0.3)
    g = jax.grad(total, argnums=(0, 1))(logits, deltas, jax.random.key(0))
    assert all(np.all(np.isfinite(x)) for x in g) and float(jnp.abs(g[0]).sum()) > 0
