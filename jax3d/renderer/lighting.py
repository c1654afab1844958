"""Lights (PyTorch3D's ``PointLights``, ``DirectionalLights``, ``AmbientLights``) and the
Lambertian ``diffuse`` and Phong ``specular`` terms.

Lights live in world space. Every colour / position field is ``(M, 3) float32`` with ``M`` the
lights batch: 1 (shared by every mesh) or ``N`` (one per mesh). Shading points are
``(N, ..., 3)``; a light field is reshaped to ``(M, 1, ..., 1, 3)`` so it broadcasts over the
leading batch axis, as in PyTorch3D. Constructors accept scalars-per-channel as tuples,
``(3,)`` or ``(M, 3)`` arrays, PyTorch3D's defaults included.

``device=`` (PyTorch3D's last constructor parameter) places the arrays with ``jax.device_put``
(``jax3d.device`` meaning; None: JAX's default placement); lights have ``.device``, ``.to``,
``.cpu``, ``.cuda``, ``.clone`` and ``.detach`` (``jax3d.device.DeviceMethods``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jax3d.device import DeviceMethods, place_fields, with_device_property

__all__ = [
    "AmbientLights",
    "DirectionalLights",
    "PointLights",
    "diffuse",
    "specular",
]

_EPS = 1e-6


# ------------------------------------------------------------------------------ helpers


def as_rgb_batch(x, name: str) -> jax.Array:
    """Concrete input -> ``(M, 3) float32``; JAX arrays (possibly traced) pass through.

    Raises ValueError when a concrete value does not end in 3 channels.
    """
    if isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer):
        arr = x
    elif isinstance(x, jax.core.Tracer) or x is None or type(x) is object:
        return x  # rebuilt by a JAX transformation: keep as is
    else:
        try:
            arr = np.asarray(x, dtype=np.float32)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must be numeric (M, 3), got {type(x).__name__}") from err
    if arr.ndim not in (1, 2) or arr.shape[-1] != 3:
        raise ValueError(f"{name} must be (3,) or (M, 3), got shape {tuple(arr.shape)}")
    return jnp.asarray(arr, jnp.float32).reshape(-1, 3)


def as_scalar_batch(x, name: str) -> jax.Array:
    """Concrete scalar or ``(M,)`` -> ``(M,) float32``; JAX arrays pass through."""
    if isinstance(x, jax.core.Tracer) or x is None or type(x) is object:
        return x
    arr = np.asarray(x, dtype=np.float32) if not isinstance(x, jax.Array) else x
    if arr.ndim > 1:
        raise ValueError(f"{name} must be a scalar or (M,), got shape {tuple(arr.shape)}")
    return jnp.asarray(arr, jnp.float32).reshape(-1)


def expand_to(x: jax.Array, ndim: int) -> jax.Array:
    """``(M, C)`` or ``(C,)`` -> ``(M, 1, ..., 1, C)`` of rank ``ndim`` (broadcasts over
    ``(N, ..., C)`` points with N == M or M == 1)."""
    x = jnp.asarray(x, jnp.float32)
    if x.ndim == 1:
        return x
    return x.reshape((x.shape[0],) + (1,) * (ndim - 2) + (x.shape[-1],))


def expand_scalar(x: jax.Array, ndim: int) -> jax.Array:
    """``(M,)`` or scalar -> ``(M, 1, ..., 1)`` of rank ``ndim - 1`` (per-point scalars)."""
    x = jnp.asarray(x, jnp.float32)
    if x.ndim == 0:
        return x
    return x.reshape((x.shape[0],) + (1,) * (ndim - 2))


def normalize(x: jax.Array, eps: float = _EPS) -> jax.Array:
    """``x / max(|x|, eps)`` along the last axis (``torch.nn.functional.normalize``), with
    finite gradients at 0."""
    sq = jnp.sum(x * x, axis=-1, keepdims=True)
    return x / jnp.sqrt(jnp.maximum(sq, eps * eps))


def _safe_pow(base: jax.Array, exponent: jax.Array) -> jax.Array:
    """``base ** exponent`` for ``base >= 0``; 0 at ``base == 0`` with finite gradients."""
    pos = base > 0
    return jnp.where(pos, jnp.where(pos, base, 1.0) ** exponent, 0.0)


def _check_points(name: str, x) -> jax.Array:
    x = jnp.asarray(x, jnp.float32)
    if x.ndim < 2 or x.shape[-1] != 3:
        raise ValueError(f"{name} must be (N, ..., 3), got shape {tuple(x.shape)}")
    return x


# ---------------------------------------------------------------------------- functions


def diffuse(normals: jax.Array, color: jax.Array, direction: jax.Array) -> jax.Array:
    """Lambertian term ``color * max(0, n . l)`` (PyTorch3D's ``diffuse``).

    Args:
        normals: (N, ..., 3) float32 surface normals (normalized here).
        color: (M, 3) or (3,) float32 light diffuse colour, M in {1, N}.
        direction: (N, ..., 3) float32 directions *to* the light, or (M, 3) / (3,) for a
            directional light (normalized here).

    Returns:
        (N, ..., 3) float32.
    """
    normals = _check_points("normals", normals)
    direction = jnp.asarray(direction, jnp.float32)
    if direction.ndim != normals.ndim:
        direction = expand_to(direction, normals.ndim)
    color = expand_to(color, normals.ndim)
    cos = jnp.sum(normalize(normals) * normalize(direction), axis=-1, keepdims=True)
    return color * jax.nn.relu(cos)


def specular(
    points: jax.Array,
    normals: jax.Array,
    direction: jax.Array,
    color: jax.Array,
    camera_position: jax.Array,
    shininess: jax.Array,
) -> jax.Array:
    """Phong specular term ``color * max(0, v . r)^shininess`` where ``r`` reflects the light
    direction about the normal and ``v`` points to the camera; 0 where the light is behind
    the surface (PyTorch3D's ``specular``).

    Args:
        points: (N, ..., 3) float32 world positions.
        normals: (N, ..., 3) float32 normals.
        direction: (N, ..., 3) float32 directions to the light, or (M, 3) / (3,).
        color: (M, 3) or (3,) float32 light specular colour.
        camera_position: (M, 3) or (3,) float32 camera centres in world space.
        shininess: scalar or (M,) float32 exponent.

    Returns:
        (N, ..., 3) float32.
    """
    points = _check_points("points", points)
    normals = _check_points("normals", normals)
    nd = points.ndim
    direction = jnp.asarray(direction, jnp.float32)
    if direction.ndim != nd:
        direction = expand_to(direction, nd)
    n = normalize(normals)
    d = normalize(direction)
    cos = jnp.sum(n * d, axis=-1, keepdims=True)
    reflect = -d + 2.0 * cos * n
    view = normalize(expand_to(camera_position, nd) - points)
    alpha = jax.nn.relu(jnp.sum(view * reflect, axis=-1, keepdims=True)) * (cos > 0)
    exponent = expand_scalar(shininess, nd)[..., None] if jnp.ndim(shininess) else shininess
    return expand_to(color, nd) * _safe_pow(alpha, exponent)


# ------------------------------------------------------------------------------- lights


def _default(value):
    return struct.field(default_factory=lambda: value)


def _post_init_colors(self, extra: tuple[str, ...] = ()):
    for name in ("ambient_color", "diffuse_color", "specular_color", *extra):
        object.__setattr__(self, name, as_rgb_batch(getattr(self, name), name))


@with_device_property
@struct.dataclass
class DirectionalLights(DeviceMethods):
    """Lights at infinity shining along ``-direction`` (``direction`` points *to* the light).

    Fields (``(M, 3) float32``): ``ambient_color`` (default 0.5), ``diffuse_color`` (0.3),
    ``specular_color`` (0.2), ``direction`` (default (0, 1, 0)).
    """

    ambient_color: jax.Array = _default(((0.5, 0.5, 0.5),))
    diffuse_color: jax.Array = _default(((0.3, 0.3, 0.3),))
    specular_color: jax.Array = _default(((0.2, 0.2, 0.2),))
    direction: jax.Array = _default(((0.0, 1.0, 0.0),))
    device: dataclasses.InitVar[Any] = None

    def __post_init__(self, device=None):
        _post_init_colors(self, ("direction",))
        place_fields(self, device)

    def diffuse(self, normals: jax.Array, points: jax.Array | None = None) -> jax.Array:
        """(N, ..., 3) diffuse light at surfaces with ``normals (N, ..., 3)``."""
        return diffuse(normals, self.diffuse_color, self.direction)

    def specular(self, normals, points, camera_position, shininess) -> jax.Array:
        """(N, ..., 3) specular light; see :func:`specular`."""
        return specular(points, normals, self.direction, self.specular_color,
                        camera_position, shininess)  # fmt: skip


@with_device_property
@struct.dataclass
class PointLights(DeviceMethods):
    """Point lights at world ``location``; the light direction at a point ``p`` is
    ``location - p``.

    Fields (``(M, 3) float32``): ``ambient_color`` (default 0.5), ``diffuse_color`` (0.3),
    ``specular_color`` (0.2), ``location`` (default (0, 1, 0)).
    """

    ambient_color: jax.Array = _default(((0.5, 0.5, 0.5),))
    diffuse_color: jax.Array = _default(((0.3, 0.3, 0.3),))
    specular_color: jax.Array = _default(((0.2, 0.2, 0.2),))
    location: jax.Array = _default(((0.0, 1.0, 0.0),))
    device: dataclasses.InitVar[Any] = None

    def __post_init__(self, device=None):
        _post_init_colors(self, ("location",))
        place_fields(self, device)

    def reshape_location(self, points: jax.Array) -> jax.Array:
        """``location (M, 3)`` as ``(M, 1, ..., 1, 3)`` with the rank of ``points (N, ...,
        3)``, so that it broadcasts against them (PyTorch3D's ``reshape_location``)."""
        return expand_to(self.location, _check_points("points", points).ndim)

    def _direction(self, points: jax.Array) -> jax.Array:
        return self.reshape_location(points) - _check_points("points", points)

    def diffuse(self, normals: jax.Array, points: jax.Array) -> jax.Array:
        """(N, ..., 3) diffuse light at ``points (N, ..., 3)`` with ``normals``."""
        return diffuse(normals, self.diffuse_color, self._direction(points))

    def specular(self, normals, points, camera_position, shininess) -> jax.Array:
        """(N, ..., 3) specular light; see :func:`specular`."""
        return specular(points, normals, self._direction(points), self.specular_color,
                        camera_position, shininess)  # fmt: skip


@with_device_property
@struct.dataclass(kw_only=True)
class AmbientLights(DeviceMethods):
    """Ambient light only: ``diffuse`` and ``specular`` are 0. Keyword-only, as PyTorch3D's
    ``AmbientLights(*, ambient_color=None, device="cpu")``.

    Fields: ``ambient_color (M, 3) float32`` (None: 0.5); ``diffuse_color`` and
    ``specular_color`` are 0 (kept so shading code can treat every light alike).
    """

    ambient_color: jax.Array = None
    diffuse_color: jax.Array = _default(((0.0, 0.0, 0.0),))
    specular_color: jax.Array = _default(((0.0, 0.0, 0.0),))
    device: dataclasses.InitVar[Any] = None

    def __post_init__(self, device=None):
        if self.ambient_color is None:
            object.__setattr__(self, "ambient_color", ((0.5, 0.5, 0.5),))
        _post_init_colors(self)
        place_fields(self, device)

    def diffuse(self, normals: jax.Array, points: jax.Array) -> jax.Array:
        """Zeros like ``normals (N, ..., 3)``."""
        return jnp.zeros_like(_check_points("normals", normals))

    def specular(self, normals, points, camera_position, shininess) -> jax.Array:
        """Zeros like ``points (N, ..., 3)``."""
        return jnp.zeros_like(_check_points("points", points))
