"""Conversions between list, padded and packed batches (PyTorch3D's ``structures.utils``).

Glossary: ``N`` items in the batch, ``M`` padded length, ``D`` trailing feature size.

- list: Python list of ``N`` arrays ``(M_i, ...)``;
- padded: one array ``(N, M, ...)`` where rows ``>= M_i`` of item ``i`` hold ``pad_value``;
- packed: all items concatenated along the first axis ``(sum_i M_i, ...)``.

Jit-safety: ``list_to_padded``, ``list_to_packed`` and ``packed_to_padded`` only need static
shapes and work under ``jax.jit``. ``padded_to_list``, ``packed_to_list`` and
``padded_to_packed`` (with ``split_size`` or ``pad_value``) produce data-dependent shapes, so
their sizes must be concrete Python/NumPy values.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "list_to_padded",
    "padded_to_list",
    "list_to_packed",
    "packed_to_list",
    "padded_to_packed",
    "packed_to_padded",
]


# ----------------------------------------------------------------------------------------------
# Internal helpers shared by Meshes / Pointclouds / Volumes.
# ----------------------------------------------------------------------------------------------


def is_traced(x) -> bool:
    """True when ``x`` is a JAX tracer (its values are unknown at trace time)."""
    return isinstance(x, jax.core.Tracer)


def concrete_numpy(x, name: str, what: str) -> np.ndarray:
    """``x`` as a NumPy array, or a ValueError explaining that ``what`` needs concrete ``name``."""
    if is_traced(x):
        raise ValueError(
            f"{what} has a data-dependent shape and needs concrete {name}, but {name} is traced "
            "(inside jax.jit/vmap). Call it outside jit, or use the padded view and masks."
        )
    return np.asarray(x)


def lengths_mask(lengths: jax.Array, max_len: int) -> jax.Array:
    """``mask[b, i] = i < lengths[b]``: ``(N,) int -> (N, max_len) bool``. Jit-safe."""
    return jnp.arange(max_len)[None, :] < lengths[:, None]


def exclusive_cumsum(lengths: jax.Array) -> jax.Array:
    """``first[b] = sum(lengths[:b])`` as int32, ``(N,) -> (N,)``. Jit-safe."""
    lengths = jnp.asarray(lengths, jnp.int32)
    return jnp.cumsum(lengths) - lengths


def padded_to_packed_index(lengths: np.ndarray, max_len: int) -> np.ndarray:
    """Flat indices into ``padded.reshape(N * max_len, ...)`` of the valid rows, in packed order.

    ``lengths: (N,)`` concrete ints. Returns ``(sum(lengths),) int32``.
    """
    lengths = np.asarray(lengths, np.int64)
    if lengths.size == 0:
        return np.zeros((0,), np.int32)
    rows = np.repeat(np.arange(lengths.size), lengths)
    first = np.cumsum(lengths) - lengths
    cols = np.arange(int(lengths.sum())) - np.repeat(first, lengths)
    return (rows * max_len + cols).astype(np.int32)


def pack_padded(padded: jax.Array, lengths: np.ndarray) -> jax.Array:
    """Valid rows of ``padded (N, M, ...)`` concatenated: ``(sum(lengths), ...)``.

    Differentiable w.r.t. ``padded`` (a gather); ``lengths`` must be concrete.
    """
    n, m = padded.shape[:2]
    idx = padded_to_packed_index(lengths, m)
    return padded.reshape((n * m, *padded.shape[2:]))[idx]


def masked_fill(x: jax.Array, mask: jax.Array, value) -> jax.Array:
    """``x`` where ``mask`` (broadcast over trailing axes) else ``value``. Jit-safe."""
    mask = mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim))
    return jnp.where(mask, x, jnp.asarray(value, x.dtype))


# ----------------------------------------------------------------------------------------------
# Public conversions.
# ----------------------------------------------------------------------------------------------


def _check_list(x, name: str = "x") -> list:
    """Items as arrays: NumPy when none is a JAX array (cheap eager padding), else JAX."""
    if not isinstance(x, (list, tuple)):
        raise TypeError(f"{name} must be a list or tuple of arrays, got {type(x).__name__}")
    if any(isinstance(xi, jax.Array) for xi in x):
        return [jnp.asarray(xi) for xi in x]
    return [np.asarray(xi) for xi in x]


def list_to_padded(
    x: Sequence[jax.Array],
    pad_size: Sequence[int] | None = None,
    pad_value: float = 0.0,
    equisized: bool = False,
) -> jax.Array:
    """Stack a list of arrays into one padded array.

    Args:
        x: list of ``N`` arrays ``(M_i, ...)``, all with the same number of dimensions.
        pad_size: per-dimension size of the padded items (each ``>=`` the largest item along
            that dimension); defaults to the largest sizes.
        pad_value: value written in the padding.
        equisized: promise that all items already have the same shape (just stacks them).

    Returns:
        ``(N, *pad_size)`` array; ``out[i][tuple(slice(0, s) for s in x[i].shape)] == x[i]``.
        Jit-safe (only static shapes are used).
    """
    x = _check_list(x)
    if equisized:
        return jnp.stack([jnp.asarray(xi) for xi in x], 0)
    if not x:
        if pad_size is None:
            raise ValueError("x is an empty list: pass pad_size to fix the padded shape")
        return jnp.full((0, *pad_size), pad_value, jnp.float32)
    ndim = x[0].ndim
    if any(xi.ndim != ndim for xi in x):
        raise ValueError(f"all arrays in x must have {ndim} dims, got {[xi.ndim for xi in x]}")
    max_size = tuple(max(xi.shape[d] for xi in x) for d in range(ndim))
    if pad_size is None:
        pad_size = max_size
    pad_size = tuple(int(s) for s in pad_size)
    if len(pad_size) != ndim or any(p < m for p, m in zip(pad_size, max_size)):
        raise ValueError(f"pad_size must have {ndim} entries >= {max_size}, got {pad_size}")
    if all(isinstance(xi, np.ndarray) for xi in x):
        dtype = jnp.result_type(*[jnp.asarray(xi[:0]) for xi in x])  # JAX dtype rules
        out = np.full((len(x), *pad_size), pad_value, dtype)
        for i, xi in enumerate(x):
            out[(i, *(slice(0, s) for s in xi.shape))] = xi
        return jnp.asarray(out)
    dtype = jnp.result_type(*x)
    padded = [
        jnp.pad(jnp.asarray(xi, dtype), [(0, p - s) for p, s in zip(pad_size, xi.shape)],
                constant_values=pad_value)
        for xi in x
    ]
    return jnp.stack(padded, 0)


def _split_sizes(split_size, n: int) -> list:
    if split_size is None:
        return [None] * n
    split_size = concrete_numpy(split_size, "split_size", "padded_to_list").tolist()
    if len(split_size) != n:
        raise ValueError(f"split_size must have {n} entries (one per item), got {len(split_size)}")
    return split_size


def padded_to_list(x: jax.Array, split_size=None) -> list[jax.Array]:
    """Split a padded array into a list of its items, trimming the padding.

    Args:
        x: ``(N, M, ...)`` padded array.
        split_size: ``None`` (keep every item whole), ``N`` ints (trim the first item axis
            to ``split_size[i]``) or ``N`` sequences (trim each item axis). Must be concrete.

    Returns:
        list of ``N`` arrays, ``out[i] = x[i, :split_size[i]]`` (or per-axis slices).
    """
    x = jnp.asarray(x)
    if x.ndim < 1:
        raise ValueError(f"x must have a batch dimension, got shape {x.shape}")
    out = []
    for i, s in enumerate(_split_sizes(split_size, x.shape[0])):
        if s is None:
            out.append(x[i])
        elif isinstance(s, (list, tuple)):
            out.append(x[i][tuple(slice(0, int(si)) for si in s)])
        else:
            out.append(x[i, : int(s)])
    return out


def list_to_packed(x: Sequence[jax.Array]):
    """Concatenate a list of arrays along their first axis.

    Args:
        x: list of ``N`` arrays ``(M_i, ...)`` with equal trailing shapes.

    Returns:
        ``(packed, num_items, item_packed_first_idx, item_packed_to_list_idx)``:
        ``packed (sum M_i, ...)``, ``num_items (N,) int32`` = ``M_i``,
        ``item_packed_first_idx (N,) int32`` where item ``i`` starts in ``packed``, and
        ``item_packed_to_list_idx (sum M_i,) int32`` the item of each packed row. Jit-safe.
    """
    x = _check_list(x)
    if not x:
        raise ValueError("x must be a non-empty list")
    if any(xi.ndim < 1 or xi.shape[1:] != x[0].shape[1:] for xi in x):
        raise ValueError(f"all arrays in x must share trailing dims, got {[xi.shape for xi in x]}")
    sizes = np.array([xi.shape[0] for xi in x], np.int32)
    packed = jnp.concatenate(x, axis=0)
    first = np.cumsum(sizes) - sizes
    to_list = np.repeat(np.arange(len(x), dtype=np.int32), sizes)
    return packed, jnp.asarray(sizes), jnp.asarray(first, jnp.int32), jnp.asarray(to_list)


def packed_to_list(x: jax.Array, split_size) -> list[jax.Array]:
    """Split a packed array ``(sum M_i, ...)`` into a list along the first axis.

    Args:
        x: packed array.
        split_size: an int (equal chunks) or ``N`` concrete ints summing to ``x.shape[0]``.

    Returns:
        list of arrays ``(M_i, ...)``.
    """
    x = jnp.asarray(x)
    if isinstance(split_size, (int, np.integer)):
        if split_size <= 0 or x.shape[0] % split_size:
            raise ValueError(f"split_size {split_size} does not divide x.shape[0]={x.shape[0]}")
        split_size = [int(split_size)] * (x.shape[0] // int(split_size))
    sizes = concrete_numpy(split_size, "split_size", "packed_to_list").astype(np.int64)
    if sizes.ndim != 1 or int(sizes.sum()) != x.shape[0]:
        raise ValueError(f"split_size must sum to x.shape[0]={x.shape[0]}, got {sizes.tolist()}")
    return jnp.split(x, np.cumsum(sizes)[:-1].tolist(), axis=0)


def padded_to_packed(x: jax.Array, split_size=None, pad_value: float | None = None) -> jax.Array:
    """Remove the padding of a padded array and concatenate its items.

    Args:
        x: ``(N, M)`` or ``(N, M, D)`` padded array.
        split_size: ``N`` concrete ints, the valid length of each item; or
        pad_value: drop the rows whose entries all equal ``pad_value``.
            Give at most one of ``split_size`` and ``pad_value``; with neither, all rows are kept.

    Returns:
        ``(sum M_i, D)`` (or ``(sum M_i,)`` for 2-D input). Differentiable w.r.t. ``x``.
    """
    x = jnp.asarray(x)
    if x.ndim not in (2, 3):
        raise ValueError(f"x must be (N, M) or (N, M, D), got shape {x.shape}")
    if split_size is not None and pad_value is not None:
        raise ValueError("give only one of split_size and pad_value")
    n, m = x.shape[:2]
    if split_size is not None:
        sizes = concrete_numpy(split_size, "split_size", "padded_to_packed").astype(np.int64)
        if sizes.shape != (n,) or (sizes < 0).any() or (sizes > m).any():
            raise ValueError(f"split_size must be {n} ints in [0, {m}], got {sizes.tolist()}")
        return pack_padded(x, sizes)
    flat = x.reshape((n * m, *x.shape[2:]))
    if pad_value is None:
        return flat
    values = concrete_numpy(flat, "x", "padded_to_packed(pad_value=...)")
    keep = values != pad_value
    keep = keep.any(-1) if keep.ndim == 2 else keep
    return flat[np.nonzero(keep)[0]]


def packed_to_padded(inputs: jax.Array, first_idxs: jax.Array, max_size: int) -> jax.Array:
    """Scatter a packed array into a zero-padded one (PyTorch3D ``ops.packed_to_padded``).

    Args:
        inputs: ``(F,)`` or ``(F, D)`` packed rows.
        first_idxs: ``(N,) int``, where each item starts in ``inputs`` (non-decreasing).
        max_size: static int, the padded length ``M``.

    Returns:
        ``(N, M)`` or ``(N, M, D)``: ``out[b, i] = inputs[first_idxs[b] + i]`` for rows that
        belong to item ``b``, else 0. Jit-safe (``first_idxs`` may be traced), differentiable.
    """
    inputs = jnp.asarray(inputs)
    first_idxs = jnp.asarray(first_idxs)
    if inputs.ndim not in (1, 2):
        raise ValueError(f"inputs must be (F,) or (F, D), got shape {inputs.shape}")
    if first_idxs.ndim != 1 or not jnp.issubdtype(first_idxs.dtype, jnp.integer):
        raise ValueError(f"first_idxs must be (N,) int, got {first_idxs.shape} {first_idxs.dtype}")
    if not isinstance(max_size, (int, np.integer)) or max_size < 0:
        raise TypeError(f"max_size must be a non-negative static int, got {max_size!r}")
    total = inputs.shape[0]
    ends = jnp.concatenate([first_idxs[1:], jnp.array([total], first_idxs.dtype)])
    rows = first_idxs[:, None] + jnp.arange(max_size)[None, :]  # (N, M)
    valid = rows < ends[:, None]
    if total == 0:
        return jnp.zeros((first_idxs.shape[0], max_size, *inputs.shape[1:]), inputs.dtype)
    gathered = inputs[jnp.clip(rows, 0, total - 1)]
    return masked_fill(gathered, valid, 0)
