"""``CamerasBase``: the methods the four camera models share (PyTorch3D's semantics).

Coordinate systems (see docs/conventions.md): world; view (camera at the origin, +X left, +Y
up, +Z into the screen; ``X_view = X_world @ R + T``); NDC (+X left, +Y up, the shorter image
side spans [-1, 1], depth kept as the projection defines it); screen (pixels, +X right, +Y
down, origin at the top-left image corner, pixel centres at half-integers).

Subclasses are ``flax.struct`` dataclasses whose array fields all carry the camera batch ``N``
on their leading axis. Their constructors accept PyTorch3D's arguments (scalars and size-1
batches broadcast to ``N``); pytree unflattening skips that normalisation (``_normalized``).
Validation happens eagerly in the methods; the maths runs in small jitted kernels, so eager
use compiles once per camera type and shape instead of once per array operation.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.experimental import checkify

from jax3d.device import as_device
from jax3d.renderer.cameras import matrices
from jax3d.renderer.cameras.batching import (
    as_float_array,
    batch_field,
    batch_focal_length,
    batch_image_size,
    broadcast_batches,
    is_concrete,
    resolve_index,
    to_device,
)
from jax3d.renderer.utils import TensorProperties
from jax3d.transforms import Transform3d
from jax3d.validation import check_values

Array = jax.Array

_DEFAULTS = {"R": lambda: np.eye(3, dtype=np.float32), "T": lambda: np.zeros(3, np.float32)}


def as_transform(matrix: Array) -> Transform3d:
    """Wrap (N, 4, 4) row-form matrices in a ``jax3d.transforms.Transform3d``."""
    return Transform3d(matrix=matrix)


def check_points(name: str, points, n: int):
    """Validate ``points`` as (P, 3) or (B, P, 3) float with B in (1, n) (or n == 1)."""
    pts = as_float_array(name, points)
    if pts.ndim not in (2, 3) or pts.shape[-1] != 3:
        raise ValueError(f"{name} must be (P, 3) or (N, P, 3), got {tuple(pts.shape)}")
    if pts.ndim == 3 and pts.shape[0] not in (1, n) and n != 1:
        raise ValueError(f"{name} has batch size {pts.shape[0]} but there are {n} cameras")
    return pts


def _frozen_setattr(self, name, value):
    raise AttributeError(f"{type(self).__name__} are immutable: cannot set {name!r}; use "
                         f"`cameras = cameras.replace({name}=...)`, or pass {name}= to the "
                         f"method call (per-call overrides)")  # fmt: skip


def camera_dataclass(cls):
    """``flax.struct.dataclass`` for cameras, keeping ``CamerasBase.replace`` (which
    re-broadcasts the updated fields) instead of flax's plain ``replace``, and an assignment
    error that names the functional replacement."""
    custom_replace = cls.replace
    cls = struct.dataclass(cls)
    cls.replace = custom_replace
    cls.__setattr__ = _frozen_setattr
    return cls


# ---------------------------------------------------------------------- jitted kernels
def _to_ndc(cams, m: Array, image_size) -> Array:
    return m if cams.in_ndc() else jnp.matmul(m, cams._ndc_matrix(image_size))


@partial(jax.jit, static_argnames=("which",))
def _matrix(cams, image_size, *, which: str) -> Array:
    if which == "world_to_view":
        return cams._world_to_view_matrix()
    if which == "projection":
        return cams._projection_matrix()
    if which == "full":
        return cams._full_matrix()
    eye = jnp.broadcast_to(jnp.eye(4, dtype=cams.R.dtype), (cams.R.shape[0], 4, 4))
    return jnp.broadcast_to(_to_ndc(cams, eye, image_size), eye.shape)


@partial(jax.jit, static_argnames=("stage", "eps", "with_xyflip"))
def _project(cams, points, image_size, *, stage: str, eps, with_xyflip: bool) -> Array:
    m = cams._full_matrix()
    if stage != "projection":
        m = _to_ndc(cams, m, image_size)
    out = matrices.apply_matrix_unchecked(m, points, eps)
    if stage == "screen":
        to_screen = matrices.ndc_to_screen_matrix(image_size, with_xyflip=with_xyflip)
        out = matrices.apply_matrix_unchecked(to_screen, out, eps)
    return out


@partial(jax.jit, static_argnames=("world_coordinates", "from_ndc", "scaled_depth_input"))
def _unproject(cams, xy_depth, image_size, *, world_coordinates, from_ndc, scaled_depth_input):
    xyz = cams._depth_to_projected(xy_depth, scaled_depth_input)
    m = cams._full_matrix() if world_coordinates else cams._projection_matrix()
    if from_ndc:
        m = _to_ndc(cams, m, image_size)
    return matrices.apply_matrix_unchecked(jnp.linalg.inv(m), xyz, None)


@jax.jit
def _camera_center(R: Array, T: Array) -> Array:
    return -jnp.linalg.solve(jnp.swapaxes(R, -1, -2), T[..., None])[..., 0]


class CamerasBase(TensorProperties):
    """Shared camera methods. Per-call keyword overrides (``R=``, ``T=``, ``fov=``, ...) work
    like PyTorch3D's ``**kwargs``: they replace the stored values for that call only; unknown
    keywords are ignored (so renderer keyword arguments can be passed through).

    ``device=`` (constructors) places the arrays with ``jax.device_put`` (``jax3d.device``
    meaning; None: JAX's default placement); ``.device``, ``.to``, ``.cpu``, ``.cuda``,
    ``.clone``, ``.detach`` come from ``jax3d.device.DeviceMethods``."""

    # name -> shape of one camera's value; the leading batch axis N is added on top.
    _EVENT_SHAPES: ClassVar[dict[str, tuple[int, ...]]] = {}
    # keyword names that override static (non-array) fields
    _STATIC_OVERRIDES: ClassVar[tuple[str, ...]] = ()

    # ------------------------------------------------------------------ construction
    def _set_fields(self, arrays: dict[str, Any], static: dict[str, Any], normalized: bool,
                    device=None):
        """Store the fields, normalising the arrays unless they come from pytree unflattening,
        and place them on ``device`` (``jax3d.device`` meaning) when one is given."""
        if not normalized:
            arrays = self._normalize(arrays, static)
        dev = as_device(device)
        if dev is not None and all(is_concrete(v) for v in arrays.values() if v is not None):
            arrays = jax.device_put(arrays, dev)
        for name, value in {**arrays, **static}.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_normalized", True)
        # JAX compares dataclass treedefs by their fields and static values only, not their
        # type, so two camera classes with the same layout could share a jit cache entry;
        # the class name as static metadata keeps their treedefs distinct.
        object.__setattr__(self, "_kind", type(self).__name__)

    @classmethod
    def _normalize(cls, arrays: dict[str, Any], static: dict[str, Any]) -> dict[str, Array]:
        batched = {}
        for name, value in arrays.items():
            if value is None and name in _DEFAULTS:
                value = _DEFAULTS[name]()
            if value is None:
                batched[name] = None
            elif name == "focal_length":
                batched[name] = batch_focal_length(value)
            elif name == "image_size":
                batched[name] = batch_image_size(value)
            else:
                batched[name] = batch_field(name, value, cls._EVENT_SHAPES[name])
        cls._check_values({k: v for k, v in batched.items() if v is not None}, static)
        return broadcast_batches(batched)

    @classmethod
    def _check_values(cls, arrays: dict[str, Any], static: dict[str, Any]) -> None:
        """Reject parameter values that would make a projection singular or meaningless (the
        subclasses say which): a ValueError for concrete values (NumPy arrays here), a
        ``checkify.debug_check`` for traced ones (``jax3d.validation``)."""

    @staticmethod
    def _require(arrays: dict[str, Any], name: str, ok, what: str) -> None:
        if name in arrays:
            check_values(name, arrays[name], ok, what)

    @staticmethod
    def _require_distinct(arrays: dict[str, Any], a: str, b: str) -> None:
        va, vb = arrays.get(a), arrays.get(b)
        if va is None or vb is None or 1 not in (va.shape[0], vb.shape[0]) and va.shape != vb.shape:
            return  # absent, or mismatched batches (broadcast_batches reports those)
        if is_concrete(va) and is_concrete(vb):
            if np.any(va == vb):
                raise ValueError(f"{a} and {b} must differ, got {va.tolist()} and {vb.tolist()}")
        else:
            checkify.debug_check(jnp.all(va != vb), f"{a} and {b} must differ")

    def replace(self, **updates) -> CamerasBase:
        """A copy with some fields replaced (re-broadcast to a common batch size)."""
        return dataclasses.replace(self, _normalized=False, **updates)

    def _resolve(self, kwargs: dict[str, Any]) -> CamerasBase:
        """These cameras with the per-call overrides found in ``kwargs`` applied."""
        names = set(self._EVENT_SHAPES) | set(self._STATIC_OVERRIDES)
        updates = {k: v for k, v in kwargs.items() if k in names and v is not None}
        return self.replace(**updates) if updates else self

    # ------------------------------------------------------------------ batch
    def __len__(self) -> int:
        return int(self.R.shape[0])

    def __getitem__(self, index) -> CamerasBase:
        """Select cameras: an int, a slice, a list of ints or a 1-D int/bool array. The batch
        axis is kept (``cameras[0]`` has N = 1), as in PyTorch3D."""
        idx = resolve_index(index, len(self))

        def take(x):
            return jnp.asarray(np.asarray(x)[idx]) if is_concrete(x) else x[idx]

        return jax.tree.map(take, self)

    # ------------------------------------------------------------------ model-specific
    def is_perspective(self) -> bool:
        """True for perspective models (divide by depth), False for orthographic ones."""
        raise NotImplementedError

    def in_ndc(self) -> bool:
        """True when the projection maps to NDC directly (False: to screen space)."""
        raise NotImplementedError

    def _projection_matrix(self) -> Array:
        raise NotImplementedError

    def _ndc_matrix(self, image_size: Array) -> Array:
        """Row-form matrix from the screen-space projection to NDC (screen cameras only)."""
        raise NotImplementedError

    def _depth_to_projected(self, xy_depth: Array, scaled_depth_input: bool) -> Array:
        """``(x, y, view depth)`` -> the ``(x, y, z)`` that the projection produces."""
        raise NotImplementedError

    def get_znear(self) -> Array | None:
        """(N,) near plane of FoV cameras; None for cameras without one."""
        return getattr(self, "znear", None)

    def get_image_size(self) -> Array | None:
        """(N, 2) float32 ``(height, width)`` when the cameras store one, else None."""
        return getattr(self, "image_size", None)

    def _image_size_from(self, kwargs: dict[str, Any], what: str, required: bool = True):
        value = kwargs.get("image_size")
        size = to_device(batch_image_size(value)) if value is not None else self.get_image_size()
        if size is None and required:
            raise ValueError(f"{what} needs image_size=(height, width) (these cameras have none)")
        if size is not None and size.shape[0] not in (1, len(self)):
            raise ValueError(
                f"image_size has batch {size.shape[0]} but there are {len(self)} cameras"
            )
        return size

    def _ndc_image_size(self, kwargs: dict[str, Any]):
        """The image size needed to reach NDC: None for NDC cameras."""
        if self.in_ndc():
            return None
        return self._image_size_from(kwargs, "converting screen cameras to NDC")

    # ------------------------------------------------------------------ matrices
    def _world_to_view_matrix(self) -> Array:
        return matrices.world_to_view_matrix(self.R, self.T)

    def _full_matrix(self) -> Array:
        return jnp.matmul(self._world_to_view_matrix(), self._projection_matrix())

    # ------------------------------------------------------------------ transforms
    def get_world_to_view_transform(self, **kwargs) -> Transform3d:
        """``Transform3d`` (N, 4, 4) of ``X_view = X_world @ R + T``; ``R=``/``T=`` override."""
        return as_transform(_matrix(self._resolve(kwargs), None, which="world_to_view"))

    def get_projection_transform(self, **kwargs) -> Transform3d:
        """``Transform3d`` (N, 4, 4) from view space to the projection space (NDC or screen)."""
        return as_transform(_matrix(self._resolve(kwargs), None, which="projection"))

    def get_full_projection_transform(self, **kwargs) -> Transform3d:
        """``Transform3d`` (N, 4, 4): world-to-view composed with the projection."""
        return as_transform(_matrix(self._resolve(kwargs), None, which="full"))

    def get_ndc_camera_transform(self, **kwargs) -> Transform3d:
        """``Transform3d`` (N, 4, 4) from the projection space to PyTorch3D NDC: identity for
        NDC cameras; for screen cameras a principal-point fix and a scaling (no axis flip)."""
        cams = self._resolve(kwargs)
        return as_transform(_matrix(cams, cams._ndc_image_size(kwargs), which="ndc"))

    def _project_points(self, points, eps, kwargs, stage: str, with_xyflip: bool = True):
        cams = self._resolve(kwargs)
        pts = check_points("points", points, len(cams))
        if stage == "screen":
            size = cams._image_size_from(kwargs, "transform_points_screen")
        else:
            size = cams._ndc_image_size(kwargs) if stage == "ndc" else None
        eps = None if eps is None else float(eps)
        return _project(cams, pts, size, stage=stage, eps=eps, with_xyflip=bool(with_xyflip))

    def transform_points(self, points, eps: float | None = None, **kwargs) -> Array:
        """Project world points to the cameras' projection space (NDC, or screen for
        ``in_ndc=False`` cameras, still with +X left and +Y up).

        Args:
          points: (P, 3) or (N, P, 3) float32 world coordinates (batch 1 broadcasts).
          eps: clamp of the perspective divisor's magnitude (see ``apply_matrix``): the
            divisor (the view depth, for perspective cameras) becomes
            ``sign(w) max(|w|, eps)``, as in PyTorch3D. None clamps at 1e-8, so a point on
            the camera plane (view depth 0) gives large but finite values and finite
            gradients, where PyTorch3D's exact divide gives inf / NaN; other points are
            unaffected. Pass e.g. ``eps=1e-4`` for better-conditioned gradients near it.
          **kwargs: per-call overrides (``R=``, ``T=``, intrinsics).

        Returns:
          (P, 3) if ``points`` is (P, 3) and N == 1, else (N, P, 3): ``(x, y, z)`` where z is
          the projection's depth (1 / depth for PerspectiveCameras, [0, 1] on [znear, zfar]
          for FoV cameras).
        """
        return self._project_points(points, eps, kwargs, "projection")

    def transform_points_ndc(self, points, eps: float | None = None, **kwargs) -> Array:
        """Project world points to PyTorch3D NDC (+X left, +Y up, shorter side in [-1, 1]).

        Shapes as in :meth:`transform_points`; screen cameras need an image size.
        """
        return self._project_points(points, eps, kwargs, "ndc")

    def transform_points_screen(
        self, points, eps: float | None = None, with_xyflip: bool = True, **kwargs
    ) -> Array:
        """Project world points to screen space: pixels, +X right, +Y down, origin at the
        top-left corner of the image, so the centre of pixel ``(row i, column j)`` is at
        ``(j + 0.5, i + 0.5)``; depth as in :meth:`transform_points`.

        Args:
          points: (P, 3) or (N, P, 3) float32 world points.
          eps: see :meth:`transform_points`.
          with_xyflip: static; False keeps NDC's +X left / +Y up axes (PyTorch3D warns
            against it).
          **kwargs: overrides; ``image_size=(H, W)`` or (N, 2) is required when the cameras
            store none.

        Returns:
          (P, 3) or (N, P, 3) float32 screen points.
        """
        return self._project_points(points, eps, kwargs, "screen", with_xyflip)

    def get_camera_center(self, **kwargs) -> Array:
        """(N, 3) float32 camera centres in world coordinates: ``C = -T @ inv(R)``."""
        cams = self._resolve(kwargs)
        return _camera_center(cams.R, cams.T)

    def unproject_points(self, xy_depth, **kwargs) -> Array:
        """Lift ``(x, y, depth)`` back to world coordinates; each camera model defines it
        (see its ``unproject_points`` for the arguments)."""
        raise NotImplementedError(f"{type(self).__name__} does not define unproject_points")

    def _unproject_points(
        self, xy_depth, kwargs, world_coordinates, from_ndc, scaled_depth_input
    ) -> Array:
        cams = self._resolve(kwargs)
        pts = check_points("xy_depth", xy_depth, len(cams))
        size = cams._ndc_image_size(kwargs) if from_ndc else None
        return _unproject(
            cams,
            pts,
            size,
            world_coordinates=bool(world_coordinates),
            from_ndc=bool(from_ndc),
            scaled_depth_input=bool(scaled_depth_input),
        )
