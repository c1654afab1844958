"""NaN-safe elementwise helpers shared by the whole library (the double-`where` trick).

Each helper is finite in value *and* gradient at its singular point: the unsafe branch only ever
sees a harmless stand-in input where the safe branch is taken, so no inf/NaN can leak into the
gradient through the branch that is masked out::

    x_safe = jnp.where(small, 1.0, x)
    y = jnp.where(small, fallback, f(x_safe))

Keep new helpers of this kind here, so there is one place to look for them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["safe_divide", "safe_norm", "safe_normalize", "safe_reciprocal", "safe_sqrt"]


def safe_sqrt(x: jax.Array, tiny: float = 0.0) -> jax.Array:
    """`sqrt(max(x, 0))` with zero (not inf) gradient where `x <= tiny`.

    Args:
        x: (...) float array.
        tiny: threshold at and below which the result is 0 and the gradient is 0.

    Returns:
        (...) float array.
    """
    positive = x > tiny
    x_safe = jnp.where(positive, x, 1.0)
    return jnp.where(positive, jnp.sqrt(x_safe), 0.0)


def safe_norm(x: jax.Array, axis: int = -1, keepdims: bool = False) -> jax.Array:
    """Euclidean norm along `axis` whose gradient at the zero vector is 0 instead of NaN.

    Args:
        x: (..., D) float array.
        axis: axis to reduce.
        keepdims: keep the reduced axis with size 1.

    Returns:
        (...) float array (or (..., 1) with `keepdims`).
    """
    return safe_sqrt(jnp.sum(x * x, axis=axis, keepdims=keepdims))


def safe_normalize(x: jax.Array, axis: int = -1, eps: float = 1e-12) -> jax.Array:
    """`x / max(|x|, eps)` along `axis` (PyTorch's `F.normalize`), finite in value and gradient.

    Args:
        x: (..., D) float array.
        axis: axis holding the vector components.
        eps: lower bound on the norm; the zero vector maps to the zero vector.

    Returns:
        (..., D) float array of unit (or zero) vectors.
    """
    norm = safe_norm(x, axis=axis, keepdims=True)
    return x / jnp.maximum(norm, eps)


def safe_reciprocal(x: jax.Array) -> jax.Array:
    """1 / x where x > 0, else 0 (PyTorch3D's `inv[x > 0] = 1 / x[x > 0]`), NaN-free."""
    pos = x > 0
    return jnp.where(pos, 1.0 / jnp.where(pos, x, 1.0), 0.0)


def safe_divide(num: jax.Array, den: jax.Array) -> jax.Array:
    """num / den where den != 0, else 0, with finite gradients."""
    ok = den != 0
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), 0.0)
