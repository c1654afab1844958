"""jax3d.models."""

from jax3d.models import mesh_rcnn, nerf, smpl, smplify
from jax3d.models.mesh_rcnn import MeshRCNN, MeshRCNNConfig
from jax3d.models.nerf import NeuralRadianceField, PaperNeRF
from jax3d.models.smpl import SMPLModel, load_smpl, smpl_forward, synthetic_body_model
from jax3d.models.smplify import SMPLifySettings, load_gmm_prior
from jax3d.models.smplify import smplify as fit_smplify

__all__: list[str] = [
    "MeshRCNN",
    "MeshRCNNConfig",
    "mesh_rcnn",
    "NeuralRadianceField",
    "PaperNeRF",
    "nerf",
    "SMPLModel",
    "SMPLifySettings",
    "fit_smplify",
    "load_gmm_prior",
    "load_smpl",
    "smpl",
    "smpl_forward",
    "smplify",
    "synthetic_body_model",
]
