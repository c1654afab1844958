"""Iterative farthest point sampling (PyTorch3D's ``ops.sample_farthest_points``).

Starting from one point (index 0, or a random valid point), each step selects the point whose
squared distance to the nearest already selected point is largest (the first such point on
ties). ``K`` steps cost ``O(N K P D)`` time and ``O(N P)`` memory.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.ops.utils import as_points, is_traced, lengths_mask, masked_gather, resolve_lengths

__all__ = ["sample_farthest_points"]


def _first_argmax(d: jax.Array) -> jax.Array:
    """Index of the first maximum along the last axis."""
    m = jnp.max(d, axis=-1, keepdims=True)
    pos = jnp.arange(d.shape[-1], dtype=jnp.int32)
    return jnp.min(jnp.where(d == m, pos, d.shape[-1]), axis=-1).astype(jnp.int32)


@partial(jax.jit, static_argnames=("max_k",))
def _fps_idx(points, lengths, k, start, *, max_k: int):
    """Selected indices ``(N, max_k) int32``, -1 beyond ``min(k[n], lengths[n])``."""
    n, p, _ = points.shape
    valid = lengths_mask(lengths, p)
    count = jnp.minimum(k, lengths)  # (N,)
    rows = jnp.arange(n)

    def step(i, carry):
        closest, last, out = carry
        diff = points - points[rows, last][:, None, :]
        closest = jnp.minimum(closest, jnp.sum(diff * diff, axis=-1))
        nxt = _first_argmax(jnp.where(valid, closest, -1.0))
        out = out.at[:, i].set(jnp.where(i < count, nxt, -1))
        return closest, nxt, out

    out = jnp.full((n, max_k), -1, jnp.int32)
    out = out.at[:, 0].set(jnp.where(count > 0, start, -1))
    closest = jnp.full((n, p), jnp.inf, points.dtype)
    _, _, out = jax.lax.fori_loop(1, max_k, step, (closest, start, out))
    return out


def _resolve_k(K, n: int):
    """``(k (N,) int32, max_k int)`` from an int, a list or a concrete ``(N,)`` array."""
    if isinstance(K, bool):
        raise TypeError(f"K must be an int or an (N,) int array, got {K!r}")
    if isinstance(K, int):
        if K < 1:
            raise ValueError(f"K must be positive, got {K}")
        return jnp.full((n,), K, jnp.int32), K
    if is_traced(K):
        raise ValueError("a per-cloud K sets the output shape, so it must be concrete (not traced)")
    arr = np.asarray(K)
    if arr.shape != (n,) or arr.dtype.kind not in "iu":
        raise ValueError(f"K must be an int or an ({n},) int array, got {arr!r}")
    if n and arr.min() < 0:
        raise ValueError(f"K values must be non-negative, got {arr}")
    return jnp.asarray(arr, jnp.int32), max(int(arr.max()) if n else 1, 1)


def sample_farthest_points(
    points,
    lengths=None,
    K=50,
    random_start_point: bool = False,
    key: jax.Array | None = None,
):
    """Farthest point sampling of ``K`` points per cloud.

    Args:
        points: ``(N, P, D) float32`` padded clouds (integer points raise TypeError).
        lengths: ``(N,) int`` valid points per cloud (<= P), or None for all.
        K: samples per cloud: a Python int, or a concrete ``(N,)`` int array / list (output
            width ``max(K)``).
        random_start_point: start from a uniformly random valid point instead of index 0.
        key: PRNG key, required when ``random_start_point`` is True.

    Returns:
        ``(selected_points (N, K, D), selected_indices (N, K) int32)``; entries beyond
        ``min(K[n], lengths[n])`` are 0 / -1. Indices carry no gradient; the points are
        gathered differentiably.

    Jittable for an int ``K``. Complexity ``O(N K P D)`` time, ``O(N P)`` memory.
    """
    points = as_points(points, "points")
    n, p, _ = points.shape
    lengths = resolve_lengths(lengths, n, p, "lengths")
    k, max_k = _resolve_k(K, n)
    if random_start_point:
        if key is None:
            raise ValueError("random_start_point=True needs a PRNG key (key=...)")
        u = jax.random.uniform(key, (n,))
        start = jnp.minimum((u * lengths).astype(jnp.int32), jnp.maximum(lengths - 1, 0))
    else:
        start = jnp.zeros((n,), jnp.int32)
    idx = _fps_idx(jax.lax.stop_gradient(points), lengths, k, start, max_k=max_k)
    return masked_gather(points, idx), idx
