"""SMPLify's max-mixture Gaussian pose prior (the ``gmm_08.pkl`` format).

The mixture over the 69 body-pose parameters is approximated by its best component:
``E(x) = min_k 0.5 (x - mu_k)^T Sigma_k^-1 (x - mu_k) - log(w'_k)`` with SMPLify's
normalised weights ``w'_k = w_k / ((2 pi)^(D/2) sqrt(det Sigma_k) / min_k sqrt(det Sigma_k))``.
The per-component constants and Cholesky factors are computed once in float64 NumPy.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jax3d.io.restricted_pickle import restricted_load


@struct.dataclass
class GMMPrior:
    """A max-mixture Gaussian prior over D pose parameters (K components).

    Fields:
        means: (K, D) float32 component means.
        precision_chol: (K, D, D) float32 lower Cholesky factors L_k of the precisions
            (``Sigma_k^-1 = L_k L_k^T``).
        neg_log_weights: (K,) float32 ``-log(w'_k)`` (SMPLify's normalised weights).
        weights: (K,) float32 the raw mixture weights (for the mean pose ``weights @ means``).
    """

    means: jax.Array
    precision_chol: jax.Array
    neg_log_weights: jax.Array
    weights: jax.Array

    def mean_pose(self) -> jax.Array:
        """(D,) the weighted mean of the component means, SMPLify's initial body pose."""
        return self.weights @ self.means


def gmm_prior_from_arrays(means, covars, weights) -> GMMPrior:
    """Build a `GMMPrior` from means (K, D), covariances (K, D, D) and weights (K,).

    Raises:
        ValueError: inconsistent shapes, or a covariance that is not positive definite.
    """
    means = np.asarray(means, np.float64)
    covars = np.asarray(covars, np.float64)
    weights = np.asarray(weights, np.float64)
    if means.ndim != 2:
        raise ValueError(f"means must be (K, D), got {means.shape}")
    k, d = means.shape
    if covars.shape != (k, d, d):
        raise ValueError(f"covars must be ({k}, {d}, {d}), got {covars.shape}")
    if weights.shape != (k,) or np.any(weights <= 0):
        raise ValueError(f"weights must be ({k},) and positive, got {weights.shape}")
    try:
        chol_cov = np.linalg.cholesky(covars)
        precs = np.linalg.inv(covars)
        chols = np.linalg.cholesky(precs)
    except np.linalg.LinAlgError as err:
        raise ValueError(f"covars must be positive definite: {err}") from err
    log_sqrt_det = np.sum(np.log(np.diagonal(chol_cov, axis1=1, axis2=2)), axis=1)
    # log w' = log w - (D/2) log(2 pi) - (log sqrt det - min log sqrt det)
    log_w = np.log(weights) - 0.5 * d * np.log(2 * np.pi) - (log_sqrt_det - log_sqrt_det.min())
    return GMMPrior(
        means=jnp.asarray(means, jnp.float32),
        precision_chol=jnp.asarray(chols, jnp.float32),
        neg_log_weights=jnp.asarray(-log_w, jnp.float32),
        weights=jnp.asarray(weights, jnp.float32),
    )


def load_gmm_prior(path: str | os.PathLike) -> GMMPrior:
    """Read SMPLify's ``gmm_08.pkl`` (a Python 2 pickle of a dict with ``means (8, 69)``,
    ``covars (8, 69, 69)``, ``weights (8,)``) with the restricted unpickler.

    Raises:
        ValueError: naming the file: an unsafe or malformed pickle (see `restricted_load`),
            or missing / mis-shaped keys.
    """
    data = restricted_load(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict, got {type(data).__name__}")
    missing = [k for k in ("means", "covars", "weights") if k not in data]
    if missing:
        raise ValueError(f"{path}: GMM prior is missing keys {missing}")
    try:
        return gmm_prior_from_arrays(data["means"], data["covars"], data["weights"])
    except (ValueError, TypeError) as err:
        raise ValueError(f"{path}: {err}") from None


def synthetic_gmm_prior(
    key: jax.Array,
    *,
    num_components: int = 8,
    dim: int = 69,
    mean_scale: float = 0.1,
    std: float = 0.4,
) -> GMMPrior:
    """A random mixture in the ``gmm_08.pkl`` layout, for use without the data file.

    Args:
        key: `jax.random` key.
        num_components, dim: K and D.
        mean_scale: standard deviation of the component means (radians).
        std: typical standard deviation of each component (radians).
    """
    k1, k2, k3 = jax.random.split(key, 3)
    means = np.asarray(jax.random.normal(k1, (num_components, dim))) * mean_scale
    a = np.asarray(jax.random.normal(k2, (num_components, dim, dim)), np.float64) / np.sqrt(dim)
    covars = std**2 * (0.5 * np.eye(dim) + 0.5 * a @ np.swapaxes(a, 1, 2))
    weights = np.asarray(jax.random.uniform(k3, (num_components,), minval=0.5, maxval=1.5))
    return gmm_prior_from_arrays(means, covars, weights / weights.sum())


def gmm_pose_energy(prior: GMMPrior, body_pose: jax.Array) -> jax.Array:
    """Max-mixture negative log-likelihood of body poses.

    Args:
        prior: a `GMMPrior` over D = 3 (J - 1) parameters.
        body_pose: (..., D) or (..., J - 1, 3) float32 axis-angle body poses.

    Returns:
        (...) float32 ``min_k 0.5 |L_k^T (x - mu_k)|^2 - log w'_k``; the gradient is that of
        the best component.
    """
    d = prior.means.shape[-1]
    x = jnp.asarray(body_pose, jnp.float32)
    if x.shape[-2:] == (d // 3, 3):
        x = x.reshape(*x.shape[:-2], d)
    if x.shape[-1] != d:
        raise ValueError(f"body_pose must be (..., {d}) or (..., {d // 3}, 3), got {x.shape}")
    diff = x[..., None, :] - prior.means  # (..., K, D)
    maha = jnp.einsum("...kd,kde->...ke", diff, prior.precision_chol)  # (..., K, D)
    energies = 0.5 * jnp.sum(maha * maha, axis=-1) + prior.neg_log_weights
    return jnp.min(energies, axis=-1)
