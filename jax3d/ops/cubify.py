"""Voxel grids to watertight cube meshes (PyTorch3D's `cubify`, as Mesh R-CNN uses it).

`cubify` builds the exact meshes eagerly (their size depends on the values). `cubify_padded`
builds the same meshes under `jax.jit`, into a static capacity of vertices and faces, and
reports what did not fit: Mesh R-CNN cubifies its predicted voxels inside the training step.
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.device import device_put
from jax3d.structures import Meshes

__all__ = ["CubifyResult", "cubify", "cubify_padded"]

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


# ----------------------------------------------------------------------------------------------
# Static capacity (jit).
# ----------------------------------------------------------------------------------------------


class CubifyResult(NamedTuple):
    """`cubify_padded`'s output.

    meshes: `Meshes` of N meshes padded to `(max_verts, max_faces)`; mesh n holds the first
        faces of `cubify(voxels, thresh)[n]` in its order, and exactly those when nothing
        overflowed.
    num_faces_needed: (N,) int32 faces of the complete mesh.
    num_verts_needed: (N,) int32 vertices of the complete mesh.
    overflow: (N,) bool, the mesh lost faces (it is then not closed).
    """

    meshes: Meshes
    num_faces_needed: jax.Array
    num_verts_needed: jax.Array
    overflow: jax.Array


def _exposed_sides_jnp(occ: jax.Array) -> jax.Array:
    """(D, H, W, 12) bool: jnp version of `_exposed_sides` for one grid (D, H, W)."""
    sides = []
    for axis, step in _SIDE_NEIGHBOUR:
        axis -= 1  # no batch axis here
        pad = [(0, 0)] * 3
        pad[axis] = (0, 1) if step > 0 else (1, 0)
        shifted = jnp.pad(occ, pad)
        start = 1 if step > 0 else 0
        nbr = jax.lax.slice_in_dim(shifted, start, start + occ.shape[axis], axis=axis)
        sides += [occ & ~nbr] * 2
    return jnp.stack(sides, axis=-1)


def _corner_coords(ids: jax.Array, D: int, H: int, W: int, align: str) -> jax.Array:
    """(K, 3) float32 positions of corner ids `(h (W+1) + w) (D+1) + d` (as `_grid_verts`)."""
    hw, d = jnp.divmod(ids, D + 1)
    h, w = jnp.divmod(hw, W + 1)
    shift = 0.5 if align == "center" else 0.0
    margin = 0.0 if align == "corner" else 1.0
    x = (w - shift) * 2.0 / (W - margin) - 1.0
    y = (h - shift) * 2.0 / (H - margin) - 1.0
    z = (d - shift) * 2.0 / (D - margin) - 1.0
    return jnp.stack([x, y, z], -1).astype(jnp.float32)


def _num_surface_corners(occ: jax.Array) -> jax.Array:
    """Corners whose 8 surrounding cells (outside: empty) are neither all full nor all empty."""
    p = jnp.pad(occ, 1).astype(jnp.int32)
    D, H, W = occ.shape
    count = sum(p[a : a + D + 1, b : b + H + 1, c : c + W + 1]
                for a in (0, 1) for b in (0, 1) for c in (0, 1))  # fmt: skip
    return jnp.sum((count > 0) & (count < 8)).astype(jnp.int32)


def _first_true(mask: jax.Array, size: int) -> jax.Array:
    """Indices of the first `size` True entries of a 1-D mask, in order, padded with 0
    (`jnp.nonzero(mask, size=size)` by a cumsum and a scatter, which compile much faster)."""
    pos = jnp.cumsum(mask.astype(jnp.int32)) - 1
    slot = jnp.where(mask & (pos < size), pos, size)
    return jnp.zeros((size,), jnp.int32).at[slot].set(
        jnp.arange(mask.shape[0], dtype=jnp.int32), mode="drop"
    )


def _cubify_one(occ, *, max_verts: int, max_faces: int, align: str):
    D, H, W = occ.shape
    tri = _exposed_sides_jnp(occ).transpose(1, 2, 0, 3).reshape(-1)  # (h, w, d, side) order
    faces_needed = jnp.sum(tri).astype(jnp.int32)
    flat = _first_true(tri, max_faces)
    kept = jnp.arange(max_faces) < faces_needed
    hwd_t, t = jnp.divmod(flat, 12)
    hw, d = jnp.divmod(hwd_t, D)
    h, w = jnp.divmod(hw, W)
    corners = jnp.asarray(_CUBE_VERTS[_CUBE_FACES][..., [1, 0, 2]])[t]  # (F, 3, 3) (h, w, d)
    corners = corners + jnp.stack([h, w, d], -1)[:, None, :]
    ids = (corners[..., 0] * (W + 1) + corners[..., 1]) * (D + 1) + corners[..., 2]  # (F, 3)
    num_corners = (H + 1) * (W + 1) * (D + 1)
    used = jnp.zeros((num_corners,), bool).at[jnp.where(kept[:, None], ids, num_corners)].set(
        True, mode="drop"
    )
    new_id = jnp.cumsum(used.astype(jnp.int32)) - 1  # np.unique order: ascending corner id
    vert_ids = _first_true(used, max_verts)
    num_verts = jnp.minimum(jnp.sum(used), max_verts).astype(jnp.int32)
    verts = _corner_coords(vert_ids, D, H, W, align)
    verts = jnp.where((jnp.arange(max_verts) < num_verts)[:, None], verts, 0.0)
    faces = new_id[ids]
    ok = kept & jnp.all(faces < max_verts, axis=1)  # faces whose verts all fit
    rows = _first_true(ok, max_faces)
    num_faces = jnp.sum(ok).astype(jnp.int32)
    faces = jnp.where((jnp.arange(max_faces) < num_faces)[:, None], faces[rows], -1)
    verts_needed = _num_surface_corners(occ)
    overflow = (faces_needed > max_faces) | (num_faces < jnp.minimum(faces_needed, max_faces))
    faces = faces.astype(jnp.int32)
    return verts, faces, num_verts, num_faces, faces_needed, verts_needed, overflow


@partial(jax.jit, static_argnames=("max_verts", "max_faces", "align"))
def _cubify_batch(voxels, thresh, *, max_verts: int, max_faces: int, align: str):
    fn = partial(_cubify_one, max_verts=max_verts, max_faces=max_faces, align=align)
    return jax.vmap(fn)(voxels >= thresh)


def cubify_padded(
    voxels, thresh, *, max_verts: int, max_faces: int, align: str = "topleft"
) -> CubifyResult:
    """`cubify` with a static capacity: jittable, and never silently incomplete.

    The meshes equal `cubify(voxels, thresh, align=align)` (same vertex and face order) when
    they fit; otherwise the faces beyond `max_faces`, and those using a vertex beyond
    `max_verts`, are dropped and `overflow` says so, with the sizes the complete meshes need.
    A closed cube mesh has about half as many vertices as faces.

    Args:
        voxels: (N, D, H, W) float occupancy probabilities (may be traced).
        thresh: occupied when `voxels >= thresh` (may be traced).
        max_verts, max_faces: static capacities per mesh.
        align: as `cubify`.

    Returns:
        `CubifyResult(meshes, num_faces_needed, num_verts_needed, overflow)`.
    """
    if align not in _ALIGN:
        raise ValueError(f"align must be one of {_ALIGN}, got {align!r}")
    for name, value in (("max_verts", max_verts), ("max_faces", max_faces)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    voxels = jnp.asarray(voxels)
    if voxels.ndim != 4:
        raise ValueError(f"voxels must be (N, D, H, W), got {voxels.shape}")
    if align != "corner" and min(voxels.shape[1:], default=2) < 2:
        raise ValueError(f"voxels must have D, H, W >= 2 with align={align!r}, got {voxels.shape}")
    out = _cubify_batch(voxels, jnp.asarray(thresh, voxels.dtype), max_verts=int(max_verts),
                        max_faces=int(max_faces), align=align)  # fmt: skip
    verts, faces, num_verts, num_faces, faces_needed, verts_needed, overflow = out
    meshes = Meshes(verts, faces, num_verts=num_verts, num_faces=num_faces)
    return CubifyResult(meshes, faces_needed, verts_needed, overflow)
