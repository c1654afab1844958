"""Anchor boxes for region proposal networks, with Detectron2's conventions.

Each FPN level l has stride s_l and a set of A "cell anchors" (one per size and aspect ratio)
centred at 0; the anchors of the level are the cell anchors shifted to every location
`(x, y) = (offset + j) * s_l, (offset + i) * s_l` of its (H_l, W_l) feature map. Detectron2's
defaults (Mask R-CNN R50-FPN): sizes 32, 64, 128, 256, 512 for P2..P6 (one per level), aspect
ratios (0.5, 1, 2) (height / width), strides 4..64 and offset 0.0.

Anchors of a level are ordered location-major: `anchors[(i * W_l + j) * A + a]` is cell anchor
a at feature location (i, j) - the order of an RPN head's (H, W, A) outputs flattened.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["AnchorGenerator", "generate_cell_anchors", "grid_anchors"]


def generate_cell_anchors(sizes=(32, 64, 128, 256, 512), aspect_ratios=(0.5, 1.0, 2.0)):
    """Cell anchors centred at (0, 0) (Detectron2's `generate_cell_anchors`).

    For every size s (then every ratio r = height / width): w = sqrt(s^2 / r), h = r * w, so
    the area is s^2; the box is (-w / 2, -h / 2, w / 2, h / 2).

    Returns:
        (len(sizes) * len(aspect_ratios), 4) float32 numpy array, size-major.
    """
    anchors = []
    for size in sizes:
        area = float(size) ** 2.0
        for ratio in aspect_ratios:
            if size <= 0 or ratio <= 0:
                raise ValueError(f"sizes and aspect_ratios must be > 0, got {size}, {ratio}")
            w = math.sqrt(area / ratio)
            h = ratio * w
            anchors.append([-w / 2.0, -h / 2.0, w / 2.0, h / 2.0])
    return np.asarray(anchors, np.float32).reshape(-1, 4)


def grid_anchors(cell_anchors, feature_shape, stride: float, offset: float = 0.0):
    """Cell anchors shifted to every location of one feature map.

    Args:
        cell_anchors: (A, 4) boxes centred at 0.
        feature_shape: (H, W) of the feature map (static ints).
        stride: pixels between neighbouring feature locations.
        offset: location of the first anchor centre in strides (0.0 in Detectron2; 0.5 puts
            centres at pixel-cell centres).

    Returns:
        (H * W * A, 4) float32 numpy array, ordered (i, j, a) as in the module doc.
    """
    cell = np.asarray(cell_anchors, np.float32)
    if cell.ndim != 2 or cell.shape[1] != 4:
        raise ValueError(f"cell_anchors must be (A, 4), got {cell.shape}")
    h, w = (int(v) for v in feature_shape)
    shifts_x = np.arange(offset * stride, w * stride, step=stride, dtype=np.float32)[:w]
    shifts_y = np.arange(offset * stride, h * stride, step=stride, dtype=np.float32)[:h]
    sy, sx = np.meshgrid(shifts_y, shifts_x, indexing="ij")
    shifts = np.stack([sx.ravel(), sy.ravel(), sx.ravel(), sy.ravel()], axis=1)  # (H*W, 4)
    return (shifts[:, None, :] + cell[None, :, :]).reshape(-1, 4)


@dataclass(frozen=True)
class AnchorGenerator:
    """Detectron2's `DefaultAnchorGenerator`: anchors for every level of a feature pyramid.

    Attributes:
        sizes: per level, the anchor sizes (sqrt of the area) in pixels; one tuple per level.
        aspect_ratios: height / width ratios, shared by all levels (or one tuple per level).
        strides: per level, the feature stride in pixels.
        offset: anchor centre offset in strides (see `grid_anchors`).

    Example:
        >>> gen = AnchorGenerator()  # P2..P6 of a 512 x 512 image
        >>> [a.shape for a in gen([(128, 128), (64, 64), (32, 32), (16, 16), (8, 8)])][0]
        (49152, 4)
    """

    sizes: tuple[tuple[float, ...], ...] = ((32,), (64,), (128,), (256,), (512,))
    aspect_ratios: tuple[float, ...] | tuple[tuple[float, ...], ...] = (0.5, 1.0, 2.0)
    strides: tuple[int, ...] = (4, 8, 16, 32, 64)
    offset: float = 0.0

    def __post_init__(self):
        if len(self.sizes) != len(self.strides):
            raise ValueError(
                f"sizes ({len(self.sizes)} levels) and strides ({len(self.strides)}) differ"
            )
        if not 0.0 <= self.offset < 1.0:
            raise ValueError(f"offset must be in [0, 1), got {self.offset}")

    def _ratios(self, level: int) -> tuple[float, ...]:
        r = self.aspect_ratios
        if len(r) and isinstance(r[0], (tuple, list)):
            if len(r) != len(self.strides):
                raise ValueError(f"aspect_ratios has {len(r)} levels, strides {len(self.strides)}")
            return tuple(r[level])
        return tuple(r)

    @property
    def num_anchors(self) -> tuple[int, ...]:
        """A per level: anchors per feature location."""
        return tuple(len(s) * len(self._ratios(i)) for i, s in enumerate(self.sizes))

    def cell_anchors(self) -> list[np.ndarray]:
        """Per level, the (A_l, 4) cell anchors centred at 0."""
        return [generate_cell_anchors(s, self._ratios(i)) for i, s in enumerate(self.sizes)]

    def __call__(self, feature_shapes) -> list[jax.Array]:
        """Anchors of every level.

        Args:
            feature_shapes: per level, the (H_l, W_l) of its feature map (static ints).

        Returns:
            list of (H_l * W_l * A_l, 4) float32 arrays (order in the module doc).
        """
        if len(feature_shapes) != len(self.strides):
            raise ValueError(
                f"feature_shapes has {len(feature_shapes)} levels, "
                f"the generator {len(self.strides)}"
            )
        return [
            jnp.asarray(grid_anchors(cell, shape, stride, self.offset))
            for cell, shape, stride in zip(self.cell_anchors(), feature_shapes, self.strides)
        ]
