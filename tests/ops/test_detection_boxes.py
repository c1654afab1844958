"""Anchors, box coding and pairwise IoU (jax3d.ops.detection) against hand values and loops."""

import math

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given

from jax3d.ops.detection import (
    AnchorGenerator,
    Box2BoxTransform,
    clip_boxes,
    generate_cell_anchors,
    nonempty_boxes,
    pairwise_iou,
)


def test_cell_anchors_by_hand():
    cell = generate_cell_anchors((32,), (0.5, 1.0, 2.0))
    r = math.sqrt(2.0) * 16.0  # half of w = sqrt(32^2 / 0.5)
    expected = [[-r, -r / 2, r, r / 2], [-16, -16, 16, 16], [-r / 2, -r, r / 2, r]]
    np.testing.assert_allclose(cell, expected, rtol=1e-6)
    w, h = cell[:, 2] - cell[:, 0], cell[:, 3] - cell[:, 1]
    np.testing.assert_allclose(w * h, 32.0**2, rtol=1e-5)  # the area is size^2
    np.testing.assert_allclose(h / w, [0.5, 1.0, 2.0], rtol=1e-6)  # ratio = height / width


def test_anchor_grid_by_hand():
    gen = AnchorGenerator(sizes=((32,), (64,)), aspect_ratios=(0.5, 1.0, 2.0), strides=(8, 16))
    assert gen.num_anchors == (3, 3)
    p3, p4 = gen([(2, 3), (1, 2)])
    assert p3.shape == (2 * 3 * 3, 4) and p4.shape == (1 * 2 * 3, 4)
    # location (i=1, j=2) of P3, anchor 1 (ratio 1, 32 x 32) centred at (x, y) = (16, 8)
    np.testing.assert_allclose(p3[(1 * 3 + 2) * 3 + 1], [0, -8, 32, 24])
    # location (0, 1) of P4, anchor 1 (64 x 64) centred at (16, 0)
    np.testing.assert_allclose(p4[(0 * 2 + 1) * 3 + 1], [-16, -32, 48, 32])
    half = AnchorGenerator(sizes=((32,),), strides=(8,), offset=0.5)([(1, 1)])[0]
    np.testing.assert_allclose(half[1], [-12, -12, 20, 20])  # centre (4, 4)
    default = AnchorGenerator()
    shapes = [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    assert [a.shape[0] for a in default(shapes)] == [h * w * 3 for h, w in shapes]
    with pytest.raises(ValueError, match="strides"):
        AnchorGenerator(sizes=((32,),), strides=(4, 8))
    with pytest.raises(ValueError, match="feature_shapes"):
        default([(4, 4)])


def _iou_naive(a, b):
    out = np.zeros((len(a), len(b)))
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            iw = min(p[2], q[2]) - max(p[0], q[0])
            ih = min(p[3], q[3]) - max(p[1], q[1])
            if iw <= 0 or ih <= 0:
                continue
            inter = iw * ih
            union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter
            out[i, j] = inter / union
    return out


def _random_boxes(rng, n, scale=20.0):
    xy = rng.uniform(0, scale, (n, 2))
    wh = rng.uniform(0.5, scale / 2, (n, 2))
    return np.concatenate([xy, xy + wh], 1).astype(np.float32)


def test_pairwise_iou_against_loop():
    rng = np.random.default_rng(0)
    a, b = _random_boxes(rng, 7), _random_boxes(rng, 5)
    b[0] = a[2]  # identical pair: IoU 1
    b[1] = [100, 100, 100, 110]  # empty box: IoU 0, no NaN
    iou = pairwise_iou(a, b)
    np.testing.assert_allclose(iou, _iou_naive(a, b), rtol=1e-5, atol=1e-7)
    assert iou[2, 0] == pytest.approx(1.0)
    assert np.all(np.isfinite(iou))
    batched = pairwise_iou(np.stack([a, a]), np.stack([b, b]))
    np.testing.assert_allclose(batched[1], iou)
    np.testing.assert_allclose(pairwise_iou([[0, 0, 2, 2]], [[1, 0, 3, 2]]), [[1 / 3]], rtol=1e-6)
    with pytest.raises(ValueError, match="boxes1"):
        pairwise_iou(a[:, :3], b)


def test_clip_and_nonempty():
    boxes = jnp.array([[-5.0, 2.0, 30.0, 8.0], [3.0, 3.0, 3.0, 9.0]])
    np.testing.assert_allclose(clip_boxes(boxes, (6, 20)), [[0, 2, 20, 6], [3, 3, 3, 6]])
    np.testing.assert_array_equal(nonempty_boxes(boxes), [True, False])


# sizes in [1, 60]: size ratios stay below 1000 / 16, where decoding clamps dw / dh
box_pairs = st.tuples(
    st.floats(-50, 50), st.floats(-50, 50), st.floats(1, 60), st.floats(1, 60),  # src
    st.floats(-50, 50), st.floats(-50, 50), st.floats(1, 60), st.floats(1, 60),  # target
)  # fmt: skip


@jax.jit
def _round_trips(src, tgt):
    coders = (Box2BoxTransform(), Box2BoxTransform((10.0, 10.0, 5.0, 5.0)))
    return [c.apply_deltas(c.get_deltas(src, tgt), src) for c in coders]


@given(st.lists(box_pairs, min_size=4, max_size=4))  # one shape: one compilation
def test_encode_decode_round_trip(pairs):
    p = np.asarray(pairs, np.float64)
    src = np.concatenate([p[:, :2], p[:, :2] + p[:, 2:4]], 1).astype(np.float32)
    tgt = np.concatenate([p[:, 4:6], p[:, 4:6] + p[:, 6:8]], 1).astype(np.float32)
    for decoded in _round_trips(src, tgt):
        np.testing.assert_allclose(decoded, tgt, rtol=1e-4, atol=2e-3)


def test_deltas_by_hand_and_clamp():
    coder = Box2BoxTransform((10.0, 10.0, 5.0, 5.0))
    src = jnp.array([[0.0, 0.0, 10.0, 20.0]])
    tgt = jnp.array([[1.0, 2.0, 21.0, 22.0]])  # centre (11, 12) vs (5, 10); size 20 x 20
    expected = [10 * 6 / 10, 10 * 2 / 20, 5 * math.log(2.0), 5 * math.log(1.0)]
    np.testing.assert_allclose(coder.get_deltas(src, tgt), [expected], rtol=1e-6)
    huge = jnp.array([[0.0, 0.0, 100.0, 100.0]])  # dw, dh far above log(1000 / 16)
    out = Box2BoxTransform().apply_deltas(huge, jnp.array([[0.0, 0.0, 16.0, 16.0]]))
    np.testing.assert_allclose(out[0, 2] - out[0, 0], 1000.0, rtol=1e-5)
    assert np.all(np.isfinite(out))
    per_class = jnp.concatenate([jnp.zeros((1, 4)), coder.get_deltas(src, tgt)], 1)  # (1, 8)
    dec = coder.apply_deltas(per_class, src)
    np.testing.assert_allclose(dec.reshape(2, 4), jnp.concatenate([src, tgt]), atol=1e-4)
    degenerate = coder.get_deltas(jnp.zeros((1, 4)), jnp.zeros((1, 4)))
    assert np.all(np.isfinite(degenerate))
    g = jax.grad(lambda d: jnp.sum(coder.apply_deltas(d, src)))(jnp.zeros((1, 4)))
    assert np.all(np.isfinite(g))
    with pytest.raises(ValueError, match="deltas"):
        coder.apply_deltas(jnp.zeros((1, 5)), src)
