"""jax3d.datasets: locating optional real assets and generating training data."""

from jax3d.datasets.cow_renders import generate_cow_renders
from jax3d.datasets.data_path import DataNotFoundError, data_path, data_root, has_data

__all__ = ["DataNotFoundError", "data_path", "data_root", "generate_cow_renders", "has_data"]
