"""Training of the full Mesh R-CNN: one jitted loss over a batch of images with padded instances.

`make_detector_loss_fn(config)` returns `loss_fn(params, batch, key) -> (loss, aux)`, the loss
convention of `jax3d.train` (no mutable collections: the backbone uses FrozenBatchNorm or
GroupNorm).

Batch format (what `jax3d.datasets.collate_instances` makes from the records of
`jax3d.datasets.furniture_scenes` and `jax3d.datasets.pix3d`); B images, M instance slots per
image (padding described by `valid`), all shapes static:

    images  (B, H, W, 3) float32 RGB in [0, 1]; H = W = `config.image_size`.
    K       (B, 3, 3) float32 pixel intrinsics `[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]` (OpenCV's
            camera frame: +X right, +Y down, +Z forward; pixel centres at +0.5).
    valid   (B, M) bool, the real instances (at least one per image is not needed).
    boxes   (B, M, 4) float32 `(x0, y0, x1, y1)` pixels of the visible mask.
    classes (B, M) int32 in [0, K) (`config.num_classes`).
    masks   (B, M, H, W) bool visible masks.
    voxels  (B, M, G, G, G) bool/float occupancy `[z, y, x]` in the ROI frame of `boxes` and
            `zrange` (`jax3d.transforms.roi_frustum`), G = `config.voxel_size`.
    zrange  (B, M, 2) float32 the object's nearest and farthest camera depth.
    points, normals (B, M, P, 3) float32 surface samples and unit normals, camera frame.

Other keys (verts, faces, amodal_boxes, ...) are ignored. Padding slots may hold anything finite.
"""

from __future__ import annotations

import jax.numpy as jnp

from jax3d.models.mesh_rcnn.detector_config import MeshRCNNDetectorConfig

__all__ = ["BATCH_KEYS", "check_detector_batch"]

BATCH_KEYS = ("images", "K", "valid", "boxes", "classes", "masks", "voxels", "zrange", "points",
              "normals")  # fmt: skip


def check_detector_batch(batch: dict, config: MeshRCNNDetectorConfig) -> dict:
    """The batch's arrays named in `BATCH_KEYS`, checked against the format above.

    Raises:
        ValueError: a missing key or a shape that does not match (naming the key).
    """
    missing = [k for k in BATCH_KEYS if k not in batch]
    if missing:
        raise ValueError(f"batch is missing {missing} (see jax3d.models.mesh_rcnn.rcnn_train)")
    b = {k: jnp.asarray(batch[k]) for k in BATCH_KEYS}
    images = b["images"]
    S, G = config.image_size, config.voxel_size
    if images.ndim != 4 or images.shape[1:] != (S, S, 3):
        raise ValueError(f"images must be (B, {S}, {S}, 3), got {images.shape}")
    B = images.shape[0]
    if b["valid"].ndim != 2 or b["valid"].shape[0] != B:
        raise ValueError(f"valid must be (B, M) with B = {B}, got {b['valid'].shape}")
    M = b["valid"].shape[1]
    P = b["points"].shape[2] if b["points"].ndim == 4 else -1
    expected = {"K": (B, 3, 3), "boxes": (B, M, 4), "classes": (B, M), "masks": (B, M, S, S),
                "voxels": (B, M, G, G, G), "zrange": (B, M, 2), "points": (B, M, P, 3),
                "normals": (B, M, P, 3)}  # fmt: skip
    for key, shape in expected.items():
        if b[key].shape != shape:
            raise ValueError(f"{key} must be {shape} (B, M, P = {B}, {M}, {P}), got "
                             f"{b[key].shape}")  # fmt: skip
    return b
