"""jax3d.datasets: locating optional real assets and generating training data."""

from jax3d.datasets.cow_renders import generate_cow_renders
from jax3d.datasets.data_path import DataNotFoundError, data_path, data_root, has_data
from jax3d.datasets.image_folder import ImageFolder, ImageSkippedWarning
from jax3d.datasets.prefetch import Prefetcher, prefetch
from jax3d.datasets.synthetic import SyntheticDataset, synthetic_batches

__all__ = [
    "DataNotFoundError",
    "ImageFolder",
    "ImageSkippedWarning",
    "Prefetcher",
    "SyntheticDataset",
    "data_path",
    "data_root",
    "generate_cow_renders",
    "has_data",
    "prefetch",
    "synthetic_batches",
]
