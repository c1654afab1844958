"""plot_pointcloud / plot_mesh_wireframe / plot_mesh / plot_losses: artists and files."""

import numpy as np
import pytest
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d.art3d import Line3DCollection, Poly3DCollection
from PIL import Image

from jax3d.utils import cube_verts_faces, ico_sphere_verts_faces
from jax3d.vis import mesh_edges, plot_losses, plot_mesh, plot_mesh_wireframe, plot_pointcloud


def edges_naive(faces):
    return sorted({tuple(sorted((f[i], f[(i + 1) % 3]))) for f in faces.tolist() for i in range(3)})


def test_mesh_edges_matches_naive():
    _, faces = ico_sphere_verts_faces(1)
    np.testing.assert_array_equal(mesh_edges(faces), edges_naive(faces))
    assert len(mesh_edges(faces)) == 120


def test_plot_pointcloud_writes_png(tmp_path):
    points = np.random.default_rng(0).normal(size=(50, 3))
    fig = plot_pointcloud(points, path=tmp_path / "pc.png", title="cloud")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    offsets = ax.collections[0]._offsets3d
    # Y-up world is drawn with matplotlib's z axis up: plot (x, -z, y).
    np.testing.assert_allclose(np.asarray(offsets[2]), points[:, 1])
    np.testing.assert_allclose(np.asarray(offsets[1]), -points[:, 2])
    with Image.open(tmp_path / "pc.png") as img:
        assert img.size == (500, 500)


def test_plot_mesh_wireframe_draws_each_edge_once(tmp_path):
    verts, faces = cube_verts_faces()
    padded = np.concatenate([faces, -np.ones((3, 3), faces.dtype)])  # padding rows skipped
    fig = plot_mesh_wireframe(verts, padded, path=tmp_path / "sub" / "wire.png", y_up=False)
    (lines,) = [c for c in fig.axes[0].collections if isinstance(c, Line3DCollection)]
    segments = np.asarray(lines._segments3d)
    assert segments.shape == (18, 2, 3)  # 12 cube edges + 6 face diagonals
    expected = verts[np.array(edges_naive(faces))]
    np.testing.assert_allclose(
        np.sort(segments.reshape(18, -1), 0), np.sort(expected.reshape(18, -1), 0)
    )
    assert (tmp_path / "sub" / "wire.png").stat().st_size > 1000


def test_plot_mesh_into_given_axes(tmp_path):
    verts, faces = ico_sphere_verts_faces(1)
    fig = Figure()
    ax = fig.add_subplot(projection="3d")
    assert plot_mesh(verts, faces, ax=ax, cull_backfaces=False) is fig
    (poly,) = [c for c in ax.collections if isinstance(c, Poly3DCollection)]
    colors = poly.get_facecolor()
    assert colors.shape == (80, 4) and np.all((colors >= 0) & (colors <= 1))
    assert len(np.unique(colors.round(3), axis=0)) > 5  # shaded, not flat colour


def test_plot_mesh_degenerate_face_no_nan(tmp_path):
    verts = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 1, 0]], np.float32)
    faces = np.array([[0, 1, 2], [0, 1, 3]])  # first face has zero area
    fig = plot_mesh(verts, faces, path=tmp_path / "m.png")
    assert np.all(np.isfinite(fig.axes[0].collections[0].get_facecolor()))


@pytest.mark.parametrize(
    "fn, args, err, name",
    [
        (plot_pointcloud, (np.zeros((4, 2)),), ValueError, "points"),
        (plot_pointcloud, (np.zeros((0, 3)),), ValueError, "points"),
        (plot_pointcloud, (np.full((4, 3), np.nan),), ValueError, "finite"),
        (plot_mesh_wireframe, (np.zeros((4, 3)), np.zeros((2, 3))), TypeError, "faces"),
        (plot_mesh_wireframe, (np.zeros((4, 3)), np.array([[0, 1, 4]])), ValueError, "faces"),
        (plot_mesh, (np.zeros((4, 3)), np.array([[0, 1]])), ValueError, "faces"),
    ],
)
def test_invalid(fn, args, err, name):
    with pytest.raises(err, match=name):
        fn(*args)


def test_plot_losses(tmp_path):
    curves = {"loss": np.exp(-np.arange(200) / 20.0), "val": [1.0, 0.5, np.nan, 0.2]}
    path = plot_losses(tmp_path / "out" / "losses.png", curves, title="fit")
    with Image.open(path) as img:
        assert img.size == (600, 400)
        pixels = np.asarray(img.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10  # something was drawn


@pytest.mark.parametrize(
    "curves, match",
    [
        ({}, "curves"),
        ({"a": []}, "curves"),
        ({"a": np.zeros((2, 2))}, "curves"),
        ([1, 2], "curves"),
    ],
)
def test_plot_losses_invalid(tmp_path, curves, match):
    with pytest.raises(ValueError, match=match):
        plot_losses(tmp_path / "l.png", curves)


def test_plot_mesh_culls_faces_looking_away():
    verts, faces = cube_verts_faces()

    def drawn(f, **kwargs):
        fig = plot_mesh(verts, f, y_up=False, elev=30.0, azim=-60.0, **kwargs)
        (poly,) = fig.axes[0].collections
        return len(poly.get_facecolor())

    # From (elev 30, azim -60) the camera sees the +x, -y and +z sides: 6 of 12 triangles.
    assert drawn(faces) == 6
    assert drawn(faces, cull_backfaces=False) == 12
    assert drawn(faces[:, ::-1]) == 6
    # A single triangle facing +z is seen from above and culled from below.
    tri_verts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32)
    tri = np.array([[0, 1, 2]])
    for elev, expected in [(30.0, 1), (-30.0, 0)]:
        fig = plot_mesh(tri_verts, tri, y_up=False, elev=elev)
        assert len(fig.axes[0].collections[0].get_facecolor()) == expected
