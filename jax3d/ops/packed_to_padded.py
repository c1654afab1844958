"""PyTorch3D's ``ops.packed_to_padded`` and ``ops.padded_to_packed``: move per-item rows between
a packed array (items concatenated) and a padded one, given where each item starts.

Glossary: ``N`` items, ``M`` padded length, ``F`` packed rows, ``D`` trailing features.
Both are jit-safe (``first_idxs`` may be traced; sizes are static) and differentiable.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# packed_to_padded(inputs, first_idxs, max_size) is the function of jax3d.structures.utils.
from jax3d.structures.utils import packed_to_padded

__all__ = ["packed_to_padded", "padded_to_packed"]


def padded_to_packed(inputs, first_idxs, num_inputs: int, max_size_dim: int = 1) -> jax.Array:
    """Scatter the valid rows of a padded array into a packed one.

    Args:
        inputs: ``(N, ..., M, ...)`` float, ``M`` on axis ``max_size_dim``.
        first_idxs: ``(N,)`` int, non-decreasing: item ``b`` owns packed rows
            ``[first_idxs[b], first_idxs[b + 1])`` (the last one up to ``num_inputs``).
        num_inputs: ``F`` (static int), the number of packed rows.
        max_size_dim: static axis of ``inputs`` holding ``M``.

    Returns:
        ``(F,)`` for 2-D input, else ``(F, ...)`` with the remaining axes:
        ``out[first_idxs[b] + i] = inputs[b, ..., i, ...]`` for ``i`` below item ``b``'s size.
    """
    x = jnp.moveaxis(jnp.asarray(inputs), int(max_size_dim), 1)
    first = jnp.asarray(first_idxs)
    if x.ndim < 2 or first.shape != (x.shape[0],):
        raise ValueError(f"inputs must be (N, ..., M, ...) and first_idxs (N,), got "
                         f"{jnp.shape(inputs)} and {first.shape}")  # fmt: skip
    if not jnp.issubdtype(first.dtype, jnp.integer):
        raise TypeError(f"first_idxs must be integers, got {first.dtype}")
    if not isinstance(num_inputs, (int, np.integer)) or num_inputs < 0:
        raise TypeError(f"num_inputs must be a non-negative static int, got {num_inputs!r}")
    n, m = x.shape[:2]
    ends = jnp.concatenate([first[1:], jnp.array([num_inputs], first.dtype)])
    rows = first[:, None] + jnp.arange(m)[None, :]  # (N, M) packed row of each padded row
    valid = rows < ends[:, None]
    target = jnp.where(valid, rows, num_inputs).reshape(-1)  # out of range: dropped
    flat = x.reshape(n * m, *x.shape[2:])
    out = jnp.zeros((num_inputs, *x.shape[2:]), x.dtype)
    return out.at[target].set(flat, mode="drop")
