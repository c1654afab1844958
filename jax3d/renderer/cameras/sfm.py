"""Multi-view-geometry ("SfM") cameras: ``PerspectiveCameras`` and ``OrthographicCameras``,
given by a focal length and a principal point, in NDC units (``in_ndc=True``) or in pixels
(``in_ndc=False`` with an ``image_size``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jax3d.renderer.cameras import matrices
from jax3d.renderer.cameras.base import CamerasBase, camera_dataclass

Array = jax.Array

_SFM_EVENT_SHAPES = {
    "focal_length": (2,),
    "principal_point": (2,),
    "R": (3, 3),
    "T": (3,),
    "K": (4, 4),
    "image_size": (2,),
}


class _SfMCameras(CamerasBase):
    """What the two SfM models share; subclasses set ``_ORTHOGRAPHIC``."""

    _ORTHOGRAPHIC = False
    _EVENT_SHAPES = _SFM_EVENT_SHAPES
    _STATIC_OVERRIDES = ("in_ndc",)

    def _init_sfm(
        self, focal_length, principal_point, R, T, K, in_ndc, image_size, normalized, device
    ):
        arrays = dict(
            focal_length=focal_length,
            principal_point=principal_point,
            R=R,
            T=T,
            K=K,
            image_size=image_size,
        )
        if not isinstance(in_ndc, (bool, np.bool_)):
            raise TypeError(f"in_ndc must be a bool, got {type(in_ndc).__name__}")
        self._set_fields(arrays, {"_in_ndc": bool(in_ndc)}, normalized, device)

    def replace(self, **updates):
        """A copy with some fields replaced; ``in_ndc=`` is accepted too."""
        if "in_ndc" in updates:
            updates["_in_ndc"] = updates.pop("in_ndc")
        return super().replace(**updates)

    def in_ndc(self) -> bool:
        return self._in_ndc

    @classmethod
    def _check_values(cls, arrays, static) -> None:
        cls._require(arrays, "focal_length", lambda f: f > 0, "positive")

    def is_perspective(self) -> bool:
        return not self._ORTHOGRAPHIC

    def _projection_matrix(self) -> Array:
        if self.K is not None:
            return jnp.swapaxes(self.K, -1, -2)
        return matrices.sfm_matrix(
            self.focal_length, self.principal_point, orthographic=self._ORTHOGRAPHIC
        )

    def get_principal_point(self, **kwargs) -> Array:
        """(N, 2) principal point read from the projection matrix (so ``K`` is honoured)."""
        P = self.get_projection_transform(**kwargs).get_matrix()
        return P[:, 3 if self._ORTHOGRAPHIC else 2, :2]

    def _ndc_matrix(self, image_size: Array) -> Array:
        # The principal point is given in image axes (+X right, +Y down) while projected
        # points use PyTorch3D's (+X left, +Y up): move it across, then scale pixels to NDC.
        P = self._projection_matrix()
        principal = P[:, 3 if self._ORTHOGRAPHIC else 2, :2]
        fix = matrices.translation_matrix(-2.0 * principal)
        return jnp.matmul(fix, matrices.screen_to_ndc_matrix(image_size, with_xyflip=False))

    def _depth_to_projected(self, xy_depth: Array, scaled_depth_input: bool) -> Array:
        if self._ORTHOGRAPHIC:
            return xy_depth
        return jnp.concatenate([xy_depth[..., :2], 1.0 / xy_depth[..., 2:3]], axis=-1)


@camera_dataclass
class PerspectiveCameras(_SfMCameras):
    """Pinhole cameras: view point ``(X, Y, Z)`` goes to ``(fx X / Z + px, fy Y / Z + py,
    1 / Z)`` in the cameras' projection space.

    Fields (``N`` cameras): ``focal_length`` (N, 2) ``(fx, fy)``, ``principal_point`` (N, 2),
    ``R`` (N, 3, 3), ``T`` (N, 3), optional ``K`` (N, 4, 4) column form, optional
    ``image_size`` (N, 2) float32 ``(height, width)``; static ``in_ndc`` (query it with
    ``in_ndc()``).

    With ``in_ndc=True`` focal length and principal point are in NDC units (+X left, +Y up).
    With ``in_ndc=False`` they are in pixels with the principal point in image axes (+X right,
    +Y down, e.g. ``(W / 2, H / 2)`` for a centred camera), and ``image_size`` is needed for
    NDC/screen conversions.

    Example (screen-space intrinsics, as from OpenCV)::

        cameras = PerspectiveCameras(focal_length=((1200.0, 300.0),),
                                     principal_point=((512.0, 256.0),),
                                     in_ndc=False, image_size=((1024, 512),), R=R, T=T)
        pix = cameras.transform_points_screen(verts)   # (N, P, 3), pixels
    """

    focal_length: Array
    principal_point: Array
    R: Array
    T: Array
    K: Array | None
    image_size: Array | None
    _in_ndc: bool = struct.field(pytree_node=False, default=True, repr=False)
    _normalized: bool = struct.field(pytree_node=False, default=False, repr=False)
    _kind: str = struct.field(pytree_node=False, default="", repr=False)

    _ORTHOGRAPHIC = False

    def __init__(
        self,
        focal_length=1.0,
        principal_point=((0.0, 0.0),),
        R=None,
        T=None,
        K=None,
        device=None,
        in_ndc: bool = True,
        image_size=None,
        *,
        _in_ndc: bool | None = None,
        _normalized: bool = False,
        _kind: str = "",
    ):
        """Args: ``focal_length`` scalar, (N,) (one per camera, as in PyTorch3D), (N, 1) or
        (N, 2); ``principal_point`` (N, 2) or (2,); ``R``, ``T``, ``K`` as for the other
        cameras; ``in_ndc``; ``image_size`` ``(H, W)``, ``((H, W),)`` or (N, 2);
        ``device``: where to place the arrays.

        Raises ValueError for a focal length (fx or fy) <= 0 (concrete values; under ``jit``
        a ``checkify.debug_check``, see ``jax3d.validation``): flip axes with ``R`` instead."""
        del _kind  # _kind is reset from the class in _set_fields
        in_ndc = in_ndc if _in_ndc is None else _in_ndc
        self._init_sfm(
            focal_length, principal_point, R, T, K, in_ndc, image_size, _normalized, device
        )

    def unproject_points(
        self, xy_depth, world_coordinates: bool = True, from_ndc: bool = False, **kwargs
    ) -> Array:
        """Lift ``(x, y, depth)`` back to world (or view) coordinates.

        Args:
          xy_depth: (P, 3) or (N, P, 3) float32: x, y in the cameras' projection space (NDC
            if ``from_ndc`` or ``in_ndc()``, else the screen-unit output of
            :meth:`transform_points`) and the view-space depth z (> 0).
          world_coordinates: static; False returns view coordinates.
          from_ndc: static; x, y are PyTorch3D NDC even for screen cameras.
          **kwargs: per-call overrides (``image_size=`` for ``from_ndc`` screen cameras).

        Returns:
          (P, 3) or (N, P, 3) float32 points (a depth of 0 gives inf, as in PyTorch3D).
        """
        return self._unproject_points(xy_depth, kwargs, world_coordinates, from_ndc, False)


@camera_dataclass
class OrthographicCameras(_SfMCameras):
    """Orthographic cameras: view point ``(X, Y, Z)`` goes to ``(fx X + px, fy Y + py, Z)``.

    Fields, units and ``in_ndc`` / ``image_size`` exactly as for :class:`PerspectiveCameras`.
    """

    focal_length: Array
    principal_point: Array
    R: Array
    T: Array
    K: Array | None
    image_size: Array | None
    _in_ndc: bool = struct.field(pytree_node=False, default=True, repr=False)
    _normalized: bool = struct.field(pytree_node=False, default=False, repr=False)
    _kind: str = struct.field(pytree_node=False, default="", repr=False)

    _ORTHOGRAPHIC = True

    def __init__(
        self,
        focal_length=1.0,
        principal_point=((0.0, 0.0),),
        R=None,
        T=None,
        K=None,
        device=None,
        in_ndc: bool = True,
        image_size=None,
        *,
        _in_ndc: bool | None = None,
        _normalized: bool = False,
        _kind: str = "",
    ):
        """Arguments as for :class:`PerspectiveCameras`."""
        del _kind  # _kind is reset from the class in _set_fields
        in_ndc = in_ndc if _in_ndc is None else _in_ndc
        self._init_sfm(
            focal_length, principal_point, R, T, K, in_ndc, image_size, _normalized, device
        )

    def unproject_points(
        self, xy_depth, world_coordinates: bool = True, from_ndc: bool = False, **kwargs
    ) -> Array:
        """Lift ``(x, y, depth)`` back to world (or view) coordinates; as
        :meth:`PerspectiveCameras.unproject_points` but the depth is used as is."""
        return self._unproject_points(xy_depth, kwargs, world_coordinates, from_ndc, False)
