"""Materials: reflectance colours and shininess for Phong shading (PyTorch3D's ``Materials``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
from flax import struct

from jax3d.device import DeviceMethods, place_fields, with_device_property
from jax3d.renderer.lighting import as_rgb_batch, as_scalar_batch

__all__ = ["Materials"]


def _default(value):
    return struct.field(default_factory=lambda: value)


@with_device_property
@struct.dataclass
class Materials(DeviceMethods):
    """Surface reflectance, one row per mesh (``M`` in {1, N}) or shared.

    The shaded colour is ``(ambient_color * light_ambient + diffuse_color * light_diffuse) *
    texel + specular_color * light_specular`` (see ``jax3d.renderer.mesh.shading``).

    Fields: ``ambient_color``, ``diffuse_color``, ``specular_color`` ``(M, 3) float32``
    (default 1), ``shininess (M,) float32`` (default 64); ``device=`` (PyTorch3D's last
    parameter) places them with ``jax.device_put`` (``jax3d.device`` meaning).
    """

    ambient_color: jax.Array = _default(((1.0, 1.0, 1.0),))
    diffuse_color: jax.Array = _default(((1.0, 1.0, 1.0),))
    specular_color: jax.Array = _default(((1.0, 1.0, 1.0),))
    shininess: jax.Array = _default(64.0)
    device: dataclasses.InitVar[Any] = None

    def __post_init__(self, device=None):
        for name in ("ambient_color", "diffuse_color", "specular_color"):
            object.__setattr__(self, name, as_rgb_batch(getattr(self, name), name))
        object.__setattr__(self, "shininess", as_scalar_batch(self.shininess, "shininess"))
        place_fields(self, device)
