"""jax3d.structures: Meshes, Pointclouds, Volumes and list/padded/packed conversions."""

from jax3d.structures.meshes import Meshes
from jax3d.structures.utils import (
    list_to_packed,
    list_to_padded,
    packed_to_list,
    packed_to_padded,
    padded_to_list,
    padded_to_packed,
)

__all__ = [
    "Meshes",
    "list_to_packed",
    "list_to_padded",
    "packed_to_list",
    "packed_to_padded",
    "padded_to_list",
    "padded_to_packed",
]
