"""Instance overlays: masks tinted and boxes outlined on an image (NumPy, no fonts)."""

from __future__ import annotations

import numpy as np

__all__ = ["INSTANCE_COLOURS", "draw_instances"]

INSTANCE_COLOURS = np.array([
    [0.90, 0.10, 0.10], [0.10, 0.75, 0.20], [0.15, 0.35, 0.95], [0.95, 0.80, 0.10],
    [0.85, 0.20, 0.85], [0.10, 0.80, 0.85], [0.95, 0.50, 0.10], [0.55, 0.30, 0.90],
], np.float32)  # fmt: skip


def draw_instances(image, masks=None, boxes=None, valid=None, *, alpha: float = 0.5,
                   colours=INSTANCE_COLOURS) -> np.ndarray:  # fmt: skip
    """An image with instance `k`'s mask blended with colour `k` and its box outlined.

    Args:
        image: (H, W, 3) float in [0, 1].
        masks: optional (M, H, W) bool.
        boxes: optional (M, 4) `(x0, y0, x1, y1)` pixels (`x1`, `y1` exclusive); outlined
            1 px inside the box, clipped to the image.
        valid: optional (M,) bool: instances to draw (default all).
        alpha: the mask colour's weight.
        colours: (C, 3) colours, cycled over instances.

    Returns:
        (H, W, 3) float32 copy of the image with the overlays.
    """
    out = np.array(image, np.float32, copy=True)
    if out.ndim != 3 or out.shape[-1] != 3:
        raise ValueError(f"image must be (H, W, 3), got {out.shape}")
    H, W = out.shape[:2]
    n = len(masks) if masks is not None else len(boxes) if boxes is not None else 0
    valid = np.ones(n, bool) if valid is None else np.asarray(valid, bool)
    if masks is not None and np.asarray(masks).shape != (n, H, W):
        raise ValueError(f"masks must be (M, {H}, {W}), got {np.asarray(masks).shape}")
    if boxes is not None and np.asarray(boxes).shape != (n, 4):
        raise ValueError(f"boxes must be (M, 4), got {np.asarray(boxes).shape}")
    colours = np.asarray(colours, np.float32).reshape(-1, 3)
    for k in np.flatnonzero(valid):
        c = colours[k % len(colours)]
        if masks is not None:
            m = np.asarray(masks[k], bool)
            out[m] = (1.0 - alpha) * out[m] + alpha * c
        if boxes is not None:
            x0, y0 = np.clip(np.floor(boxes[k][:2]).astype(int), 0, [W - 1, H - 1])
            x1, y1 = np.clip(np.ceil(boxes[k][2:]).astype(int) - 1, 0, [W - 1, H - 1])
            out[y0, x0 : x1 + 1] = out[y1, x0 : x1 + 1] = c
            out[y0 : y1 + 1, x0] = out[y0 : y1 + 1, x1] = c
    return out
