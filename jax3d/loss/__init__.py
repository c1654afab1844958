"""jax3d.loss."""

from jax3d.loss.chamfer import chamfer_distance
from jax3d.loss.detection import (
    Matcher,
    SampledLabels,
    SampledProposals,
    fast_rcnn_losses,
    label_and_sample_anchors,
    label_and_sample_proposals,
    mask_rcnn_loss,
    mask_targets,
    rpn_losses,
    subsample_labels,
)
from jax3d.loss.gan import (
    feature_matching_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
    nonsaturating_discriminator_loss,
    nonsaturating_generator_loss,
    r1_penalty,
)
from jax3d.loss.mesh_edge_loss import mesh_edge_loss
from jax3d.loss.mesh_laplacian_smoothing import mesh_laplacian_smoothing
from jax3d.loss.mesh_normal_consistency import mesh_normal_consistency
from jax3d.loss.point_mesh_distance import point_mesh_edge_distance, point_mesh_face_distance

__all__: list[str] = [
    "chamfer_distance",
    "point_mesh_edge_distance",
    "point_mesh_face_distance",
    "mesh_edge_loss",
    "mesh_laplacian_smoothing",
    "mesh_normal_consistency",
    "nonsaturating_generator_loss",
    "nonsaturating_discriminator_loss",
    "hinge_generator_loss",
    "hinge_discriminator_loss",
    "r1_penalty",
    "feature_matching_loss",
    "Matcher",
    "SampledLabels",
    "SampledProposals",
    "fast_rcnn_losses",
    "label_and_sample_anchors",
    "label_and_sample_proposals",
    "mask_rcnn_loss",
    "mask_targets",
    "rpn_losses",
    "subsample_labels",
]
