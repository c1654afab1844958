"""Static-shape NMS and the RPN's proposal selection against naive Python references."""

import jax
import numpy as np
import pytest

from jax3d.ops.detection import batched_nms, find_top_rpn_proposals, nms


def _iou(p, q):
    iw = min(p[2], q[2]) - max(p[0], q[0])
    ih = min(p[3], q[3]) - max(p[1], q[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter)


def nms_naive(boxes, scores, thresh, k, valid=None, idxs=None):
    """torchvision's greedy NMS, one box at a time; returns kept indices, best first."""
    n = len(scores)
    valid = np.ones(n, bool) if valid is None else valid
    idxs = np.zeros(n, int) if idxs is None else idxs
    keep = []
    for i in sorted(range(n), key=lambda i: (-scores[i], i)):
        if not valid[i]:
            continue
        if all(idxs[i] != idxs[j] or _iou(boxes[i], boxes[j]) <= thresh for j in keep):
            keep.append(i)
        if len(keep) == k:
            break
    return keep


def _clustered_boxes(rng, n):
    """Boxes around 4 centres, so many pairs overlap."""
    centres = rng.uniform(10, 50, (4, 2))[rng.integers(0, 4, n)]
    xy = centres + rng.normal(0, 3, (n, 2))
    wh = rng.uniform(4, 16, (n, 2))
    return np.concatenate([xy - wh / 2, xy + wh / 2], 1).astype(np.float32)


def _as_list(res):
    idx, ok = np.asarray(res.indices), np.asarray(res.valid)
    assert np.all(idx[~ok] == -1) and np.all(ok[: ok.sum()])  # valid entries come first
    return idx[ok].tolist()


@pytest.mark.parametrize("k", [5, 40])
def test_nms_against_naive(k):
    rng = np.random.default_rng(k)
    for _ in range(3):
        boxes = _clustered_boxes(rng, 40)
        scores = rng.uniform(0, 1, 40).astype(np.float32)
        scores[:6] = 0.5  # ties: the lower index goes first
        valid = rng.uniform(size=40) > 0.2
        for thresh in (0.3, 0.6):
            res = nms(boxes, scores, thresh, max_output_size=k, valid=valid)
            assert _as_list(res) == nms_naive(boxes, scores, thresh, k, valid)


def test_nms_edge_cases():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], np.float32)
    scores = np.array([0.9, np.nan, 0.8], np.float32)  # NaN scores are never kept
    res = nms(boxes, scores, 0.5, max_output_size=4)
    assert _as_list(res) == [0, 2]
    iou01 = 81.0 / 100.0
    s = np.array([0.9, 0.95, 0.1], np.float32)
    assert _as_list(nms(boxes, s, iou01, max_output_size=3)) == [1, 0, 2]  # not > threshold
    assert _as_list(nms(boxes, s, iou01 - 1e-3, max_output_size=3)) == [1, 2]
    none = nms(boxes, s, 0.5, max_output_size=2, valid=np.zeros(3, bool))
    assert not np.any(none.valid) and np.all(none.indices == -1)
    with pytest.raises(ValueError, match="max_output_size"):
        nms(boxes, s, 0.5, max_output_size=0)
    with pytest.raises(ValueError, match="scores"):
        nms(boxes, s[:2], 0.5, max_output_size=2)


def test_batched_nms_and_vmap():
    rng = np.random.default_rng(3)
    boxes = np.stack([_clustered_boxes(rng, 30) for _ in range(2)])
    scores = rng.uniform(size=(2, 30)).astype(np.float32)
    classes = rng.integers(0, 3, (2, 30))
    run = jax.jit(
        jax.vmap(lambda b, s, c: batched_nms(b, s, c, 0.4, max_output_size=12))
    )  # fmt: skip
    res = run(boxes, scores, classes)
    for i in range(2):
        expected = nms_naive(boxes[i], scores[i], 0.4, 12, idxs=classes[i])
        assert _as_list(type(res)(res.indices[i], res.valid[i])) == expected


def _proposals_naive(boxes, logits, image_size, pre, post, thresh, min_size):
    cand, cand_logit, cand_level = [], [], []
    for level, (b, s) in enumerate(zip(boxes, logits)):
        top = np.argsort(-s, kind="stable")[:pre]
        hw = np.array([image_size[1], image_size[0]] * 2)
        cand += list(np.clip(b[top], 0, hw))
        cand_logit += list(s[top])
        cand_level += [level] * len(top)
    cand, cand_logit = np.asarray(cand), np.asarray(cand_logit)
    ok = ((cand[:, 2] - cand[:, 0]) > min_size) & ((cand[:, 3] - cand[:, 1]) > min_size)
    keep = nms_naive(cand, cand_logit, thresh, post, ok, np.asarray(cand_level))
    return cand[keep], cand_logit[keep]


def test_find_top_rpn_proposals_against_naive():
    rng = np.random.default_rng(5)
    sizes = np.array([[40, 60], [30, 35]], np.float32)
    boxes = [np.stack([_clustered_boxes(rng, n) for _ in range(2)]) for n in (24, 10)]
    logits = [rng.normal(size=(2, n)).astype(np.float32) for n in (24, 10)]
    logits[1][0, 3] = np.inf  # non-finite logits are dropped
    out = find_top_rpn_proposals(
        boxes, logits, sizes, nms_thresh=0.5, pre_nms_topk=8, post_nms_topk=9, min_box_size=3.0
    )
    logits[1][0, 3] = -np.inf  # the reference never picks it
    for i in range(2):
        b, s = _proposals_naive(
            [x[i] for x in boxes], [x[i] for x in logits], sizes[i], 8, 9, 0.5, 3.0
        )
        n = len(s)
        assert int(out.valid[i].sum()) == n and bool(np.all(out.valid[i, :n]))
        np.testing.assert_allclose(out.boxes[i, :n], b, atol=1e-5)
        np.testing.assert_allclose(out.logits[i, :n], s)
        assert np.all(np.isneginf(out.logits[i, n:]))
