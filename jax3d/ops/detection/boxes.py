"""Axis-aligned 2D boxes: areas, pairwise IoU, clipping, and Detectron2's box coding.

Boxes are `(..., 4)` float arrays in image pixels, `(x0, y0, x1, y1)` (Detectron2's XYXY_ABS):
x to the right, y down, a box covering pixels 0..w-1 of an image w wide is `(0, 0, w, h)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp

__all__ = [
    "Box2BoxTransform",
    "box_area",
    "check_boxes",
    "clip_boxes",
    "nonempty_boxes",
    "pairwise_iou",
]

# Detectron2's _DEFAULT_SCALE_CLAMP: the largest dw / dh (log of the width ratio) decoded.
_DEFAULT_SCALE_CLAMP = math.log(1000.0 / 16)


def check_boxes(name: str, boxes) -> jax.Array:
    """`boxes` as a float32 array, or ValueError naming the argument unless shaped (..., 4)."""
    boxes = jnp.asarray(boxes)
    if boxes.ndim < 1 or boxes.shape[-1] != 4:
        raise ValueError(f"{name} must be (..., 4) boxes (x0, y0, x1, y1), got {boxes.shape}")
    if not jnp.issubdtype(boxes.dtype, jnp.floating):
        boxes = boxes.astype(jnp.float32)
    return boxes


def box_area(boxes) -> jax.Array:
    """Areas of (..., 4) XYXY boxes -> (...); negative extents count as 0."""
    boxes = check_boxes("boxes", boxes)
    w = jnp.maximum(boxes[..., 2] - boxes[..., 0], 0.0)
    h = jnp.maximum(boxes[..., 3] - boxes[..., 1], 0.0)
    return w * h


def pairwise_iou(boxes1, boxes2) -> jax.Array:
    """Intersection over union of every pair (Detectron2's `pairwise_iou`).

    Args:
        boxes1: (..., N, 4) XYXY boxes.
        boxes2: (..., M, 4) XYXY boxes; leading dims broadcast with boxes1's.

    Returns:
        (..., N, M) float: `iou[..., n, m]` of boxes1[n] and boxes2[m]; 0 where the boxes do
        not overlap (including empty boxes), so the result is never NaN.
    """
    boxes1, boxes2 = check_boxes("boxes1", boxes1), check_boxes("boxes2", boxes2)
    if boxes1.ndim < 2 or boxes2.ndim < 2:
        raise ValueError(f"boxes must be (..., N, 4), got {boxes1.shape} and {boxes2.shape}")
    return _pairwise_iou(boxes1, boxes2)


@jax.jit
def _pairwise_iou(boxes1, boxes2):
    a = boxes1[..., :, None, :]
    b = boxes2[..., None, :, :]
    wh = jnp.minimum(a[..., 2:], b[..., 2:]) - jnp.maximum(a[..., :2], b[..., :2])
    inter = jnp.prod(jnp.maximum(wh, 0.0), axis=-1)
    union = box_area(boxes1)[..., :, None] + box_area(boxes2)[..., None, :] - inter
    positive = inter > 0
    return jnp.where(positive, inter / jnp.where(positive, union, 1.0), 0.0)


def clip_boxes(boxes, image_size) -> jax.Array:
    """Clip (..., 4) boxes to an image: x into [0, width], y into [0, height].

    `image_size` is (height, width) (Detectron2's order), Python numbers or arrays broadcasting
    with `boxes[..., 0]` (e.g. per-image sizes (B, 2) with boxes (B, N, 4): pass
    `image_size[:, None]`).
    """
    boxes = check_boxes("boxes", boxes)
    size = jnp.asarray(image_size, boxes.dtype)
    if size.shape[-1:] != (2,):
        raise ValueError(f"image_size must be (..., 2) (height, width), got {size.shape}")
    h, w = size[..., 0], size[..., 1]
    x0 = jnp.clip(boxes[..., 0], 0.0, w)
    y0 = jnp.clip(boxes[..., 1], 0.0, h)
    x1 = jnp.clip(boxes[..., 2], 0.0, w)
    y1 = jnp.clip(boxes[..., 3], 0.0, h)
    return jnp.stack([x0, y0, x1, y1], axis=-1)


def nonempty_boxes(boxes, threshold: float = 0.0) -> jax.Array:
    """(...,) bool: width and height both > `threshold` (Detectron2's `Boxes.nonempty`)."""
    boxes = check_boxes("boxes", boxes)
    w = boxes[..., 2] - boxes[..., 0]
    h = boxes[..., 3] - boxes[..., 1]
    return (w > threshold) & (h > threshold)


@dataclass(frozen=True)
class Box2BoxTransform:
    """Detectron2's box coding: deltas (dx, dy, dw, dh) that move a source box onto a target.

    `dx = wx * (cx_t - cx_s) / w_s`, `dy = wy * (cy_t - cy_s) / h_s`, `dw = ww * log(w_t / w_s)`,
    `dh = wh * log(h_t / h_s)`, with centres and sizes of XYXY boxes. The RPN uses weights
    (1, 1, 1, 1), Mask R-CNN's box head (10, 10, 5, 5). When decoding, dw / dh (after dividing
    by the weights) are clamped at `scale_clamp` = log(1000 / 16) so `exp` never overflows.

    Frozen and hashable: it can be a static argument of `jax.jit`.

    Attributes:
        weights: (wx, wy, ww, wh).
        scale_clamp: upper bound of the decoded dw and dh.
        eps: widths / heights below it are treated as `eps` when encoding, so degenerate
            boxes (padding) give finite deltas instead of inf / NaN.
    """

    weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    scale_clamp: float = _DEFAULT_SCALE_CLAMP
    eps: float = 1e-6

    def __post_init__(self):
        if len(self.weights) != 4:
            raise ValueError(f"weights must be 4 numbers (wx, wy, ww, wh), got {self.weights}")
        object.__setattr__(self, "weights", tuple(float(w) for w in self.weights))

    def _centres(self, boxes):
        w = jnp.maximum(boxes[..., 2] - boxes[..., 0], self.eps)
        h = jnp.maximum(boxes[..., 3] - boxes[..., 1], self.eps)
        return boxes[..., 0] + 0.5 * w, boxes[..., 1] + 0.5 * h, w, h

    def get_deltas(self, src_boxes, target_boxes) -> jax.Array:
        """Encode: (..., 4) deltas that turn `src_boxes` into `target_boxes`.

        Args:
            src_boxes: (..., 4) XYXY boxes (anchors or proposals).
            target_boxes: (..., 4) XYXY boxes, broadcasting with src_boxes.

        Returns:
            (..., 4) float deltas (dx, dy, dw, dh).
        """
        src = check_boxes("src_boxes", src_boxes)
        tgt = check_boxes("target_boxes", target_boxes)
        return self._encode(src, tgt)

    @partial(jax.jit, static_argnums=0)
    def _encode(self, src, tgt):
        sx, sy, sw, sh = self._centres(src)
        tx, ty, tw, th = self._centres(tgt)
        wx, wy, ww, wh = self.weights
        return jnp.stack(
            [
                wx * (tx - sx) / sw,
                wy * (ty - sy) / sh,
                ww * jnp.log(tw / sw),
                wh * jnp.log(th / sh),
            ],
            axis=-1,
        )

    def apply_deltas(self, deltas, boxes) -> jax.Array:
        """Decode: apply deltas to boxes.

        Args:
            deltas: (..., 4 * K) deltas, K >= 1 sets (e.g. one per class: (R, 4 * C)).
            boxes: (..., 4) XYXY boxes the deltas are relative to.

        Returns:
            (..., 4 * K) decoded XYXY boxes, the k-th in columns 4k..4k+3.
        """
        deltas = jnp.asarray(deltas)
        boxes = check_boxes("boxes", boxes)
        if deltas.ndim < 1 or deltas.shape[-1] % 4 != 0 or deltas.shape[-1] == 0:
            raise ValueError(f"deltas must be (..., 4 * K), got {deltas.shape}")
        return self._decode(deltas, boxes)

    @partial(jax.jit, static_argnums=0)
    def _decode(self, deltas, boxes):
        d = deltas.reshape(deltas.shape[:-1] + (-1, 4)).astype(boxes.dtype)
        cx, cy, w, h = (t[..., None] for t in self._centres(boxes))
        wx, wy, ww, wh = self.weights
        dw = jnp.minimum(d[..., 2] / ww, self.scale_clamp)
        dh = jnp.minimum(d[..., 3] / wh, self.scale_clamp)
        pcx = d[..., 0] / wx * w + cx
        pcy = d[..., 1] / wy * h + cy
        pw, ph = jnp.exp(dw) * w, jnp.exp(dh) * h
        out = jnp.stack([pcx - 0.5 * pw, pcy - 0.5 * ph, pcx + 0.5 * pw, pcy + 0.5 * ph], -1)
        return out.reshape(deltas.shape)
