"""Bringing camera parameters to one batch size ``N``, the way PyTorch3D's cameras do.

A camera parameter is given per camera (leading axis ``N``) or once for all (a Python scalar, a
size-1 batch, or, for vector parameters, the bare vector); everything is broadcast to the
largest batch size, and any other size is an error that names the parameter.

Concrete values are reshaped with NumPy (no XLA compilation per shape) and moved to the device
at the end; traced values (inside ``jit``/``grad``/``vmap``) go through ``jax.numpy``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


def is_concrete(x) -> bool:
    """True when ``x`` holds values (not a tracer inside ``jit``/``grad``/``vmap``)."""
    return not isinstance(x, jax.core.Tracer)


def _default_float(dtype) -> np.dtype:
    """float32, or float64 only when the input is float64 and x64 is enabled."""
    if dtype == np.float64 and jax.config.jax_enable_x64:
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def as_float_array(name: str, value):
    """``value`` as a float array: a NumPy array when concrete, a jax array when traced.

    Raises:
      TypeError: ``value`` is not numeric (a string, None, an object).
    """
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be a number or an array, got {type(value).__name__}")
    if not is_concrete(value):
        if not jnp.issubdtype(value.dtype, jnp.floating):
            return value.astype(jnp.float32)
        return value
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a number or an array, got {value!r}") from err
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be a number or an array, got {value!r}")
    if np.issubdtype(arr.dtype, np.floating) and arr.dtype != np.float64:
        return arr
    return arr.astype(_default_float(arr.dtype))


def _xp(arr):
    return np if isinstance(arr, np.ndarray) else jnp


def to_device(arr) -> Array | None:
    """NumPy -> jax array (no-op for jax arrays and None)."""
    return None if arr is None else jnp.asarray(arr)


def batch_field(name: str, value, event_shape: tuple[int, ...]):
    """One parameter with a leading batch axis: ``(B, *event_shape)``.

    A value of exactly ``event_shape`` (a scalar for scalar parameters, a bare ``(3, 3)``
    rotation, ...) becomes a batch of one.

    Raises:
      ValueError: the trailing shape is not ``event_shape`` or there are extra axes.
    """
    arr = as_float_array(name, value)
    e = len(event_shape)
    if arr.ndim == e:
        arr = arr[None]
    if arr.ndim != e + 1 or tuple(arr.shape[1:]) != tuple(event_shape):
        want = "(N" + "".join(f", {d}" for d in event_shape) + ")"
        raise ValueError(f"{name} must be {want}, got {tuple(np.shape(value))}")
    return arr


def batch_focal_length(value):
    """``focal_length`` as ``(B, 2)``: a scalar, ``(N,)`` (one focal length per camera, as in
    PyTorch3D), ``(N, 1)`` or ``(N, 2)`` for ``(fx, fy)``.

    Raises:
      ValueError: any other shape.
    """
    arr = as_float_array("focal_length", value)
    if arr.ndim == 0:
        arr = arr[None]
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] not in (1, 2):
        shape = tuple(np.shape(value))
        raise ValueError(f"focal_length must be a scalar, (N,), (N, 1) or (N, 2), got {shape}")
    return _xp(arr).broadcast_to(arr, (arr.shape[0], 2))


def batch_image_size(value):
    """``image_size`` as ``(B, 2)`` float ``(height, width)``; accepts ``(H, W)``,
    ``((H, W),)`` or an ``(N, 2)`` array.

    Raises:
      ValueError: wrong shape, or (for concrete values) a side smaller than 1.
    """
    arr = batch_field("image_size", value, (2,))
    if isinstance(arr, np.ndarray) and np.any(arr < 1):
        raise ValueError(f"image_size must be >= 1 (height, width), got {arr.tolist()}")
    return arr


def broadcast_batches(arrays: Mapping[str, object]) -> dict[str, Array]:
    """Broadcast batched arrays (leading axis 1 or N) to the common batch size N.

    Args:
      arrays: name -> (B_name, ...) arrays (NumPy or jax); None values are passed through.

    Returns:
      name -> (N, ...) jax arrays (None stays None), in the same order.

    Raises:
      ValueError: two parameters have different batch sizes, neither of which is 1.
    """
    sizes = {k: v.shape[0] for k, v in arrays.items() if v is not None}
    n = max(sizes.values(), default=1)
    bad = {k: b for k, b in sizes.items() if b not in (1, n)}
    if bad:
        raise ValueError(
            f"camera parameters must have batch size 1 or N; got batch sizes {sizes} "
            f"(N = {n}), offending: {sorted(bad)}"
        )
    out = {}
    for k, v in arrays.items():
        if v is not None and v.shape[0] != n:
            v = _xp(v).broadcast_to(v, (n,) + tuple(v.shape[1:]))
        out[k] = to_device(v)
    return out


def resolve_index(index, n: int) -> np.ndarray:
    """Concrete integer positions for indexing a batch of ``n`` cameras.

    Args:
      index: an int, a slice, a list/tuple of ints, or a 1-D integer or boolean array.

    Returns:
      (M,) int array of positions in ``[0, n)``.

    Raises:
      TypeError: an unsupported index type (or a traced array).
      IndexError: a position outside the batch, or a boolean mask of the wrong length.
    """
    if isinstance(index, bool):
        raise TypeError("cameras cannot be indexed with a bool")
    if isinstance(index, (int, np.integer)):
        index = [int(index)]
    if isinstance(index, slice):
        return np.arange(n)[index]
    if isinstance(index, jax.Array) and not is_concrete(index):
        raise TypeError("cameras can only be indexed with concrete indices, not traced arrays")
    if not isinstance(index, (Sequence, np.ndarray, jax.Array)):
        raise TypeError(f"invalid camera index of type {type(index).__name__}")
    idx = np.asarray(index)
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise IndexError(f"boolean index of shape {idx.shape} does not match {n} cameras")
        return np.nonzero(idx)[0]
    if idx.size == 0:
        return idx.astype(np.int64).reshape(0)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"camera index must be 1-D integers or booleans, got {index!r}")
    if idx.max() >= n or idx.min() < -n:
        raise IndexError(f"camera index {index!r} out of range for {n} cameras")
    return np.where(idx < 0, idx + n, idx)
