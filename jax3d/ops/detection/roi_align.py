"""ROIAlign (Mask R-CNN) and its multi-level form for feature pyramids (Detectron2's ROIPooler).

`roi_align` computes what torchvision's / Detectron2's `roi_align` computes: a box is split into
an (oh, ow) grid of bins, each bin averages `sampling_ratio` x `sampling_ratio` bilinear samples
at regularly spaced points. With `aligned=True` (Detectron2's default) box coordinates are
shifted by -0.5 pixel after scaling, so that a box's continuous coordinates line up with pixel
centres (the pixel (i, j) covers [j, j + 1) x [i, i + 1) and its value sits at (j + 0.5, i + 0.5)).
Samples more than one pixel outside the map are 0; samples in the outer one-pixel margin are
clamped to the border, as in torchvision's `bilinear_interpolate`.

Static shapes: torchvision's `sampling_ratio=0` picks ceil(box size / output size) samples per
bin, a number that depends on the data; here `sampling_ratio` must be a fixed positive int
(Detectron2's Mask R-CNN configs use 0; 2 is the common fixed choice and the default here).

Layout: feature maps are channels-last (B, H, W, C), the layout of Flax convolutions; a PyTorch
(N, C, H, W) map is `x.transpose(0, 2, 3, 1)`. Boxes are per image, padded: (B, R, 4) XYXY in
input-image pixels (padding boxes give finite values that the caller masks).
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp

from jax3d.ops.detection.boxes import box_area, check_boxes

__all__ = ["assign_boxes_to_levels", "multilevel_roi_align", "roi_align"]


def _axis_taps(coord, size):
    """torchvision's bilinear rule along one axis.

    Args:
        coord: (S,) sample coordinates in feature pixels (centre of pixel i at i).
        size: scalar map size along the axis.

    Returns:
        (S, 2) int32 indices of the low and high taps, (S, 2) float weights (0 outside).
    """
    outside = (coord < -1.0) | (coord > size)
    c = jnp.maximum(coord, 0.0)
    low = jnp.floor(c)
    at_end = low >= size - 1
    low = jnp.where(at_end, size - 1, low)
    high = jnp.where(at_end, size - 1, low + 1)
    frac = jnp.where(at_end, 0.0, c - low)
    w = jnp.stack([1.0 - frac, frac], -1) * jnp.where(outside, 0.0, 1.0)[:, None]
    return jnp.stack([low, high], -1).astype(jnp.int32), w


def _sample_offsets(n_bins: int, sampling_ratio: int, dtype):
    """(n_bins * sampling_ratio,) sample positions in bins: bin p, sample i at p + (i + .5) / s."""
    bins = jnp.arange(n_bins, dtype=dtype)[:, None]
    sub = (jnp.arange(sampling_ratio, dtype=dtype)[None, :] + 0.5) / sampling_ratio
    return (bins + sub).reshape(-1)


def _roi_align_one(flat, box, scale, height, width, base, output_size, sampling_ratio, aligned):
    """One box from a flattened map.

    Args:
        flat: (T, C) the (height, width) map at rows base .. base + height * width.
        box: (4,) XYXY in image pixels; scale, height, width, base: scalars of its level.

    Returns:
        (oh, ow, C).
    """
    oh, ow = output_size
    off = 0.5 if aligned else 0.0
    x0, y0, x1, y1 = (box[i] * scale - off for i in range(4))
    roi_w, roi_h = x1 - x0, y1 - y0
    if not aligned:  # legacy behaviour: boxes at least one pixel wide
        roi_w, roi_h = jnp.maximum(roi_w, 1.0), jnp.maximum(roi_h, 1.0)
    xs = x0 + _sample_offsets(ow, sampling_ratio, flat.dtype) * (roi_w / ow)
    ys = y0 + _sample_offsets(oh, sampling_ratio, flat.dtype) * (roi_h / oh)
    xi, wx = _axis_taps(xs, width.astype(flat.dtype))  # (Sx, 2)
    yi, wy = _axis_taps(ys, height.astype(flat.dtype))  # (Sy, 2)
    s = sampling_ratio
    idx = base + yi[:, None, :, None] * width + xi[None, :, None, :]  # (Sy, Sx, 2, 2)
    weight = wy[:, None, :, None] * wx[None, :, None, :] / (s * s)
    # one multiply-and-sum over the samples of a bin and their 4 taps: XLA fuses the gather
    # into the reduction instead of materialising (Sy, Sx, 2, 2, C)
    taps = (flat[idx] * weight[..., None]).reshape(oh, s, ow, s, 2, 2, -1)
    return jnp.sum(taps, axis=(1, 3, 4, 5))


@partial(jax.jit, static_argnames=("output_size", "sampling_ratio", "aligned"))
def _roi_align_flat(flat, boxes, scale, height, width, base, output_size, sampling_ratio, aligned):
    """flat (B, T, C), boxes (B, R, 4), per-box level params (B, R) -> (B, R, oh, ow, C)."""
    one = partial(
        _roi_align_one, output_size=output_size, sampling_ratio=sampling_ratio, aligned=aligned
    )
    per_image = jax.vmap(one, in_axes=(None, 0, 0, 0, 0, 0))
    return jax.vmap(per_image)(flat, boxes, scale, height, width, base)


def _check_args(boxes, output_size, sampling_ratio, batch):
    boxes = check_boxes("boxes", boxes)
    if boxes.ndim != 3 or boxes.shape[0] != batch:
        raise ValueError(f"boxes must be (B, R, 4) with B = {batch}, got {boxes.shape}")
    if isinstance(output_size, int):
        output_size = (output_size, output_size)
    output_size = tuple(output_size)
    if len(output_size) != 2 or not all(isinstance(v, int) and v > 0 for v in output_size):
        raise ValueError(f"output_size must be a positive int or (oh, ow), got {output_size}")
    if not isinstance(sampling_ratio, int) or sampling_ratio < 1:
        raise ValueError(
            f"sampling_ratio must be a fixed int >= 1 (static shapes), got {sampling_ratio!r}"
        )
    return boxes, output_size


def _check_features(name, features):
    features = jnp.asarray(features)
    if features.ndim != 4:
        raise ValueError(f"{name} must be (B, H, W, C) channels-last, got {features.shape}")
    if not jnp.issubdtype(features.dtype, jnp.floating):
        raise TypeError(f"{name} must be floating point, got {features.dtype}")
    return features


def roi_align(
    features, boxes, output_size, spatial_scale: float = 1.0, sampling_ratio: int = 2,
    aligned: bool = True,
) -> jax.Array:  # fmt: skip
    """ROIAlign of boxes on one feature map (see the module doc).

    Args:
        features: (B, H, W, C) float, channels-last.
        boxes: (B, R, 4) XYXY boxes in input-image pixels, R per image.
        output_size: oh or (oh, ow), static.
        spatial_scale: feature pixels per image pixel (1 / stride).
        sampling_ratio: samples per bin along each axis, a fixed int >= 1 (static).
        aligned: shift by -0.5 pixel (Detectron2's default True; False is the legacy ROIAlign).

    Returns:
        (B, R, oh, ow, C): `out[b, r, i, j]` is bin (i, j) of box r of image b.
    """
    features = _check_features("features", features)
    boxes, output_size = _check_args(boxes, output_size, sampling_ratio, features.shape[0])
    if not spatial_scale > 0:
        raise ValueError(f"spatial_scale must be > 0, got {spatial_scale}")
    B, H, W, C = features.shape
    full = jnp.ones(boxes.shape[:2], jnp.float32)
    return _roi_align_flat(
        features.reshape(B, H * W, C), boxes.astype(features.dtype),
        (full * spatial_scale).astype(features.dtype), (full * H).astype(jnp.int32),
        (full * W).astype(jnp.int32), jnp.zeros(boxes.shape[:2], jnp.int32),
        output_size, sampling_ratio, bool(aligned),
    )  # fmt: skip


def assign_boxes_to_levels(
    boxes, min_level: int, max_level: int, canonical_box_size: float = 224.0,
    canonical_level: int = 4,
) -> jax.Array:  # fmt: skip
    """FPN level of each box (Detectron2's `assign_boxes_to_levels`, FPN paper eq. 1).

    `level = floor(canonical_level + log2(sqrt(area) / canonical_box_size + 1e-8))`, clamped to
    [min_level, max_level]: a 224 x 224 box goes to P4, a 112 x 112 one to P3.

    Args:
        boxes: (..., 4) XYXY boxes.
        min_level, max_level: the pyramid's levels (2 and 5 for Mask R-CNN's P2..P5).

    Returns:
        (...,) int32 level minus min_level (an index into the list of maps).
    """
    size = jnp.sqrt(box_area(boxes))
    level = jnp.floor(canonical_level + jnp.log2(size / canonical_box_size + 1e-8))
    return (jnp.clip(level, min_level, max_level) - min_level).astype(jnp.int32)


def _levels_from_scales(scales) -> tuple[int, int]:
    levels = [-math.log2(s) for s in scales]
    if any(abs(lv - round(lv)) > 1e-6 for lv in levels):
        raise ValueError(f"scales must be powers of 2 (1 / stride), got {scales}")
    levels = [round(lv) for lv in levels]
    if levels != list(range(levels[0], levels[0] + len(levels))):
        raise ValueError(f"scales must be consecutive pyramid levels, got {scales}")
    return levels[0], levels[-1]


def multilevel_roi_align(
    features, boxes, output_size, scales, sampling_ratio: int = 2, aligned: bool = True, *,
    canonical_box_size: float = 224.0, canonical_level: int = 4,
) -> jax.Array:  # fmt: skip
    """ROIAlign on a feature pyramid, each box on the level its size selects (ROIPooler).

    Every box is sampled once, from its level only (`assign_boxes_to_levels`): the levels are
    flattened into one table and each box reads its level's rows, so the cost is that of one
    `roi_align` whatever the number of levels.

    Args:
        features: list of (B, H_l, W_l, C) maps, finest first (P2..P5).
        boxes: (B, R, 4) XYXY boxes in image pixels.
        output_size: oh or (oh, ow), static.
        scales: per level, 1 / stride (0.25, 0.125, ... : powers of 2, consecutive).
        sampling_ratio, aligned: as in `roi_align`.
        canonical_box_size, canonical_level: the level rule (224 -> level 4).

    Returns:
        (B, R, oh, ow, C).
    """
    if not features or len(features) != len(scales):
        raise ValueError(f"give one scale per feature map, got {len(features)} and {len(scales)}")
    features = [_check_features(f"features[{i}]", f) for i, f in enumerate(features)]
    B, C = features[0].shape[0], features[0].shape[-1]
    if any(f.shape[0] != B or f.shape[-1] != C for f in features):
        raise ValueError(f"feature maps must share B and C, got {[f.shape for f in features]}")
    boxes, output_size = _check_args(boxes, output_size, sampling_ratio, B)
    min_level, max_level = _levels_from_scales(scales)
    level = assign_boxes_to_levels(boxes, min_level, max_level, canonical_box_size, canonical_level)
    sizes = [f.shape[1:3] for f in features]
    bases = [0]
    for h, w in sizes[:-1]:
        bases.append(bases[-1] + h * w)
    dtype = features[0].dtype
    flat = jnp.concatenate([f.reshape(B, -1, C) for f in features], axis=1)
    table = lambda values, dt: jnp.asarray(values, dt)[level]  # noqa: E731
    return _roi_align_flat(
        flat, boxes.astype(dtype), table([float(s) for s in scales], dtype),
        table([h for h, _ in sizes], jnp.int32), table([w for _, w in sizes], jnp.int32),
        table(bases, jnp.int32), output_size, sampling_ratio, bool(aligned),
    )  # fmt: skip
