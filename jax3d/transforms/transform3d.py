"""`Transform3d`: a batch of 4x4 affine transforms in PyTorch3D's row-vector convention.

Points are row vectors: `[x, y, z, 1] @ M`, so a translation lives in the last *row*
`M[:, 3, :3]` and `a.compose(b)` applies `a` first, then `b` (`M = M_a @ M_b`).
Composition is eager (one matrix is stored), which gives the same results as PyTorch3D's lazy
list of transforms. Batch sizes 1 and N broadcast against each other, as in PyTorch3D.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jax3d.device import DeviceMethods, device_put
from jax3d.safe_math import homogeneous_divide
from jax3d.transforms.rotation_conversions import _axis_angle_rotation

__all__ = ["Transform3d", "Translate", "Scale", "Rotate", "RotateAxisAngle"]


def _identity_matrix() -> jax.Array:
    return jnp.eye(4, dtype=jnp.float32)[None]


def _float_dtype(dtype):
    """PyTorch3D's ``dtype`` argument: None means float32."""
    return jnp.float32 if dtype is None else jnp.dtype(dtype)


def _is_tracer(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def _check_batches(name_a: str, n_a: int, name_b: str, n_b: int) -> None:
    if n_a != n_b and n_a != 1 and n_b != 1:
        raise ValueError(
            f"batch sizes of {name_a} ({n_a}) and {name_b} ({n_b}) must be equal or one of them 1"
        )


@struct.dataclass
class Transform3d(DeviceMethods):
    """A batch of B affine transforms acting on row vectors: `[points, 1] @ matrix`.

    ``Transform3d(dtype=float32, device=None, matrix=None)`` (PyTorch3D's signature):
    ``matrix`` (B, 4, 4) or (4, 4) (read as B = 1), default the identity with B = 1, so
    ``Transform3d()`` is the identity, as in PyTorch3D; ``dtype`` is the dtype of a default
    or non-array ``matrix``; ``device`` places it (``jax3d.device`` meaning).

    Attributes:
        matrix: (B, 4, 4) float32.

    Example:
        >>> t = Transform3d().rotate_axis_angle(90.0, "Z").translate(1.0, 0.0, 0.0)
        >>> t.transform_points(jnp.array([[1.0, 0.0, 0.0]]))  # rotate first, then translate
    """

    matrix: jax.Array = struct.field(default_factory=_identity_matrix)

    def __init__(self, dtype=jnp.float32, device=None, matrix=None):
        # Also runs when JAX rebuilds the pytree (leaves may be tracers or placeholders), so
        # only user-facing inputs are converted, and only objects with a shape are checked.
        m = matrix
        if m is None:
            m = jnp.eye(4, dtype=_float_dtype(dtype))[None]
        elif isinstance(m, (list, tuple, np.ndarray, float, int)):
            m = jnp.asarray(m, dtype=_float_dtype(dtype))
        shape = getattr(m, "shape", None)
        if isinstance(shape, tuple) and (len(shape) not in (2, 3) or shape[-2:] != (4, 4)):
            raise ValueError(f"matrix must be (B, 4, 4) or (4, 4), got {shape}")
        object.__setattr__(self, "matrix", device_put(m, device))

    def to(self, device, copy: bool = False, dtype=None) -> Transform3d:
        """This transform on ``device`` (``jax3d.device`` meaning), cast to ``dtype`` if given."""
        out = super().to(device, copy=copy)
        if dtype is not None:
            out = Transform3d(matrix=out.matrix.astype(dtype))
        return out

    def get_matrix(self) -> jax.Array:
        """The composed transform as a (B, 4, 4) float32 array (row-vector convention)."""
        m = jnp.asarray(self.matrix)
        return m[None] if m.ndim == 2 else m

    def __len__(self) -> int:
        return self.get_matrix().shape[0]

    def __getitem__(self, index) -> Transform3d:
        """Select transforms with an int, slice, list or int/bool array; the batch dim is kept."""
        if isinstance(index, (int, np.integer)):
            n = len(self)
            if not -n <= index < n:
                raise IndexError(f"index {index} is out of range for {n} transforms")
            index = slice(index % n, index % n + 1)
        elif isinstance(index, (list, tuple)):
            index = jnp.asarray(index)
        return Transform3d(matrix=self.get_matrix()[index])

    def compose(self, *others: Transform3d) -> Transform3d:
        """Apply `self` first, then each of `others` in order: `M = M_self @ M_1 @ ... @ M_k`."""
        out = self.get_matrix()
        for i, other in enumerate(others):
            if not isinstance(other, Transform3d):
                raise TypeError(f"others[{i}] must be a Transform3d, got {type(other).__name__}")
            m = other.get_matrix()
            _check_batches("self", out.shape[0], f"others[{i}]", m.shape[0])
            out = jnp.matmul(out, m)
        return Transform3d(matrix=out)

    def inverse(self, invert_composed: bool = False) -> Transform3d:
        """The inverse transform, (B, 4, 4). `invert_composed` is accepted for PyTorch3D parity;
        the composed matrix is always inverted (there is only one stored matrix)."""
        del invert_composed
        return Transform3d(matrix=jnp.linalg.inv(self.get_matrix()))

    def stack(self, *others: Transform3d) -> Transform3d:
        """Concatenate the batches of `self` and `others` along the batch dimension."""
        mats = [self.get_matrix()] + [o.get_matrix() for o in others]
        return Transform3d(matrix=jnp.concatenate(mats, axis=0))

    def transform_points(self, points: jax.Array, eps: float | None = None) -> jax.Array:
        """Apply the transforms to points, with a homogeneous divide.

        Args:
            points: (P, 3) or (N, P, 3) float32; N must equal B, or one of N, B must be 1.
            eps: a homogeneous coordinate `w` with |w| < eps is replaced by `sign(w) * eps`
                (sign +1 where w == 0), as in PyTorch3D. None (the default) means 1e-8
                (`jax3d.safe_math.DEFAULT_DIVISOR_EPS`) where PyTorch3D divides exactly: the
                results differ only for |w| < 1e-8, which are finite here (values and
                gradients) instead of inf / NaN.

        Returns:
            (P, 3) when `points` is (P, 3) and B == 1, else (max(N, B), P, 3):
            `out[n, p] = ([points[n, p], 1] @ M[n])[:3] / ([points[n, p], 1] @ M[n])[3]`.
        """
        points = _check_points("points", points)
        batch = points[None] if points.ndim == 2 else points
        mat = self.get_matrix()
        _check_batches("points", batch.shape[0], "transform", mat.shape[0])
        ones = jnp.ones(batch.shape[:-1] + (1,), batch.dtype)
        out = jnp.matmul(jnp.concatenate([batch, ones], axis=-1), mat)
        out = homogeneous_divide(out[..., :3], out[..., 3:], eps)
        if out.shape[0] == 1 and points.ndim == 2:
            out = out.reshape(points.shape)
        return out

    def transform_normals(self, normals: jax.Array) -> jax.Array:
        """Apply the inverse-transpose of the linear part to normals (no renormalisation).

        Args:
            normals: (P, 3) or (N, P, 3) float32.

        Returns:
            (P, 3) or (max(N, B), P, 3) float32, shaped like `transform_points`' output.
        """
        normals = _check_points("normals", normals)
        batch = normals[None] if normals.ndim == 2 else normals
        mat = self.get_matrix()[:, :3, :3]
        _check_batches("normals", batch.shape[0], "transform", mat.shape[0])
        out = jnp.matmul(batch, jnp.linalg.inv(jnp.swapaxes(mat, -1, -2)))
        if out.shape[0] == 1 and normals.ndim == 2:
            out = out.reshape(normals.shape)
        return out

    def translate(self, *args, **kwargs) -> Transform3d:
        """`self.compose(Translate(*args, **kwargs))`."""
        return self.compose(Translate(*args, **kwargs))

    def scale(self, *args, **kwargs) -> Transform3d:
        """`self.compose(Scale(*args, **kwargs))`."""
        return self.compose(Scale(*args, **kwargs))

    def rotate(self, *args, **kwargs) -> Transform3d:
        """`self.compose(Rotate(*args, **kwargs))`."""
        return self.compose(Rotate(*args, **kwargs))

    def rotate_axis_angle(self, *args, **kwargs) -> Transform3d:
        """`self.compose(RotateAxisAngle(*args, **kwargs))`."""
        return self.compose(RotateAxisAngle(*args, **kwargs))

    def get_se3_log(self, eps: float = 1e-4, cos_bound: float = 1e-4) -> jax.Array:
        """`se3_log_map(self.get_matrix())`: (B, 6) float32, `[log_translation, log_rotation]`.

        Only valid for rigid transforms (rotation plus translation)."""
        from jax3d.transforms.se3 import se3_log_map

        return se3_log_map(self.get_matrix(), eps=eps, cos_bound=cos_bound)


def _check_points(name: str, points) -> jax.Array:
    points = jnp.asarray(points)
    if points.ndim not in (2, 3) or points.shape[-1] != 3:
        raise ValueError(f"{name} must be (P, 3) or (N, P, 3), got {points.shape}")
    if not jnp.issubdtype(points.dtype, jnp.floating):
        points = points.astype(jnp.float32)
    return points


def _as_batch_1d(name: str, value) -> jax.Array:
    """A scalar or (N,) input as a (N,) float32 array (N = 1 for scalars)."""
    arr = jnp.asarray(value, dtype=jnp.float32)
    if arr.ndim > 1:
        raise ValueError(f"{name} must be a scalar or (N,), got shape {arr.shape}")
    return arr.reshape(-1)


def _handle_xyz(name: str, x, y, z, allow_singleton: bool) -> jax.Array:
    """PyTorch3D's `_handle_input`: (N, 3) array, or x, y, z scalars / (N,) arrays -> (N, 3)."""
    x_arr = jnp.asarray(x, dtype=jnp.float32)
    if x_arr.ndim == 2:
        if x_arr.shape[1] != 3 or y is not None or z is not None:
            raise ValueError(
                f"{name}: x must be (N, 3) with y = z = None, or scalars / (N,) arrays x, y, z; "
                f"got x of shape {x_arr.shape}"
            )
        return x_arr
    if y is None and z is None and allow_singleton:
        y = z = x
    if y is None or z is None:
        raise ValueError(f"{name}: give x, y and z (or a single (N, 3) array x)")
    coords = [_as_batch_1d(f"{name} {c}", v) for c, v in zip("xyz", (x, y, z))]
    n = max(c.shape[0] for c in coords)
    for c, arr in zip("xyz", coords):
        if arr.shape[0] not in (1, n):
            raise ValueError(f"{name}: {c} has batch size {arr.shape[0]}, expected 1 or {n}")
    return jnp.stack([jnp.broadcast_to(c, (n,)) for c in coords], axis=-1)


def _result(mat: jax.Array, dtype, device) -> Transform3d:
    return Transform3d(matrix=device_put(mat.astype(_float_dtype(dtype)), device))


def Translate(x, y=None, z=None, dtype=jnp.float32, device=None) -> Transform3d:  # noqa: N802
    """Translation by (x, y, z): `M[:, 3, :3] = xyz` (PyTorch3D's ``Translate``).

    Args:
        x: (N, 3) float32 with y = z = None, or a scalar / (N,) array (then y, z likewise).
        y, z: scalars / (N,) arrays, or None.
        dtype: dtype of the matrix; device: placement (``jax3d.device`` meaning).

    Returns:
        Transform3d with B = N.
    """
    xyz = _handle_xyz("Translate", x, y, z, allow_singleton=False)
    mat = jnp.tile(jnp.eye(4, dtype=jnp.float32), (xyz.shape[0], 1, 1))
    return _result(mat.at[:, 3, :3].set(xyz), dtype, device)


def Scale(x, y=None, z=None, dtype=jnp.float32, device=None) -> Transform3d:  # noqa: N802
    """Axis-aligned scaling: `M = diag(x, y, z, 1)` (PyTorch3D's ``Scale``).

    Args:
        x: (N, 3) float32 with y = z = None, or a scalar / (N,) array; with y = z = None a
            scalar / (N,) x scales uniformly.
        y, z: scalars / (N,) arrays, or None.
        dtype: dtype of the matrix; device: placement (``jax3d.device`` meaning).

    Returns:
        Transform3d with B = N.
    """
    xyz = _handle_xyz("Scale", x, y, z, allow_singleton=True)
    diag = jnp.concatenate([xyz, jnp.ones_like(xyz[:, :1])], axis=-1)
    return _result(diag[:, :, None] * jnp.eye(4, dtype=jnp.float32), dtype, device)


def Rotate(R, dtype=jnp.float32, device=None, orthogonal_tol: float = 1e-5) -> Transform3d:  # noqa: N802
    """Rotation stored as given: `M[:, :3, :3] = R`, so points map to `points @ R`.

    Args:
        R: (3, 3) or (N, 3, 3) float32 rotation matrices (row-vector convention).
        dtype: dtype of the matrix; device: placement (``jax3d.device`` meaning).
        orthogonal_tol: a warning is issued when a concrete R is further than this from a
            rotation (|R R^T - I| or |det R - 1|), as in PyTorch3D.

    Returns:
        Transform3d with B = N (1 for a (3, 3) input).
    """
    R = jnp.asarray(R, dtype=jnp.float32)
    if R.ndim not in (2, 3) or R.shape[-2:] != (3, 3):
        raise ValueError(f"R must be (3, 3) or (N, 3, 3), got {R.shape}")
    R = R[None] if R.ndim == 2 else R
    if not _is_tracer(R):
        err_orth = jnp.max(jnp.abs(R @ jnp.swapaxes(R, -1, -2) - jnp.eye(3)))
        err_det = jnp.max(jnp.abs(jnp.linalg.det(R) - 1.0))
        if max(float(err_orth), float(err_det)) > orthogonal_tol:
            warnings.warn("R is not a valid rotation matrix", stacklevel=2)
    mat = jnp.tile(jnp.eye(4, dtype=jnp.float32), (R.shape[0], 1, 1))
    return _result(mat.at[:, :3, :3].set(R), dtype, device)


def RotateAxisAngle(  # noqa: N802
    angle, axis: str = "X", degrees: bool = True, dtype=jnp.float32, device=None
) -> Transform3d:
    """Rotation by `angle` about a coordinate axis (right-handed, acting on row vectors).

    For axis "Z" and angle 90 degrees, the point (1, 0, 0) maps to (0, 1, 0).

    Args:
        angle: scalar or (N,) float32.
        axis: "X", "Y" or "Z" (case-insensitive).
        degrees: whether `angle` is in degrees (else radians).
        dtype: dtype of the matrix; device: placement (``jax3d.device`` meaning).

    Returns:
        Transform3d with B = N.
    """
    if not isinstance(axis, str) or axis.upper() not in ("X", "Y", "Z"):
        raise ValueError(f"axis must be one of 'X', 'Y', 'Z', got {axis!r}")
    angle = _as_batch_1d("angle", angle)
    if degrees:
        angle = angle * (np.pi / 180.0)
    # _axis_angle_rotation is for column vectors; row vectors need its transpose.
    R = jnp.swapaxes(_axis_angle_rotation(axis.upper(), angle), -1, -2)
    mat = jnp.tile(jnp.eye(4, dtype=jnp.float32), (R.shape[0], 1, 1))
    return _result(mat.at[:, :3, :3].set(R), dtype, device)

