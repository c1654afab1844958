"""Voxel grids to watertight cube meshes (PyTorch3D's `cubify`, as Mesh R-CNN uses it)."""

from __future__ import annotations

import warnings

import jax
import numpy as np

from jax3d.device import device_put
from jax3d.structures import Meshes

__all__ = ["cubify"]

_ALIGN = ("topleft", "corner", "center")

# Unit cube corners as (x, y, z) and its 12 outward-facing triangles, two per side, in the
# order: left (x=0), bottom (y=1), front (z=0), up (y=0), right (x=1), back (z=1).
_CUBE_VERTS = np.array(
    [[0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 1], [1, 0, 0], [1, 0, 1], [1, 1, 0], [1, 1, 1]],
    np.int64,
)
_CUBE_FACES = np.array(
    [[0, 1, 2], [1, 3, 2], [2, 3, 6], [3, 7, 6], [0, 2, 6], [0, 6, 4],
     [0, 5, 1], [0, 4, 5], [6, 7, 5], [6, 5, 4], [1, 7, 3], [1, 5, 7]],
    np.int64,
)  # fmt: skip
# (axis of the (N, D, H, W) grid, neighbour offset) whose occupancy hides each cube side.
_SIDE_NEIGHBOUR = [(3, -1), (2, 1), (1, -1), (2, -1), (3, 1), (1, 1)]


def _exposed_sides(occ: np.ndarray) -> np.ndarray:
    """(N, D, H, W, 12) bool: triangle t of voxel (n, d, h, w) is on the surface."""
    sides = []
    for axis, step in _SIDE_NEIGHBOUR:
        nbr = np.zeros_like(occ)
        src = [slice(None)] * 4
        dst = [slice(None)] * 4
        if step > 0:
            src[axis], dst[axis] = slice(1, None), slice(None, -1)
        else:
            src[axis], dst[axis] = slice(None, -1), slice(1, None)
        nbr[tuple(dst)] = occ[tuple(src)]
        sides += [occ & ~nbr] * 2
    return np.stack(sides, axis=-1)


def _grid_verts(D: int, H: int, W: int, align: str) -> np.ndarray:
    """((H+1)(W+1)(D+1), 3) float32 corner positions, indexed by (h, w, d) row-major."""
    y, x, z = np.meshgrid(np.arange(H + 1.0), np.arange(W + 1.0), np.arange(D + 1.0), indexing="ij")
    if align == "center":
        x, y, z = x - 0.5, y - 0.5, z - 0.5
    margin = 0.0 if align == "corner" else 1.0
    x = x * 2.0 / (W - margin) - 1.0
    y = y * 2.0 / (H - margin) - 1.0
    z = z * 2.0 / (D - margin) - 1.0
    return np.stack([x, y, z], axis=-1).reshape(-1, 3).astype(np.float32)


def _check(voxels, thresh, align) -> np.ndarray:
    if align not in _ALIGN:
        raise ValueError(f"align must be one of {_ALIGN}, got {align!r}")
    if isinstance(voxels, jax.core.Tracer) or isinstance(thresh, jax.core.Tracer):
        raise ValueError(
            "cubify needs concrete voxels and thresh (its output size depends on them)"
        )
    vox = np.asarray(voxels)
    if vox.ndim != 4:
        raise ValueError(f"voxels must be (N, D, H, W), got {vox.shape}")
    if align != "corner" and min(vox.shape[1:], default=2) < 2:
        raise ValueError(
            f"voxels must have D, H, W >= 2 with align={align!r} (the grid is scaled by "
            f"2 / (size - 1)), got {vox.shape}"
        )
    return vox


def cubify(voxels, thresh: float, *, feats=None, device=None, align: str = "topleft") -> Meshes:
    """Replace each occupied voxel by a cube; shared corners are merged, inner sides dropped.

    Args:
        voxels: (N, D, H, W) occupancy probabilities (concrete; not jittable since the mesh
            size depends on the values).
        thresh: a voxel is occupied when `voxels >= thresh` (PyTorch3D's comparison).
        feats: optional (N, K, D, H, W) colours of the voxels; with `align="center"` the
            meshes get a `TexturesAtlas` (R = 1) giving every face its voxel's colour, as in
            PyTorch3D (other alignments ignore them, with a warning).
        device: placement of the output (`jax3d.device` meaning; None: JAX's default).
        align: how the cube corners relate to the grid locations, as in PyTorch3D:
            "topleft": voxel (d, h, w) spans grid points [w, w+1] x [h, h+1] x [d, d+1] and
            grid point i maps to `2 i / (size - 1) - 1` (voxel corners at the centres' grid);
            "corner": the cubes span exactly [-1, 1]^3 (`2 i / size - 1`);
            "center": the grid locations are the cube centres.
            x runs along W, y along H, z along D.

    Returns:
        `Meshes` of N meshes: `verts[n]` are the used grid corners in (h, w, d) row-major
        order, faces are ordered by voxel (h, w, d) then cube side, outward-facing. Meshes with
        no occupied voxel are empty.
    """
    vox = _check(voxels, thresh, align)
    N, D, H, W = vox.shape
    occ = vox >= thresh
    tri = _exposed_sides(occ)  # (N, D, H, W, 12)
    n, h, w, d, t = np.nonzero(tri.transpose(0, 2, 3, 1, 4))  # order by (n, h, w, d, side)
    hwd = _CUBE_VERTS[_CUBE_FACES[t]][..., [1, 0, 2]] + np.stack([h, w, d], -1)[:, None]
    corner = (hwd[..., 0] * (W + 1) + hwd[..., 1]) * (D + 1) + hwd[..., 2]  # (T, 3)
    grid = _grid_verts(D, H, W, align)
    verts_list, faces_list = [], []
    for b in range(N):
        used_corners = corner[n == b]
        used = np.unique(used_corners)
        verts_list.append(grid[used])
        faces_list.append(np.searchsorted(used, used_corners).astype(np.int32).reshape(-1, 3))
    textures = _face_colours(feats, (N, D, H, W), align, n, h, w, d)
    return device_put(Meshes(verts_list, faces_list, textures), device)


def _face_colours(feats, shape, align, n, h, w, d):
    """TexturesAtlas (R = 1) with each face coloured by its voxel, or None."""
    if feats is None:
        return None
    if align != "center":
        warnings.warn('cubify: feats are used with align="center" only; ignored', stacklevel=3)
        return None
    feats = np.asarray(feats, np.float32)
    N, D, H, W = shape
    if feats.ndim != 5 or feats.shape[0] != N or feats.shape[2:] != (D, H, W):
        raise ValueError(f"feats must be ({N}, K, {D}, {H}, {W}), got {feats.shape}")
    from jax3d.renderer.mesh.textures import TexturesAtlas  # renderer and ops are peers

    colours = feats[n, :, d, h, w]  # (T, K): faces are ordered by (n, h, w, d, side)
    return TexturesAtlas([colours[n == b][:, None, None, :] for b in range(N)])
