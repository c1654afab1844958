"""Solid voxelization of triangle meshes, and Mesh R-CNN's occupancy grids.

`winding_numbers_on_grid` counts, for every point of a rectilinear grid, the signed crossings
of the surface along a ray: a ray leaving a solid through a face whose outward normal points
along the ray counts +1, entering -1. For a closed, outward-oriented surface the count is the
winding number: 1 inside, 0 outside, 2 where two closed parts overlap (so a union of
watertight parts, such as the furniture of `jax3d.datasets.furniture`, voxelizes without a
boolean union), and it does not depend on the ray. For surfaces with small holes (the Utah
teapot) `robust=True` averages the counts of the six axis directions (a discrete generalised
winding number). Rays are cast along grid lines, so a whole `(D, H, W)` grid costs one pass
over (triangle, grid line) pairs; rays through an edge or a vertex are counted by exactly one
of the triangles that share it (a top-left-like tie rule on canonically computed edge functions).

`voxelize_mesh` turns that into an occupancy grid like binvox's "presolid" grids (cells whose
centre is inside, plus cells the surface passes through), and `occupancy_from_points` is Mesh
R-CNN's projection of such cells into its camera-aligned `(G, G, G)` grid
(`jax3d.transforms.r2n2`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jax3d.transforms.r2n2 import VoxelSpace, camera_to_voxel

__all__ = [
    "VoxelGrid",
    "occupancy_from_points",
    "voxelize_mesh",
    "winding_numbers_on_grid",
]

# (u, v, w) axis orders: rays run along w; each is a cyclic permutation of (x, y, z), so the
# w-component of (P1 - P0) x (P2 - P0) is the 2-D cross product in (u, v).
_AXES = {0: (1, 2, 0), 1: (2, 0, 1), 2: (0, 1, 2)}
# Output [z, y, x] from the (u, v, w) array of each ray axis.
_TO_ZYX = {0: (1, 0, 2), 1: (0, 2, 1), 2: (2, 1, 0)}


class VoxelGrid(NamedTuple):
    """A regular occupancy grid.

    occupancy: (D, H, W) bool, indexed [z, y, x].
    origin: (3,) float64 (x, y, z) of the centre of cell [0, 0, 0].
    voxel_size: the cell edge length.
    """

    occupancy: np.ndarray
    origin: np.ndarray
    voxel_size: float

    def centers(self) -> np.ndarray:
        """(N, 3) float64 (x, y, z) centres of the occupied cells."""
        z, y, x = np.nonzero(self.occupancy)
        return self.origin + self.voxel_size * np.stack([x, y, z], -1).astype(np.float64)


def _check_mesh(verts, faces) -> tuple[np.ndarray, np.ndarray]:
    verts = np.asarray(verts, np.float64)
    faces = np.asarray(faces)
    if verts.ndim != 2 or verts.shape[1] != 3:
        raise ValueError(f"verts must be (V, 3), got {verts.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces must be (F, 3), got {faces.shape}")
    if faces.size and not np.issubdtype(faces.dtype, np.integer):
        raise TypeError(f"faces must be integers, got {faces.dtype}")
    faces = faces[np.all(faces >= 0, axis=1)]  # padding rows
    if faces.size and faces.max() >= len(verts):
        raise ValueError(f"faces index vertex {faces.max()} of {len(verts)}")
    if not np.all(np.isfinite(verts)):
        raise ValueError("verts contain nan or inf")
    return verts, faces.astype(np.int64)


def _candidate_pairs(lo, hi, cu, cv):
    """(triangle, a, b) index arrays of grid lines (cu[a], cv[b]) in each triangle's box."""
    a0 = np.searchsorted(cu, lo[:, 0], "left")
    a1 = np.searchsorted(cu, hi[:, 0], "right")
    b0 = np.searchsorted(cv, lo[:, 1], "left")
    b1 = np.searchsorted(cv, hi[:, 1], "right")
    na, nb = np.maximum(a1 - a0, 0), np.maximum(b1 - b0, 0)
    count = na * nb
    tri = np.repeat(np.arange(len(lo)), count)
    local = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    nb_t = nb[tri]
    return tri, a0[tri] + local // np.maximum(nb_t, 1), b0[tri] + local % np.maximum(nb_t, 1)


def _edge_terms(p, q, pts):
    """Edge function of the edge p -> q at pts, computed from the lexicographically smaller
    endpoint so that the two triangles sharing an edge get exactly opposite values.

    Returns (value in the p -> q direction, whether p -> q is the canonical direction)."""
    canon = (p[:, 0] < q[:, 0]) | ((p[:, 0] == q[:, 0]) & (p[:, 1] < q[:, 1]))
    a = np.where(canon[:, None], p, q)
    b = np.where(canon[:, None], q, p)
    e = (b[:, 0] - a[:, 0]) * (pts[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (pts[:, 0] - a[:, 0])
    return np.where(canon, e, -e), canon


def _axis_hits(tri, axis: int, coords):
    """Crossings of the grid lines along `axis` with the surface.

    Returns (a, b, w, sign): the line (u = cu[a], v = cv[b]) crosses the surface at w = w_hit
    with `sign` +1 where the outward normal points along +w (the line leaves a solid), -1
    where it enters."""
    ui, vi, wi = _AXES[axis]
    cu, cv = coords[ui], coords[vi]
    empty = (np.zeros(0, np.int64),) * 2 + (np.zeros(0), np.zeros(0, np.int32))
    uv = tri[:, :, [ui, vi]]  # (F, 3, 2)
    area2 = (uv[:, 1, 0] - uv[:, 0, 0]) * (uv[:, 2, 1] - uv[:, 0, 1]) - (
        uv[:, 1, 1] - uv[:, 0, 1]
    ) * (uv[:, 2, 0] - uv[:, 0, 0])
    keep = area2 != 0  # triangles seen edge-on are grazed, never crossed
    uv, w, area2 = uv[keep], tri[keep][:, :, wi], area2[keep]
    if len(uv) == 0:
        return empty
    t, a, b = _candidate_pairs(uv.min(1), uv.max(1), cu, cv)
    if len(t) == 0:
        return empty
    pts = np.stack([cu[a], cv[b]], -1)
    p0, p1, p2 = uv[t, 0], uv[t, 1], uv[t, 2]
    sgn = np.sign(area2[t])
    inside = np.ones(len(t), bool)
    lam = []
    for p, q in ((p1, p2), (p2, p0), (p0, p1)):  # the edge opposite vertex 0, 1, 2
        e, canon = _edge_terms(p, q, pts)
        es = e * sgn
        # On the edge itself, claim it when the interior is on the positive side of the
        # canonical edge function: of two triangles continuing the surface across the edge
        # exactly one does, and a fold (both on one side, opposite signs) is counted twice or
        # not at all, which cancels.
        inside &= (es > 0) | ((es == 0) & ((sgn > 0) == canon))
        lam.append(e / area2[t])
    hit_w = lam[0] * w[t, 0] + lam[1] * w[t, 1] + lam[2] * w[t, 2]
    return a[inside], b[inside], hit_w[inside], sgn[inside].astype(np.int32)


def _axis_counts(hits, axis: int, coords, robust: bool) -> np.ndarray:
    """(D, H, W) signed crossing counts of the rays along +axis (and -axis if robust)."""
    ui, vi, wi = _AXES[axis]
    a, b, hit_w, sgn = hits
    cw = coords[wi]
    delta = np.zeros((len(coords[ui]), len(coords[vi]), len(cw) + 1), np.int32)
    np.add.at(delta, (a, b, np.searchsorted(cw, hit_w, "left")), sgn)  # slot: #coords below
    above = np.cumsum(delta[..., ::-1], -1)[..., ::-1][..., 1:]  # hits beyond point i
    counts = above
    if robust:  # the reversed ray: hits before point i, with the opposite sign
        counts = 0.5 * (above - np.cumsum(delta, -1)[..., :-1])
    return counts.transpose(_TO_ZYX[axis])


def _check_axes(xs, ys, zs) -> list[np.ndarray]:
    coords = [np.asarray(c, np.float64).reshape(-1) for c in (xs, ys, zs)]
    for name, c in zip("xyz", coords):
        if len(c) > 1 and np.any(np.diff(c) <= 0):
            raise ValueError(f"{name}s must be strictly increasing")
    return coords


def winding_numbers_on_grid(verts, faces, xs, ys, zs, *, robust: bool = False) -> np.ndarray:
    """Winding numbers of a triangle mesh at the points of a rectilinear grid.

    Args:
        verts: (V, 3) float vertices.
        faces: (F, 3) int faces (rows with a negative index are padding and ignored); a closed
            part should be outward-oriented (counter-clockwise seen from outside).
        xs, ys, zs: (W,), (H,), (D,) increasing grid coordinates.
        robust: average the crossing counts of the six axis-aligned ray directions instead of
            counting along +x only (a discrete generalised winding number: tolerant of small
            holes and of parts that are not closed; three times slower).

    Returns:
        (D, H, W) float64 `w[k, j, i]` at `(xs[i], ys[j], zs[k])`: integers for
        `robust=False` (the +x ray count), multiples of 1/6 otherwise. Points inside are those
        with `|w| >= 0.5`.
    """
    verts, faces = _check_mesh(verts, faces)
    coords = _check_axes(xs, ys, zs)
    tri = verts[faces]
    axes = (0, 1, 2) if robust else (0,)
    total = sum(_axis_counts(_axis_hits(tri, k, coords), k, coords, robust) for k in axes)
    return total / 3.0 if robust else total.astype(np.float64)


def voxelize_mesh(
    verts,
    faces,
    resolution: int,
    *,
    bounds=None,
    surface: bool = True,
    robust: bool = False,
) -> VoxelGrid:
    """Solid occupancy of a mesh on a cubic grid (binvox-like: filled interior plus surface).

    Args:
        verts: (V, 3) float vertices; faces: (F, 3) int, closed parts outward-oriented (see
            `winding_numbers_on_grid`).
        resolution: R, cells per axis.
        bounds: ((xmin, ymin, zmin), (xmax, ymax, zmax)) of the region; by default the mesh's
            bounding box grown to a cube (its longest edge), centred on the box.
        surface: also mark the cells in which the surface crosses one of the cell's three
            axis-parallel centre lines, so that plates thinner than a cell are kept, as binvox
            keeps surface voxels.
        robust: average six ray directions (for meshes with small holes).

    Returns:
        `VoxelGrid` with `occupancy (R, R, R)` [z, y, x]: a cell is occupied when its centre
        has `|winding number| >= 0.5` (or, with `surface`, the surface crosses it).
    """
    verts, faces = _check_mesh(verts, faces)
    if not isinstance(resolution, (int, np.integer)) or resolution < 1:
        raise ValueError(f"resolution must be a positive int, got {resolution!r}")
    if bounds is None:
        lo, hi = verts.min(0), verts.max(0)
        centre, side = 0.5 * (lo + hi), float(np.max(hi - lo))
        lo, hi = centre - 0.5 * side, centre + 0.5 * side
    else:
        lo, hi = (np.asarray(b, np.float64).reshape(3) for b in bounds)
    size = float(np.max(hi - lo)) / resolution
    if not size > 0:
        raise ValueError(f"the grid region must have a positive size, got {lo} to {hi}")
    origin = lo + 0.5 * size
    coords = [origin[k] + size * np.arange(resolution) for k in range(3)]
    tri = verts[faces]
    hits = {k: _axis_hits(tri, k, coords) for k in ((0, 1, 2) if surface or robust else (0,))}
    if robust:
        w = sum(_axis_counts(hits[k], k, coords, True) for k in (0, 1, 2)) / 3.0
    else:
        w = _axis_counts(hits[0], 0, coords, False)
    occ = np.abs(w) >= 0.5
    if surface:
        for k, (a, b, hit_w, _) in hits.items():
            ui, vi, wi = _AXES[k]
            cell = np.floor((hit_w - lo[wi]) / size).astype(np.int64)
            ok = (cell >= 0) & (cell < resolution)
            idx = [None, None, None]
            idx[ui], idx[vi], idx[wi] = a[ok], b[ok], cell[ok]
            occ[idx[2], idx[1], idx[0]] = True
    return VoxelGrid(occ, origin, size)


def occupancy_from_points(points_camera, voxel_size: int, space: VoxelSpace | None = None):
    """Mesh R-CNN's voxel grid from points in camera space (its `voxelize`).

    Each point goes to voxel coordinates (`jax3d.transforms.r2n2.camera_to_voxel`), then to the
    index `round((G - 1) (c + 1) / 2)` on each axis; points outside the grid are dropped. Used
    with the centres of a solid object-space voxelization (binvox's or `voxelize_mesh`'s).

    Args:
        points_camera: (N, 3) float camera-space points.
        voxel_size: G.
        space: the depth range of the grid (default: Mesh R-CNN's ShapeNet range).

    Returns:
        (G, G, G) bool occupancy indexed [z, y, x].
    """
    pts = np.asarray(points_camera, np.float64).reshape(-1, 3)
    if not isinstance(voxel_size, (int, np.integer)) or voxel_size < 2:
        raise ValueError(f"voxel_size must be an int >= 2, got {voxel_size!r}")
    G = int(voxel_size)
    idx = np.round(0.5 * (G - 1) * (camera_to_voxel(pts, space) + 1.0)).astype(np.int64)
    ok = np.all((idx >= 0) & (idx < G), axis=1)
    grid = np.zeros((G, G, G), bool)
    grid[idx[ok, 2], idx[ok, 1], idx[ok, 0]] = True
    return grid
