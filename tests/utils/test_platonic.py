"""cube and the other Platonic solids: closed, outward, closed-form volumes, book meshes."""

import numpy as np
import pytest

from jax3d.utils import (
    cube,
    cube_verts_faces,
    dodecahedron,
    dodecahedron_verts_faces,
    octahedron,
    octahedron_verts_faces,
    tetrahedron,
    tetrahedron_verts_faces,
)
from tests.utils.mesh_checks import (
    assert_closed_and_consistent,
    face_areas_naive,
    face_normals_naive,
    get_meshes_class,
    signed_volume_naive,
)

PHI = (1 + np.sqrt(5)) / 2
# Closed forms for unit circumradius (the cube: unit side).
SOLIDS = {
    "cube": (cube_verts_faces, cube, 8, 12, 1.0),
    "tetrahedron": (tetrahedron_verts_faces, tetrahedron, 4, 4, 8 / (9 * np.sqrt(3))),
    "octahedron": (octahedron_verts_faces, octahedron, 6, 8, 4 / 3),
    "dodecahedron": (
        dodecahedron_verts_faces,
        dodecahedron,
        20,
        36,
        (15 + 7 * np.sqrt(5)) / 4 * (2 / (np.sqrt(3) * PHI)) ** 3,
    ),
}


@pytest.mark.parametrize("name", SOLIDS)
def test_counts_closed_outward_volume(name):
    fn, _, num_verts, num_faces, volume = SOLIDS[name]
    verts, faces = fn()
    assert verts.shape == (num_verts, 3) and verts.dtype == np.float32
    assert faces.shape == (num_faces, 3) and faces.dtype == np.int32
    assert_closed_and_consistent(faces)
    centroids = verts.astype(np.float64)[faces].mean(axis=1)
    assert np.all(np.einsum("fi,fi->f", face_normals_naive(verts, faces), centroids) > 0)
    np.testing.assert_allclose(signed_volume_naive(verts, faces), volume, rtol=1e-6)
    np.testing.assert_allclose(verts.mean(axis=0), 0.0, atol=1e-6)


@pytest.mark.parametrize("name", ["tetrahedron", "octahedron", "dodecahedron"])
def test_inscribed_in_unit_sphere_and_regular(name):
    verts, faces = SOLIDS[name][0]()
    np.testing.assert_allclose(np.linalg.norm(verts, axis=1), 1.0, atol=1e-6)
    # Regular: every vertex has the same distance to its nearest neighbours.
    dists = np.linalg.norm(verts[:, None] - verts[None], axis=-1) + 9 * np.eye(len(verts))
    np.testing.assert_allclose(dists.min(axis=1), dists.min(), rtol=1e-5)


def test_cube_geometry():
    verts, faces = cube_verts_faces()
    np.testing.assert_array_equal(np.abs(verts), 0.5)
    assert len(np.unique(verts, axis=0)) == 8
    np.testing.assert_allclose(face_areas_naive(verts, faces).sum(), 6.0)
    normals = face_normals_naive(verts, faces)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    # Each face normal is an axis direction and each of the 6 directions has two triangles.
    np.testing.assert_allclose(np.abs(normals).max(axis=1), 1.0)
    _, counts = np.unique(np.round(normals).astype(int), axis=0, return_counts=True)
    np.testing.assert_array_equal(counts, [2] * 6)


def test_copies_are_independent():
    verts, faces = cube_verts_faces()
    verts[0] = 7.0
    assert cube_verts_faces()[0][0, 0] == -0.5


def read_obj_verts_naive(path):
    return np.array([[float(x) for x in ln.split()[1:4]] for ln in open(path) if ln[:2] == "v "])


def test_cube_matches_book_cube(data):
    book = read_obj_verts_naive(data("meshes/cube.obj"))
    ours, _ = cube_verts_faces()
    np.testing.assert_array_equal(np.unique(book, axis=0), np.unique(ours, axis=0))


def test_dodecahedron_matches_book_vertices(data):
    book = read_obj_verts_naive(data("meshes/dodecahedron.obj"))
    ours, _ = dodecahedron_verts_faces()
    nearest = np.linalg.norm(book[:, None] - ours[None], axis=-1).min(axis=1)
    assert book.shape == ours.shape and nearest.max() < 1e-5


@pytest.mark.parametrize("name", SOLIDS)
def test_meshes_wrapper(name):
    meshes_cls = get_meshes_class()
    fn, wrapper = SOLIDS[name][:2]
    mesh = wrapper()
    assert isinstance(mesh, meshes_cls) and len(mesh) == 1
    np.testing.assert_array_equal(np.asarray(mesh.faces_packed()), fn()[1])
