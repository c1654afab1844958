"""NaN-safe series helpers of the rotation and Lie-group modules (general ones: jax3d.safe_math).

Every helper here is finite in value *and* gradient at its singular point, using the double-`where`
trick: the unsafe branch only ever sees a harmless stand-in input where the safe branch is taken,
so no inf/NaN can leak into the gradient through the branch that is masked out.

Functions of an angle take the *squared* angle `theta2 = theta**2` where they can, because
`theta = |w|` has no derivative at `w = 0` while `theta2 = w . w` is smooth there.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = [
    "acos_linear_extrapolation",
    "sin_over_x",
    "one_minus_cos_over_x2",
    "x_minus_sin_over_x3",
    "half_x_cot_half_x_coefficient",
]

# Below these squared angles the Taylor series (next term included in the docstrings) is used;
# its truncation error is < 1e-9, far below float32 resolution.
_SMALL_X2 = 1e-2
_SMALL_X2_CUBIC = 0.25


def sin_over_x(x2: jax.Array) -> jax.Array:
    """`sin(x) / x` as a function of `x2 = x**2` (Taylor: 1 - x2/6 + x2**2/120 - ...).

    Args:
        x2: (...) float array, the squared angle (>= 0).

    Returns:
        (...) float array.
    """
    small = x2 < _SMALL_X2
    x = jnp.sqrt(jnp.where(small, 1.0, x2))
    taylor = 1.0 - x2 / 6.0 * (1.0 - x2 / 20.0 * (1.0 - x2 / 42.0))
    return jnp.where(small, taylor, jnp.sin(x) / x)


def one_minus_cos_over_x2(x2: jax.Array) -> jax.Array:
    """`(1 - cos x) / x**2` as a function of `x2` (Taylor: 1/2 - x2/24 + x2**2/720 - ...).

    Computed as `2 sin(x/2)**2 / x**2`, which has no cancellation for moderate `x`.

    Args:
        x2: (...) float array, the squared angle (>= 0).

    Returns:
        (...) float array.
    """
    small = x2 < _SMALL_X2
    x = jnp.sqrt(jnp.where(small, 1.0, x2))
    taylor = 0.5 - x2 / 24.0 * (1.0 - x2 / 30.0 * (1.0 - x2 / 56.0))
    s = jnp.sin(0.5 * x)
    return jnp.where(small, taylor, 2.0 * s * s / (x * x))


def x_minus_sin_over_x3(x2: jax.Array) -> jax.Array:
    """`(x - sin x) / x**3` as a function of `x2` (Taylor: 1/6 - x2/120 + x2**2/5040 - ...).

    The direct formula cancels badly in float32, so the series is used up to `x = 0.5`.

    Args:
        x2: (...) float array, the squared angle (>= 0).

    Returns:
        (...) float array.
    """
    small = x2 < _SMALL_X2_CUBIC
    x = jnp.sqrt(jnp.where(small, 1.0, x2))
    taylor = (1.0 - x2 / 20.0 * (1.0 - x2 / 42.0 * (1.0 - x2 / 72.0))) / 6.0
    return jnp.where(small, taylor, (x - jnp.sin(x)) / (x * x * x))


def half_x_cot_half_x_coefficient(x2: jax.Array) -> jax.Array:
    """`(1 - (x/2) cot(x/2)) / x**2` as a function of `x2`, for `0 <= x < 2 pi`.

    This is the `K @ K` coefficient of the inverse of the SE(3) left Jacobian
    (Taylor: 1/12 + x2/720 + x2**2/30240 + ...).

    Args:
        x2: (...) float array, the squared angle (>= 0, below (2 pi)**2).

    Returns:
        (...) float array.
    """
    small = x2 < _SMALL_X2_CUBIC
    x = jnp.sqrt(jnp.where(small, 1.0, x2))
    taylor = 1.0 / 12.0 + x2 / 720.0 * (1.0 + x2 / 42.0 * (1.0 + x2 / 40.0))
    half = 0.5 * x
    direct = (1.0 - half * jnp.cos(half) / jnp.sin(half)) / (x * x)
    return jnp.where(small, taylor, direct)


def acos_linear_extrapolation(
    x: jax.Array, bounds: tuple[float, float] = (-0.9999, 0.9999)
) -> jax.Array:
    """`arccos(x)` inside `bounds`, its first-order Taylor extension outside (PyTorch3D's helper).

    Finite in value and gradient for every real `x`, including |x| >= 1.

    Args:
        x: (...) float array.
        bounds: (lower, upper) with -1 < lower <= upper < 1.

    Returns:
        (...) float array.
    """
    lower, upper = bounds
    if not -1.0 < lower <= upper < 1.0:
        raise ValueError(f"bounds must satisfy -1 < lower <= upper < 1, got {bounds}")

    def tangent(x0: float) -> jax.Array:
        slope = -1.0 / jnp.sqrt(1.0 - x0 * x0)
        return jnp.arccos(jnp.asarray(x0, x.dtype)) + slope * (x - x0)

    inside = (x >= lower) & (x <= upper)
    x_safe = jnp.where(inside, x, 0.0)
    out = jnp.where(x > upper, tangent(upper), tangent(lower))
    return jnp.where(inside, jnp.arccos(x_safe), out)
