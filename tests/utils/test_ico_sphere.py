"""ico_sphere: counts, unit norm, watertight and outward, area, PyTorch3D parity."""

import jax
import numpy as np
import pytest

from jax3d.utils import ico_sphere, ico_sphere_verts_faces
from tests.utils.mesh_checks import (
    assert_closed_and_consistent,
    face_areas_naive,
    face_normals_naive,
    get_meshes_class,
    signed_volume_naive,
    undirected_edge_counts_naive,
)

LEVELS = [0, 1, 2, 3]


@pytest.mark.parametrize("level", [0, 1, 2, 3, 4])
def test_counts_and_dtypes(level):
    verts, faces = ico_sphere_verts_faces(level)
    assert verts.shape == (10 * 4**level + 2, 3) and verts.dtype == np.float32
    assert faces.shape == (20 * 4**level, 3) and faces.dtype == np.int32
    assert faces.min() == 0 and faces.max() == len(verts) - 1
    assert len(np.unique(faces)) == len(verts)  # no unused vertex


@pytest.mark.parametrize("level", [0, 1, 2, 3, 4])
def test_verts_on_unit_sphere(level):
    verts, _ = ico_sphere_verts_faces(level)
    np.testing.assert_allclose(np.linalg.norm(verts.astype(np.float64), axis=1), 1.0, atol=1e-6)
    # Vertices are distinct.
    assert len(np.unique(np.round(verts, 5), axis=0)) == len(verts)


@pytest.mark.parametrize("level", LEVELS)
def test_watertight_consistent_and_euler(level):
    verts, faces = ico_sphere_verts_faces(level)
    assert_closed_and_consistent(faces)
    num_edges = len(undirected_edge_counts_naive(faces))
    assert len(verts) - num_edges + len(faces) == 2  # sphere topology


@pytest.mark.parametrize("level", LEVELS)
def test_outward(level):
    verts, faces = ico_sphere_verts_faces(level)
    normals = face_normals_naive(verts, faces)
    centroids = verts.astype(np.float64)[faces].mean(axis=1)
    assert np.all(np.einsum("fi,fi->f", normals, centroids) > 0)
    assert signed_volume_naive(verts, faces) > 0


def test_area_and_volume_level4():
    verts, faces = ico_sphere_verts_faces(4)
    area = face_areas_naive(verts, faces).sum()
    assert abs(area - 4 * np.pi) / (4 * np.pi) < 0.01
    volume = signed_volume_naive(verts, faces)
    assert abs(volume - 4 / 3 * np.pi) / (4 / 3 * np.pi) < 0.01


def test_area_converges_from_below():
    areas = [face_areas_naive(*ico_sphere_verts_faces(lv)).sum() for lv in range(5)]
    assert np.all(np.diff(areas) > 0) and areas[-1] < 4 * np.pi


def test_subdivision_keeps_previous_vertices_first():
    coarse, _ = ico_sphere_verts_faces(2)
    fine, _ = ico_sphere_verts_faces(3)
    np.testing.assert_allclose(fine[: len(coarse)], coarse, atol=1e-7)


def test_faces_nearly_equilateral():
    verts, faces = ico_sphere_verts_faces(3)
    v = verts.astype(np.float64)[faces]
    lengths = np.linalg.norm(v - np.roll(v, 1, axis=1), axis=-1)
    assert lengths.max() / lengths.min() < 1.3


def test_matches_pytorch3d_ico_sphere2(reference):
    ref = reference("rasterize_sphere")
    verts, faces = ico_sphere_verts_faces(2)
    np.testing.assert_array_equal(faces, ref["faces"])
    # PyTorch3D starts from 4-decimal level-0 vertices; ours are exact.
    np.testing.assert_allclose(verts, ref["verts"], atol=1e-4)


def test_same_topology_as_pytorch3d_losses_sphere(reference):
    ref = reference("losses")
    np.testing.assert_array_equal(ico_sphere_verts_faces(2)[1], ref["mesh_faces"])


@pytest.mark.parametrize("bad, err", [(-1, ValueError), (1.0, TypeError), (True, TypeError)])
def test_invalid_level(bad, err):
    with pytest.raises(err, match="level"):
        ico_sphere_verts_faces(bad)


def test_meshes_wrapper():
    meshes_cls = get_meshes_class()
    mesh = ico_sphere(1)
    assert isinstance(mesh, meshes_cls) and len(mesh) == 1
    verts, faces = ico_sphere_verts_faces(1)
    np.testing.assert_allclose(np.asarray(mesh.verts_packed()), verts)
    np.testing.assert_array_equal(np.asarray(mesh.faces_packed()), faces)


def test_meshes_wrapper_device_argument():
    get_meshes_class()
    device = jax.devices()[0]
    mesh = ico_sphere(0, device)
    assert mesh.verts_packed().devices() == {device}
    # PyTorch-style device strings name JAX devices (jax3d.device); unknown ones are errors.
    on_cpu = ico_sphere(0, "cpu")
    assert on_cpu.device == jax.devices("cpu")[0]
    np.testing.assert_allclose(np.asarray(on_cpu.verts_packed()), mesh.verts_packed())
    with pytest.raises(ValueError, match="unknown device"):
        ico_sphere(0, "mps")
