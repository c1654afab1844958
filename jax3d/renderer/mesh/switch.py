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

__all__ = ["switch_with_recompute", "round_capacity", "capacity_ladder"]


def round_capacity(count: int, lo: int = 256) -> int:
    """``count`` rounded up to ``2**k`` or ``1.5 * 2**k`` (at least ``lo``), so that nearby
    counts share compiled code at most 33% padding apart."""
    cap = max(lo, 1 << max(0, math.ceil(math.log2(max(int(count), 1)))))
    return 3 * cap // 4 if count <= 3 * cap // 4 else cap


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
