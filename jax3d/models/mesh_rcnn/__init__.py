"""jax3d.models.mesh_rcnn: Mesh R-CNN's ShapeNet mesh predictor (voxels, cubify, refinement).

See docs/mesh_rcnn.md. `MeshRCNNConfig.shapenet()` is the authors' voxmesh_R50, `.cpu()` the
same model for a CPU, `.sphere_init()` the sphere-init ablation.
"""

from jax3d.models.mesh_rcnn.backbones import (
    FEATURE_DIMS,
    FrozenBatchNorm,
    ResNet,
    VGG16Backbone,
    build_backbone,
    imagenet_normalize,
    pretrained_backbone_variables,
    resnet_variables_from_torchvision,
    with_backbone,
)
from jax3d.models.mesh_rcnn.config import BACKBONES, MeshRCNNConfig
from jax3d.models.mesh_rcnn.detector import (
    Detections,
    MeshRCNNDetector,
    default_intrinsics,
    detection_postprocess,
    paste_masks,
    roi_normals,
)
from jax3d.models.mesh_rcnn.detector_config import MeshRCNNDetectorConfig
from jax3d.models.mesh_rcnn.fpn import FPN_STRIDES, ResNetFPN
from jax3d.models.mesh_rcnn.heads import MeshRefinementStage, VoxelHead, mesh_edges_flat
from jax3d.models.mesh_rcnn.model import (
    MeshRCNN,
    MeshRCNNOutput,
    fill_empty_grids,
    voxels_to_meshes,
)
from jax3d.models.mesh_rcnn.rcnn_heads import BoxHead, MaskHead, RPNHead, ZHead
from jax3d.models.mesh_rcnn.rcnn_train import (
    BATCH_KEYS,
    check_detector_batch,
    detector_learning_rate,
    init_detector,
    make_detector_inference,
    make_detector_loss_fn,
    make_detector_optimizer,
    with_pretrained_resnet,
)
from jax3d.models.mesh_rcnn.train_step import (
    QUICK_COMPILE,
    fast_key,
    init_variables,
    make_loss_fn,
    make_optimizer,
    make_train_step,
    mesh_rcnn_losses,
)

__all__ = [
    "BACKBONES",
    "BATCH_KEYS",
    "BoxHead",
    "Detections",
    "FPN_STRIDES",
    "MaskHead",
    "MeshRCNNDetector",
    "MeshRCNNDetectorConfig",
    "RPNHead",
    "ResNetFPN",
    "check_detector_batch",
    "default_intrinsics",
    "detection_postprocess",
    "detector_learning_rate",
    "init_detector",
    "make_detector_inference",
    "make_detector_loss_fn",
    "make_detector_optimizer",
    "paste_masks",
    "roi_normals",
    "FEATURE_DIMS",
    "FrozenBatchNorm",
    "MeshRCNN",
    "MeshRCNNConfig",
    "MeshRCNNOutput",
    "MeshRefinementStage",
    "QUICK_COMPILE",
    "ResNet",
    "VGG16Backbone",
    "VoxelHead",
    "ZHead",
    "build_backbone",
    "fast_key",
    "fill_empty_grids",
    "imagenet_normalize",
    "init_variables",
    "make_loss_fn",
    "make_optimizer",
    "make_train_step",
    "mesh_edges_flat",
    "mesh_rcnn_losses",
    "pretrained_backbone_variables",
    "resnet_variables_from_torchvision",
    "voxels_to_meshes",
    "with_backbone",
    "with_pretrained_resnet",
]
