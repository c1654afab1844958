"""`MeshRCNNDetector`: the full Mesh R-CNN (Mask R-CNN + voxel head + mesh refinement).

Images go through `ResNetFPN` (P2..P6); the `RPNHead` scores 3 anchors per location and level
and `find_top_rpn_proposals` keeps the best boxes (static shapes, under jit); ROIAlign on
P2..P5 (level by box size, `multilevel_roi_align`) feeds the `BoxHead` (7 x 7: classes and
per-class deltas), the `ZHead` (7 x 7: per-class relative depth extents), the `MaskHead`
(14 x 14 -> 28 x 28 per class), part 1's `VoxelHead` (12 x 12 -> a G = 24 grid) and part 1's
`MeshRefinementStage`s (14 x 14).

The voxel and mesh heads work in each ROI's frame (`jax3d.transforms.roi_frustum`, as the
authors do on Pix3D): the box's viewing frustum between two depths mapped onto [-1, 1]^3 (x
right, y down, z away from the camera). The voxel logits are indexed `[z, y, x]` on cells at
`2 i / (G - 1) - 1`; `cubify_padded` turns them into a mesh in that frame (static capacity
`max_verts` / `max_faces`, a grid with no cell above the threshold gets its central block, as
part 1), whose vertices sample the ROI's 14 x 14 features at their (x, y) (the ROI frame's x, y
span the ROI feature map) and are refined there. At inference the ROI frame is mapped to
camera coordinates with the camera `K`, the detected box and the depth range
`z_c (1 -+ dz h / (2 f_y))` from the predicted relative extent `dz` (class of the detection)
around a centre depth `z_c` the caller gives (monocular scale is ambiguous: `z_c` scales the
whole mesh; the authors' demo uses an arbitrary one too).

Methods (call with `model.apply(variables, ..., method=...)`):
    `__call__(images, K=None, zcenter=1.0, only_highest=False)` -> `Detections` (inference);
    `losses(batch, key)` -> (dict of losses, dict of diagnostics) (training; see
    `rcnn_train` for the batch format).
"""

from __future__ import annotations

from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from jax3d.loss.chamfer import chamfer_distance
from jax3d.loss.detection import (
    ROI_BOX_TRANSFORM,
    RPN_BOX_TRANSFORM,
    Matcher,
    fast_rcnn_losses,
    label_and_sample_anchors,
    label_and_sample_proposals,
    mask_rcnn_loss,
    mask_targets,
    rpn_losses,
    smooth_l1_loss,
)
from jax3d.models.mesh_rcnn.detector_config import MeshRCNNDetectorConfig
from jax3d.models.mesh_rcnn.fpn import FPN_STRIDES, ResNetFPN
from jax3d.models.mesh_rcnn.heads import MeshRefinementStage, VoxelHead, mesh_edges_flat
from jax3d.models.mesh_rcnn.model import fill_empty_grids
from jax3d.models.mesh_rcnn.rcnn_heads import BoxHead, MaskHead, RPNHead, ZHead, select_class
from jax3d.ops.cubify import cubify_padded
from jax3d.ops.detection import (
    AnchorGenerator,
    batched_nms,
    clip_boxes,
    find_top_rpn_proposals,
    multilevel_roi_align,
    nonempty_boxes,
)
from jax3d.ops.sample_points_from_meshes import sample_points_from_meshes
from jax3d.structures import Meshes
from jax3d.transforms.roi_frustum import camera_to_roi, resample_roi_grid, roi_to_camera

__all__ = [
    "Detections",
    "MeshRCNNDetector",
    "default_intrinsics",
    "detection_postprocess",
    "paste_masks",
    "roi_normals",
]

_ROI_SCALES = tuple(1.0 / s for s in FPN_STRIDES[:4])  # P2..P5


@struct.dataclass
class Detections:
    """Inference output for B images, D = `detections_per_image` slots (padding: `valid`
    False, best first).

    boxes (B, D, 4) XYXY pixels; classes (B, D) int32; scores (B, D); valid (B, D) bool.
    masks (B, D, H, W) bool, the masks pasted into the image (threshold 0.5);
    mask_probs (B, D, M, M) the class's 28 x 28 mask probabilities.
    dz (B, D) relative depth extents; zrange (B, D, 2) the depths used for the meshes.
    voxel_scores (B, D, G, G, G) occupancy logits [z, y, x] in the ROI frame.
    verts (B, D, V, 3) camera-frame vertices (0 padding); faces (B, D, F, 3) (-1 padding);
    num_verts, num_faces (B, D) int32; roi_verts (B, D, V, 3) the same vertices in the ROI
    frame; cubify_overflow (B, D) bool (the cubified mesh was truncated).
    """

    boxes: jax.Array
    classes: jax.Array
    scores: jax.Array
    valid: jax.Array
    masks: jax.Array
    mask_probs: jax.Array
    dz: jax.Array
    zrange: jax.Array
    voxel_scores: jax.Array
    verts: jax.Array
    faces: jax.Array
    num_verts: jax.Array
    num_faces: jax.Array
    roi_verts: jax.Array
    cubify_overflow: jax.Array


def default_intrinsics(height: int, width: int, focal_mm: float = 20.0) -> jax.Array:
    """(3, 3) K of the authors' demo: focal `focal_mm` on a 32 mm sensor (f = focal_mm / 32 W
    pixels), principal point at the image centre."""
    f = focal_mm / 32.0 * width
    return jnp.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def paste_masks(probs, boxes, height: int, width: int) -> jax.Array:
    """Detectron2's `paste_masks_in_image`: M x M mask probabilities resampled into the image.

    Pixel (i, j) reads the mask bilinearly (zero outside, `grid_sample(align_corners=False)`) at
    its centre's position in the box: `(j + 0.5 - x0) / (x1 - x0) * M - 0.5` (and y).

    Args:
        probs: (..., M, M) float; boxes: (..., 4) XYXY pixels.

    Returns:
        (..., height, width) float probabilities.
    """
    M = probs.shape[-1]
    m = jnp.arange(M, dtype=jnp.float32)

    def taps(lo, hi, n):  # (..., n, M) tent weights
        size = jnp.maximum(hi - lo, 1e-6)[..., None]
        pos = (jnp.arange(n, dtype=jnp.float32) + 0.5 - lo[..., None]) / size * M - 0.5
        return jnp.maximum(0.0, 1.0 - jnp.abs(pos[..., :, None] - m))

    wy = taps(boxes[..., 1], boxes[..., 3], height)
    wx = taps(boxes[..., 0], boxes[..., 2], width)
    return jnp.einsum("...hm,...mn,...wn->...hw", wy, probs, wx)


@partial(jax.jit, static_argnames=("image_size", "score_thresh", "nms_thresh", "max_detections",
                                   "only_highest"))  # fmt: skip
def detection_postprocess(
    class_logits, box_deltas, proposals, proposals_valid, image_size: int, *,
    score_thresh: float, nms_thresh: float, max_detections: int, only_highest: bool = False,
):  # fmt: skip
    """Detectron2's `fast_rcnn_inference` with static shapes.

    Scores are the softmax over K + 1 classes (background last); every (proposal, class) pair
    with score > `score_thresh` is a candidate with its class's decoded box (clipped to the
    image, non-empty); per-class NMS (`batched_nms`) keeps at most `max_detections`, best first.
    `only_highest` keeps only the best detection of each image (the demo's --onlyhighest).

    Args:
        class_logits: (B, P, K + 1); box_deltas: (B, P, 4 K); proposals: (B, P, 4);
        proposals_valid: (B, P) bool; image_size: the square image side.

    Returns:
        boxes (B, D, 4), scores (B, D), classes (B, D) int32, valid (B, D) bool,
        proposal index (B, D) int32 (0 where not valid), with D = max_detections.
    """
    B, P, K1 = class_logits.shape
    K = K1 - 1
    D = int(max_detections)
    scores = jax.nn.softmax(class_logits, -1)[..., :K]  # (B, P, K)
    boxes = ROI_BOX_TRANSFORM.apply_deltas(box_deltas, proposals).reshape(B, P, K, 4)
    boxes = clip_boxes(boxes, jnp.array([image_size, image_size], boxes.dtype))
    ok = (scores > score_thresh) & proposals_valid[..., None] & nonempty_boxes(boxes)
    ok = ok & jnp.all(jnp.isfinite(boxes), -1) & jnp.isfinite(scores)
    cls = jnp.broadcast_to(jnp.arange(K, dtype=jnp.int32), (P, K)).reshape(-1)
    src = jnp.broadcast_to(jnp.arange(P, dtype=jnp.int32)[:, None], (P, K)).reshape(-1)

    def one(b, s, v):
        res = batched_nms(b, s, cls, nms_thresh, max_output_size=D, valid=v)
        i = jnp.maximum(res.indices, 0)
        valid = res.valid
        if only_highest:
            valid = valid & (jnp.arange(D) == 0)
        return (jnp.where(valid[:, None], b[i], 0.0), jnp.where(valid, s[i], 0.0),
                jnp.where(valid, cls[i], 0), valid, jnp.where(valid, src[i], 0))  # fmt: skip

    return jax.vmap(one)(boxes.reshape(B, P * K, 4), scores.reshape(B, P * K),
                         ok.reshape(B, P * K))  # fmt: skip


def roi_normals(points, normals, boxes, K, zrange):
    """Unit normals of a surface mapped to the ROI frame by `camera_to_roi`.

    The ROI map is projective; a normal n at camera point p becomes `J^{-T} n` with J its
    Jacobian at p (upper triangular, solved in closed form), then normalised.

    Args:
        points, normals: (..., P, 3) camera frame; boxes (..., 4); K (..., 3, 3);
        zrange (..., 2) (as `camera_to_roi`).

    Returns:
        (..., P, 3) unit normals in the ROI frame.
    """
    x, y = points[..., 0], points[..., 1]
    z = jnp.maximum(points[..., 2], 1e-6)
    fx, fy = K[..., 0, 0][..., None], K[..., 1, 1][..., None]
    a = 2.0 / jnp.maximum(boxes[..., 2] - boxes[..., 0], 1e-6)[..., None]
    b = 2.0 / jnp.maximum(boxes[..., 3] - boxes[..., 1], 1e-6)[..., None]
    c = 2.0 / (1.0 / zrange[..., 0] - 1.0 / zrange[..., 1])[..., None]
    n0, n1, n2 = normals[..., 0], normals[..., 1], normals[..., 2]
    m0 = n0 * z / (a * fx)
    m1 = n1 * z / (b * fy)
    m2 = (n2 + x / z * n0 + y / z * n1) * z * z / c
    m = jnp.stack([m0, m1, m2], -1)
    return m / jnp.maximum(jnp.linalg.norm(m, axis=-1, keepdims=True), 1e-12)


def _edge_loss_per_mesh(verts, edges, num_meshes):
    """Mean squared edge length of each mesh (PyTorch3D's mesh_edge_loss, target 0)."""
    flat = verts.reshape(-1, 3)
    ok = edges[:, 0] >= 0
    e = jnp.maximum(edges, 0)
    sq = jnp.sum((flat[e[:, 0]] - flat[e[:, 1]]) ** 2, -1)
    mesh = e[:, 0] // verts.shape[1]
    total = jax.ops.segment_sum(jnp.where(ok, sq, 0.0), mesh, num_meshes)
    count = jax.ops.segment_sum(ok.astype(jnp.float32), mesh, num_meshes)
    return total / jnp.maximum(count, 1.0)


def _masked_mean(values, mask):
    total = jnp.sum(jnp.where(mask, values, 0.0))
    return total / jnp.maximum(jnp.sum(mask.astype(values.dtype)), 1.0)


def _gather(x, idx):
    """x (B, M, ...) at idx (B, R) -> (B, R, ...)."""
    return jax.vmap(lambda a, i: a[i])(x, idx)


class MeshRCNNDetector(nn.Module):
    """The full Mesh R-CNN configured by a `MeshRCNNDetectorConfig` (see the module docstring).

    Parameters: `backbone` (`ResNetFPN`: `bottom_up` is the torchvision ResNet), `rpn_head`,
    `box_head`, `z_head`, `mask_head`, `voxel_head`, `mesh_stages_0` ... .
    """

    config: MeshRCNNDetectorConfig

    def setup(self):
        c = self.config
        self.backbone = ResNetFPN(c.resnet_depth, c.norm, c.resnet_width, c.resnet_blocks,
                                  c.fpn_dim)  # fmt: skip
        self.rpn_head = RPNHead(len(c.anchor_aspect_ratios))
        self.box_head = BoxHead(c.num_classes, c.box_num_fc, c.box_fc_dim)
        self.z_head = ZHead(c.num_classes, c.z_num_fc, c.z_fc_dim)
        self.mask_head = MaskHead(c.num_classes, c.mask_num_conv, c.mask_conv_dim)
        self.voxel_head = VoxelHead(c.voxel_size, c.voxel_num_conv, c.voxel_conv_dim)
        self.mesh_stages = [MeshRefinementStage(c.graph_conv_dim, c.num_graph_convs, "normal")
                            for _ in range(c.num_stages)]  # fmt: skip

    # -- shared pieces ------------------------------------------------------------------------

    def _check_images(self, images):
        images = jnp.asarray(images, jnp.float32)
        S = self.config.image_size
        if images.ndim != 4 or images.shape[1:] != (S, S, 3):
            raise ValueError(f"images must be (B, {S}, {S}, 3), got {images.shape}")
        return images

    def _rpn(self, feats, train: bool):
        """Anchors (N, 4), logits (B, N), deltas (B, N, 4) and the proposals."""
        c = self.config
        gen = AnchorGenerator(c.anchor_sizes, c.anchor_aspect_ratios, FPN_STRIDES)
        anchors = gen([f.shape[1:3] for f in feats])
        logits, deltas = self.rpn_head(feats)
        boxes = [RPN_BOX_TRANSFORM.apply_deltas(jax.lax.stop_gradient(d), a)
                 for d, a in zip(deltas, anchors)]  # fmt: skip
        B = feats[0].shape[0]
        sizes = jnp.full((B, 2), c.image_size, jnp.float32)
        t = 0 if train else 1
        props = find_top_rpn_proposals(
            boxes, [jax.lax.stop_gradient(s) for s in logits], sizes, nms_thresh=c.rpn_nms_thresh,
            pre_nms_topk=c.rpn_pre_nms_topk[t], post_nms_topk=c.rpn_post_nms_topk[t],
        )  # fmt: skip
        return (jnp.concatenate(anchors), jnp.concatenate(logits, 1),
                jnp.concatenate(deltas, 1), props)  # fmt: skip

    def _pool(self, feats, boxes, resolution: int):
        return multilevel_roi_align(feats[:4], jax.lax.stop_gradient(boxes), resolution,
                                    _ROI_SCALES, self.config.pooler_sampling_ratio)  # fmt: skip

    def _mesh_branch(self, feats, boxes):
        """Voxel logits (B R, G, G, G), the cubified meshes and every stage's vertices (ROI
        frame) for boxes (B, R, 4)."""
        c = self.config
        B, R = boxes.shape[:2]
        vox_in = self._pool(feats, boxes, c.voxel_pooler_resolution)
        voxel_scores = self.voxel_head(vox_in.reshape((B * R,) + vox_in.shape[2:]))
        probs = fill_empty_grids(jax.nn.sigmoid(jax.lax.stop_gradient(voxel_scores)),
                                 c.cubify_thresh)  # fmt: skip
        cub = cubify_padded(probs, c.cubify_thresh, max_verts=c.max_verts,
                            max_faces=c.max_faces, align=c.cubify_align)  # fmt: skip
        m = cub.meshes
        V = m.verts.shape[1]
        valid = (jnp.arange(V)[None] < m.num_verts[:, None])[..., None]
        verts = jnp.where(valid, m.verts, 0.0)
        mesh_in = self._pool(feats, boxes, c.mesh_pooler_resolution)
        mesh_in = mesh_in.reshape((B * R,) + mesh_in.shape[2:])
        edges = mesh_edges_flat(m.faces, m.num_faces, V)
        stages, vert_feats = [], None
        for stage in self.mesh_stages:
            verts, vert_feats = stage([mesh_in], verts, m.num_verts, edges, vert_feats,
                                      positions=verts)  # fmt: skip
            stages.append(verts)
        return voxel_scores, m, edges, stages, cub.overflow

    # -- inference ----------------------------------------------------------------------------

    def __call__(self, images, K=None, zcenter=1.0, only_highest: bool = False) -> Detections:
        """Detections of a batch of images.

        Args:
            images: (B, S, S, 3) float RGB in [0, 1], S = `config.image_size`.
            K: (B, 3, 3) or (3, 3) pixel intrinsics; None: `default_intrinsics(S, S)`.
            zcenter: scalar, (B,) or (B, D) centre depth of each detected object.
            only_highest: keep the best detection of each image only.

        Returns:
            `Detections`.
        """
        c = self.config
        images = self._check_images(images)
        B, S = images.shape[0], c.image_size
        K = default_intrinsics(S, S) if K is None else jnp.asarray(K, jnp.float32)
        K = jnp.broadcast_to(K, (B, 3, 3))
        feats = self.backbone(images)
        _, _, _, props = self._rpn(feats, train=False)
        box_in = self._pool(feats, props.boxes, c.box_pooler_resolution)
        cls_logits, deltas = self.box_head(box_in)
        dz = self.z_head(box_in)
        boxes, scores, classes, valid, src = detection_postprocess(
            cls_logits, deltas, props.boxes, props.valid, S, score_thresh=c.score_thresh,
            nms_thresh=c.test_nms_thresh, max_detections=c.detections_per_image,
            only_highest=only_highest,
        )  # fmt: skip
        D = boxes.shape[1]
        det_dz = select_class(_gather(dz, src), classes)  # (B, D)
        mask_in = self._pool(feats, boxes, c.mask_pooler_resolution)
        mask_logits = self.mask_head(mask_in.reshape((B * D,) + mask_in.shape[2:]))
        mask_logits = mask_logits.reshape((B, D) + mask_logits.shape[1:])
        mask_probs = jax.nn.sigmoid(select_class(jnp.moveaxis(mask_logits, -1, 2), classes))
        masks = (paste_masks(mask_probs, boxes, S, S) >= 0.5) & valid[..., None, None]
        voxel_scores, m, _, stages, overflow = self._mesh_branch(feats, boxes)
        G = c.voxel_size
        roi_verts = stages[-1].reshape(B, D, -1, 3)
        zc = jnp.broadcast_to(jnp.asarray(zcenter, jnp.float32).reshape(
            jnp.shape(zcenter) + (1,) * (2 - jnp.ndim(zcenter))), (B, D))  # fmt: skip
        height = jnp.maximum(boxes[..., 3] - boxes[..., 1], 1.0)
        half = jnp.clip(jnp.abs(det_dz) * height / (2.0 * K[:, None, 1, 1]), 1e-3, 0.99)
        zrange = jnp.stack([zc * (1.0 - half), zc * (1.0 + half)], -1)
        boxes_safe = jnp.where(valid[..., None], boxes, jnp.array([0.0, 0.0, 1.0, 1.0]))
        verts = roi_to_camera(roi_verts, boxes_safe, K[:, None], zrange)
        nv = m.num_verts.reshape(B, D)
        vmask = (jnp.arange(roi_verts.shape[2]) < nv[..., None])[..., None]
        return Detections(
            boxes=boxes, classes=classes, scores=scores, valid=valid, masks=masks,
            mask_probs=mask_probs, dz=det_dz, zrange=zrange,
            voxel_scores=voxel_scores.reshape(B, D, G, G, G),
            verts=jnp.where(vmask, verts, 0.0), faces=m.faces.reshape(B, D, -1, 3),
            num_verts=nv, num_faces=m.num_faces.reshape(B, D), roi_verts=roi_verts,
            cubify_overflow=overflow.reshape(B, D) & valid,
        )  # fmt: skip

    # -- training -----------------------------------------------------------------------------

    def losses(self, batch: dict, key: jax.Array):
        """The training losses of a checked batch (see `rcnn_train`) and a PRNG key.

        Returns:
            (losses, aux): losses holds the weighted terms summed into the total ("loss_rpn_cls",
            "loss_rpn_loc", "loss_cls", "loss_box_reg", "loss_mask", "loss_z", "loss_voxel",
            "loss_mesh"); aux the unweighted mesh terms per stage ("chamfer_s", "normal_s",
            "edge_s"), "voxel_bce", "num_fg" (mean foreground ROIs per image), "num_mesh_rois",
            "cubify_overflow" (share of truncated meshes among the mesh ROIs).
        """
        c = self.config
        Kc = c.num_classes
        images = self._check_images(batch["images"])
        B = images.shape[0]
        gt_boxes = jnp.asarray(batch["boxes"], jnp.float32)
        gt_valid = jnp.asarray(batch["valid"], bool)
        gt_classes = jnp.asarray(batch["classes"], jnp.int32)
        Kmat = jnp.asarray(batch["K"], jnp.float32)
        zr_all = jnp.asarray(batch["zrange"], jnp.float32)
        k_rpn, k_roi, k_mesh = jax.random.split(key, 3)

        feats = self.backbone(images)
        anchors, logits, deltas, props = self._rpn(feats, train=True)
        gt_labels, matched = label_and_sample_anchors(
            anchors, gt_boxes, gt_valid, key=k_rpn,
            matcher=Matcher(c.rpn_iou_thresholds, c.rpn_iou_labels, True),
            batch_size_per_image=c.rpn_batch_size_per_image,
            positive_fraction=c.rpn_positive_fraction,
        )  # fmt: skip
        losses = dict(rpn_losses(anchors, logits, deltas, gt_labels, matched,
                                 batch_size_per_image=c.rpn_batch_size_per_image,
                                 smooth_l1_beta=c.rpn_smooth_l1_beta))  # fmt: skip

        s = label_and_sample_proposals(
            props.boxes, props.valid, gt_boxes, gt_classes, gt_valid, key=k_roi, num_classes=Kc,
            matcher=Matcher(c.roi_iou_thresholds, c.roi_iou_labels, False),
            batch_size_per_image=c.roi_batch_size_per_image,
            positive_fraction=c.roi_positive_fraction,
        )  # fmt: skip
        box_in = self._pool(feats, s.boxes, c.box_pooler_resolution)
        cls_logits, box_deltas = self.box_head(box_in)
        dz = self.z_head(box_in)
        losses.update(fast_rcnn_losses(cls_logits, box_deltas, s.boxes, s.gt_classes, s.gt_boxes,
                                       s.valid, smooth_l1_beta=c.box_smooth_l1_beta))  # fmt: skip
        fg_all = s.valid & (s.gt_classes >= 0) & (s.gt_classes < Kc)

        # Depth extents, relative to the proposal's height.
        zr = _gather(zr_all, s.matched_idxs)  # (B, S, 2)
        zc = jnp.maximum(0.5 * (zr[..., 0] + zr[..., 1]), 1e-6)
        h = jnp.maximum(s.boxes[..., 3] - s.boxes[..., 1], 1.0)
        gt_dz = (zr[..., 1] - zr[..., 0]) / zc * Kmat[:, None, 1, 1] / h
        pred_dz = select_class(dz, s.gt_classes)
        z_l1 = smooth_l1_loss(pred_dz, gt_dz, c.z_smooth_l1_beta)
        losses["loss_z"] = c.z_loss_weight * _masked_mean(z_l1, fg_all)

        # Masks on every sampled foreground ROI (they come first: `subsample_labels`).
        F = c.num_fg_rois
        fb, fc, fi = s.boxes[:, :F], s.gt_classes[:, :F], s.matched_idxs[:, :F]
        fg = fg_all[:, :F]
        targets = mask_targets(jnp.asarray(batch["masks"]), fb, fi, c.mask_size,
                               c.pooler_sampling_ratio)  # fmt: skip
        mask_in = self._pool(feats, fb, c.mask_pooler_resolution)
        mask_logits = self.mask_head(mask_in.reshape((B * F,) + mask_in.shape[2:]))
        mask_logits = mask_logits.reshape((B, F) + mask_logits.shape[1:])
        losses["loss_mask"] = mask_rcnn_loss(mask_logits, jnp.where(fg, fc, -1), targets, fg,
                                             num_classes=Kc)  # fmt: skip

        # Voxels and meshes on the first `mesh_rois_per_image` foreground ROIs, in their frame.
        R = c.mesh_rois_per_image
        mb, mi, mv = fb[:, :R], fi[:, :R], fg[:, :R]
        voxel_scores, m, edges, stages, overflow = self._mesh_branch(feats, mb)
        G = c.voxel_size
        gt_vox = _gather(jnp.asarray(batch["voxels"], jnp.float32), mi)
        vt = resample_roi_grid(gt_vox, _gather(gt_boxes, mi), mb)
        bce = optax.sigmoid_binary_cross_entropy(voxel_scores.reshape(B, R, G, G, G), vt)
        voxel_bce = _masked_mean(jnp.mean(bce, (2, 3, 4)), mv)
        losses["loss_voxel"] = c.voxel_loss_weight * voxel_bce

        zr_m = _gather(zr_all, mi)
        boxes_safe = jnp.where(mv[..., None], mb, jnp.array([0.0, 0.0, 1.0, 1.0]))
        zr_m = jnp.where(mv[..., None], zr_m, jnp.array([1.0, 2.0]))
        pts = _gather(jnp.asarray(batch["points"], jnp.float32), mi)
        nrm = _gather(jnp.asarray(batch["normals"], jnp.float32), mi)
        gt_pts = camera_to_roi(pts, boxes_safe, Kmat[:, None], zr_m)
        gt_pts = jnp.clip(gt_pts, -c.gt_coord_thresh, c.gt_coord_thresh)
        gt_nrm = roi_normals(pts, nrm, boxes_safe, Kmat[:, None], zr_m)
        P = pts.shape[2]
        gt_pts, gt_nrm = gt_pts.reshape(B * R, P, 3), gt_nrm.reshape(B * R, P, 3)
        w = mv.reshape(-1)
        aux = {}
        loss_mesh = jnp.zeros((), jnp.float32)
        keys = jax.random.split(k_mesh, len(stages))
        for i, (verts, k) in enumerate(zip(stages, keys)):
            meshes = Meshes(verts, m.faces, num_verts=m.num_verts, num_faces=m.num_faces)
            p, n = sample_points_from_meshes(meshes, c.pred_num_samples, return_normals=True,
                                             key=k)  # fmt: skip
            cham, norm = chamfer_distance(p, gt_pts, x_normals=n, y_normals=gt_nrm,
                                          batch_reduction=None)  # fmt: skip
            edge = _edge_loss_per_mesh(verts, edges, B * R)
            cham, norm, edge = (_masked_mean(t, w) for t in (cham, norm, edge))
            aux.update({f"chamfer_{i}": cham, f"normal_{i}": norm, f"edge_{i}": edge})
            stage_loss = c.chamfer_weight * cham + c.normal_weight * norm + c.edge_weight * edge
            loss_mesh = loss_mesh + stage_loss / len(stages)
        losses["loss_mesh"] = loss_mesh
        aux["voxel_bce"] = voxel_bce
        aux["num_fg"] = jnp.sum(fg_all).astype(jnp.float32) / B
        aux["num_mesh_rois"] = jnp.sum(mv).astype(jnp.float32) / B
        aux["cubify_overflow"] = _masked_mean(overflow.astype(jnp.float32), w)
        return losses, aux
