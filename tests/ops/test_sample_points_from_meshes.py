"""sample_points_from_meshes: area-uniform distribution, batching, grads and degenerate input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jax3d.ops import sample_points_from_meshes
from jax3d.structures import Meshes
from jax3d.utils import ico_sphere_verts_faces

KEY = jax.random.PRNGKey(0)


class _VertexFeatures:
    """Minimal TexturesVertex stand-in: per-vertex features (B, V, C)."""

    def __init__(self, feats):
        self._feats = jnp.asarray(feats)

    def verts_features_padded(self):
        return self._feats


def two_triangles():
    """Two disjoint triangles of areas 1 and 3 in the plane z = 0."""
    verts = np.array([[0, 0, 0], [2, 0, 0], [0, 1, 0], [5, 0, 0], [8, 0, 0], [5, 2, 0]], np.float32)
    return verts, np.array([[0, 1, 2], [3, 4, 5]], np.int32)


def barycentric_naive(p, tri):
    """Barycentric coordinates of points p (S, 3) in the planar triangle tri (3, 3), float64."""
    a, b, c = np.asarray(tri, np.float64)
    m = np.stack([b - a, c - a], axis=1)
    uv, *_ = np.linalg.lstsq(m, (np.asarray(p, np.float64) - a).T, rcond=None)
    return np.stack([1 - uv[0] - uv[1], uv[0], uv[1]], axis=1)


def test_faces_are_chosen_proportionally_to_area_chi_square():
    verts, faces = two_triangles()
    pts = np.asarray(sample_points_from_meshes(Meshes([verts], [faces]), 4000, key=KEY))[0]
    on_second = pts[:, 0] >= 4.5
    observed = [np.sum(~on_second), np.sum(on_second)]
    _, p_value = stats.chisquare(observed, f_exp=[1000, 3000])
    assert p_value > 1e-3, observed
    # and the points lie inside their triangle
    for mask, tri in ((~on_second, verts[:3]), (on_second, verts[3:])):
        bary = barycentric_naive(pts[mask], tri)
        assert np.all(bary > -1e-5) and np.all(np.abs(pts[mask, 2]) < 1e-6)


def test_uniform_inside_a_triangle():
    """The sub-triangle cut at mid-edges (1/4 of the area) gets a quarter of the samples;
    the sample mean is the centroid."""
    verts, faces = two_triangles()
    pts = np.asarray(sample_points_from_meshes(Meshes([verts[:3]], [faces[:1]]), 8000, key=KEY))[0]
    bary = barycentric_naive(pts, verts[:3])
    in_corner = bary[:, 0] > 0.5  # corner triangle at vertex 0
    _, p_value = stats.chisquare([in_corner.sum(), (~in_corner).sum()], f_exp=[2000, 6000])
    assert p_value > 1e-3
    np.testing.assert_allclose(pts.mean(0), verts[:3].mean(0), atol=0.02)


def test_normals_and_textures():
    verts, faces = two_triangles()
    feats = np.concatenate([np.zeros((3, 2)), np.ones((3, 2))]).astype(np.float32)
    feats[:, 1] = verts[:, 0]  # a linear function of x: interpolation reproduces it
    meshes = Meshes([verts], [faces], textures=_VertexFeatures(feats[None]))
    pts, normals, tex = sample_points_from_meshes(
        meshes, 500, return_normals=True, return_textures=True, key=KEY
    )
    np.testing.assert_allclose(normals, np.broadcast_to([0, 0, 1], (1, 500, 3)), atol=1e-6)
    np.testing.assert_allclose(tex[0, :, 1], pts[0, :, 0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        tex[0, :, 0], (np.asarray(pts[0, :, 0]) >= 4.5).astype(np.float32), atol=1e-6
    )


def test_real_textures_vertex():
    textures = pytest.importorskip("jax3d.renderer.mesh.textures")
    v, f = ico_sphere_verts_faces(0)
    colors = (0.5 * (v + 1)).astype(np.float32)
    meshes = Meshes([v], [f], textures=textures.TexturesVertex([colors]))
    pts, tex = sample_points_from_meshes(meshes, 100, return_textures=True, key=KEY)
    np.testing.assert_allclose(tex, 0.5 * (pts + 1), atol=1e-5)  # features linear in position


def test_texture_errors():
    verts, faces = two_triangles()
    with pytest.raises(ValueError, match="textures"):
        sample_points_from_meshes(Meshes([verts], [faces]), 10, return_textures=True, key=KEY)
    with pytest.raises(NotImplementedError):
        sample_points_from_meshes(
            Meshes([verts], [faces], textures=object()), 10, return_textures=True, key=KEY
        )


def test_heterogeneous_batch_padding_invariance_and_empty_mesh():
    """An item's samples depend on its key and geometry only, not on the batch's padding."""
    v0, f0 = ico_sphere_verts_faces(0)
    v1, f1 = ico_sphere_verts_faces(1)
    small = Meshes([v0, v0[:0]], [f0, f0[:0]])
    big = Meshes([v0, v1], [f0, f1])
    a = np.asarray(sample_points_from_meshes(small, 300, key=KEY))
    b = np.asarray(sample_points_from_meshes(big, 300, key=KEY))
    np.testing.assert_allclose(a[0], b[0], atol=1e-6)
    assert np.all(a[1] == 0)  # empty mesh -> zeros
    np.testing.assert_allclose(np.linalg.norm(b[1], axis=-1) <= 1.0 + 1e-5, True)


def test_jit_matches_eager_and_grads():
    v, f = ico_sphere_verts_faces(0)
    meshes = Meshes([v], [f])
    eager = sample_points_from_meshes(meshes, 64, key=KEY)
    jitted = jax.jit(lambda k, m: sample_points_from_meshes(m, 64, key=k))(KEY, meshes)
    np.testing.assert_allclose(jitted, eager, atol=1e-6)

    @jax.jit
    def mean_point(x):
        return sample_points_from_meshes(meshes.update_padded(x), 64, key=KEY).mean()

    x = meshes.verts_padded()
    g = jax.grad(mean_point)(x)
    # For a fixed choice of faces the points are linear in the vertices. Scaling plus a
    # translation keeps the relative face areas, hence the choice: finite differences agree.
    d = x + jnp.array([0.3, -0.2, 0.5])
    fd = (mean_point(x + 1e-2 * d) - mean_point(x - 1e-2 * d)) / 2e-2
    np.testing.assert_allclose(jnp.sum(g * d), fd, rtol=1e-3, atol=1e-5)
    # translating the mesh translates every sample
    shifted = sample_points_from_meshes(meshes.update_padded(x + 1.0), 64, key=KEY)
    np.testing.assert_allclose(shifted, eager + 1.0, atol=1e-5)


def test_zero_area_mesh_and_validation():
    v = np.zeros((3, 3), np.float32)
    pts = sample_points_from_meshes(Meshes([v], [np.array([[0, 1, 2]], np.int32)]), 10, key=KEY)
    assert np.all(np.isfinite(pts)) and np.all(np.asarray(pts) == 0)
    verts, faces = two_triangles()
    m = Meshes([verts], [faces])
    with pytest.raises(ValueError, match="num_samples"):
        sample_points_from_meshes(m, 0, key=KEY)
    with pytest.raises(ValueError, match="nan or inf"):
        sample_points_from_meshes(m.update_padded(m.verts_padded() * np.nan), 4, key=KEY)
    with pytest.raises(TypeError, match="key"):
        sample_points_from_meshes(m, 4, key=3)
    with pytest.raises(TypeError, match="needs a PRNG key"):
        sample_points_from_meshes(m, 4, key=None)
    with pytest.raises(TypeError, match="required keyword-only argument: 'key'"):
        sample_points_from_meshes(m, 100)  # PyTorch3D's call, without the key
    with pytest.raises(TypeError, match="keyword-only"):
        sample_points_from_meshes(KEY, m, 4)  # the old key-first order
