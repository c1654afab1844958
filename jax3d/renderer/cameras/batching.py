"""Bringing camera parameters to one batch size ``N``, the way PyTorch3D's cameras do.

A camera parameter is given per camera (leading axis ``N``) or once for all (a Python scalar, a
size-1 batch, or, for vector parameters, the bare vector); everything is broadcast to the
largest batch size, and any other size is an error that names the parameter.
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


def as_float_array(name: str, value) -> Array:
    """``value`` as a floating jax array (float32 unless it already is a float array).

    Raises:
      TypeError: ``value`` is not numeric (a string, None, an object).
    """
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be a number or an array, got {type(value).__name__}")
    if isinstance(value, (jax.Array, np.ndarray)) and jnp.issubdtype(value.dtype, jnp.floating):
        return jnp.asarray(value)
    try:
        arr = jnp.asarray(value, dtype=jnp.float32)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a number or an array, got {value!r}") from err
    return arr


def batch_field(name: str, value, event_shape: tuple[int, ...]) -> Array:
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
    want = "(N" + "".join(f", {d}" for d in event_shape) + ")"
    if arr.ndim != e + 1 or tuple(arr.shape[1:]) != tuple(event_shape):
        raise ValueError(f"{name} must be {want}, got {tuple(np.shape(arr))}")
    return arr


def batch_focal_length(value) -> Array:
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
        raise ValueError(
            f"focal_length must be a scalar, (N,), (N, 1) or (N, 2), got {tuple(np.shape(value))}"
        )
    return jnp.broadcast_to(arr, (arr.shape[0], 2))


def batch_image_size(value) -> Array:
    """``image_size`` as ``(B, 2)`` float32 ``(height, width)``; accepts ``(H, W)``,
    ``((H, W),)`` or an ``(N, 2)`` array.

    Raises:
      ValueError: wrong shape, or (for concrete values) a side smaller than 1.
    """
    arr = batch_field("image_size", value, (2,)).astype(jnp.float32)
    if is_concrete(arr) and bool(jnp.any(arr < 1)):
        raise ValueError(f"image_size must be >= 1 (height, width), got {np.asarray(arr)}")
    return arr


def broadcast_batches(arrays: Mapping[str, Array]) -> dict[str, Array]:
    """Broadcast batched arrays (leading axis 1 or N) to the common batch size N.

    Args:
      arrays: name -> (B_name, ...) arrays; None values are passed through.

    Returns:
      name -> (N, ...) arrays, in the same order.

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
    return {
        k: None if v is None else jnp.broadcast_to(v, (n,) + tuple(v.shape[1:]))
        for k, v in arrays.items()
    }


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
