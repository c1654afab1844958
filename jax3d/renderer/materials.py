"""Materials: reflectance colours and shininess for Phong shading (PyTorch3D's ``Materials``)."""

from __future__ import annotations

import jax
from flax import struct

from jax3d.renderer.lighting import as_rgb_batch, as_scalar_batch

__all__ = ["Materials"]


def _default(value):
    return struct.field(default_factory=lambda: value)


@struct.dataclass
class Materials:
    """Surface reflectance, one row per mesh (``M`` in {1, N}) or shared.

    The shaded colour is ``(ambient_color * light_ambient + diffuse_color * light_diffuse) *
    texel + specular_color * light_specular`` (see ``jax3d.renderer.mesh.shading``).

    Fields: ``ambient_color``, ``diffuse_color``, ``specular_color`` ``(M, 3) float32``
    (default 1), ``shininess (M,) float32`` (default 64).
    """

    ambient_color: jax.Array = _default(((1.0, 1.0, 1.0),))
    diffuse_color: jax.Array = _default(((1.0, 1.0, 1.0),))
    specular_color: jax.Array = _default(((1.0, 1.0, 1.0),))
    shininess: jax.Array = _default(64.0)

    def __post_init__(self):
        for name in ("ambient_color", "diffuse_color", "specular_color"):
            object.__setattr__(self, name, as_rgb_batch(getattr(self, name), name))
        object.__setattr__(self, "shininess", as_scalar_batch(self.shininess, "shininess"))
