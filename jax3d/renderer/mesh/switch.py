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
    """``lax.switch(index, branches, *operands)`` whose VJP recomputes the taken branch.

    Differentiating ``lax.switch`` directly keeps the residuals of every branch (zero-filled
    for the branches not taken), so the largest branch's memory traffic is paid whatever the
    index. Here the residuals are the operands alone; the backward pass runs one ``switch``
    over the branches' VJPs. Gradients flow to the inexact leaves of ``operands``; integer
    leaves get zero (float0) cotangents.
    """
    leaves, treedef = jax.tree_util.tree_flatten(operands)
    is_float = [jnp.issubdtype(jnp.result_type(x), jnp.inexact) for x in leaves]
    floats = [x for x, f in zip(leaves, is_float) if f]
    others = [x for x, f in zip(leaves, is_float) if not f]

    def rebuild(fl, ot):
        it_f, it_o = iter(fl), iter(ot)
        return jax.tree_util.tree_unflatten(
            treedef, [next(it_f) if f else next(it_o) for f in is_float])

    def call(b):
        return lambda fl, ot: b(*rebuild(fl, ot))

    calls = [call(b) for b in branches]

    @jax.custom_vjp
    def run(i, fl, ot):
        return jax.lax.switch(i, calls, fl, ot)

    def run_fwd(i, fl, ot):
        return run(i, fl, ot), (i, fl, ot)

    def run_bwd(res, ct):
        i, fl, ot = res
        vjps = [lambda fl, ot, ct, c=c: jax.vjp(lambda f: c(f, ot), fl)[1](ct)[0] for c in calls]
        grads = jax.lax.switch(i, vjps, fl, ot, ct)
        zeros = [np.zeros(np.shape(x), jax.dtypes.float0) for x in ot]
        return np.zeros(np.shape(i), jax.dtypes.float0), grads, zeros

    run.defvjp(run_fwd, run_bwd)
    return run(jnp.asarray(index, jnp.int32), floats, others)
