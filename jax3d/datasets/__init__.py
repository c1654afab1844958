"""jax3d.datasets: locating optional real assets and generating training data."""

from jax3d.datasets.data_path import DataNotFoundError, data_path, data_root, has_data

__all__ = ["DataNotFoundError", "data_path", "data_root", "has_data"]
