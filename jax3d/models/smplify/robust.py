"""The Geman-McClure robustifier SMPLify applies to reprojection residuals."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def geman_mcclure(residual: jax.Array, sigma: float = 100.0) -> jax.Array:
    """Geman-McClure penalty ``sigma^2 r^2 / (sigma^2 + r^2)``, elementwise.

    Quadratic (``~ r^2``) for ``|r| << sigma`` and saturating at ``sigma^2`` for outliers;
    smooth everywhere, so its gradient is finite at 0.

    Args:
        residual: (...) float32, e.g. pixel residuals.
        sigma: the scale (pixels for SMPLify, 100).

    Returns:
        (...) float32 penalties.
    """
    r2 = jnp.square(jnp.asarray(residual, jnp.float32))
    s2 = float(sigma) ** 2
    return s2 * r2 / (s2 + r2)
