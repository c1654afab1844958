"""jax3d.ops.detection: 2D detection ops of Mask R-CNN with Detectron2's conventions.

Anchors (`AnchorGenerator`), box coding (`Box2BoxTransform`), `pairwise_iou`, static-shape
`nms` / `batched_nms`, the RPN's `find_top_rpn_proposals`, and `roi_align` /
`multilevel_roi_align` (ROIAlign with `aligned=True` on a feature pyramid). Boxes are XYXY in
image pixels; feature maps are channels-last (B, H, W, C).
"""

from jax3d.ops.detection.anchors import AnchorGenerator, generate_cell_anchors, grid_anchors
from jax3d.ops.detection.boxes import (
    Box2BoxTransform,
    box_area,
    check_boxes,
    clip_boxes,
    nonempty_boxes,
    pairwise_iou,
)
from jax3d.ops.detection.nms import (
    NMSResult,
    Proposals,
    batched_nms,
    find_top_rpn_proposals,
    nms,
)
from jax3d.ops.detection.roi_align import (
    assign_boxes_to_levels,
    multilevel_roi_align,
    roi_align,
)

__all__ = [
    "AnchorGenerator",
    "Box2BoxTransform",
    "NMSResult",
    "Proposals",
    "assign_boxes_to_levels",
    "batched_nms",
    "box_area",
    "check_boxes",
    "clip_boxes",
    "find_top_rpn_proposals",
    "generate_cell_anchors",
    "grid_anchors",
    "multilevel_roi_align",
    "nms",
    "nonempty_boxes",
    "pairwise_iou",
    "roi_align",
]
