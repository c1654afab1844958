"""Utah teapot: tessellation vs a de Casteljau reference, seams merged, outward, book bbox."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from jax3d.utils import TEAPOT_SCALE, teapot, teapot_uvs, teapot_verts_faces
from jax3d.utils.teapot_data import TEAPOT_CONTROL_POINTS, TEAPOT_PATCHES
from tests.utils.mesh_checks import (
    directed_edge_counts_naive,
    face_areas_naive,
    get_meshes_class,
    outward_fraction_naive,
    signed_volume_naive,
    undirected_edge_counts_naive,
)

# Bounding box of the book's teapot.obj (Y up), which the procedural teapot reproduces.
BOOK_BBOX = np.array([[-0.957194, 0.0, -0.638129], [1.094273, 1.005054, 0.638129]])


def de_casteljau_naive(ctrl, t, s):
    """Point of a bicubic Bezier patch by repeated linear interpolation: ctrl (4, 4, 3)."""

    def curve(points, x):
        points = list(points)
        while len(points) > 1:
            points = [(1 - x) * a + x * b for a, b in zip(points[:-1], points[1:])]
        return points[0]

    return curve([curve(row, s) for row in ctrl], t)


def teapot_points_naive(n):
    """All patch grid points in Y-up book units, unmerged: (32 (n+1)^2, 3) float64."""
    ctrl = np.array(TEAPOT_CONTROL_POINTS)[np.array(TEAPOT_PATCHES) - 1].reshape(32, 4, 4, 3)
    pts = [
        de_casteljau_naive(c, a / n, b / n)
        for c in ctrl
        for a in range(n + 1)
        for b in range(n + 1)
    ]
    x, y, z = np.array(pts).T
    return TEAPOT_SCALE * np.stack([x, z, -y], axis=1)


@pytest.mark.parametrize("n", [2, 3, 6])
def test_counts_and_no_degenerate_faces(n):
    verts, faces = teapot_verts_faces(n)
    assert verts.dtype == np.float32 and faces.dtype == np.int32
    assert faces.shape == (64 * n * n - 8 * n, 3)  # 8 pole patches lose n triangles each
    assert np.all(np.isfinite(verts))
    assert len(np.unique(faces)) == len(verts)  # every vertex used
    assert np.all((faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]))
    assert np.all(faces[:, 2] != faces[:, 0])
    assert face_areas_naive(verts, faces).min() > 1e-8


@pytest.mark.parametrize("n", [2, 3])
def test_vertices_are_the_merged_bezier_grid(n):
    verts, _ = teapot_verts_faces(n)
    naive = teapot_points_naive(n)
    # Every naive point has a vertex at its position, and no two vertices coincide.
    dists = np.linalg.norm(naive[:, None] - verts[None].astype(np.float64), axis=-1)
    assert dists.min(axis=1).max() < 1e-6
    self_dists = np.linalg.norm(verts[:, None] - verts[None], axis=-1) + np.eye(len(verts))
    assert self_dists.min() > 1e-4
    assert len(verts) == len(np.unique(np.round(naive, 6), axis=0))


@pytest.mark.parametrize("n", [2, 4])
def test_seams_merged_manifold_and_consistent(n):
    _, faces = teapot_verts_faces(n)
    undirected = undirected_edge_counts_naive(faces)
    assert max(undirected.values()) == 2  # manifold: no edge in more than two faces
    assert max(directed_edge_counts_naive(faces).values()) == 1  # consistent winding
    # Open boundaries: the rim's inner lip (4n), the lid's edge (4n), the spout's two ends
    # (2n + 2n) and the handle's two ends (2n + 2n) = 16 n edges; unmerged seams would add more.
    assert sum(c == 1 for c in undirected.values()) == 16 * n


def test_mirror_symmetric_about_xy_plane():
    verts, _ = teapot_verts_faces(4)
    mirrored = verts * np.array([1, 1, -1], np.float32)
    dists = np.linalg.norm(mirrored[:, None] - verts[None], axis=-1).min(axis=1)
    assert dists.max() < 1e-6


def test_outward_majority_and_positive_volume():
    verts, faces = teapot_verts_faces(3)
    assert outward_fraction_naive(verts, faces) > 0.98
    assert outward_fraction_naive(verts, faces[:, ::-1]) < 0.02  # the check can fail
    assert signed_volume_naive(verts, faces) > 0


def test_bounding_box_like_the_book():
    verts, _ = teapot_verts_faces(8)
    bbox = np.stack([verts.min(axis=0), verts.max(axis=0)])
    np.testing.assert_allclose(bbox, BOOK_BBOX, atol=3e-3)
    assert verts[:, 1].min() == 0.0  # base on the ground plane


def read_obj_naive(path):
    lines = open(path).read().splitlines()
    verts = [[float(x) for x in ln.split()[1:4]] for ln in lines if ln.startswith("v ")]
    faces = [[int(t.split("/")[0]) - 1 for t in ln.split()[1:]] for ln in lines if ln[:2] == "f "]
    return np.array(verts), np.array(faces)


def test_matches_book_teapot_obj(data):
    book_verts, book_faces = read_obj_naive(data("meshes/teapot.obj"))
    verts, faces = teapot_verts_faces(8)
    bbox = np.stack([verts.min(axis=0), verts.max(axis=0)])
    np.testing.assert_allclose(bbox, [book_verts.min(axis=0), book_verts.max(axis=0)], atol=3e-3)
    ours, book = signed_volume_naive(verts, faces), signed_volume_naive(book_verts, book_faces)
    assert abs(ours - book) / book < 0.03
    # Most book vertices lie on our surface (its spout differs slightly where it meets the body).
    nearest, _ = cKDTree(teapot_points_naive(24)).query(book_verts)
    assert np.median(nearest) < 4e-3 and np.mean(nearest < 1e-2) > 0.9


@pytest.mark.parametrize("n", [2, 5])
def test_uvs(n):
    _, faces = teapot_verts_faces(n)
    verts_uvs, faces_uvs = teapot_uvs(n)
    assert verts_uvs.shape == ((n + 1) ** 2, 2) and verts_uvs.dtype == np.float32
    assert faces_uvs.shape == faces.shape and faces_uvs.dtype == np.int32
    assert verts_uvs.min() == 0.0 and verts_uvs.max() == 1.0
    np.testing.assert_allclose(np.unique(verts_uvs[:, 0]), np.linspace(0, 1, n + 1), atol=1e-7)
    tri = verts_uvs.astype(np.float64)[faces_uvs]
    d1, d2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    signed = 0.5 * (d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0])
    np.testing.assert_allclose(signed, 0.5 / n**2, rtol=1e-5)  # CCW, half a grid cell each


def test_uvs_follow_the_surface_parameters():
    # On the body (first patch) the rim is at v = 1 and vertex positions follow the grid.
    n = 4
    verts, faces = teapot_verts_faces(n)
    verts_uvs, faces_uvs = teapot_uvs(n)
    ctrl = np.array(TEAPOT_CONTROL_POINTS)[np.array(TEAPOT_PATCHES[0]) - 1].reshape(4, 4, 3)
    for f in range(2 * n * n):  # the first patch's triangles come first
        for k in range(3):
            u, v = verts_uvs[faces_uvs[f, k]]
            x, y, z = de_casteljau_naive(ctrl, 1.0 - v, 1.0 - u)
            expected = TEAPOT_SCALE * np.array([x, z, -y])
            np.testing.assert_allclose(verts[faces[f, k]], expected, atol=1e-6)


@pytest.mark.parametrize("bad, err", [(0, ValueError), (2.0, TypeError)])
def test_invalid_subdivisions(bad, err):
    with pytest.raises(err, match="subdivisions"):
        teapot_verts_faces(bad)
    with pytest.raises(err, match="subdivisions"):
        teapot_uvs(bad)


def test_meshes_wrapper():
    meshes_cls = get_meshes_class()
    mesh = teapot(2)
    assert isinstance(mesh, meshes_cls) and len(mesh) == 1
    np.testing.assert_array_equal(np.asarray(mesh.faces_packed()), teapot_verts_faces(2)[1])


def test_coarsest_teapot_drops_flat_triangles():
    verts, faces = teapot_verts_faces(1)
    assert len(faces) == 64 - 8 - 4 and face_areas_naive(verts, faces).min() > 1e-8
