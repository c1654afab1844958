"""Joining batches: ``join_meshes_as_batch/scene`` and ``join_pointclouds_as_batch/scene``.

"As batch" concatenates along the batch axis (padded to the largest sizes; static shapes only,
so it is jit-safe). "As scene" merges a batch into a single mesh / cloud, which needs the packed
arrays and therefore concrete lengths.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import jax.numpy as jnp

from jax3d.structures.meshes import Meshes
from jax3d.structures.pointclouds import Pointclouds

__all__ = [
    "join_meshes_as_batch",
    "join_meshes_as_scene",
    "join_pointclouds_as_batch",
    "join_pointclouds_as_scene",
]


def _pad_axis1(x, size: int, value):
    """Pad ``x (B, N, ...)`` along axis 1 to ``size`` rows of ``value``."""
    pad = [(0, 0)] * x.ndim
    pad[1] = (0, size - x.shape[1])
    return jnp.pad(x, pad, constant_values=value)


def _check_items(items, cls, name: str) -> list:
    if isinstance(items, cls) or not isinstance(items, (list, tuple)):
        raise TypeError(f"{name} must be a list of {cls.__name__}, got {type(items).__name__}")
    if not items:
        raise ValueError(f"{name} must be a non-empty list")
    for i, item in enumerate(items):
        if not isinstance(item, cls):
            raise TypeError(f"{name}[{i}] must be {cls.__name__}, got {type(item).__name__}")
    return list(items)


def _join_textures(meshes: list[Meshes], include_textures: bool):
    """``textures[0].join_batch(textures[1:])``; None when absent, excluded or unsupported."""
    textures = [m.textures for m in meshes]
    if not include_textures or all(t is None for t in textures):
        return None
    if any(t is None for t in textures):
        raise ValueError("either all or none of the meshes must have textures "
                         "(or pass include_textures=False)")
    join = getattr(textures[0], "join_batch", None)
    if join is None:
        warnings.warn(f"{type(textures[0]).__name__} has no join_batch(); textures dropped",
                      stacklevel=3)
        return None
    return join(textures[1:])


def join_meshes_as_batch(meshes: Sequence[Meshes], include_textures: bool = True) -> Meshes:
    """Concatenate several ``Meshes`` into one batch (PyTorch3D ``join_meshes_as_batch``).

    Args:
        meshes: list of ``Meshes`` with ``B_k`` meshes each.
        include_textures: join the textures with ``textures[0].join_batch(textures[1:])``
            (all or none of the inputs must have textures); False drops them.

    Returns:
        ``Meshes`` of ``sum_k B_k`` meshes padded to the largest ``V`` and ``F``. Jit-safe.
    """
    meshes = _check_items(meshes, Meshes, "meshes")
    v_max = max(m.verts.shape[1] for m in meshes)
    f_max = max(m.faces.shape[1] for m in meshes)
    verts = jnp.concatenate([_pad_axis1(m.verts, v_max, 0.0) for m in meshes])
    faces = jnp.concatenate([_pad_axis1(m.faces, f_max, -1) for m in meshes])
    num_verts = jnp.concatenate([m.num_verts for m in meshes])
    num_faces = jnp.concatenate([m.num_faces for m in meshes])
    textures = _join_textures(meshes, include_textures)
    normals = None  # given vertex normals survive only when every input has them
    if all(m.verts_normals is not None for m in meshes):
        normals = jnp.concatenate([_pad_axis1(m.verts_normals, v_max, 0.0) for m in meshes])
    return Meshes._from_fields(verts, faces, num_verts, num_faces, textures, normals)


def join_meshes_as_scene(meshes: Meshes | Sequence[Meshes],
                         include_textures: bool = True) -> Meshes:
    """Merge all meshes of a batch into one mesh (PyTorch3D ``join_meshes_as_scene``).

    Args:
        meshes: a ``Meshes`` or a list of them (joined as a batch first).
        include_textures: merge textures with ``textures.join_scene()``.

    Returns:
        ``Meshes`` of one mesh with verts ``verts_packed()`` and faces ``faces_packed()``.
        Needs concrete lengths.
    """
    if not isinstance(meshes, Meshes):
        meshes = join_meshes_as_batch(meshes, include_textures)
    if len(meshes) == 0:
        raise ValueError("meshes must hold at least one mesh")
    textures = meshes.textures if include_textures else None
    if textures is not None:
        join = getattr(textures, "join_scene", None)
        if join is None:
            warnings.warn(f"{type(textures).__name__} has no join_scene(); textures dropped",
                          stacklevel=2)
            textures = None
        else:
            textures = join()
    return Meshes([meshes.verts_packed()], [meshes.faces_packed()], textures)


def join_pointclouds_as_batch(pointclouds: Sequence[Pointclouds]) -> Pointclouds:
    """Concatenate several ``Pointclouds`` into one batch, padded to the largest ``P``.

    All inputs must have normals or none, and features (with equal ``C``) or none. Jit-safe.
    """
    clouds = _check_items(pointclouds, Pointclouds, "pointclouds")
    p_max = max(c.points.shape[1] for c in clouds)
    fields = {}
    for name in ("points", "normals", "features"):
        values = [getattr(c, name) for c in clouds]
        if all(v is None for v in values):
            fields[name] = None
            continue
        if any(v is None for v in values):
            raise ValueError(f"either all or none of the pointclouds must have {name}")
        if len({v.shape[2] for v in values}) != 1:
            raise ValueError(f"{name} channels differ: {[v.shape[2] for v in values]}")
        fields[name] = jnp.concatenate([_pad_axis1(v, p_max, 0.0) for v in values])
    num_points = jnp.concatenate([c.num_points for c in clouds])
    return Pointclouds._from_fields(fields["points"], fields["normals"], fields["features"],
                                    num_points)


def join_pointclouds_as_scene(pointclouds: Pointclouds | Sequence[Pointclouds]) -> Pointclouds:
    """Merge all clouds of a batch into one cloud (packed points, normals, features).

    ``pointclouds`` is a ``Pointclouds`` or a list of them (joined as a batch first). Needs
    concrete lengths.
    """
    if not isinstance(pointclouds, Pointclouds):
        pointclouds = join_pointclouds_as_batch(pointclouds)
    if len(pointclouds) == 0:
        raise ValueError("pointclouds must hold at least one cloud")
    wrap = lambda x: None if x is None else [x]  # noqa: E731
    return Pointclouds(points=[pointclouds.points_packed()],
                       normals=wrap(pointclouds.normals_packed()),
                       features=wrap(pointclouds.features_packed()))
