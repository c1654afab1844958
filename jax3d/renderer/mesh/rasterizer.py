"""MeshRasterizer: world-space meshes -> Fragments through a camera (PyTorch3D's API)."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jax3d.device import DeviceMethods
from jax3d.renderer.binned_search import RasterPlan
from jax3d.renderer.binning import check_max_per_bin, parse_image_size
from jax3d.renderer.mesh.rasterize_meshes import (
    _gather_face_verts,
    plan_mesh_rasterization,
    rasterize_meshes,
)

__all__ = ["Fragments", "RasterizationSettings", "MeshRasterizer"]


@struct.dataclass
class Fragments:
    """Rasterizer output (a pytree).

    Attributes:
        pix_to_face: (N, H, W, K) int32 packed face index of the k-th nearest face at each
            pixel, -1 where fewer faces hit.
        zbuf: (N, H, W, K) float32 view-space depth, -1 where empty.
        bary_coords: (N, H, W, K, 3) float32 barycentrics, -1 where empty.
        dists: (N, H, W, K) float32 signed squared NDC distance (negative inside), -1 where
            empty.
    """

    pix_to_face: jax.Array
    zbuf: jax.Array
    bary_coords: jax.Array
    dists: jax.Array

    def detach(self) -> Fragments:
        """The same fragments with gradients stopped."""
        return jax.tree_util.tree_map(jax.lax.stop_gradient, self)


@dataclasses.dataclass(frozen=True)
class RasterizationSettings:
    """Static mesh rasterization settings (hashable: usable as a jit static argument).

    ``perspective_correct=None`` follows the camera (True for perspective cameras);
    ``clip_barycentric_coords=None`` means ``blur_radius > 0``; ``z_clip_value=None`` means
    ``znear / 2`` for perspective cameras with a znear (PyTorch3D's MeshRasterizer rules).
    ``max_faces_per_bin`` must be None or a positive int (ValueError at construction).
    ``max_faces_opengl`` is PyTorch3D's limit for its OpenGL rasterizer
    (``MeshRasterizerOpenGL``, which jax3d does not have): accepted in its position so that
    positional calls port, checked to be a positive int, otherwise unused. ``backend``
    (keyword-only, jax3d's own): "xla" or "pallas".
    Other fields as :func:`jax3d.renderer.mesh.rasterize_meshes.rasterize_meshes`.
    """

    image_size: int | tuple[int, int] = 256
    blur_radius: float = 0.0
    faces_per_pixel: int = 1
    bin_size: int | None = None
    max_faces_opengl: int = 10_000_000
    max_faces_per_bin: int | None = None
    perspective_correct: bool | None = None
    clip_barycentric_coords: bool | None = None
    cull_backfaces: bool = False
    z_clip_value: float | None = None
    cull_to_frustum: bool = False
    _: dataclasses.KW_ONLY
    backend: str = "xla"

    def __post_init__(self):
        mfo = self.max_faces_opengl
        if isinstance(mfo, bool) or not isinstance(mfo, (int, np.integer)) or mfo <= 0:
            raise ValueError(f"max_faces_opengl must be a positive int, got {mfo!r}")
        size = parse_image_size(self.image_size)
        object.__setattr__(self, "image_size", size if size[0] != size[1] else size[0])
        check_max_per_bin(self.max_faces_per_bin, "max_faces_per_bin")


def _default_z_clip(cameras, perspective_correct):
    """znear / 2 for perspective cameras with a znear, else None (PyTorch3D's default)."""
    if not perspective_correct:
        return None
    znear = cameras.get_znear()
    if znear is None:
        return None
    znear = jax.lax.stop_gradient(jnp.asarray(znear))
    return jnp.min(znear) / 2.0


@struct.dataclass
class MeshRasterizer(DeviceMethods):
    """Rasterize world-space ``Meshes`` seen by ``cameras`` into :class:`Fragments`.

    ``MeshRasterizer(cameras, raster_settings)(meshes, **kwargs)``; ``kwargs`` may override
    ``cameras=``, ``raster_settings=`` and camera fields (``R=``, ``T=``, ...), like PyTorch3D,
    and take jax3d's ``plan=``: a :class:`~jax3d.renderer.binned_search.RasterPlan` from
    :meth:`plan` (computed eagerly from the data, then reused by a jitted step, so that the
    step searches with the data's bin capacities instead of the settings' bounds).
    A frozen pytree: ``cameras`` are its leaves, ``raster_settings`` static, so a rasterizer
    (or a renderer holding one) can be an argument of a jitted or vmapped function; change it
    with ``rasterizer.replace(cameras=...)``.
    """

    cameras: Any = None
    raster_settings: RasterizationSettings | None = struct.field(pytree_node=False,
                                                                 default=None)

    def __post_init__(self):
        if self.raster_settings is None:
            object.__setattr__(self, "raster_settings", RasterizationSettings())

    def transform(self, meshes_world, **kwargs):
        """Meshes with verts in NDC: x, y from ``cameras.transform_points_ndc``, z = view depth.

        Returns:
            ``Meshes`` whose ``verts_padded()`` is (N, V, 3) float32.
        """
        cameras = kwargs.pop("cameras", self.cameras)
        if cameras is None:
            raise ValueError("MeshRasterizer needs cameras (constructor or cameras= kwarg)")
        kwargs.pop("raster_settings", None)
        n_cams, n_meshes = len(cameras), len(meshes_world)
        if n_cams not in (1, n_meshes):
            raise ValueError(f"got {n_cams} cameras for {n_meshes} meshes")
        verts = meshes_world.verts_padded()
        eps = kwargs.pop("eps", None)
        view = cameras.get_world_to_view_transform(**kwargs).transform_points(verts)
        ndc = cameras.transform_points_ndc(verts, eps=eps, **kwargs)
        ndc = jnp.broadcast_to(ndc, view.shape)
        verts_ndc = jnp.concatenate([ndc[..., :2], view[..., 2:3]], -1)
        return meshes_world.update_padded(verts_ndc)

    def _resolved(self, kwargs) -> dict:
        """The keyword arguments of ``rasterize_meshes`` for these settings and cameras."""
        settings = kwargs.get("raster_settings", self.raster_settings)
        cameras = kwargs.get("cameras", self.cameras)
        if cameras is None:
            raise ValueError("MeshRasterizer needs cameras (constructor or cameras= kwarg)")
        clip_bary = settings.clip_barycentric_coords
        if clip_bary is None:
            clip_bary = settings.blur_radius > 0.0
        persp = settings.perspective_correct
        if persp is None:
            persp = bool(cameras.is_perspective())
        z_clip = settings.z_clip_value
        if z_clip is None:
            z_clip = _default_z_clip(cameras, persp)
        return dict(image_size=settings.image_size, blur_radius=settings.blur_radius,
                    faces_per_pixel=settings.faces_per_pixel, bin_size=settings.bin_size,
                    max_faces_per_bin=settings.max_faces_per_bin, perspective_correct=persp,
                    clip_barycentric_coords=clip_bary, cull_backfaces=settings.cull_backfaces,
                    z_clip_value=z_clip, cull_to_frustum=settings.cull_to_frustum,
                    backend=settings.backend)  # fmt: skip

    def plan(self, meshes_world, **kwargs) -> RasterPlan:
        """The :class:`~jax3d.renderer.binned_search.RasterPlan` of rasterizing
        ``meshes_world`` (same keyword overrides as a call): from the true bin counts when
        the meshes and cameras are concrete, from the settings when traced
        (:func:`~jax3d.renderer.mesh.rasterize_meshes.plan_mesh_rasterization`). Pass it back
        as ``plan=`` to calls on similar data, e.g. inside a jitted optimisation step; a plan
        too small for later data still gives exact fragments (with a warning).
        """
        kwargs = {k: v for k, v in kwargs.items() if k != "plan"}
        args = self._resolved(kwargs)
        meshes_ndc = self.transform(meshes_world, **kwargs)
        face_verts = _gather_face_verts(jnp.asarray(meshes_ndc.verts_padded()),
                                        jnp.asarray(meshes_ndc.faces_padded()))  # fmt: skip
        return plan_mesh_rasterization(
            face_verts, meshes_ndc.num_faces_per_mesh(), args["image_size"],
            args["blur_radius"], args["bin_size"], args["max_faces_per_bin"],
            args["perspective_correct"], args["cull_backfaces"], args["z_clip_value"],
            args["cull_to_frustum"], backend=args["backend"])  # fmt: skip

    def __call__(self, meshes_world, **kwargs) -> Fragments:
        """Fragments of ``meshes_world`` (N meshes) as :class:`Fragments` (N, H, W, K)."""
        plan = kwargs.pop("plan", None)
        args = self._resolved(kwargs)
        meshes_ndc = self.transform(meshes_world, **kwargs)
        p2f, zbuf, bary, dists = rasterize_meshes(meshes_ndc, **args, plan=plan)
        return Fragments(pix_to_face=p2f, zbuf=zbuf, bary_coords=bary, dists=dists)

    forward = __call__
