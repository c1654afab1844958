"""Inverse-transform sampling of piecewise-constant PDFs: NeRF's hierarchical sampling."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jax3d.renderer.implicit.raybundle import RayBundle

__all__ = ["importance_sample_ray_bundle", "sample_pdf"]


def sample_pdf(key: jax.Array | None, bins: jax.Array, weights: jax.Array, n_samples: int, *,
               det: bool = False, eps: float = 1e-5) -> jax.Array:
    """Samples from the histogram with edges ``bins`` and (unnormalised) ``weights``.

    PyTorch3D's ``sample_pdf``: ``eps`` is added to every weight (so an all-zero histogram is
    uniform), the CDF is inverted with ``searchsorted`` and the sample is placed linearly
    within its bin.

    Args:
      key: ``jax.random`` key for the uniform draws; may be None when ``det``.
      bins: ``(..., n_bins + 1) float32`` increasing bin edges.
      weights: ``(..., n_bins) float32`` non-negative bin weights.
      n_samples: static number of samples per row.
      det: static; True places the samples at ``linspace(0, 1, n_samples)`` quantiles.
      eps: added to the weights and guarding empty bins.

    Returns:
      ``(..., n_samples) float32`` samples in ``[bins[..., 0], bins[..., -1]]``; sorted when
      ``det``.
    """
    bins, weights = jnp.asarray(bins), jnp.asarray(weights)
    if bins.shape[:-1] != weights.shape[:-1] or bins.shape[-1] != weights.shape[-1] + 1:
        raise ValueError(f"bins must be (..., n_bins + 1) and weights (..., n_bins), got "
                         f"{bins.shape} and {weights.shape}")
    if not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be an int >= 1, got {n_samples!r}")
    weights = weights + eps
    pdf = weights / jnp.sum(weights, axis=-1, keepdims=True)
    cdf = jnp.cumsum(pdf, axis=-1)
    cdf = jnp.concatenate([jnp.zeros_like(cdf[..., :1]), cdf], axis=-1)  # (..., n_bins + 1)
    shape = (*cdf.shape[:-1], n_samples)
    if det:
        u = jnp.broadcast_to(jnp.linspace(0.0, 1.0, n_samples, dtype=cdf.dtype), shape)
    else:
        if key is None:
            raise ValueError("sample_pdf with det=False needs a key")
        u = jax.random.uniform(key, shape, cdf.dtype)
    # searchsorted(cdf, u, side="right"): the number of CDF values <= u.
    inds = jnp.sum(cdf[..., None, :] <= u[..., :, None], axis=-1)
    below = jnp.maximum(inds - 1, 0)
    above = jnp.minimum(inds, cdf.shape[-1] - 1)
    cdf_lo = jnp.take_along_axis(cdf, below, axis=-1)
    cdf_hi = jnp.take_along_axis(cdf, above, axis=-1)
    bins_lo = jnp.take_along_axis(bins, below, axis=-1)
    bins_hi = jnp.take_along_axis(bins, above, axis=-1)
    denom = cdf_hi - cdf_lo
    denom = jnp.where(denom < eps, 1.0, denom)
    t = (u - cdf_lo) / denom
    return bins_lo + t * (bins_hi - bins_lo)


def importance_sample_ray_bundle(key: jax.Array | None, ray_bundle: RayBundle,
                                 weights: jax.Array, n_samples: int, *, det: bool = False,
                                 add_input_samples: bool = True) -> RayBundle:
    """NeRF's fine pass: new depths along each ray drawn where the coarse ``weights`` are high.

    The coarse depths ``ray_bundle.lengths (B, ..., S)`` define bins between their midpoints;
    ``weights (B, ..., S)`` (e.g. ``AlphaCompositeOutput.weights``) of the inner ``S - 2``
    samples weight them. Gradients do not flow into the new depths.

    Returns:
      A ``RayBundle`` with the same rays and sorted ``lengths (B, ..., n_samples [+ S])``
      (the coarse depths included when ``add_input_samples``).
    """
    lengths = ray_bundle.lengths
    if weights.shape != lengths.shape or lengths.shape[-1] < 3:
        raise ValueError(f"weights must match lengths {lengths.shape} (S >= 3), got "
                         f"{weights.shape}")
    mids = 0.5 * (lengths[..., 1:] + lengths[..., :-1])
    new = sample_pdf(key, mids, weights[..., 1:-1], n_samples, det=det)
    new = jax.lax.stop_gradient(new)
    if add_input_samples:
        new = jnp.concatenate([new, lengths], axis=-1)
    return ray_bundle.replace(lengths=jnp.sort(new, axis=-1))
