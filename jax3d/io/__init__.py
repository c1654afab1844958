"""jax3d.io: OBJ / PLY loading and saving, strict about untrusted input (see docs/io.md)."""

from jax3d.io.files import open_regular, read_limited
from jax3d.io.mtl import load_mtl, make_mesh_texture_atlas
from jax3d.io.obj import Faces, Properties, load_obj, save_obj
from jax3d.io.obj_meshes import load_objs_as_meshes
from jax3d.io.pluggable_io import IO
from jax3d.io.ply import PlyMesh, load_ply, read_ply, save_ply
from jax3d.io.restricted_pickle import restricted_load
from jax3d.io.safe_npz import load_npz
from jax3d.io.torch_checkpoint import load_torch_checkpoint, state_dict_to_flax

__all__ = [
    "IO",
    "Faces",
    "PlyMesh",
    "Properties",
    "load_mtl",
    "load_npz",
    "load_obj",
    "load_objs_as_meshes",
    "load_ply",
    "load_torch_checkpoint",
    "make_mesh_texture_atlas",
    "open_regular",
    "read_limited",
    "read_ply",
    "restricted_load",
    "save_obj",
    "save_ply",
    "state_dict_to_flax",
]
