"""Helpers shared by the point ops and point losses (PyTorch3D's ``ops.utils``).

Glossary: ``N`` clouds in the batch, ``P`` points per cloud (padded), ``D`` point dimension,
``K`` neighbours per point.

Boundary helpers (``as_points``, ``resolve_lengths``, ``convert_pointclouds_to_tensor``) validate
user input and raise ``ValueError``/``TypeError`` naming the argument; value checks (e.g. a length
larger than the padded size) run only when the values are concrete, so everything here also works
under ``jax.jit``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "as_points",
    "resolve_lengths",
    "convert_pointclouds_to_tensor",
    "eyes",
    "get_point_covariances",
    "is_pointclouds",
    "masked_gather",
    "wmean",
    "lengths_mask",
    "is_traced",
]


def is_traced(x) -> bool:
    """True when ``x`` is a JAX tracer (its values are unknown at trace time)."""
    return isinstance(x, jax.core.Tracer)


def lengths_mask(lengths: jax.Array, max_len: int) -> jax.Array:
    """``mask[n, i] = i < lengths[n]``: ``(N,) int -> (N, max_len) bool``. Jit-safe."""
    return jnp.arange(max_len)[None, :] < jnp.asarray(lengths)[:, None]


def as_points(x, name: str, *, dim: int | None = None) -> jax.Array:
    """``x`` as a float ``(N, P, D)`` array, or a clear error naming ``name``.

    ``dim`` (if given) fixes ``D``. Integer or boolean points raise ``TypeError``, as in
    PyTorch3D (whose kernels take floating point only): cast them explicitly.
    """
    if isinstance(x, (list, tuple)):
        raise TypeError(f"{name} must be an array of shape (N, P, D), got a {type(x).__name__}")
    x = jnp.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"{name} must have shape (N, P, D), got shape {tuple(x.shape)}")
    if dim is not None and x.shape[2] != dim:
        raise ValueError(f"{name} must have shape (N, P, {dim}), got shape {tuple(x.shape)}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{name} must be a floating-point array, got dtype {x.dtype} "
                        f"(cast it, e.g. {name}.astype(jnp.float32))")
    return x


def resolve_lengths(lengths, n: int, p: int, name: str) -> jax.Array:
    """Validated ``(N,) int32`` lengths; ``None`` means every item has ``p`` points.

    Raises ValueError for a wrong shape, a non-integer dtype, or (when concrete) a value
    outside ``[0, p]``.
    """
    if lengths is None:
        return jnp.full((n,), p, jnp.int32)
    if is_traced(lengths):
        arr = lengths
    else:
        arr = np.asarray(lengths)
        if arr.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},), got shape {arr.shape}")
        if arr.dtype.kind not in "iu":
            raise TypeError(f"{name} must be integer, got dtype {arr.dtype}")
        if n and (arr.max() > p or arr.min() < 0):
            raise ValueError(
                f"{name} values must lie in [0, {p}] (the padded size), got "
                f"min {arr.min()} max {arr.max()}: a length value was too long"
            )
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got shape {tuple(arr.shape)}")
    if not jnp.issubdtype(arr.dtype, jnp.integer):
        raise TypeError(f"{name} must be integer, got dtype {arr.dtype}")
    return jnp.asarray(arr, jnp.int32)


def is_pointclouds(pcl) -> bool:
    """True for a ``Pointclouds``-like structure (anything with ``points_padded``)."""
    return hasattr(pcl, "points_padded") and hasattr(pcl, "num_points_per_cloud")


def convert_pointclouds_to_tensor(pcl, name: str = "pointclouds"):
    """``(points (N, P, D), num_points (N,) int32)`` from a ``Pointclouds`` or an array.

    For an array every cloud has ``P`` points.
    """
    if is_pointclouds(pcl):
        pts = jnp.asarray(pcl.points_padded())
        return pts, jnp.asarray(pcl.num_points_per_cloud(), jnp.int32)
    pts = as_points(pcl, name)
    return pts, jnp.full((pts.shape[0],), pts.shape[1], jnp.int32)


def masked_gather(points: jax.Array, idx: jax.Array) -> jax.Array:
    """Gather ``points[n, idx[n, ...]]`` with zeros where ``idx == -1``.

    Args:
        points: ``(N, P, D)``.
        idx: ``(N, ...)`` int, ``-1`` marks padding.
    Returns:
        ``(N, ..., D)`` with ``out[n, i..] = points[n, idx[n, i..]]``, ``0`` where ``idx < 0``.
    """
    n = points.shape[0]
    flat = idx.reshape(n, -1)
    valid = flat >= 0
    got = jnp.take_along_axis(points, jnp.where(valid, flat, 0)[..., None], axis=1)
    got = jnp.where(valid[..., None], got, 0.0)
    return got.reshape(*idx.shape, points.shape[-1])


def wmean(x: jax.Array, weight: jax.Array | None = None, dim=-2, keepdim: bool = True,
          eps: float = 1e-9) -> jax.Array:  # fmt: skip
    """Weighted mean of ``x (..., D)`` over ``dim`` (PyTorch3D's ``wmean``).

    Args:
        x: ``(*, D)`` float; the last axis holds coordinates (never averaged by the weights).
        weight: None or non-negative ``(*,)`` weights broadcastable to ``x.shape[:-1]``.
        dim: int or tuple of axes of ``x`` to average over (default the point axis -2).
        keepdim: keep the averaged axes with size 1.
        eps: lower bound of the weight sum.

    Returns:
        ``mean(x, dim)`` without weights, else ``sum(x w, dim) / max(sum(w, dim), eps)``;
        e.g. ``(N, P, D), (N, P) -> (N, 1, D)`` with the defaults.
    """
    x = jnp.asarray(x)
    if weight is None:
        return jnp.mean(x, axis=dim, keepdims=keepdim)
    weight = jnp.asarray(weight)
    if any(a != b and a != 1 and b != 1
           for a, b in zip(x.shape[-2::-1], weight.shape[::-1])):  # fmt: skip
        raise ValueError(f"wmean: weight {weight.shape} is not broadcastable to x {x.shape}")
    w = weight[..., None].astype(x.dtype)
    total = jnp.sum(jnp.broadcast_to(w, jnp.broadcast_shapes(w.shape, x.shape[:-1] + (1,))),
                    axis=dim, keepdims=keepdim)  # fmt: skip
    return jnp.sum(x * w, axis=dim, keepdims=keepdim) / jnp.maximum(total, eps)


def eyes(dim: int, N: int, device=None, dtype=jnp.float32) -> jax.Array:  # noqa: N803
    """``(N, dim, dim)`` identity matrices (``device``: ``jax3d.device`` meaning)."""
    from jax3d.device import device_put

    return device_put(jnp.broadcast_to(jnp.eye(dim, dtype=dtype), (N, dim, dim)), device)


def get_point_covariances(points_padded, num_points_per_cloud, neighborhood_size: int):
    """Covariance of each point's ``K = neighborhood_size`` nearest neighbours (itself
    included), as in PyTorch3D.

    Args:
        points_padded: ``(N, P, D)`` float padded clouds.
        num_points_per_cloud: ``(N,)`` int lengths.
        neighborhood_size: ``K`` (static int).

    Returns:
        ``(covariances (N, P, D, D), k_nearest_neighbors (N, P, K, D))`` with
        ``cov = mean_k (q_k - mean q)(q_k - mean q)^T`` over the neighbours ``q``.
    """
    from jax3d.ops.knn import knn_points

    pts = as_points(points_padded, "points_padded")
    lengths = resolve_lengths(num_points_per_cloud, pts.shape[0], pts.shape[1],
                              "num_points_per_cloud")  # fmt: skip
    knns = knn_points(pts, pts, lengths, lengths, K=int(neighborhood_size), return_nn=True).knn
    diff = knns - jnp.mean(knns, axis=2, keepdims=True)
    return jnp.einsum("npki,npkj->npij", diff, diff) / knns.shape[2], knns
