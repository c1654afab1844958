"""jax3d.datasets: locating optional real assets and generating training data."""

from jax3d.datasets.binvox import Binvox, read_binvox, write_binvox
from jax3d.datasets.clevr import ClevrConfig, ClevrScenes, NpzClevrScenes, cache_clevr_npz
from jax3d.datasets.cow_renders import generate_cow_renders
from jax3d.datasets.data_path import DataNotFoundError, data_path, data_root, has_data
from jax3d.datasets.furniture import (
    ALL_CLASSES,
    FURNITURE_CLASSES,
    PRIMITIVE_CLASSES,
    Shape,
    make_shape,
    shape_from_seed,
)
from jax3d.datasets.furniture_scenes import (
    FurnitureSceneConfig,
    FurnitureScenes,
    NpzFurnitureScenes,
    cache_furniture_scenes,
)
from jax3d.datasets.image_folder import ImageFolder, ImageSkippedWarning
from jax3d.datasets.instance_targets import collate_instances, mask_boxes, roi_voxels
from jax3d.datasets.pix3d import PIX3D_CLASSES, Pix3D
from jax3d.datasets.prefetch import Prefetcher, prefetch
from jax3d.datasets.shape_renders import (
    NpzShapeRenders,
    ShapeRenderConfig,
    ShapeRenders,
    cache_to_npz,
    collate,
    sample_surface,
)
from jax3d.datasets.shapenet_r2n2 import SHAPENET_R2N2_CLASSES, ShapeNetR2N2, align_bbox
from jax3d.datasets.synthetic import SyntheticDataset, synthetic_batches
from jax3d.datasets.voxelize import (
    VoxelGrid,
    occupancy_from_points,
    voxelize_mesh,
    winding_numbers_on_grid,
)

__all__ = [
    "ALL_CLASSES",
    "Binvox",
    "ClevrConfig",
    "ClevrScenes",
    "DataNotFoundError",
    "FURNITURE_CLASSES",
    "FurnitureSceneConfig",
    "FurnitureScenes",
    "ImageFolder",
    "ImageSkippedWarning",
    "NpzClevrScenes",
    "NpzFurnitureScenes",
    "NpzShapeRenders",
    "PIX3D_CLASSES",
    "PRIMITIVE_CLASSES",
    "Pix3D",
    "Prefetcher",
    "SHAPENET_R2N2_CLASSES",
    "Shape",
    "ShapeNetR2N2",
    "ShapeRenderConfig",
    "ShapeRenders",
    "SyntheticDataset",
    "VoxelGrid",
    "align_bbox",
    "cache_clevr_npz",
    "cache_furniture_scenes",
    "cache_to_npz",
    "collate",
    "collate_instances",
    "data_path",
    "data_root",
    "generate_cow_renders",
    "has_data",
    "make_shape",
    "mask_boxes",
    "occupancy_from_points",
    "prefetch",
    "read_binvox",
    "roi_voxels",
    "sample_surface",
    "shape_from_seed",
    "synthetic_batches",
    "voxelize_mesh",
    "winding_numbers_on_grid",
    "write_binvox",
]
