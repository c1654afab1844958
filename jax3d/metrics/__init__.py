"""jax3d.metrics: image quality metrics (PSNR, SSIM) and mesh reconstruction metrics."""

from jax3d.metrics.mesh_metrics import (
    MESH_RCNN_SHAPENET,
    PIXEL2MESH,
    MeshEvalProtocol,
    MeshEvaluation,
    compare_meshes,
    sampling_metrics,
)
from jax3d.metrics.psnr import psnr
from jax3d.metrics.ssim import ssim

__all__ = [
    "MESH_RCNN_SHAPENET",
    "PIXEL2MESH",
    "MeshEvalProtocol",
    "MeshEvaluation",
    "compare_meshes",
    "psnr",
    "sampling_metrics",
    "ssim",
]
