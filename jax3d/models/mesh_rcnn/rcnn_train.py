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

The loss (`MeshRCNNDetector.losses`) is Mask R-CNN's (RPN objectness + box L1, box-head
cross-entropy + box L1, mask BCE on the sampled foreground ROIs) plus the authors' depth-extent
L1 (`z_loss_weight`), the voxel BCE (`voxel_loss_weight` = 3) and, averaged over the refinement
stages, `chamfer_weight * chamfer + normal_weight * normal + edge_weight * edge` (1, 0.1, 1) on
the first `mesh_rois_per_image` foreground ROIs of each image, all in each ROI's frame: the
ground-truth voxels are resampled from the instance's box to the proposal's
(`resample_roi_grid`), its surface samples mapped by `camera_to_roi` with the instance's `zrange`
and the normals by the map's inverse-transpose Jacobian (`detector.roi_normals`).

`init_detector(config, key)` makes the parameters; `make_detector_optimizer(config)` the
authors' solver (SGD with momentum and weight decay, Detectron2's warm-up multi-step
schedule); `make_detector_inference(config)` a jitted `infer(params, images, K, zcenter) ->
Detections`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jax3d.models.mesh_rcnn.detector import MeshRCNNDetector
from jax3d.models.mesh_rcnn.detector_config import MeshRCNNDetectorConfig
from jax3d.models.mesh_rcnn.train_step import fast_key

__all__ = [
    "BATCH_KEYS",
    "check_detector_batch",
    "detector_learning_rate",
    "init_detector",
    "make_detector_inference",
    "make_detector_loss_fn",
    "make_detector_optimizer",
    "with_pretrained_resnet",
]

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


def make_detector_loss_fn(config: MeshRCNNDetectorConfig) -> Callable:
    """`loss_fn(params, batch, key) -> (loss, aux)` of `MeshRCNNDetector(config)` (jax3d.train's
    convention; jit it or hand it to `jax3d.train.make_train_step`).

    `loss` is the sum of the weighted terms; `aux` holds each term (`loss_*`) and the
    diagnostics of `MeshRCNNDetector.losses`. The key is turned into an rbg key (`fast_key`).
    """
    model = MeshRCNNDetector(config)

    def loss_fn(params, batch, key):
        b = check_detector_batch(batch, config)
        losses, aux = model.apply({"params": params}, b, fast_key(key), method="losses")
        total = sum(losses.values())
        return total, {**losses, **aux}

    return loss_fn


def init_detector(config: MeshRCNNDetectorConfig, key: jax.Array, *, compiler_options=None):
    """`{"params": ...}` of `MeshRCNNDetector(config)`, initialised by an inference pass on one
    black image (jitted; `compiler_options` go to `jax.jit`)."""
    S = config.image_size
    images = jnp.zeros((1, S, S, 3), jnp.float32)
    init = jax.jit(MeshRCNNDetector(config).init, compiler_options=compiler_options)
    return {"params": init(fast_key(key), images)["params"]}


def make_detector_inference(
    config: MeshRCNNDetectorConfig, *, only_highest: bool = False, compiler_options=None
) -> Callable:
    """Jitted `infer(params, images, K=None, zcenter=1.0) -> Detections` (see
    `MeshRCNNDetector.__call__`); `only_highest` keeps the best detection per image."""
    model = MeshRCNNDetector(config)

    @partial(jax.jit, compiler_options=compiler_options)
    def infer(params, images, K=None, zcenter=1.0):
        return model.apply({"params": params}, images, K, zcenter, only_highest)

    return infer


def detector_learning_rate(config: MeshRCNNDetectorConfig) -> optax.Schedule:
    """Detectron2's `WarmupMultiStepLR` (linear warm-up): at step t,
    `base_lr * w(t) * 0.1^(number of steps <= t)` with `w(t) = f (1 - a) + a`, `a = t /
    warmup_iters` during the warm-up (f = `warmup_factor`) and 1 after."""
    base, n, f = float(config.base_lr), int(config.warmup_iters), float(config.warmup_factor)
    steps = tuple(int(s) for s in config.steps)

    def schedule(step):
        t = jnp.asarray(step, jnp.float32)
        a = jnp.minimum(t / max(n, 1), 1.0)
        warm = jnp.where(t < n, f * (1.0 - a) + a, 1.0)
        drops = sum((t >= s).astype(jnp.float32) for s in steps) if steps else 0.0
        return base * warm * 0.1**drops

    return schedule


def make_detector_optimizer(config: MeshRCNNDetectorConfig, learning_rate=None):
    """The authors' solver: SGD (momentum `config.momentum`) with weight decay
    `config.weight_decay` on every parameter, at `detector_learning_rate(config)` (or the given
    rate / schedule)."""
    lr = detector_learning_rate(config) if learning_rate is None else learning_rate
    return optax.chain(optax.add_decayed_weights(config.weight_decay),
                       optax.sgd(lr, momentum=config.momentum))  # fmt: skip


def with_pretrained_resnet(params: dict, resnet_params: dict) -> dict:
    """Detector `params` with the ResNet trunk (`params["backbone"]["bottom_up"]`) replaced.

    Args:
        params: `MeshRCNNDetector` parameters.
        resnet_params: the trunk's parameters, e.g.
            `resnet_variables_from_torchvision(state_dict, 50, "frozen")["params"]` or
            `pretrained_backbone_variables("resnet50", "frozen", path)["params"]`.

    Returns:
        A new parameter dict (the other leaves shared).

    Raises:
        ValueError: the trees differ in structure or shapes (e.g. another depth, or norm
            "frozen" statistics given to a "group" model).
    """
    if "backbone" not in params or "bottom_up" not in params["backbone"]:
        raise ValueError("params has no backbone/bottom_up (not a MeshRCNNDetector's params)")
    old = jax.tree.map(np.shape, dict(params["backbone"]["bottom_up"]))
    new = jax.tree.map(np.shape, dict(resnet_params))
    if old != new:
        raise ValueError("resnet_params does not match the detector's ResNet (structure or "
                         "shapes differ: depth, width or norm)")  # fmt: skip
    backbone = {**params["backbone"], "bottom_up": jax.tree.map(jnp.asarray, dict(resnet_params))}
    return {**params, "backbone": backbone}
