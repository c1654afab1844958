"""``IO``: load and save ``Meshes`` / ``Pointclouds`` by file extension (PyTorch3D's ``IO``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

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


class IO:
    """Load and save meshes and point clouds, dispatching on the file extension.

    Built-in formats: ``.obj`` (meshes) and ``.ply`` (meshes and point clouds). More can be
    added with ``register_meshes_format`` / ``register_pointcloud_format``.

    Example::

        mesh = IO().load_mesh("cow.obj")           # Meshes with TexturesUV
        IO().save_mesh(mesh, "out/cow.ply")        # binary PLY
        cloud = IO().load_pointcloud("pedestrian.ply")
    """

    def __init__(self):
        self._mesh_loaders: dict[str, Callable] = {".obj": _load_obj_mesh, ".ply": _load_ply_mesh}
        self._mesh_savers: dict[str, Callable] = {".obj": _save_obj_mesh, ".ply": _save_ply_mesh}
        self._cloud_loaders: dict[str, Callable] = {".ply": _load_ply_cloud}
        self._cloud_savers: dict[str, Callable] = {".ply": _save_ply_cloud}

    def register_meshes_format(self, ext: str, load: Callable | None, save: Callable | None):
        """Use ``load(path, include_textures, **kwargs) -> Meshes`` and ``save(meshes, path,
        include_textures, **kwargs)`` for files ending in ``ext`` (e.g. ``".off"``)."""
        ext = ext.lower() if ext.startswith(".") else "." + ext.lower()
        if load is not None:
            self._mesh_loaders[ext] = load
        if save is not None:
            self._mesh_savers[ext] = save

    def register_pointcloud_format(self, ext: str, load: Callable | None, save: Callable | None):
        """Like ``register_meshes_format`` for ``load(path) -> Pointclouds`` / ``save(cloud,
        path, **kwargs)``."""
        ext = ext.lower() if ext.startswith(".") else "." + ext.lower()
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

    def load_mesh(self, path, include_textures: bool = True, **kwargs):
        """A ``Meshes`` of one mesh. ``.obj``: textures as in ``load_objs_as_meshes`` (extra
        keyword arguments go there, e.g. ``max_bytes``, ``max_image_pixels``); ``.ply``:
        vertex colours become ``TexturesVertex`` (``max_bytes`` goes to ``read_ply``)."""
        return self._pick(self._mesh_loaders, path, "mesh reader")(path, include_textures, **kwargs)

    def save_mesh(self, data, path, include_textures: bool = True, **kwargs) -> None:
        """Save a ``Meshes`` of one mesh. ``.obj``: a ``TexturesUV`` is written as MTL + PNG;
        ``.ply``: ``binary=True`` (default) or ascii, ``TexturesVertex`` RGB as colours.
        ``decimal_places`` as in ``save_obj`` / ``save_ply``."""
        _single(data, "mesh")
        self._pick(self._mesh_savers, path, "mesh writer")(data, path, include_textures, **kwargs)

    def load_pointcloud(self, path, **kwargs):
        """A ``Pointclouds`` of one cloud: PLY vertices, with normals and RGB features
        (keyword arguments such as ``max_bytes`` go to ``read_ply``)."""
        return self._pick(self._cloud_loaders, path, "point cloud reader")(path, **kwargs)

    def save_pointcloud(self, data, path, **kwargs) -> None:
        """Save a ``Pointclouds`` of one cloud (``binary=True``, ``decimal_places``); RGB
        features are written as colours, other feature sizes are not written."""
        _single(data, "point cloud")
        self._pick(self._cloud_savers, path, "point cloud writer")(data, path, **kwargs)
