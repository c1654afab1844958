"""``IO``: load and save ``Meshes`` / ``Pointclouds`` by file extension (PyTorch3D's ``IO``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from jax3d.device import device_put
from jax3d.io.obj import save_obj
from jax3d.io.obj_meshes import load_objs_as_meshes
from jax3d.io.ply import read_ply, save_ply


def _ext(path) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    return Path(path).suffix.lower()


def _load_obj_mesh(path, include_textures: bool, **kwargs):
    return load_objs_as_meshes([path], load_textures=include_textures, **kwargs)


def _load_ply_mesh(path, include_textures: bool, **kwargs):
    from jax3d.renderer.mesh.textures import TexturesVertex
    from jax3d.structures import Meshes

    ply = read_ply(path, **kwargs)
    faces = ply.faces if ply.faces is not None else np.zeros((0, 3), np.int32)
    textures = None
    if include_textures and ply.colors is not None:
        textures = TexturesVertex([ply.colors])
    return Meshes([ply.verts], [faces], textures=textures)


def _single(data, kind: str):
    if len(data) != 1:
        raise ValueError(f"can only save a single {kind}, got a batch of {len(data)}")


def _save_obj_mesh(meshes, path, include_textures: bool, decimal_places=None, **_):
    from jax3d.renderer.mesh.textures import TexturesUV

    verts, faces = (np.asarray(x) for x in meshes.get_mesh_verts_faces(0))
    tex = meshes.textures
    if include_textures and isinstance(tex, TexturesUV):
        save_obj(
            path, verts, faces,
            verts_uvs=np.asarray(tex.verts_uvs_list()[0]),
            faces_uvs=np.asarray(tex.faces_uvs_list()[0]),
            texture_map=np.asarray(tex.maps[0]),
            decimal_places=decimal_places,
        )  # fmt: skip
    else:
        save_obj(path, verts, faces, decimal_places=decimal_places)


def _save_ply_mesh(meshes, path, include_textures: bool, binary=True, decimal_places=None):
    from jax3d.renderer.mesh.textures import TexturesVertex

    verts, faces = (np.asarray(x) for x in meshes.get_mesh_verts_faces(0))
    colors = None
    tex = meshes.textures
    if include_textures and isinstance(tex, TexturesVertex):
        feats = np.asarray(tex.verts_features_list()[0])
        colors = feats if feats.shape[1] == 3 else None
    save_ply(path, verts, faces, verts_colors=colors, ascii=not binary,
             decimal_places=decimal_places)  # fmt: skip


def _load_ply_cloud(path, **kwargs):
    from jax3d.structures import Pointclouds

    ply = read_ply(path, **kwargs)
    return Pointclouds(
        [ply.verts],
        normals=None if ply.normals is None else [ply.normals],
        features=None if ply.colors is None else [ply.colors],
    )


def _save_ply_cloud(cloud, path, binary=True, decimal_places=None):
    points = np.asarray(cloud.points_list()[0])
    normals = cloud.normals_list() if cloud.normals_padded() is not None else None
    features = cloud.features_list() if cloud.features_padded() is not None else None
    colors = None
    if features is not None and np.asarray(features[0]).shape[1] == 3:
        colors = np.asarray(features[0])
    save_ply(path, points, None, verts_normals=None if normals is None else
             np.asarray(normals[0]), verts_colors=colors, ascii=not binary,
             decimal_places=decimal_places)  # fmt: skip


def _as_ext(ext: str) -> str:
    return ext.lower() if ext.startswith(".") else "." + ext.lower()


def _binary(binary) -> bool:
    """PyTorch3D's ``binary=None`` means the format's default (binary PLY)."""
    return True if binary is None else bool(binary)


class IO:
    """Load and save meshes and point clouds, dispatching on the file extension.

    ``IO(include_default_formats=True, path_manager=None)`` (PyTorch3D's signature). Built-in
    formats: ``.obj`` (meshes) and ``.ply`` (meshes and point clouds). More can be added with
    ``register_meshes_format`` / ``register_pointcloud_format``, either jax3d's way (an
    extension and two functions) or PyTorch3D's (an interpreter object).

    ``path_manager`` (PyTorch3D's iopath file systems) must be None: jax3d reads local paths.
    ``device=`` of the loaders places the result (``jax3d.device`` meaning).

    Example::

        mesh = IO().load_mesh("cow.obj")           # Meshes with TexturesUV
        IO().save_mesh(mesh, "out/cow.ply")        # binary PLY
        cloud = IO().load_pointcloud("pedestrian.ply")
    """

    def __init__(self, include_default_formats: bool = True, path_manager=None):
        if path_manager is not None:
            raise ValueError("path_manager (iopath) is not supported: jax3d reads local paths")
        self._mesh_loaders: dict[str, Callable] = {}
        self._mesh_savers: dict[str, Callable] = {}
        self._cloud_loaders: dict[str, Callable] = {}
        self._cloud_savers: dict[str, Callable] = {}
        self._mesh_interpreters: list = []
        self._cloud_interpreters: list = []
        if include_default_formats:
            self.register_default_formats()

    def register_default_formats(self) -> None:
        """Register the built-in ``.obj`` and ``.ply`` readers and writers."""
        self._mesh_loaders.update({".obj": _load_obj_mesh, ".ply": _load_ply_mesh})
        self._mesh_savers.update({".obj": _save_obj_mesh, ".ply": _save_ply_mesh})
        self._cloud_loaders[".ply"] = _load_ply_cloud
        self._cloud_savers[".ply"] = _save_ply_cloud

    def register_meshes_format(self, interpreter, load: Callable | None = None,
                               save: Callable | None = None) -> None:  # fmt: skip
        """Add a mesh format.

        - jax3d's form: ``register_meshes_format(".off", load, save)`` with
          ``load(path, include_textures, **kwargs) -> Meshes`` and ``save(meshes, path,
          include_textures, **kwargs)`` (either may be None);
        - PyTorch3D's form: ``register_meshes_format(interpreter)``, an object with
          ``read(path, include_textures, device, path_manager, **kwargs) -> Meshes | None``
          and ``save(data, path, path_manager, binary, **kwargs) -> bool`` (None / False: not
          its format). Interpreters are asked first, the latest registered first.
        """
        if not isinstance(interpreter, str):
            self._mesh_interpreters.append(interpreter)
            return
        ext = _as_ext(interpreter)
        if load is not None:
            self._mesh_loaders[ext] = load
        if save is not None:
            self._mesh_savers[ext] = save

    def register_pointcloud_format(self, interpreter, load: Callable | None = None,
                                   save: Callable | None = None) -> None:  # fmt: skip
        """Like ``register_meshes_format`` for point clouds: ``load(path, **kwargs) ->
        Pointclouds`` / ``save(cloud, path, **kwargs)``, or an interpreter object with
        ``read(path, device, path_manager, **kwargs)`` and ``save(data, path, path_manager,
        binary, **kwargs)``."""
        if not isinstance(interpreter, str):
            self._cloud_interpreters.append(interpreter)
            return
        ext = _as_ext(interpreter)
        if load is not None:
            self._cloud_loaders[ext] = load
        if save is not None:
            self._cloud_savers[ext] = save

    @staticmethod
    def _pick(table: dict, path, what: str) -> Callable:
        ext = _ext(path)
        if ext not in table:
            raise ValueError(f"no {what} for {str(path)!r}: known extensions {sorted(table)}")
        return table[ext]

    def load_mesh(self, path, include_textures: bool = True, device=None, **kwargs):
        """A ``Meshes`` of one mesh on ``device``. ``.obj``: textures as in
        ``load_objs_as_meshes`` (extra keyword arguments go there, e.g. ``max_bytes``,
        ``max_image_pixels``); ``.ply``: vertex colours become ``TexturesVertex``
        (``max_bytes`` goes to ``read_ply``)."""
        for interp in reversed(self._mesh_interpreters):
            mesh = interp.read(path, include_textures=include_textures, device=device,
                               path_manager=None, **kwargs)  # fmt: skip
            if mesh is not None:
                return mesh
        load = self._pick(self._mesh_loaders, path, "mesh reader")
        return device_put(load(path, include_textures, **kwargs), device)

    def save_mesh(self, data, path, binary=None, include_textures: bool = True,
                  **kwargs) -> None:  # fmt: skip
        """Save a ``Meshes`` of one mesh. ``.obj``: a ``TexturesUV`` is written as MTL + PNG;
        ``.ply``: binary (``binary`` None or True) or ascii, ``TexturesVertex`` RGB as
        colours. ``decimal_places`` as in ``save_obj`` / ``save_ply``."""
        _single(data, "mesh")
        for interp in reversed(self._mesh_interpreters):
            if interp.save(data, path, path_manager=None, binary=binary,
                           include_textures=include_textures, **kwargs):  # fmt: skip
                return
        save = self._pick(self._mesh_savers, path, "mesh writer")
        if _ext(path) == ".ply" and save is _save_ply_mesh:
            kwargs["binary"] = _binary(binary)
        save(data, path, include_textures, **kwargs)

    def load_pointcloud(self, path, device=None, **kwargs):
        """A ``Pointclouds`` of one cloud on ``device``: PLY vertices, with normals and RGB
        features (keyword arguments such as ``max_bytes`` go to ``read_ply``)."""
        for interp in reversed(self._cloud_interpreters):
            cloud = interp.read(path, device=device, path_manager=None, **kwargs)
            if cloud is not None:
                return cloud
        load = self._pick(self._cloud_loaders, path, "point cloud reader")
        return device_put(load(path, **kwargs), device)

    def save_pointcloud(self, data, path, binary=None, **kwargs) -> None:
        """Save a ``Pointclouds`` of one cloud (binary PLY unless ``binary=False``,
        ``decimal_places``); RGB features are written as colours, other feature sizes are
        not written."""
        _single(data, "point cloud")
        for interp in reversed(self._cloud_interpreters):
            if interp.save(data, path, path_manager=None, binary=binary, **kwargs):
                return
        save = self._pick(self._cloud_savers, path, "point cloud writer")
        if save is _save_ply_cloud:
            kwargs["binary"] = _binary(binary)
        save(data, path, **kwargs)
