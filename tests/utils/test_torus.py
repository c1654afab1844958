"""torus: PyTorch3D layout, watertight and outward, area/volume vs closed forms."""

from math import cos, pi, sin

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jax3d.utils import torus, torus_verts_faces
from tests.utils.mesh_checks import (
    assert_closed_and_consistent,
    face_areas_naive,
    face_normals_naive,
    get_meshes_class,
    signed_volume_naive,
)


def torus_naive(r, R, sides, rings):
    """Per-element loops over rings and sides, in the order PyTorch3D documents."""
    verts = []
    for i in range(rings):
        for j in range(sides):
            phi, theta = 2 * pi * i / rings, 2 * pi * j / sides
            verts.append([(R + r * cos(theta)) * cos(phi), (R + r * cos(theta)) * sin(phi)])
            verts[-1].append(r * sin(theta))
    faces = []
    for i0 in range(-1, rings - 1):
        for j0 in range(-1, sides - 1):
            i1, j1 = i0 + 1, j0 + 1
            v = lambda i, j: (i % rings) * sides + (j % sides)  # noqa: E731
            faces += [[v(i0, j0), v(i1, j0), v(i1, j1)], [v(i1, j1), v(i0, j1), v(i0, j0)]]
    return np.array(verts), np.array(faces)


@pytest.mark.parametrize("sides, rings", [(3, 3), (4, 7), (16, 32)])
def test_matches_naive_layout(sides, rings):
    verts, faces = torus_verts_faces(0.3, 1.2, sides, rings)
    verts_naive, faces_naive = torus_naive(0.3, 1.2, sides, rings)
    assert verts.dtype == np.float32 and faces.dtype == np.int32
    assert verts.shape == (rings * sides, 3) and faces.shape == (2 * rings * sides, 3)
    np.testing.assert_allclose(verts, verts_naive, atol=1e-6)
    np.testing.assert_array_equal(faces, faces_naive)


def tube_centres(verts, R):
    """Closest point of the tube's centre circle (radius R in the XY plane) to each vertex."""
    xy = verts[..., :2] / np.linalg.norm(verts[..., :2], axis=-1, keepdims=True)
    return np.concatenate([R * xy, np.zeros_like(verts[..., :1])], axis=-1)


@given(
    r=st.floats(0.05, 0.9),
    big_r=st.floats(1.0, 3.0),
    sides=st.integers(3, 24),
    rings=st.integers(3, 24),
)
def test_closed_outward_and_on_the_torus(r, big_r, sides, rings):
    verts, faces = torus_verts_faces(r, big_r, sides, rings)
    assert_closed_and_consistent(faces)
    v = verts.astype(np.float64)
    # Every vertex satisfies the implicit equation of the torus.
    np.testing.assert_allclose(np.hypot(np.hypot(v[:, 0], v[:, 1]) - big_r, v[:, 2]), r, atol=1e-5)
    # Normals point away from the tube's centre line, and the enclosed volume is positive.
    # "Away" from the polygonal centre line: from the mean of the corners' ring centres.
    away = (v[faces] - tube_centres(v[faces], big_r)).mean(axis=1)
    assert np.all(np.einsum("fi,fi->f", face_normals_naive(v, faces), away) > 0)
    assert signed_volume_naive(v, faces) > 0


def test_area_and_volume_converge_to_closed_forms():
    r, big_r = 0.4, 1.5
    verts, faces = torus_verts_faces(r, big_r, 64, 128)
    area = face_areas_naive(verts, faces).sum()
    volume = signed_volume_naive(verts, faces)
    assert abs(area - 4 * pi**2 * big_r * r) / (4 * pi**2 * big_r * r) < 0.01
    assert abs(volume - 2 * pi**2 * big_r * r**2) / (2 * pi**2 * big_r * r**2) < 0.01
    coarse = signed_volume_naive(*torus_verts_faces(r, big_r, 16, 32))
    assert coarse < volume < 2 * pi**2 * big_r * r**2  # inscribed polyhedra grow towards it


@pytest.mark.parametrize(
    "args, err, name",
    [
        ((0.0, 1.0, 8, 8), ValueError, "r"),
        ((0.5, -1.0, 8, 8), ValueError, "R"),
        ((0.5, float("nan"), 8, 8), ValueError, "R"),
        ((0.5, 1.0, 2, 8), ValueError, "sides"),
        ((0.5, 1.0, 8, 0), ValueError, "rings"),
        ((0.5, 1.0, 8.0, 8), TypeError, "sides"),
        (("a", 1.0, 8, 8), TypeError, "r"),
    ],
)
def test_invalid_args(args, err, name):
    with pytest.raises(err, match=f"^{name} "):
        torus_verts_faces(*args)


def test_meshes_wrapper():
    meshes_cls = get_meshes_class()
    mesh = torus(0.5, 1.0, 6, 8)
    assert isinstance(mesh, meshes_cls) and len(mesh) == 1
    np.testing.assert_array_equal(
        np.asarray(mesh.faces_packed()), torus_verts_faces(0.5, 1, 6, 8)[1]
    )
