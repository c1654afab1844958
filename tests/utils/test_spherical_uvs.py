"""spherical_uvs / ico_sphere_uvs: UVs reproduce directions, seam and poles handled."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jax3d.utils import ico_sphere_uvs, ico_sphere_verts_faces, spherical_uvs


def uv_to_direction_naive(uv):
    """Inverse of the documented mapping, float64: (..., 2) -> (..., 3) unit vectors."""
    lon = 2.0 * np.pi * (uv[..., 0].astype(np.float64) - 0.5)
    lat = np.pi * (uv[..., 1].astype(np.float64) - 0.5)
    return np.stack([np.cos(lat) * np.sin(lon), np.sin(lat), np.cos(lat) * np.cos(lon)], -1)


def uv_signed_areas(verts_uvs, faces_uvs):
    t = verts_uvs.astype(np.float64)[faces_uvs]
    d1, d2 = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    return 0.5 * (d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0])


@pytest.mark.parametrize("level", [1, 2, 3])
def test_shapes_and_ranges(level):
    verts, faces = ico_sphere_verts_faces(level)
    verts_uvs, faces_uvs = ico_sphere_uvs(level)
    assert verts_uvs.dtype == np.float32 and faces_uvs.dtype == np.int32
    assert faces_uvs.shape == faces.shape
    assert len(verts) <= len(verts_uvs) < len(verts) + 0.2 * len(faces)
    assert faces_uvs.min() == 0 and faces_uvs.max() == len(verts_uvs) - 1
    assert verts_uvs[:, 1].min() == 0.0 and verts_uvs[:, 1].max() == 1.0  # both poles
    assert verts_uvs[:, 0].min() >= 0.0 and verts_uvs[:, 0].max() < 1.2


@pytest.mark.parametrize("level", [1, 2, 3])
def test_uvs_reproduce_vertex_directions(level):
    verts, faces = ico_sphere_verts_faces(level)
    verts_uvs, faces_uvs = ico_sphere_uvs(level)
    corner_dirs = uv_to_direction_naive(verts_uvs[faces_uvs])  # (F, 3, 3)
    # Longitude is arbitrary at the poles; everything else must map back to its vertex.
    np.testing.assert_allclose(corner_dirs, verts[faces], atol=2e-5)


@pytest.mark.parametrize("level", [1, 2, 3])
def test_no_face_wraps_around_the_seam(level):
    verts_uvs, faces_uvs = ico_sphere_uvs(level)
    u = verts_uvs[faces_uvs][..., 0]
    # Faces next to a pole span up to ~0.18 in longitude; a face across the seam would span ~1.
    assert (u.max(axis=1) - u.min(axis=1)).max() < 0.25


@pytest.mark.parametrize("level", [1, 2, 3])
def test_uv_triangles_keep_the_outward_orientation(level):
    assert np.all(uv_signed_areas(*ico_sphere_uvs(level)) > 0)


def test_pole_corner_takes_mean_longitude():
    verts, faces = ico_sphere_verts_faces(2)
    verts_uvs, faces_uvs = ico_sphere_uvs(2)
    pole = np.abs(verts[:, 1]) > 1 - 1e-6
    corner_uv = verts_uvs[faces_uvs]
    for f, k in zip(*np.nonzero(pole[faces])):
        others = [j for j in range(3) if j != k]
        np.testing.assert_allclose(corner_uv[f, k, 0], corner_uv[f, others, 0].mean(), atol=1e-6)
        assert corner_uv[f, k, 1] in (0.0, 1.0)


@given(scale=st.floats(0.01, 100.0))
def test_scale_invariant(scale):
    verts, faces = ico_sphere_verts_faces(2)
    expected = ico_sphere_uvs(2)
    got = spherical_uvs(verts * np.float32(scale), faces)
    np.testing.assert_array_equal(got[1], expected[1])
    np.testing.assert_allclose(got[0], expected[0], atol=1e-5)


def test_invalid_inputs():
    verts, faces = ico_sphere_verts_faces(0)
    with pytest.raises(ValueError, match="verts"):
        spherical_uvs(verts[:, :2], faces)
    with pytest.raises(ValueError, match="faces"):
        spherical_uvs(verts, faces[:, :2])
    with pytest.raises(TypeError, match="faces"):
        spherical_uvs(verts, faces.astype(np.float32))
    with pytest.raises(ValueError, match="faces"):
        spherical_uvs(verts, faces + 1)
    with pytest.raises(ValueError, match="origin"):
        spherical_uvs(np.concatenate([verts[:-1], np.zeros((1, 3))]), faces)
    with pytest.raises(ValueError, match="finite"):
        spherical_uvs(np.where(verts > 0.8, np.nan, verts), faces)
    with pytest.raises(ValueError, match="level"):
        ico_sphere_uvs(-1)


@given(angle=st.floats(-np.pi, np.pi))
def test_rotation_about_up_axis_only_moves_the_seam(angle):
    verts, faces = ico_sphere_verts_faces(2)
    c, s = np.cos(angle), np.sin(angle)
    rot_y = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])  # column-vector rotation
    rotated = (verts.astype(np.float64) @ rot_y.T).astype(np.float32)
    verts_uvs, faces_uvs = spherical_uvs(rotated, faces)
    corner_uv = verts_uvs[faces_uvs]
    pole = np.abs(rotated[faces][..., 1]) > 1 - 1e-6
    got = uv_to_direction_naive(corner_uv)
    np.testing.assert_allclose(got[~pole], rotated[faces][~pole], atol=2e-5)
    assert np.all(uv_signed_areas(verts_uvs, faces_uvs) > 0)
    assert (corner_uv[..., 0].max(axis=1) - corner_uv[..., 0].min(axis=1)).max() < 0.25
