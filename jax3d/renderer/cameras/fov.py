"""Field-of-view cameras (OpenGL-style frustums): ``FoVPerspectiveCameras``,
``FoVOrthographicCameras``. Both project straight to NDC."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import struct

from jax3d.renderer.cameras import matrices
from jax3d.renderer.cameras.base import CamerasBase, camera_dataclass

Array = jax.Array


def _split_depth(xy_depth: Array) -> tuple[Array, Array]:
    """(P, 3) or (B, P, 3) -> batched (B, P, 2) xy and (B, P) depth."""
    batch = xy_depth[None] if xy_depth.ndim == 2 else xy_depth
    return batch[..., :2], batch[..., 2]


def _squeeze_like(out: Array, like: Array) -> Array:
    return out[0] if like.ndim == 2 and out.shape[0] == 1 else out


@camera_dataclass
class FoVPerspectiveCameras(CamerasBase):
    """Perspective cameras given by a vertical field of view (PyTorch3D's OpenGL-style model).

    Fields (``N`` cameras): ``znear, zfar, aspect_ratio, fov`` (N,) float32, ``R`` (N, 3, 3),
    ``T`` (N, 3), optional ``K`` (N, 4, 4) column-form projection that replaces the others;
    ``degrees`` (static) says whether ``fov`` is in degrees.

    ``aspect_ratio`` is the aspect ratio of a *pixel* (keep 1.0 for square pixels); the image
    aspect ratio comes from the image size, whose shorter side spans NDC [-1, 1]. View depth in
    ``[znear, zfar]`` maps to NDC z in ``[0, 1]``.

    Example::

        R, T = look_at_view_transform(2.7, 10, 20)
        cameras = FoVPerspectiveCameras(fov=50.0, R=R, T=T)
        ndc = cameras.transform_points(verts)          # (N, P, 3)
    """

    znear: Array
    zfar: Array
    aspect_ratio: Array
    fov: Array
    R: Array
    T: Array
    K: Array | None
    degrees: bool = struct.field(pytree_node=False, default=True)
    _normalized: bool = struct.field(pytree_node=False, default=False, repr=False)
    _kind: str = struct.field(pytree_node=False, default="", repr=False)

    _EVENT_SHAPES = {
        "znear": (),
        "zfar": (),
        "aspect_ratio": (),
        "fov": (),
        "R": (3, 3),
        "T": (3,),
        "K": (4, 4),
    }
    _STATIC_OVERRIDES = ("degrees",)

    def __init__(
        self,
        znear=1.0,
        zfar=100.0,
        aspect_ratio=1.0,
        fov=60.0,
        degrees: bool = True,
        R=None,
        T=None,
        K=None,
        device=None,
        *,
        _normalized: bool = False,
        _kind: str = "",
    ):
        """Args: ``znear``, ``zfar``, ``aspect_ratio``, ``fov``: scalars or (N,); ``R``:
        (N, 3, 3) or (3, 3) (default identity); ``T``: (N, 3) or (3,) (default 0); ``K``:
        optional (N, 4, 4); ``degrees``: fov unit; ``device``: where to place the arrays
        (``jax3d.device`` meaning). Parameters of batch 1 broadcast to the largest batch N.

        Raises ValueError for ``fov`` outside (0, 180) degrees (or (0, pi) radians), a zero
        ``aspect_ratio`` or ``znear == zfar`` (concrete values; under ``jit`` these are
        ``checkify.debug_check``s, see ``jax3d.validation``)."""
        del _kind  # _kind is reset from the class in _set_fields
        arrays = dict(znear=znear, zfar=zfar, aspect_ratio=aspect_ratio, fov=fov, R=R, T=T, K=K)
        self._set_fields(arrays, {"degrees": bool(degrees)}, _normalized, device)

    @classmethod
    def _check_values(cls, arrays, static) -> None:
        cls._require_distinct(arrays, "znear", "zfar")
        cls._require(arrays, "aspect_ratio", lambda a: a != 0, "non-zero")
        if static.get("degrees", True):
            cls._require(arrays, "fov", lambda f: (f > 0) & (f < 180), "in (0, 180) degrees")
        else:
            cls._require(arrays, "fov", lambda f: (f > 0) & (f < math.pi), "in (0, pi) radians")

    def is_perspective(self) -> bool:
        return True

    def in_ndc(self) -> bool:
        return True

    def _projection_matrix(self) -> Array:
        if self.K is not None:
            return jnp.swapaxes(self.K, -1, -2)
        fov = self.fov * (math.pi / 180.0) if self.degrees else self.fov
        return matrices.fov_perspective_matrix(self.znear, self.zfar, fov, self.aspect_ratio)

    def compute_projection_matrix(self, znear, zfar, fov, aspect_ratio, degrees: bool) -> Array:
        """(N, 4, 4) column-form projection ``K`` for the given (N,) parameters."""
        cams = self.replace(
            znear=znear, zfar=zfar, fov=fov, aspect_ratio=aspect_ratio, degrees=degrees, K=None
        )
        return jnp.swapaxes(cams.get_projection_transform().get_matrix(), -1, -2)

    def unproject_points(
        self,
        xy_depth,
        world_coordinates: bool = True,
        scaled_depth_input: bool = False,
        **kwargs,
    ) -> Array:
        """Lift NDC ``(x, y, depth)`` back to world (or view) coordinates.

        Args:
          xy_depth: (P, 3) or (N, P, 3) float32 NDC x, y and a depth: view-space z
            (``scaled_depth_input=False``) or NDC z in [0, 1] (True).
          world_coordinates: static; False returns view coordinates (R, T ignored).
          scaled_depth_input: static; see ``xy_depth``.
          **kwargs: per-call overrides.

        Returns:
          Same shape as :meth:`transform_points` would give: the points that project to
          ``xy_depth``.
        """
        return self._unproject_points(
            xy_depth, kwargs, world_coordinates, False, scaled_depth_input
        )

    def _depth_to_projected(self, xy_depth: Array, scaled_depth_input: bool) -> Array:
        if scaled_depth_input:
            return xy_depth
        P = self._projection_matrix()
        f1, f2 = P[:, 2, 2][:, None], P[:, 3, 2][:, None]
        xy, depth = _split_depth(xy_depth)
        sdepth = (f1 * depth + f2) / depth
        xy = jnp.broadcast_to(xy, sdepth.shape + (2,))
        return _squeeze_like(jnp.concatenate([xy, sdepth[..., None]], axis=-1), xy_depth)


@camera_dataclass
class FoVOrthographicCameras(CamerasBase):
    """Orthographic cameras given by the view box ``[min_x, max_x] x [min_y, max_y]``.

    Fields: ``znear, zfar, max_y, min_y, max_x, min_x`` (N,), ``scale_xyz`` (N, 3), ``R``
    (N, 3, 3), ``T`` (N, 3), optional ``K`` (N, 4, 4) column form. The box maps to NDC
    [-1, 1] (scaled by ``scale_xyz``) and depth ``[znear, zfar]`` to ``[0, 1]``.
    """

    znear: Array
    zfar: Array
    max_y: Array
    min_y: Array
    max_x: Array
    min_x: Array
    scale_xyz: Array
    R: Array
    T: Array
    K: Array | None
    _normalized: bool = struct.field(pytree_node=False, default=False, repr=False)
    _kind: str = struct.field(pytree_node=False, default="", repr=False)

    _EVENT_SHAPES = {
        "znear": (),
        "zfar": (),
        "max_y": (),
        "min_y": (),
        "max_x": (),
        "min_x": (),
        "scale_xyz": (3,),
        "R": (3, 3),
        "T": (3,),
        "K": (4, 4),
    }

    def __init__(
        self,
        znear=1.0,
        zfar=100.0,
        max_y=1.0,
        min_y=-1.0,
        max_x=1.0,
        min_x=-1.0,
        scale_xyz=((1.0, 1.0, 1.0),),
        R=None,
        T=None,
        K=None,
        device=None,
        *,
        _normalized: bool = False,
        _kind: str = "",
    ):
        """Args as in PyTorch3D: scalars or (N,) box and depth range, ``scale_xyz`` (N, 3) or
        (3,), ``R``, ``T``, optional ``K``; ``device``: placement."""
        del _kind  # _kind is reset from the class in _set_fields
        arrays = dict(
            znear=znear,
            zfar=zfar,
            max_y=max_y,
            min_y=min_y,
            max_x=max_x,
            min_x=min_x,
            scale_xyz=scale_xyz,
            R=R,
            T=T,
            K=K,
        )
        self._set_fields(arrays, {}, _normalized, device)

    @classmethod
    def _check_values(cls, arrays, static) -> None:
        cls._require_distinct(arrays, "znear", "zfar")
        cls._require_distinct(arrays, "min_x", "max_x")
        cls._require_distinct(arrays, "min_y", "max_y")

    def is_perspective(self) -> bool:
        return False

    def in_ndc(self) -> bool:
        return True

    def _projection_matrix(self) -> Array:
        if self.K is not None:
            return jnp.swapaxes(self.K, -1, -2)
        return matrices.fov_orthographic_matrix(
            self.znear, self.zfar, self.max_x, self.min_x, self.max_y, self.min_y, self.scale_xyz
        )

    def compute_projection_matrix(
        self, znear, zfar, max_x, min_x, max_y, min_y, scale_xyz
    ) -> Array:
        """(N, 4, 4) column-form projection ``K`` for the given box, depth range and scale."""
        cams = self.replace(znear=znear, zfar=zfar, max_x=max_x, min_x=min_x, max_y=max_y,
                            min_y=min_y, scale_xyz=scale_xyz, K=None)  # fmt: skip
        return jnp.swapaxes(cams.get_projection_transform().get_matrix(), -1, -2)

    def unproject_points(
        self,
        xy_depth,
        world_coordinates: bool = True,
        scaled_depth_input: bool = False,
        **kwargs,
    ) -> Array:
        """Lift NDC ``(x, y, depth)`` back to world (or view) coordinates; arguments and
        shapes as in :meth:`FoVPerspectiveCameras.unproject_points`."""
        return self._unproject_points(
            xy_depth, kwargs, world_coordinates, False, scaled_depth_input
        )

    def _depth_to_projected(self, xy_depth: Array, scaled_depth_input: bool) -> Array:
        if scaled_depth_input:
            return xy_depth
        P = self._projection_matrix()
        scale_z, mid_z = P[:, 2, 2][:, None], P[:, 3, 2][:, None]
        xy, depth = _split_depth(xy_depth)
        sdepth = scale_z * depth + mid_z
        xy = jnp.broadcast_to(xy, sdepth.shape + (2,))
        return _squeeze_like(jnp.concatenate([xy, sdepth[..., None]], axis=-1), xy_depth)
