"""The private jit-safe edge helper agrees with Meshes.edges_packed (PyTorch3D's order)."""

from __future__ import annotations

import jax
import numpy as np

from jax3d.ops._padded_edges import padded_edges
from jax3d.structures import Meshes
from jax3d.utils import ico_sphere_verts_faces


def test_matches_meshes_edges_packed_per_mesh():
    v0, f0 = ico_sphere_verts_faces(0)
    v1, f1 = ico_sphere_verts_faces(1)
    rng = np.random.default_rng(0)
    f1 = f1[rng.permutation(len(f1))]  # order of faces must not matter for the edge set
    meshes = Meshes([v1, v0, v0[:0]], [f1, f0, f0[:0]])
    pe = jax.jit(padded_edges)(meshes.faces_padded(), meshes.num_faces_per_mesh())
    ne = np.asarray(meshes.num_edges_per_mesh())
    np.testing.assert_array_equal(pe.num_edges, ne)
    first_e = np.concatenate([[0], np.cumsum(ne)[:-1]])
    first_v = np.asarray(meshes.mesh_to_verts_packed_first_idx())
    edges_packed = np.asarray(meshes.edges_packed())
    f2e_packed = np.asarray(meshes.faces_packed_to_edges_packed())
    first_f = np.asarray(meshes.mesh_to_faces_packed_first_idx())
    for b, nf in enumerate(np.asarray(meshes.num_faces_per_mesh())):
        ref = edges_packed[first_e[b] : first_e[b] + ne[b]] - first_v[b]
        np.testing.assert_array_equal(pe.edges[b, : ne[b]], ref)
        assert np.all(np.asarray(pe.edges[b, ne[b] :]) == -1)
        f2e = f2e_packed[first_f[b] : first_f[b] + nf] - first_e[b]
        np.testing.assert_array_equal(pe.face_to_edge[b, :nf], f2e)
