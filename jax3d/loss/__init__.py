"""jax3d.loss."""

from jax3d.loss.chamfer import chamfer_distance
from jax3d.loss.mesh_edge_loss import mesh_edge_loss
from jax3d.loss.mesh_laplacian_smoothing import mesh_laplacian_smoothing
from jax3d.loss.mesh_normal_consistency import mesh_normal_consistency

__all__: list[str] = [
    "chamfer_distance",
    "mesh_edge_loss",
    "mesh_laplacian_smoothing",
    "mesh_normal_consistency",
]
