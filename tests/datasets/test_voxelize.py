"""Solid voxelization against closed-form volumes and a naive generalised winding number."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from jax3d.datasets import (
    occupancy_from_points,
    voxelize_mesh,
    winding_numbers_on_grid,
)
from jax3d.ops import cubify
from jax3d.transforms import camera_to_voxel
from jax3d.utils import (
    cube_verts_faces,
    ico_sphere_verts_faces,
    teapot_verts_faces,
    torus_verts_faces,
)


def winding_number_naive(points, verts, faces):
    """Sum of signed solid angles / 4 pi (Van Oosterom and Strackee), float64."""
    tri = verts[faces][None] - points[:, None, None, :]  # (P, F, 3, 3)
    a, b, c = tri[..., 0, :], tri[..., 1, :], tri[..., 2, :]
    la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
    num = np.einsum("pfc,pfc->pf", a, np.cross(b, c))
    den = la * lb * lc + (a * b).sum(-1) * lc + (b * c).sum(-1) * la + (c * a).sum(-1) * lb
    return (2.0 * np.arctan2(num, den)).sum(-1) / (4.0 * np.pi)


def test_cube_volume_exact_on_an_aligned_grid_with_ties():
    v, f = cube_verts_faces()  # [-0.5, 0.5]^3
    xs = np.linspace(-1.0, 1.0, 9)  # grid lines run exactly along the cube's faces and edges
    w = winding_numbers_on_grid(v, f, xs, xs, xs)
    inside = np.all(np.abs(np.stack(np.meshgrid(xs, xs, xs, indexing="ij"))) < 0.5, axis=0)
    outside = np.any(np.abs(np.stack(np.meshgrid(xs, xs, xs, indexing="ij"))) > 0.5, axis=0)
    assert np.all(w[inside] == 1) and np.all(w[outside] == 0)
    grid = voxelize_mesh(v, f, 16, bounds=((-1, -1, -1), (1, 1, 1)), surface=False)
    assert grid.occupancy.sum() * grid.voxel_size**3 == pytest.approx(1.0)


@pytest.mark.parametrize("robust", [False, True])
def test_matches_naive_winding_number(robust):
    rng = np.random.default_rng(0)
    v, f = torus_verts_faces(0.3, 1.0, 8, 12)  # a hole through the middle
    v = v @ np.linalg.qr(rng.normal(size=(3, 3)))[0]  # not axis-aligned
    xs, ys, zs = (np.sort(rng.uniform(-1.3, 1.3, n)) for n in (11, 10, 9))
    w = winding_numbers_on_grid(v, f, xs, ys, zs, robust=robust)
    zz, yy, xx = np.meshgrid(zs, ys, xs, indexing="ij")
    ref = winding_number_naive(np.stack([xx, yy, zz], -1).reshape(-1, 3), v, f)
    np.testing.assert_allclose(w.reshape(-1), np.round(ref), atol=1e-9)
    assert 0 < (np.abs(w) >= 0.5).sum() < w.size


def test_sphere_and_torus_volumes():
    v, f = ico_sphere_verts_faces(4)
    grid = voxelize_mesh(v, f, 64, surface=False)
    exact = trimesh.Trimesh(v, f, process=False).volume
    assert grid.occupancy.sum() * grid.voxel_size**3 == pytest.approx(exact, rel=0.01)
    v, f = torus_verts_faces(0.25, 0.75, 16, 32)
    grid = voxelize_mesh(v, f, 64, surface=False)
    exact = trimesh.Trimesh(v, f, process=False).volume
    assert grid.occupancy.sum() * grid.voxel_size**3 == pytest.approx(exact, rel=0.02)
    assert not grid.occupancy[32, 32, 32]  # the hole


def test_overlapping_parts_fill_their_union():
    v, f = cube_verts_faces()
    v2 = np.concatenate([v, v + [0.5, 0.0, 0.0]])  # two closed cubes sharing half their volume
    f2 = np.concatenate([f, f + 8])
    grid = voxelize_mesh(v2, f2, 24, bounds=((-0.5, -0.75, -0.75), (1.0, 0.75, 0.75)),
                         surface=False)  # fmt: skip
    assert grid.occupancy.sum() * grid.voxel_size**3 == pytest.approx(1.5)  # parity gives 1.0


def test_robust_mode_fills_the_open_teapot():
    v, f = teapot_verts_faces(3)  # not watertight (spout, lid)
    assert not trimesh.Trimesh(v, f, process=False).is_watertight
    grid = voxelize_mesh(v, f, 40, surface=False, robust=True)
    centres = grid.centers()
    rng = np.random.default_rng(0)
    pick = rng.choice(len(centres), 40, replace=False)
    assert np.all(np.abs(winding_number_naive(centres[pick], v, f)) > 0.4)
    volume = grid.occupancy.sum() * grid.voxel_size**3
    assert volume == pytest.approx(trimesh.Trimesh(v, f, process=False).volume, rel=0.05)


def test_surface_cells_keep_thin_plates():
    v, f = cube_verts_faces()
    plate = v * [1.0, 0.01, 1.0] + [0.0, 1 / 32 + 0.01, 0.0]  # inside the cells y = 8, off centre
    lo, hi = (-0.5, -0.5, -0.5), (0.5, 0.5, 0.5)
    solid = voxelize_mesh(plate, f, 16, bounds=(lo, hi), surface=False)
    shell = voxelize_mesh(plate, f, 16, bounds=(lo, hi), surface=True)
    assert solid.occupancy.sum() == 0
    assert shell.occupancy.sum() == 16 * 16 and np.all(shell.occupancy[:, 8, :])


def test_occupancy_from_points_uses_mesh_rcnn_rounding():
    G = 9
    vox = np.array([[-1.0, -1.0, -1.0], [0.0, 0.5, 1.0], [0.26, 0.0, 0.0], [1.2, 0.0, 0.0]])
    from jax3d.transforms import voxel_to_camera

    grid = occupancy_from_points(voxel_to_camera(vox), G)
    assert grid.sum() == 3  # the last point is outside the grid
    assert grid[0, 0, 0] and grid[8, 6, 4] and grid[4, 4, 5]  # round(4 * (c + 1)) on [z, y, x]
    pts = voxel_to_camera(vox[:3])
    np.testing.assert_allclose(camera_to_voxel(pts), vox[:3], atol=1e-7)


def test_validation():
    v, f = cube_verts_faces()
    with pytest.raises(ValueError, match="verts"):
        voxelize_mesh(v[:, :2], f, 8)
    with pytest.raises(ValueError, match="faces index"):
        voxelize_mesh(v, f + 10, 8)
    with pytest.raises(ValueError, match="resolution"):
        voxelize_mesh(v, f, 0)
    with pytest.raises(ValueError, match="increasing"):
        winding_numbers_on_grid(v, f, [0.0, -1.0], [0.0], [0.0])
    with pytest.raises(ValueError, match="voxel_size"):
        occupancy_from_points(np.zeros((1, 3)), 1)
    padded = np.concatenate([f, -np.ones((3, 3), f.dtype)])  # padding rows are ignored
    a = voxelize_mesh(v, padded, 8).occupancy
    assert np.array_equal(a, voxelize_mesh(v, f, 8).occupancy)


@pytest.mark.parametrize("align, encloses", [("center", True), ("topleft", False)])
def test_center_cubified_grid_encloses_the_object_within_a_voxel(align, encloses):
    """The frames of the voxel pipeline agree: a box in camera space, voxelized as ShapeRenders
    does (a fine solid grid, its centres to Mesh R-CNN's G^3 grid by rounding), then cubified
    with ``align="center"`` (each voxel's cube centred on its grid point) encloses the box in
    voxel coordinates, and exceeds it by at most one voxel on each side (the rounding marks a
    cell for any fine centre within half a voxel, and its cube reaches half a voxel further).
    The model's ``"topleft"`` cubes are half a voxel off, so they do not enclose it."""
    G = 24
    lo, hi = np.array([-0.21, -0.13, -1.62]), np.array([0.17, 0.24, -1.18])  # camera frame
    v, f = cube_verts_faces()
    verts = lo + (np.asarray(v, np.float64) + 1.0) / 2.0 * (hi - lo)
    centers = voxelize_mesh(verts, np.asarray(f), 64).centers()
    grid = occupancy_from_points(centers, G)
    mesh = cubify(grid[None].astype(np.float32), 0.5, align=align)
    cub = np.asarray(mesh.verts_padded()[0])
    box = camera_to_voxel(verts)
    tol = 2.0 / (G - 1) * 0.05  # a fine cell of the 64^3 solid grid, in G-voxel units
    inside = np.all(cub.min(0) <= box.min(0) + tol) and np.all(cub.max(0) >= box.max(0) - tol)
    assert inside == encloses
    if encloses:
        voxel = 2.0 / (G - 1)
        assert np.all(box.min(0) - cub.min(0) <= voxel + tol)
        assert np.all(cub.max(0) - box.max(0) <= voxel + tol)
