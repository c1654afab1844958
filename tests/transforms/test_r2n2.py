"""R2N2 / Mesh R-CNN coordinate conventions against their defining formulas."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.transforms import (
    VoxelSpace,
    blender_intrinsic_matrix,
    blender_ndc_to_camera,
    camera_to_voxel,
    project_verts,
    r2n2_extrinsic_matrix,
    voxel_to_camera,
)


def extrinsic_naive(azimuth, elevation, distance):
    """Mesh R-CNN's recipe as matrices: a rotation about Blender's z by -azimuth, about y by
    elevation, the object-to-camera axis permutation, then the OBJ-import rotation."""
    a, e = -np.deg2rad(azimuth), -np.deg2rad(elevation)
    ca, sa, ce, se = np.cos(a), np.sin(a), np.cos(e), np.sin(e)
    world_to_obj = np.array([[ca * ce, sa * ce, -se], [-sa, ca, 0], [ca * se, sa * se, ce]])
    obj_to_cam = np.array([[0.0, 1, 0], [0, 0, 1], [1, 0, 0]])
    RT = np.eye(4)
    RT[:3, :3] = obj_to_cam @ world_to_obj
    RT[:3, 3] = -obj_to_cam @ np.array([distance, 0.0, 0.0])
    obj_import = np.array([[1.0, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
    return RT @ obj_import


def test_extrinsic_matches_recipe_and_geometry():
    rng = np.random.default_rng(0)
    az, el, d = rng.uniform(0, 360, 5), rng.uniform(-30, 60, 5), rng.uniform(1, 2, 5)
    RT = r2n2_extrinsic_matrix(az, el, d, np.float64)
    assert RT.shape == (5, 4, 4)
    for k in range(5):
        np.testing.assert_allclose(RT[k], extrinsic_naive(az[k], el[k], d[k]), atol=1e-12)
        R, t = RT[k, :3, :3], RT[k, :3, 3]
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(R) == pytest.approx(1.0)
        np.testing.assert_allclose(t, [0, 0, -d[k]], atol=1e-12)  # origin at depth d
        centre = -R.T @ t  # camera position in the world: elevation above the XZ plane
        assert np.degrees(np.arcsin(centre[1] / d[k])) == pytest.approx(el[k])
        np.testing.assert_allclose(R[1] @ [0, 1, 0], np.cos(np.deg2rad(el[k])))  # +Y up


def test_projection_round_trips_and_works_on_jax_arrays():
    rng = np.random.default_rng(1)
    cam = rng.uniform(-0.3, 0.3, (7, 3)) + [0, 0, -1.3]
    K = blender_intrinsic_matrix(np.float64)
    ndc = project_verts(cam, K)
    np.testing.assert_allclose(ndc[:, 0], 2.1875 * cam[:, 0] / -cam[:, 2])
    np.testing.assert_allclose(blender_ndc_to_camera(ndc), cam, atol=1e-12)
    vox = camera_to_voxel(cam)
    np.testing.assert_allclose(voxel_to_camera(vox), cam, atol=1e-10)
    assert np.all(np.sign(vox[:, 1]) == -np.sign(cam[:, 1]))  # y flipped to image rows
    vox_j = camera_to_voxel(jnp.asarray(cam, jnp.float32))
    assert isinstance(vox_j, jnp.ndarray)
    np.testing.assert_allclose(np.asarray(vox_j), vox, atol=2e-5)
    near, far = VoxelSpace().depth_range  # z = -1 and z = +1 of the grid
    np.testing.assert_allclose(camera_to_voxel(np.array([0.0, 0, -near]))[2], -1.0, atol=1e-9)
    np.testing.assert_allclose(camera_to_voxel(np.array([0.0, 0, -far]))[2], 1.0, atol=1e-9)


def test_project_verts_clamps_w_and_validates():
    out = project_verts(np.array([[1.0, 1.0, 0.0]]), blender_intrinsic_matrix())
    assert np.all(np.isfinite(out))  # w = 0 is clamped to +0.1
    np.testing.assert_allclose(out[0, :2], [21.875, 21.875], rtol=1e-6)
    with pytest.raises(ValueError, match="verts"):
        project_verts(np.zeros((3, 2)), np.eye(4))
    with pytest.raises(ValueError, match="P must"):
        project_verts(np.zeros((3, 3)), np.eye(3))
    with pytest.raises(ValueError, match="zmin"):
        VoxelSpace(0.9, 0.8)
