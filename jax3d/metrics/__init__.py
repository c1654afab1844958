"""jax3d.metrics: image quality (PSNR, SSIM, LPIPS, Perc Sim), perceptual loss, FID / KID, mesh
metrics, detection AP (COCO box / mask, Pix3D box / mask / mesh)."""

from jax3d.metrics.alexnet import AlexNetFeatures, load_alexnet_params
from jax3d.metrics.detection import (
    box_iou_numpy,
    coco_evaluate,
    mask_iou,
    mesh_f1_matrix,
    pix3d_evaluate,
    voc_ap,
)
from jax3d.metrics.evaluator import (
    FID_LABEL,
    VGG_FRECHET_LABEL,
    FrechetEvaluator,
    LabelledResult,
)
from jax3d.metrics.frechet import (
    compute_statistics,
    feature_statistics,
    frechet_distance,
    load_statistics,
    save_statistics,
)
from jax3d.metrics.inception import InceptionV3, load_inception_params
from jax3d.metrics.kid import KIDResult, kernel_inception_distance, polynomial_mmd2
from jax3d.metrics.lpips import LPIPS, load_lpips_params, lpips
from jax3d.metrics.mesh_metrics import (
    MESH_RCNN_SHAPENET,
    PIXEL2MESH,
    MeshEvalProtocol,
    MeshEvaluation,
    compare_meshes,
    sampling_metrics,
)
from jax3d.metrics.perceptual import PERCEPTUAL_WEIGHTS, vgg_perceptual_loss
from jax3d.metrics.perceptual_sim import perceptual_similarity
from jax3d.metrics.psnr import psnr
from jax3d.metrics.ssim import ssim
from jax3d.metrics.vgg import (
    VGG16_STAGES,
    VGG16Features,
    imagenet_normalize,
    load_vgg16_params,
)

__all__ = [
    "FID_LABEL",
    "LPIPS",
    "MESH_RCNN_SHAPENET",
    "PERCEPTUAL_WEIGHTS",
    "PIXEL2MESH",
    "VGG16_STAGES",
    "VGG_FRECHET_LABEL",
    "AlexNetFeatures",
    "FrechetEvaluator",
    "InceptionV3",
    "KIDResult",
    "LabelledResult",
    "MeshEvalProtocol",
    "MeshEvaluation",
    "VGG16Features",
    "box_iou_numpy",
    "coco_evaluate",
    "mask_iou",
    "mesh_f1_matrix",
    "pix3d_evaluate",
    "voc_ap",
    "compare_meshes",
    "compute_statistics",
    "feature_statistics",
    "frechet_distance",
    "imagenet_normalize",
    "kernel_inception_distance",
    "load_alexnet_params",
    "load_inception_params",
    "load_lpips_params",
    "load_statistics",
    "load_vgg16_params",
    "lpips",
    "perceptual_similarity",
    "polynomial_mmd2",
    "psnr",
    "sampling_metrics",
    "save_statistics",
    "ssim",
    "vgg_perceptual_loss",
]
