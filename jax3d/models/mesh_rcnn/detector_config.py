"""`MeshRCNNDetectorConfig`: every setting of the full Mesh R-CNN (detection, masks, meshes).

`MeshRCNNDetectorConfig.authors()` is the authors' Pix3D model (`meshrcnn_R50_FPN.yaml`:
ResNet-50-FPN with FrozenBatchNorm, Detectron2's RPN / box / mask heads, the voxel head at
G = 24 on 12 x 12 ROI features with weight 3.0, three mesh-refinement stages of 3 x
GraphConv(128), chamfer 1 / normal 0.1 / edge 1); `.tiny()` is the same model sized for a CPU
(a narrow ResNet with one basic block per stage, GroupNorm, FPN width 32, 64 px images, small
head widths and sample counts).

Normalisation: the authors fine-tune an ImageNet ResNet-50 with FrozenBatchNorm ("frozen";
statistics and affine are constants). Trained from scratch with a few images per batch, the
backbone uses GroupNorm(32) ("group"). BatchNorm with batch statistics is not offered: the
detector's loss has no mutable collections.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["MeshRCNNDetectorConfig"]

_DEPTHS = (18, 34, 50)


@dataclass(frozen=True)
class MeshRCNNDetectorConfig:
    """Full Mesh R-CNN settings; the defaults are `authors()`'s (Pix3D, ResNet-50-FPN).

    Input: image_size, the square side of the (padded) input images, a multiple of 32 (the
        coarsest FPN stride the top-down pathway must divide); num_classes, K (Pix3D: 9).

    Backbone: resnet_depth (18, 34, 50), norm ("frozen" or "group"), resnet_width (stem
        channels, 64), resnet_blocks (per-stage blocks, None for the depth's); fpn_dim (256).

    RPN: anchor_sizes per level P2..P6 and anchor_aspect_ratios (3 anchors per location);
        rpn_pre_nms_topk / rpn_post_nms_topk for (train, test); rpn_nms_thresh;
        rpn_batch_size_per_image, rpn_positive_fraction; rpn_iou_thresholds / rpn_iou_labels
        (the authors': anchors below IoU 0.2 ignored, background in [0.2, 0.5), foreground
        from 0.7); rpn_smooth_l1_beta (0.111).

    ROI heads: roi_batch_size_per_image S (64) and roi_positive_fraction (at most
        floor(S * fraction) foreground ROIs: the mask head trains on these); roi_iou_thresholds /
        roi_iou_labels (proposals below IoU 0.2 ignored, foreground from 0.5);
        box_smooth_l1_beta (1.0); pooler_sampling_ratio
        (fixed, static shapes); box_pooler_resolution (7), box_num_fc / box_fc_dim (2 x 1024);
        mask_pooler_resolution (14), mask_num_conv / mask_conv_dim (4 x 256; masks 2x the
        pooler: 28 x 28 per class).

    Depth (the authors' z head, "wpreddz"): z_num_fc / z_fc_dim (2 x 1024 on its own 7 x 7
        features), z_loss_weight (1.0), z_smooth_l1_beta (1.0). Each ROI predicts, per class, the
        relative depth extent `dz = (z_far - z_near) / z_centre * f_y / box_height` of its
        object; at inference it gives the ROI frame's depth range around a chosen centre depth.

    Voxel head: voxel_pooler_resolution (12), voxel_size G (24), voxel_num_conv /
        voxel_conv_dim (4 x 256), cubify_thresh (0.2), cubify_align ("center": ROI cell i at
        2 i / (G - 1) - 1, as the datasets' voxels), voxel_loss_weight (3.0).

    Mesh head: mesh_pooler_resolution (14), num_stages, num_graph_convs, graph_conv_dim;
        max_verts / max_faces, the static capacity of each cubified ROI mesh;
        mesh_rois_per_image, how many of the foreground ROIs per image the voxel and mesh heads
        train on (static); gt_num_samples is the number of ground-truth points per instance the
        batch carries (P, informative), pred_num_samples the points sampled on predicted
        meshes; chamfer_weight, normal_weight, edge_weight (1, 0.1, 1); gt_coord_thresh (5.0):
        ground-truth points are clamped to [-t, t] in the proposal's ROI frame (the authors'
        GT_COORD_THRESH, against far points of boxes that cut the object).

    Solver (`make_detector_optimizer`; the authors' Pix3D schedule): SGD with momentum, base_lr
        0.02, weight_decay 1e-4, a linear warm-up over warmup_iters (1000) from warmup_factor
        (0.1) times the rate, x0.1 at each of steps (8000, 10000), max_iter (11000).

    Inference: score_thresh (0.05), test_nms_thresh (0.5), detections_per_image D (100).
    """

    image_size: int = 512
    num_classes: int = 9
    resnet_depth: int = 50
    norm: str = "frozen"
    resnet_width: int = 64
    resnet_blocks: tuple[int, ...] | None = None
    fpn_dim: int = 256
    anchor_sizes: tuple[tuple[float, ...], ...] = ((32,), (64,), (128,), (256,), (512,))
    anchor_aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    rpn_pre_nms_topk: tuple[int, int] = (2000, 1000)
    rpn_post_nms_topk: tuple[int, int] = (1000, 1000)
    rpn_nms_thresh: float = 0.7
    rpn_batch_size_per_image: int = 256
    rpn_positive_fraction: float = 0.5
    rpn_iou_thresholds: tuple[float, ...] = (0.2, 0.5, 0.7)
    rpn_iou_labels: tuple[int, ...] = (-1, 0, -1, 1)
    rpn_smooth_l1_beta: float = 0.111
    roi_batch_size_per_image: int = 64
    roi_positive_fraction: float = 0.25
    roi_iou_thresholds: tuple[float, ...] = (0.2, 0.5)
    roi_iou_labels: tuple[int, ...] = (-1, 0, 1)
    box_smooth_l1_beta: float = 1.0
    pooler_sampling_ratio: int = 2
    box_pooler_resolution: int = 7
    box_num_fc: int = 2
    box_fc_dim: int = 1024
    mask_pooler_resolution: int = 14
    mask_num_conv: int = 4
    mask_conv_dim: int = 256
    z_num_fc: int = 2
    z_fc_dim: int = 1024
    z_loss_weight: float = 1.0
    z_smooth_l1_beta: float = 1.0
    voxel_pooler_resolution: int = 12
    voxel_size: int = 24
    voxel_num_conv: int = 4
    voxel_conv_dim: int = 256
    cubify_thresh: float = 0.2
    cubify_align: str = "center"
    voxel_loss_weight: float = 3.0
    mesh_pooler_resolution: int = 14
    num_stages: int = 3
    num_graph_convs: int = 3
    graph_conv_dim: int = 128
    max_verts: int = 4096
    max_faces: int = 8192
    mesh_rois_per_image: int = 16
    gt_num_samples: int = 5000
    pred_num_samples: int = 5000
    chamfer_weight: float = 1.0
    normal_weight: float = 0.1
    edge_weight: float = 1.0
    gt_coord_thresh: float = 5.0
    score_thresh: float = 0.05
    test_nms_thresh: float = 0.5
    detections_per_image: int = 100
    base_lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_iters: int = 1000
    warmup_factor: float = 0.1
    steps: tuple[int, ...] = (8000, 10000)
    max_iter: int = 11000

    def __post_init__(self):
        if self.resnet_depth not in _DEPTHS:
            raise ValueError(f"resnet_depth must be one of {_DEPTHS}, got {self.resnet_depth}")
        if self.norm not in ("frozen", "group"):
            raise ValueError(f"norm must be 'frozen' or 'group', got {self.norm!r}")
        if self.image_size < 32 or self.image_size % 32:
            raise ValueError(f"image_size must be a positive multiple of 32, got "
                             f"{self.image_size}")  # fmt: skip
        for name in ("rpn", "roi"):
            t, lab = getattr(self, f"{name}_iou_thresholds"), getattr(self, f"{name}_iou_labels")
            if len(lab) != len(t) + 1 or list(t) != sorted(t):
                raise ValueError(f"{name}_iou_labels needs one label more than the increasing "
                                 f"{name}_iou_thresholds, got {t} and {lab}")  # fmt: skip
        if len(self.anchor_sizes) != 5:
            raise ValueError(f"anchor_sizes needs 5 levels (P2..P6), got {self.anchor_sizes}")
        if self.voxel_size < 2 or self.voxel_size % 2:
            raise ValueError(f"voxel_size must be even and >= 2, got {self.voxel_size}")
        if self.cubify_align not in ("topleft", "center", "corner"):
            raise ValueError(f"cubify_align must be topleft, center or corner, got "
                             f"{self.cubify_align!r}")  # fmt: skip
        if not 0.0 < self.cubify_thresh < 1.0:
            raise ValueError(f"cubify_thresh must be in (0, 1), got {self.cubify_thresh}")
        for name in ("num_classes", "fpn_dim", "roi_batch_size_per_image", "box_fc_dim",
                     "z_fc_dim", "mask_conv_dim", "voxel_conv_dim", "num_stages",
                     "num_graph_convs",
                     "graph_conv_dim", "max_verts", "max_faces", "mesh_rois_per_image",
                     "gt_num_samples", "pred_num_samples", "detections_per_image",
                     "pooler_sampling_ratio", "rpn_batch_size_per_image"):  # fmt: skip
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.mesh_rois_per_image > self.num_fg_rois:
            raise ValueError(f"mesh_rois_per_image ({self.mesh_rois_per_image}) must be <= "
                             f"floor(roi_batch_size_per_image * roi_positive_fraction) "
                             f"= {self.num_fg_rois}")  # fmt: skip
        if 2 * self.voxel_pooler_resolution != self.voxel_size:
            raise ValueError(f"voxel_pooler_resolution must be voxel_size / 2 (the head's deconv "
                             f"doubles it), got {self.voxel_pooler_resolution} for G = "
                             f"{self.voxel_size}")  # fmt: skip

    @property
    def num_fg_rois(self) -> int:
        """The most foreground ROIs sampled per image (static)."""
        return int(self.roi_batch_size_per_image * self.roi_positive_fraction)

    @property
    def mask_size(self) -> int:
        return 2 * self.mask_pooler_resolution

    def replace(self, **changes) -> MeshRCNNDetectorConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def authors(cls, **changes) -> MeshRCNNDetectorConfig:
        """The authors' Pix3D Mesh R-CNN (ResNet-50-FPN, FrozenBatchNorm)."""
        return cls(**changes)

    @classmethod
    def tiny(cls, **changes) -> MeshRCNNDetectorConfig:
        """The same model sized for a CPU and tests: 64 px, a ResNet of width 32 with one basic
        block per stage and GroupNorm, FPN 32, anchors 8..128 px, 32 ROIs per image, heads of
        width 32 / 64 (one FC layer in the depth head), G = 24 voxels (as the authors'), one
        refinement stage on meshes of up to 1024 vertices, 2 mesh ROIs per image, 256 points
        per mesh term, 8 detections.

        The 1024 / 2048 capacity keeps the tests' steps cheap but truncates most cubified
        meshes of a trained model (a full G = 24 grid needs 3458 vertices / 6912 faces; the
        furniture ROIs of a trained tiny model need a median 2425 / 4856): for training pass
        `max_verts=4096, max_faces=8192` (the defaults), as `experiments/ch10_mesh_rcnn.py`'s
        cpu preset does."""
        base = dict(image_size=64, num_classes=8, resnet_depth=18, norm="group",
                    resnet_width=32, resnet_blocks=(1, 1, 1, 1), fpn_dim=32,
                    anchor_sizes=((8,), (16,), (32,), (64,), (128,)),
                    rpn_pre_nms_topk=(200, 100), rpn_post_nms_topk=(100, 50),
                    rpn_batch_size_per_image=64, roi_batch_size_per_image=32,
                    box_fc_dim=64, z_num_fc=1, z_fc_dim=32, mask_num_conv=2, mask_conv_dim=32,
                    voxel_num_conv=2, voxel_conv_dim=32, num_stages=1, num_graph_convs=2,
                    graph_conv_dim=32,
                    max_verts=1024, max_faces=2048, mesh_rois_per_image=2, gt_num_samples=256,
                    pred_num_samples=256, detections_per_image=8)  # fmt: skip
        return cls(**{**base, **changes})
