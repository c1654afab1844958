"""jax3d.transforms: rotation conversions, SO(3)/SE(3) maps and `Transform3d` (PyTorch3D names)."""

from jax3d.transforms.transform3d import (
    Rotate,
    RotateAxisAngle,
    Scale,
    Transform3d,
    Translate,
)

__all__ = [
    "Rotate",
    "RotateAxisAngle",
    "Scale",
    "Transform3d",
    "Translate",
]
