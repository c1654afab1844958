"""Splatting point clouds into voxel grids (PyTorch3D's ``ops.points_to_volumes``).

Glossary: ``B`` batch, ``P`` points, ``C`` feature channels, ``D, H, W`` grid depth, height and
width (``z``, ``y``, ``x``). Points are given in the volumes' local coordinates, ``[-1, 1]`` over
each volume's own grid size (``Volumes.world_to_local_coords``).

Each point casts weighted votes: ``trilinear`` spreads weight 1 over the 8 voxels around it
(trilinear weights, differentiable w.r.t. points and features), ``nearest`` gives weight 1 to
the voxel it rounds to. Densities accumulate the weights; features accumulate weight times
feature and, with ``rescale_features``, are divided by the total weight (at least
``min_weight`` for trilinear, 1 for nearest), as in PyTorch3D. Jit-safe.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

__all__ = ["add_pointclouds_to_volumes", "add_points_features_to_volume_densities_features"]

_MODES = ("trilinear", "nearest")


def _grid_coords(points, sizes_xyz, align_corners: bool):
    """Local ``[-1, 1]`` coordinates -> continuous voxel indices ``(B, P, 3)`` (x, y, z)."""
    sizes = sizes_xyz[:, None, :].astype(points.dtype)
    if align_corners:
        return (points + 1.0) * 0.5 * (sizes - 1.0)
    return ((points + 1.0) * sizes - 1.0) * 0.5


@partial(jax.jit, static_argnames=("mode", "align_corners", "rescale", "min_weight"))
def _splat(points, feats, densities, features, grid_sizes, mask, *, mode, align_corners,
           rescale, min_weight):  # fmt: skip
    b, c = features.shape[:2]
    dims = densities.shape[2:]  # padded (D, H, W)
    sizes_xyz = grid_sizes[:, ::-1]
    coords = _grid_coords(points, sizes_xyz, align_corners)  # (B, P, 3)
    if mode == "nearest":
        corners = [jnp.round(jax.lax.stop_gradient(coords)).astype(jnp.int32)]
        weights = [jnp.ones(coords.shape[:2], coords.dtype)]
    else:
        base = jnp.floor(coords)
        frac = coords - base
        corners, weights = [], []
        for dx in (0, 1):
            for dy in (0, 1):
                for dz in (0, 1):
                    step = jnp.array([dx, dy, dz])
                    w = jnp.prod(jnp.where(step == 1, frac, 1.0 - frac), axis=-1)
                    corners.append(base.astype(jnp.int32) + step)
                    weights.append(w)
    flat_d = jnp.zeros((b, dims[0] * dims[1] * dims[2]), densities.dtype)
    flat_f = jnp.zeros((b, dims[0] * dims[1] * dims[2], c), features.dtype)
    for xyz, w in zip(corners, weights):
        inside = jnp.all((xyz >= 0) & (xyz < sizes_xyz[:, None, :]), axis=-1)
        w = w * inside * mask
        x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
        idx = jnp.where(inside, (z * dims[1] + y) * dims[2] + x, 0)  # padded layout
        flat_d = jax.vmap(lambda acc, i, v: acc.at[i].add(v))(flat_d, idx, w)
        flat_f = jax.vmap(lambda acc, i, v: acc.at[i].add(v))(flat_f, idx, w[..., None] * feats)
    new_d = densities + flat_d.reshape(b, 1, *dims)
    new_f = features + jnp.moveaxis(flat_f, -1, 1).reshape(b, c, *dims)
    if rescale:
        new_f = new_f / jnp.maximum(new_d, min_weight if mode == "trilinear" else 1.0)
    return new_f, new_d


def add_points_features_to_volume_densities_features(
    points_3d,
    points_features,
    volume_densities,
    volume_features,
    mode: str = "trilinear",
    min_weight: float = 1e-4,
    mask=None,
    grid_sizes=None,
    rescale_features: bool = True,
    _python: bool = False,
    align_corners: bool = True,
):
    """Add weighted votes of points and their features to voxel grids (see the module doc).

    Args:
        points_3d: (B, P, 3) float32 points in the volumes' local coordinates.
        points_features: (B, P, C) float32.
        volume_densities: (B, 1, D, H, W) float32 initial densities (non-negative).
        volume_features: (B, C, D, H, W) float32 initial features, or None (zeros).
        mode: static, "trilinear" or "nearest".
        min_weight: static lower bound of a voxel's weight when rescaling (trilinear).
        mask: (B, P) weights of the points (0 drops a point), or None for all.
        grid_sizes: (B, 3) int ``(D_b, H_b, W_b)`` of each grid inside the padded
            ``(D, H, W)``, or None for the full size.
        rescale_features: static; average the features by the weights (else plain sums).
            Densities are always plain sums.
        _python: PyTorch3D's switch to its pure-Python path; jax3d has a single
            implementation, so it is accepted and ignored.
        align_corners: static; ``grid_sample``'s meaning of -1 and 1 (voxel centres if True).

    Returns:
        ``(volume_features (B, C, D, H, W), volume_densities (B, 1, D, H, W))``.
    """
    del _python
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    points = jnp.asarray(points_3d, jnp.float32)
    feats = jnp.asarray(points_features, jnp.float32)
    dens = jnp.asarray(volume_densities, jnp.float32)
    if points.ndim != 3 or points.shape[-1] != 3:
        raise ValueError(f"points_3d must be (B, P, 3), got {points.shape}")
    b, p = points.shape[:2]
    if feats.ndim != 3 or feats.shape[:2] != (b, p):
        raise ValueError(f"points_features must be ({b}, {p}, C), got {feats.shape}")
    if dens.ndim != 5 or dens.shape[:2] != (b, 1):
        raise ValueError(f"volume_densities must be ({b}, 1, D, H, W), got {dens.shape}")
    c = feats.shape[-1]
    vfeats = (jnp.zeros((b, c, *dens.shape[2:]), jnp.float32) if volume_features is None
              else jnp.asarray(volume_features, jnp.float32))  # fmt: skip
    if vfeats.shape != (b, c, *dens.shape[2:]):
        raise ValueError(f"volume_features must be {(b, c, *dens.shape[2:])}, got "
                         f"{vfeats.shape}")  # fmt: skip
    sizes = (jnp.broadcast_to(jnp.array(dens.shape[2:], jnp.int32), (b, 3)) if grid_sizes is None
             else jnp.asarray(grid_sizes, jnp.int32))  # fmt: skip
    if sizes.shape != (b, 3):
        raise ValueError(f"grid_sizes must be ({b}, 3), got {sizes.shape}")
    m = jnp.ones((b, p), jnp.float32) if mask is None else jnp.asarray(mask, jnp.float32)
    if m.shape != (b, p):
        raise ValueError(f"mask must be ({b}, {p}), got {m.shape}")
    return _splat(points, feats, dens, vfeats, sizes, m, mode=mode,
                  align_corners=bool(align_corners), rescale=bool(rescale_features),
                  min_weight=float(min_weight))  # fmt: skip


def add_pointclouds_to_volumes(
    pointclouds,
    initial_volumes,
    mode: str = "trilinear",
    min_weight: float = 1e-4,
    rescale_features: bool = True,
    _python: bool = False,
):
    """``initial_volumes`` with the points and features of ``pointclouds`` added.

    Points are mapped to each volume's local coordinates with
    ``initial_volumes.world_to_local_coords`` and splatted with
    :func:`add_points_features_to_volume_densities_features` (padding points are masked).

    Args:
        pointclouds: ``Pointclouds`` of B clouds with ``features`` (B, P, C).
        initial_volumes: ``Volumes`` of B volumes with one density channel and C feature
            channels (or no features).
        mode, min_weight, rescale_features, _python: as above.

    Returns:
        ``Volumes`` with the new densities and features (same placement and grid sizes).
    """
    if len(initial_volumes) != len(pointclouds):
        raise ValueError(f"initial_volumes ({len(initial_volumes)}) and pointclouds "
                         f"({len(pointclouds)}) must have the same batch size")  # fmt: skip
    feats = pointclouds.features_padded()
    if feats is None:
        raise ValueError("pointclouds must have features")
    local = initial_volumes.world_to_local_coords(pointclouds.points_padded())
    new_f, new_d = add_points_features_to_volume_densities_features(
        local, feats, initial_volumes.densities(), initial_volumes.features(), mode=mode,
        min_weight=min_weight, mask=pointclouds.points_mask(),
        grid_sizes=initial_volumes.get_grid_sizes(), rescale_features=rescale_features,
        _python=_python, align_corners=initial_volumes.get_align_corners(),
    )
    return initial_volumes.update_padded(new_densities=new_d, new_features=new_f)
