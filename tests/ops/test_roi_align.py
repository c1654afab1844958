"""ROIAlign and the FPN level rule against torchvision's loops written out in NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jax3d.ops.detection import assign_boxes_to_levels, multilevel_roi_align, roi_align


def _bilinear_naive(f, y, x):
    """torchvision's `bilinear_interpolate` on f (H, W, C) at (y, x)."""
    H, W = f.shape[:2]
    if y < -1.0 or y > H or x < -1.0 or x > W:
        return np.zeros(f.shape[2])
    y, x = max(y, 0.0), max(x, 0.0)
    yl, xl = int(y), int(x)
    if yl >= H - 1:
        yh = yl = H - 1
        y = float(yl)
    else:
        yh = yl + 1
    if xl >= W - 1:
        xh = xl = W - 1
        x = float(xl)
    else:
        xh = xl + 1
    ly, lx = y - yl, x - xl
    hy, hx = 1.0 - ly, 1.0 - lx
    return hy * hx * f[yl, xl] + hy * lx * f[yl, xh] + ly * hx * f[yh, xl] + ly * lx * f[yh, xh]


def roi_align_naive(f, box, output_size, scale, sr, aligned):
    """torchvision's `roi_align_forward` for one box on f (H, W, C) -> (oh, ow, C), float64."""
    oh, ow = output_size
    off = 0.5 if aligned else 0.0
    x0, y0, x1, y1 = (float(v) * scale - off for v in box)
    rw, rh = x1 - x0, y1 - y0
    if not aligned:
        rw, rh = max(rw, 1.0), max(rh, 1.0)
    bw, bh = rw / ow, rh / oh
    out = np.zeros((oh, ow, f.shape[2]))
    for ph in range(oh):
        for pw in range(ow):
            for iy in range(sr):
                y = y0 + ph * bh + (iy + 0.5) * bh / sr
                for ix in range(sr):
                    x = x0 + pw * bw + (ix + 0.5) * bw / sr
                    out[ph, pw] += _bilinear_naive(f, y, x)
            out[ph, pw] /= sr * sr
    return out


def _inputs(seed, B=2, H=7, W=9, C=3, R=5, image=(14.0, 18.0)):
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(B, H, W, C)).astype(np.float32)
    xy = rng.uniform(-3.0, image[1] - 2.0, (B, R, 2))
    wh = rng.uniform(0.3, 12.0, (B, R, 2))
    boxes = np.concatenate([xy, xy + wh], -1).astype(np.float32)
    boxes[0, 0] = [-4.0, -4.0, 30.0, 40.0]  # well beyond the image
    boxes[0, 1] = [5.0, 5.0, 5.0, 5.0]  # empty box
    return feats, boxes


@pytest.mark.parametrize("aligned", [True, False])
def test_roi_align_against_naive(aligned):
    feats, boxes = _inputs(0)
    out = roi_align(feats, boxes, (3, 4), spatial_scale=0.5, sampling_ratio=2, aligned=aligned)
    assert out.shape == (2, 5, 3, 4, 3)
    for b in range(2):
        for r in range(5):
            ref = roi_align_naive(feats[b].astype(np.float64), boxes[b, r], (3, 4), 0.5, 2, aligned)
            np.testing.assert_allclose(out[b, r], ref, atol=1e-5, err_msg=f"box {b}, {r}")


def test_roi_align_constant_and_jit():
    feats = np.full((1, 6, 6, 2), 3.0, np.float32)
    boxes = np.array([[[1.0, 1.0, 5.0, 4.0]]], np.float32)  # inside: every sample reads 3
    out = jax.jit(lambda f, b: roi_align(f, b, 2, sampling_ratio=3))(feats, boxes)
    np.testing.assert_allclose(out, 3.0, rtol=1e-6)
    # degenerate boxes (a point, empty, off the map, huge): finite values and gradients
    bad = np.array(
        [[[3, 3, 3, 3], [0, 0, 0, 0], [-20, -20, -10, -10], [1, 1, 1e9, 1e9]]], np.float32
    )
    grads = jax.grad(lambda f, b: jnp.sum(roi_align(f, b, 2) ** 2), (0, 1))(feats, bad)
    assert all(np.all(np.isfinite(g)) for g in grads)
    np.testing.assert_allclose(roi_align(feats, bad, 2)[0, 2], 0.0)  # off the map reads 0
    with pytest.raises(ValueError, match="sampling_ratio"):
        roi_align(feats, boxes, 2, sampling_ratio=0)
    with pytest.raises(ValueError, match="features"):
        roi_align(feats[0], boxes, 2)
    with pytest.raises(ValueError, match="boxes"):
        roi_align(feats, boxes[0], 2)


def test_roi_align_grads():
    feats, boxes = _inputs(1, B=1, H=4, W=5, C=2, R=2, image=(8.0, 10.0))
    boxes[0, 0] = [0.3, 0.7, 7.1, 6.2]
    boxes[0, 1] = [-1.3, 2.1, 4.6, 9.4]  # partly outside
    with jax.enable_x64(True):
        f64, b64 = jnp.asarray(feats, jnp.float64), jnp.asarray(boxes, jnp.float64)
        fn = jax.jit(lambda f, b: roi_align(f, b, 2, spatial_scale=0.5, sampling_ratio=2))
        check_grads(fn, (f64, b64), order=1, modes=["rev"], eps=1e-5)


def test_assign_boxes_to_levels_by_hand():
    sides = np.array([10.0, 111.0, 112.0, 224.0, 447.0, 448.0, 1000.0], np.float32)
    boxes = np.stack([np.zeros_like(sides), np.zeros_like(sides), sides, sides], -1)
    # floor(4 + log2(side / 224)) clamped to [2, 5], minus 2
    np.testing.assert_array_equal(assign_boxes_to_levels(boxes, 2, 5), [0, 0, 1, 2, 2, 3, 3])
    wide = np.array([[0.0, 0.0, 448.0, 112.0]])  # sqrt(area) = 224
    np.testing.assert_array_equal(assign_boxes_to_levels(wide, 2, 5), [2])


def test_multilevel_roi_align_uses_the_assigned_level():
    rng = np.random.default_rng(2)
    scales = (1 / 4, 1 / 8, 1 / 16)
    maps = [rng.normal(size=(2, 32 // s, 32 // s, 3)).astype(np.float32) for s in (4, 8, 16)]
    # canonical size 16 at level 4: sides < 8 -> P2, 8..16 -> P3, >= 16 -> P4
    sides = np.array([[3.0, 9.0, 20.0, 5.5], [15.0, 30.0, 7.9, 12.0]], np.float32)
    xy = rng.uniform(0, 10, (2, 4, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + sides[..., None]], -1)
    out = multilevel_roi_align(maps, boxes, 2, scales, canonical_box_size=16.0)
    level = np.asarray(assign_boxes_to_levels(boxes, 2, 4, canonical_box_size=16.0))
    np.testing.assert_array_equal(level, [[0, 1, 2, 0], [1, 2, 0, 1]])
    for b in range(2):
        for r in range(4):
            lv = level[b, r]
            fmap = maps[lv][b].astype(np.float64)
            ref = roi_align_naive(fmap, boxes[b, r], (2, 2), scales[lv], 2, True)
            np.testing.assert_allclose(out[b, r], ref, atol=1e-5)
    with pytest.raises(ValueError, match="powers of 2"):
        multilevel_roi_align(maps, boxes, 2, (0.25, 0.1, 0.05))
