"""Ray marchers: turn per-sample densities and features into pixel values.

PyTorch3D's raymarchers treat ``densities`` as per-sample opacities in ``[0, 1]``;
``alpha_composite`` is NeRF's compositing of a continuous density field ``sigma >= 0``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jax3d.structures.utils import is_traced

__all__ = [
    "AbsorptionOnlyRaymarcher",
    "AlphaCompositeOutput",
    "EmissionAbsorptionRaymarcher",
    "alpha_composite",
]


# Opacities up to this far outside [0, 1] are rounding errors, not bad input: trilinear
# interpolation of a volume of ones gives 1 + 1.2e-7 in float32 (its 8 weights do not sum to
# exactly 1), and 1 - exp(-x) style activations can give -1e-8.
OPACITY_TOLERANCE = 1e-5


def _check_densities(rays_densities, name: str = "rays_densities") -> jax.Array:
    """Validated opacities, clamped to [0, 1] in value (gradients pass straight through).

    Concrete values outside ``[-OPACITY_TOLERANCE, 1 + OPACITY_TOLERANCE]`` raise ValueError
    (PyTorch3D warns); traced ones are not checked. Values within the tolerance are clamped so
    that the transmittance ``1 + eps - d`` never turns negative; the clamp's gradient is the
    identity, so gradients equal those of the formulas at the clamped value.
    """
    d = jnp.asarray(rays_densities)
    if d.ndim < 2 or d.shape[-1] != 1 or not jnp.issubdtype(d.dtype, jnp.floating):
        raise ValueError(f"{name} must be a float array (..., S, 1), got {d.shape} {d.dtype}")
    if d.size and not is_traced(d):
        lo, hi = float(jnp.min(d)), float(jnp.max(d))
        if lo < -OPACITY_TOLERANCE or hi > 1.0 + OPACITY_TOLERANCE:
            raise ValueError(f"{name} must be opacities in [0, 1], got values in [{lo}, {hi}]")
    return d + jax.lax.stop_gradient(jnp.clip(d, 0.0, 1.0) - d)


def _check_features(rays_features, densities: jax.Array) -> jax.Array:
    f = jnp.asarray(rays_features)
    if f.shape[:-1] != densities.shape[:-1]:
        raise ValueError(f"rays_features must be {densities.shape[:-1] + ('C',)} to match "
                         f"rays_densities, got {f.shape}")
    return f


def shifted_cumprod(x: jax.Array, shift: int = 1) -> jax.Array:
    """Exclusive cumulative product along the last axis: ``shift`` leading ones, then
    ``cumprod(x)[..., :-shift]``. ``x: (..., S)`` -> ``(..., S)``."""
    c = jnp.cumprod(x, axis=-1)
    s = min(shift, x.shape[-1])
    return jnp.concatenate([jnp.ones_like(c[..., :s]), c[..., : x.shape[-1] - s]], axis=-1)


@struct.dataclass
class EmissionAbsorptionRaymarcher:
    """Front-to-back emission-absorption compositing (PyTorch3D's formulas).

    With opacities ``d_s`` (``rays_densities[..., s, 0]``) the weight of sample ``s`` is
    ``w_s = d_s * prod_{t < s - surface_thickness + 1} (1 + eps - d_t)``; the output is
    ``[sum_s w_s f_s, 1 - prod_s (1 - d_s)]`` (features, then opacity).
    ``surface_thickness`` (static) is how many samples a surface is thick.
    """

    surface_thickness: int = struct.field(pytree_node=False, default=1)

    def __post_init__(self):
        if not isinstance(self.surface_thickness, int) or self.surface_thickness < 1:
            raise ValueError(f"surface_thickness must be an int >= 1, got "
                             f"{self.surface_thickness!r}")

    def __call__(self, rays_densities, rays_features, eps: float = 1e-10, **kwargs) -> jax.Array:
        """Composite the samples of every ray.

        Args:
          rays_densities: ``(..., S, 1) float32`` opacities in ``[0, 1]`` (values within
            ``OPACITY_TOLERANCE`` = 1e-5 outside it, e.g. trilinear rounding, are clamped;
            concrete values further out raise ValueError).
          rays_features: ``(..., S, C) float32``.
          eps: keeps the transmittance positive.
          **kwargs: ignored (e.g. ``ray_bundle``), as in PyTorch3D.

        Returns:
          ``(..., C + 1)``: composited features and the opacity.
        """
        d = _check_densities(rays_densities)[..., 0]
        f = _check_features(rays_features, d[..., None])
        absorption = shifted_cumprod((1.0 + eps) - d, shift=self.surface_thickness)
        weights = d * absorption
        features = jnp.sum(weights[..., None] * f, axis=-2)
        opacities = 1.0 - jnp.prod(1.0 - d, axis=-1, keepdims=True)
        return jnp.concatenate([features, opacities], axis=-1)


@struct.dataclass
class AbsorptionOnlyRaymarcher:
    """Opacity of every ray, ``1 - prod_s (1 - d_s)`` (PyTorch3D's absorption-only model)."""

    def __call__(self, rays_densities, rays_features=None, **kwargs) -> jax.Array:
        """``rays_densities: (..., S, 1)`` opacities in ``[0, 1]`` (tolerance and clamping as
        for :class:`EmissionAbsorptionRaymarcher`) -> ``(..., 1)`` opacity.
        ``rays_features`` and ``kwargs`` are ignored."""
        d = _check_densities(rays_densities)[..., 0]
        return 1.0 - jnp.prod(1.0 - d, axis=-1, keepdims=True)


class AlphaCompositeOutput(NamedTuple):
    """``features (..., C)``, ``opacities (..., 1)`` and per-sample ``weights (..., S)``."""

    features: jax.Array
    opacities: jax.Array
    weights: jax.Array


def alpha_composite(densities_sigma, deltas, features) -> AlphaCompositeOutput:
    """NeRF's volume rendering of a continuous density field.

    ``alpha_s = 1 - exp(-sigma_s delta_s)``, transmittance
    ``T_s = exp(-sum_{t < s} sigma_t delta_t)``, ``w_s = T_s alpha_s``.
    Negative densities are clamped to 0 (as NeRF's ReLU).

    Args:
      densities_sigma: ``(..., S)`` or ``(..., S, 1) float32`` densities ``sigma >= 0``.
      deltas: ``(..., S) float32`` distances between consecutive samples (the last one is
        usually large, e.g. 1e10).
      features: ``(..., S, C) float32``.

    Returns:
      ``AlphaCompositeOutput(features (..., C) = sum_s w_s f_s, opacities (..., 1) = sum_s w_s,
      weights (..., S))``.
    """
    sigma = jnp.asarray(densities_sigma)
    deltas, features = jnp.asarray(deltas), jnp.asarray(features)
    if sigma.ndim == deltas.ndim + 1 and sigma.shape[-1] == 1:
        sigma = sigma[..., 0]
    if sigma.shape != deltas.shape or features.shape[:-1] != sigma.shape:
        raise ValueError(f"densities_sigma (..., S[, 1]), deltas (..., S) and features "
                         f"(..., S, C) must agree, got {np.shape(densities_sigma)}, "
                         f"{deltas.shape}, {features.shape}")
    tau = jax.nn.relu(sigma) * deltas
    # Exclusive sum (optical depth before sample s) built by shifting the cumulative sum:
    # `cumsum(tau) - tau` would lose everything in float32 once a last delta of 1e10 enters.
    accum = jnp.concatenate(
        [jnp.zeros_like(tau[..., :1]), jnp.cumsum(tau[..., :-1], axis=-1)], axis=-1
    )
    weights = jnp.exp(-accum) * -jnp.expm1(-tau)
    rendered = jnp.sum(weights[..., None] * features, axis=-2)
    return AlphaCompositeOutput(rendered, jnp.sum(weights, axis=-1, keepdims=True), weights)
