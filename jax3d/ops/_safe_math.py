"""NaN-safe maths shared by the mesh ops and losses (double-`where` trick)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def safe_norm(x: jax.Array, axis: int = -1, keepdims: bool = False) -> jax.Array:
    """Euclidean norm along `axis` whose gradient is 0 (not NaN) at x = 0."""
    sq = jnp.sum(x * x, axis=axis, keepdims=keepdims)
    zero = sq <= 0.0
    return jnp.where(zero, 0.0, jnp.sqrt(jnp.where(zero, 1.0, sq)))


def safe_reciprocal(x: jax.Array) -> jax.Array:
    """1 / x where x > 0, else 0 (PyTorch3D's `inv[x > 0] = 1 / x[x > 0]`), NaN-free."""
    pos = x > 0
    return jnp.where(pos, 1.0 / jnp.where(pos, x, 1.0), 0.0)


def safe_divide(num: jax.Array, den: jax.Array) -> jax.Array:
    """num / den where den != 0, else 0, with finite gradients."""
    ok = den != 0
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), 0.0)
