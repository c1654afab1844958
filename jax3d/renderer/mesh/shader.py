"""Shaders: fragments + meshes -> RGBA images (PyTorch3D's ``mesh.shader``).

A shader is a small object holding defaults (``cameras``, ``lights``, ``materials``,
``blend_params``); ``shader(fragments, meshes, **kwargs)`` may override any of them per call,
plus the camera fields ``R=`` / ``T=`` and ``znear=`` / ``zfar=`` for soft blending, as in
PyTorch3D. Hard shaders keep the nearest face; soft shaders blend the K faces (SoftRas).
Every shader returns ``(N, H, W, 4) float32`` RGBA.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jax3d.device import DeviceMethods, place_fields, with_device_property
from jax3d.renderer.blending import (
    BlendParams,
    hard_rgb_blend,
    sigmoid_alpha_blend,
    softmax_rgb_blend,
)
from jax3d.renderer.lighting import PointLights
from jax3d.renderer.materials import Materials
from jax3d.renderer.mesh.compact import shade_fragments
from jax3d.renderer.mesh.shading import flat_shading, gouraud_shading, phong_shading
from jax3d.renderer.mesh.textures import sample_textures

__all__ = [
    "HardFlatShader",
    "HardGouraudShader",
    "HardPhongShader",
    "ShaderBase",
    "SoftGouraudShader",
    "SoftPhongShader",
    "SoftSilhouetteShader",
]

_CAMERA_FIELDS = ("R", "T")


@with_device_property
@struct.dataclass
class ShaderBase(DeviceMethods):
    """Holds the defaults; subclasses implement ``_colors`` and ``_blend``.

    PyTorch3D's ``ShaderBase(device="cpu", cameras=None, lights=None, materials=None,
    blend_params=None)``: ``device`` places the cameras, lights and materials with
    ``jax.device_put`` (``jax3d.device`` meaning; None: as they are). A frozen pytree:
    ``cameras``, ``lights`` and ``materials`` are its leaves, ``blend_params`` (hashable
    settings) static; change it with ``shader.replace(...)``; ``.to(device)`` and the other
    ``jax3d.device.DeviceMethods`` apply.
    """

    device: dataclasses.InitVar[Any] = None
    cameras: Any = None
    lights: Any = None
    materials: Any = None
    blend_params: BlendParams | None = struct.field(pytree_node=False, default=None)

    def __post_init__(self, device=None):
        if self.lights is None:
            object.__setattr__(self, "lights", PointLights())
        if self.materials is None:
            object.__setattr__(self, "materials", Materials())
        if self.blend_params is None:
            object.__setattr__(self, "blend_params", BlendParams())
        if not isinstance(self.blend_params, BlendParams):
            raise TypeError("blend_params must be a BlendParams")
        place_fields(self, device)

    def _cameras(self, kwargs):
        cameras = kwargs.get("cameras", self.cameras)
        if cameras is None:
            raise ValueError(f"{type(self).__name__} needs cameras (constructor or cameras=)")
        return cameras

    def _setup(self, fragments, meshes, kwargs) -> dict:
        """Resolved per-call arguments for the shading functions."""
        return dict(
            meshes=meshes,
            fragments=fragments,
            lights=kwargs.get("lights", self.lights),
            cameras=self._cameras(kwargs),
            materials=kwargs.get("materials", self.materials),
            **{k: kwargs[k] for k in _CAMERA_FIELDS if kwargs.get(k) is not None},
        )

    def _colors(self, fragments, meshes, kwargs) -> jax.Array:
        raise NotImplementedError

    def _blend(self, colors, fragments, kwargs) -> jax.Array:
        return hard_rgb_blend(colors, fragments, kwargs.get("blend_params", self.blend_params))

    def __call__(self, fragments, meshes, **kwargs) -> jax.Array:
        """RGBA images (N, H, W, 4) float32 of ``meshes`` (N) from ``fragments`` (N, H, W, K)."""
        return self._blend(self._colors(fragments, meshes, kwargs), fragments, kwargs)

    forward = __call__


class _SoftBlend:
    """Mixin: softmax blending with the cameras' znear / zfar (defaults 1 and 100)."""

    def _blend(self, colors, fragments, kwargs):
        cameras = kwargs.get("cameras", self.cameras)
        znear = kwargs.get("znear", getattr(cameras, "znear", 1.0))
        zfar = kwargs.get("zfar", getattr(cameras, "zfar", 100.0))
        params = kwargs.get("blend_params", self.blend_params)
        return softmax_rgb_blend(colors, fragments, params, znear=znear, zfar=zfar)


def _shaded(shading, fragments, meshes, setup, textured):
    """``shading(meshes=..., fragments=..., [texels=...], **rest)`` on the fragments only
    (:func:`shade_fragments`); every pytree it differentiates through is an operand."""
    rest = {k: v for k, v in setup.items() if k not in ("meshes", "fragments")}

    def shade(fr, m, r):
        texels = {"texels": sample_textures(fr, m)} if textured else {}
        return shading(meshes=m, fragments=fr, **texels, **r)

    return shade_fragments(shade, fragments, meshes, rest)


@struct.dataclass
class _Phong(ShaderBase):
    def _colors(self, fragments, meshes, kwargs):
        setup = self._setup(fragments, meshes, kwargs)
        return _shaded(phong_shading, fragments, meshes, setup, textured=True)


@struct.dataclass
class _Gouraud(ShaderBase):
    def _colors(self, fragments, meshes, kwargs):
        setup = self._setup(fragments, meshes, kwargs)
        return _shaded(gouraud_shading, fragments, meshes, setup, textured=False)


@struct.dataclass
class HardPhongShader(_Phong):
    """Phong shading (per-pixel lighting) of the nearest face; background where empty."""


@struct.dataclass
class SoftPhongShader(_SoftBlend, _Phong):
    """Phong shading blended over the K faces with :func:`softmax_rgb_blend`."""


@struct.dataclass
class HardGouraudShader(_Gouraud):
    """Gouraud shading (per-vertex lighting, ``TexturesVertex``) of the nearest face."""


@struct.dataclass
class SoftGouraudShader(_SoftBlend, _Gouraud):
    """Gouraud shading blended with :func:`softmax_rgb_blend`."""


@struct.dataclass
class HardFlatShader(ShaderBase):
    """Flat shading (one normal per face) of the nearest face."""

    def _colors(self, fragments, meshes, kwargs):
        setup = self._setup(fragments, meshes, kwargs)
        return _shaded(flat_shading, fragments, meshes, setup, textured=True)


@struct.dataclass
class SoftSilhouetteShader(DeviceMethods):
    """Soft silhouette: RGB = 1, alpha = ``1 - prod_k (1 - sigmoid(-d_k / sigma))``
    (:func:`sigmoid_alpha_blend`). Needs no cameras, lights or textures: PyTorch3D's
    ``SoftSilhouetteShader(blend_params=None)``, a frozen pytree with no leaves."""

    blend_params: BlendParams | None = struct.field(pytree_node=False, default=None)

    def __post_init__(self):
        if self.blend_params is None:
            object.__setattr__(self, "blend_params", BlendParams())
        if not isinstance(self.blend_params, BlendParams):
            raise TypeError(f"blend_params must be a BlendParams, got {self.blend_params!r}")

    def __call__(self, fragments, meshes, **kwargs) -> jax.Array:
        """RGBA images (N, H, W, 4) float32 from ``fragments`` (N, H, W, K); ``meshes`` is
        unused (as in PyTorch3D) but required, so calls port unchanged."""
        colors = jnp.ones_like(fragments.bary_coords)
        return sigmoid_alpha_blend(colors, fragments,
                                   kwargs.get("blend_params", self.blend_params))  # fmt: skip

    forward = __call__
