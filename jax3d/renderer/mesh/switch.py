"""``lax.switch`` over branches of different sizes, differentiated without paying for all.

Used where a static capacity is picked at run time under ``jit`` (the rasterizer's recompute,
shading on the fragments): differentiating ``lax.switch`` directly keeps the residuals of every
branch, zero-filled for the branches not taken, so the largest branch's memory traffic would be
paid whatever the index.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.validation import is_traced

__all__ = ["capacity_ladder", "plan_capacity", "round_capacity", "switch_with_recompute"]


def round_capacity(count: int, lo: int = 256) -> int:
    """``count`` rounded up to ``2**k`` or ``1.5 * 2**k`` (at least ``lo``), so that nearby
    counts share compiled code at most 33% padding apart."""
    cap = max(lo, 1 << max(0, math.ceil(math.log2(max(int(count), 1)))))
    return 3 * cap // 4 if count <= 3 * cap // 4 else cap


def plan_capacity(ids, *, per_image: bool, lo: int = 256):
    """The plan of a compaction: a static bound on the entries ``ids >= 0`` (N, ...).

    From the data when ``ids`` are concrete: the count (the largest per image along axis 0
    when ``per_image``, else the total) rounded up by :func:`round_capacity` (at least
    ``lo``), or None (keep the dense layout) when that is not smaller than the dense size
    (per image or in total). ``"auto"`` when ``ids`` are traced: a ``lax.switch`` picks a
    capacity in the compiled code.
    """
    if is_traced(ids):
        return "auto"
    arr = np.asarray(ids)
    if arr.size == 0:
        return None
    if per_image:
        flat = arr.reshape(arr.shape[0], -1)
        count, dense = int(np.count_nonzero(flat >= 0, axis=1).max()), flat.shape[1]
    else:
        count, dense = int(np.count_nonzero(arr >= 0)), arr.size
    cap = round_capacity(count, lo)
    return cap if cap < dense else None


def capacity_ladder(total: int, minimum: int) -> tuple[int, ...]:
    """Static capacities ``total / 2**k``, k = 10, 8, 6, 5, 4, 3, 2 (those >= ``minimum``),
    that a ``lax.switch`` chooses from under jit (finer steps near the dense size, where the
    backward scatter costs most)."""
    caps = (total >> k for k in (10, 8, 6, 5, 4, 3, 2))
    return tuple(c for c in caps if c >= minimum)


def switch_with_recompute(index, branches, *operands):
    """``lax.switch(index, branches, *operands)`` whose derivative recomputes the taken branch.

    Differentiating ``lax.switch`` directly keeps the residuals of every branch (zero-filled
    for the branches not taken), so the largest branch's memory traffic would be paid whatever
    the index. Here every branch is a ``jax.checkpoint``: its residuals are its operands, and
    the backward pass reruns the taken branch alone. Plain JAX code, so forward mode
    (``jax.jvp``, ``jax.jacfwd``), reverse mode and ``vmap`` all work; integer leaves of
    ``operands`` get no gradient.
    """
    return jax.lax.switch(jnp.asarray(index, jnp.int32),
                          [jax.checkpoint(b) for b in branches], *operands)
