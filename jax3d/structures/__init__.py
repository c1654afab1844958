"""jax3d.structures: Meshes, Pointclouds, Volumes and list/padded/packed conversions."""

from jax3d.structures.join import (
    join_meshes_as_batch,
    join_meshes_as_scene,
    join_pointclouds_as_batch,
    join_pointclouds_as_scene,
)
from jax3d.structures.meshes import Meshes
from jax3d.structures.pointclouds import Pointclouds
from jax3d.structures.utils import (
    list_to_packed,
    list_to_padded,
    packed_to_list,
    packed_to_padded,
    padded_to_list,
    padded_to_packed,
)
from jax3d.structures.volumes import Volumes

__all__ = [
    "Meshes",
    "Pointclouds",
    "Volumes",
    "join_meshes_as_batch",
    "join_meshes_as_scene",
    "join_pointclouds_as_batch",
    "join_pointclouds_as_scene",
    "list_to_packed",
    "list_to_padded",
    "packed_to_list",
    "packed_to_padded",
    "padded_to_list",
    "padded_to_packed",
]
