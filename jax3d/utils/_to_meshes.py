"""Wrap host-side (verts, faces) arrays into a one-mesh `jax3d.structures.Meshes` batch."""

from __future__ import annotations

import numpy as np


def to_meshes(verts: np.ndarray, faces: np.ndarray, device=None):
    """`Meshes` holding one mesh, like PyTorch3D's `Meshes(verts=[verts], faces=[faces])`.

    Args:
        verts: (V, 3) float32.
        faces: (F, 3) int32, indices into `verts`.
        device: where to place the arrays (`jax3d.device` meaning: None, a `jax.Device` or a
            string such as "cpu" or "cuda:0").

    Returns:
        `jax3d.structures.Meshes` of batch size 1.
    """
    # Imported here so that the array-level asset functions work without the structures package.
    from jax3d.device import device_put
    from jax3d.structures import Meshes

    meshes = Meshes(verts=[np.asarray(verts, np.float32)], faces=[np.asarray(faces, np.int32)])
    return device_put(meshes, device)


def check_int(name: str, value, minimum: int) -> int:
    """`value` as a Python int >= minimum, else a TypeError/ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_positive_float(name: str, value) -> float:
    """`value` as a finite Python float > 0, else a TypeError/ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return value
