"""Normals and local frames of point clouds from neighbourhood PCA (PyTorch3D's
``ops.points_normals``).

Each point's ``neighborhood_size`` nearest neighbours (itself included) give a 3x3
covariance; its eigenvectors, in increasing eigenvalue order, are the normal and the two
principal curvature directions. With ``disambiguate_directions`` the sign of a direction is
chosen so that most neighbours lie on its positive side (Tombari et al., SHOT, ECCV 2010).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.ops.knn import knn_points
from jax3d.ops.utils import convert_pointclouds_to_tensor, is_traced
from jax3d.safe_math import safe_eigh

__all__ = ["estimate_pointcloud_normals", "estimate_pointcloud_local_coord_frames"]


def _disambiguate(points, knns, vecs):
    """Flip ``vecs (N, P, 3)`` where fewer than half the neighbours project positively."""
    k = knns.shape[2]
    proj = jnp.sum(vecs[:, :, None, :] * (knns - points[:, :, None, :]), axis=-1)
    n_pos = jnp.sum(proj > 0, axis=-1, keepdims=True)
    return jnp.where(n_pos < 0.5 * k, -vecs, vecs)


@partial(jax.jit, static_argnames=("k", "disambiguate"))
def _local_frames(points, num_points, *, k, disambiguate):
    count = jnp.maximum(num_points, 1).astype(points.dtype)
    mask = (jnp.arange(points.shape[1])[None] < num_points[:, None])[..., None]
    mean = jnp.sum(jnp.where(mask, points, 0.0), axis=1) / count[:, None]
    centred = points - mean[:, None, :]
    knns = knn_points(centred, centred, num_points, num_points, K=k, return_nn=True).knn
    diff = knns - jnp.mean(knns, axis=2, keepdims=True)
    cov = jnp.einsum("npki,npkj->npij", diff, diff) / k
    curvatures, frames = safe_eigh(cov)  # finite gradients for repeated eigenvalues
    if disambiguate:
        normal = _disambiguate(centred, knns, frames[..., 0])
        major = _disambiguate(centred, knns, frames[..., 2])
        frames = jnp.stack([normal, jnp.cross(normal, major), major], axis=-1)
    return curvatures, frames


def estimate_pointcloud_local_coord_frames(
    pointclouds,
    neighborhood_size: int = 50,
    disambiguate_directions: bool = True,
    *,
    use_symeig_workaround: bool = True,
):
    """Principal curvatures and directions of every point.

    Args:
        pointclouds: ``(N, P, 3) float32`` or a ``Pointclouds``.
        neighborhood_size: neighbours per covariance (static int, < each cloud's size).
        disambiguate_directions: make the signs of neighbouring frames consistent.
        use_symeig_workaround: PyTorch3D's choice of a 3x3 eigen-solver; jax3d always uses
            ``jnp.linalg.eigh``, so it is accepted and ignored.

    Returns:
        ``(curvatures (N, P, 3), local_coord_frames (N, P, 3, 3))``: eigenvalues in
        increasing order, and frames with the directions in the columns; ``[..., :, 0]`` is
        the normal. Padded points hold meaningless values.

    Raises ValueError when a (concrete) cloud has ``<= neighborhood_size`` points.
    Complexity: one K-NN search (``O(N P^2)``) plus ``N P`` 3x3 eigendecompositions.
    """
    points, num_points = convert_pointclouds_to_tensor(pointclouds, "pointclouds")
    if points.shape[2] != 3:
        raise ValueError(f"pointclouds must have shape (N, P, 3), got {tuple(points.shape)}")
    if isinstance(neighborhood_size, bool) or not isinstance(neighborhood_size, int):
        raise TypeError(f"neighborhood_size must be an int, got {neighborhood_size!r}")
    if neighborhood_size < 1:
        raise ValueError(f"neighborhood_size must be positive, got {neighborhood_size}")
    if not is_traced(num_points) and (np.asarray(num_points) <= neighborhood_size).any():
        raise ValueError(
            f"neighborhood_size ({neighborhood_size}) must be smaller than the number of "
            f"points of every cloud, got {np.asarray(num_points).tolist()}"
        )
    return _local_frames(
        points, num_points, k=neighborhood_size, disambiguate=bool(disambiguate_directions)
    )


def estimate_pointcloud_normals(
    pointclouds,
    neighborhood_size: int = 50,
    disambiguate_directions: bool = True,
    *,
    use_symeig_workaround: bool = True,
):
    """Unit normals ``(N, P, 3)`` of the points of ``pointclouds`` (padded for Pointclouds).

    See ``estimate_pointcloud_local_coord_frames`` for the arguments; the normal is the
    eigenvector of the smallest eigenvalue of the neighbourhood covariance.
    """
    _, frames = estimate_pointcloud_local_coord_frames(
        pointclouds, neighborhood_size, disambiguate_directions
    )
    return frames[..., 0]
