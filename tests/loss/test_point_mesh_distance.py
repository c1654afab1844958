"""Point-triangle / point-segment primitives and point-mesh losses vs float64 references."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from jax3d.loss import point_mesh_edge_distance, point_mesh_face_distance
from jax3d.ops.point_face_distance import (
    nearest_primitive_idx,
    point_segment_distance,
    point_triangle_distance,
)
from jax3d.structures import Meshes


def closest_on_triangle_naive(p, a, b, c):
    """Ericson's Voronoi-region closest point on triangle abc (float64)."""
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = ab @ ap, ac @ ap
    if d1 <= 0 and d2 <= 0:
        return a
    bp = p - b
    d3, d4 = ab @ bp, ac @ bp
    if d3 >= 0 and d4 <= d3:
        return b
    vc = d1 * d4 - d3 * d2
    if vc <= 0 and d1 >= 0 and d3 <= 0:
        return a + d1 / (d1 - d3) * ab
    cp = p - c
    d5, d6 = ab @ cp, ac @ cp
    if d6 >= 0 and d5 <= d6:
        return c
    vb = d5 * d2 - d1 * d6
    if vb <= 0 and d2 >= 0 and d6 <= 0:
        return a + d2 / (d2 - d6) * ac
    va = d3 * d6 - d5 * d4
    if va <= 0 and (d4 - d3) >= 0 and (d5 - d6) >= 0:
        return b + (d4 - d3) / ((d4 - d3) + (d5 - d6)) * (c - b)
    denom = 1.0 / (va + vb + vc)
    return a + ab * vb * denom + ac * vc * denom


def segment_naive(p, a, b):
    e = b - a
    t = np.clip((p - a) @ e / (e @ e), 0, 1) if e @ e > 1e-8 else 1.0
    return float(((p - (a + t * e)) ** 2).sum())


def triangle_naive(p, a, b, c, min_area):
    """Squared distance with PyTorch3D's small-triangle rule (edges only below min_area)."""
    if 0.5 * np.linalg.norm(np.cross(b - a, c - a)) < min_area:
        return min(segment_naive(p, a, b), segment_naive(p, a, c), segment_naive(p, b, c))
    q = closest_on_triangle_naive(p, a, b, c)
    return float(((p - q) ** 2).sum())


def two_way_naive(points, prims, dist):
    """mean_p min_prim d + mean_prim min_p d for one pair (float64)."""
    d = np.array([[dist(p, *pr) for pr in prims] for p in points])
    return d.min(1).mean() + d.min(0).mean()


def _meshes():
    rng = np.random.default_rng(0)
    tet_v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    tet_f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], np.int32)
    pyr_v = (rng.normal(size=(5, 3)) * 0.8).astype(np.float32)
    pyr_f = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 4], [0, 4, 1], [1, 3, 2], [1, 4, 3]], np.int32)
    return [tet_v, pyr_v], [tet_f, pyr_f]


def _points(seed, n=2, p=25):
    return np.random.default_rng(seed).normal(scale=0.8, size=(n, p, 3)).astype(np.float32)


@given(seed=st.integers(0, 2**16))
def test_point_triangle_matches_closest_point(seed):
    rng = np.random.default_rng(seed)
    p, a, b, c = rng.normal(size=(4, 16, 3))
    got = point_triangle_distance(*(jnp.asarray(x, jnp.float32) for x in (p, a, b, c)), 0.0)
    want = [triangle_naive(*(x[i] for x in (p, a, b, c)), 0.0) for i in range(16)]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_small_triangles_use_edges_and_degenerate_cases():
    a, b, c = np.array([0.0, 0, 0]), np.array([0.1, 0, 0]), np.array([0.0, 0.1, 0])
    p = np.array([0.02, 0.02, 0.3])  # projects inside a triangle of area 0.005 > 0.004
    big = point_triangle_distance(*(jnp.asarray(x) for x in (p, a, b, c)), 0.004)
    small = point_triangle_distance(*(jnp.asarray(x) for x in (p, a, b, c)), 0.006)
    np.testing.assert_allclose(big, 0.09, rtol=1e-5)
    np.testing.assert_allclose(small, triangle_naive(p, a, b, c, 0.006), rtol=1e-5)
    assert float(small) > float(big)
    z = jnp.zeros(3)
    np.testing.assert_allclose(point_triangle_distance(jnp.ones(3), z, z, z), 3.0)
    np.testing.assert_allclose(point_segment_distance(jnp.ones(3), z, z), 3.0)


def test_segment_matches_naive():
    rng = np.random.default_rng(1)
    p, a, b = rng.normal(size=(3, 20, 3))
    got = point_segment_distance(*(jnp.asarray(x, jnp.float32) for x in (p, a, b)))
    np.testing.assert_allclose(
        got, [segment_naive(p[i], a[i], b[i]) for i in range(20)], rtol=1e-5, atol=1e-6
    )


def test_primitive_gradients():
    p = jnp.array([0.2, 0.3, 0.7])
    v = jnp.array([[0.0, 0.0, 0.0], [1.1, 0.1, 0.0], [0.1, 0.9, 0.2]])
    check_grads(
        lambda p, v: point_triangle_distance(p, v[0], v[1], v[2]),
        (p, v),
        order=1,
        modes=["rev"],
        atol=1e-2,
        rtol=1e-2,
    )
    outside = jnp.array([1.5, 1.5, 0.3])
    check_grads(
        lambda p, v: point_triangle_distance(p, v[0], v[1], v[2]),
        (outside, v),
        order=1,
        modes=["rev"],
        atol=1e-2,
        rtol=1e-2,
    )
    z = jnp.zeros(3)
    g = jax.grad(lambda v: point_triangle_distance(z, v, v, v) + point_segment_distance(z, v, v))(
        jnp.ones(3)
    )
    assert np.isfinite(g).all()


@pytest.mark.parametrize("area", [5e-3, 0.5])
def test_face_distance_matches_naive_heterogeneous(area):
    verts, faces = _meshes()
    meshes = Meshes([jnp.asarray(v) for v in verts], [jnp.asarray(f) for f in faces])
    pts = _points(2)
    got = point_mesh_face_distance(meshes, pts, min_triangle_area=area)
    want = np.mean(
        [
            two_way_naive(
                pts[b].astype(np.float64),
                verts[b][faces[b]].astype(np.float64),
                lambda p, a, b_, c: triangle_naive(p, a, b_, c, area),
            )
            for b in range(2)
        ]
    )
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_edge_distance_matches_naive():
    verts, faces = _meshes()
    meshes = Meshes([jnp.asarray(v) for v in verts], [jnp.asarray(f) for f in faces])
    pts = _points(3)
    got = point_mesh_edge_distance(meshes, pts)
    want = []
    for b in range(2):
        e = {tuple(sorted((int(f[i]), int(f[(i + 1) % 3])))) for f in faces[b] for i in range(3)}
        segs = [verts[b][list(ed)].astype(np.float64) for ed in sorted(e)]
        want.append(two_way_naive(pts[b].astype(np.float64), segs, segment_naive))
    np.testing.assert_allclose(got, np.mean(want), rtol=1e-4)


def test_batch_equals_mean_of_items_and_jit():
    verts, faces = _meshes()
    meshes = Meshes([jnp.asarray(v) for v in verts], [jnp.asarray(f) for f in faces])
    pts = _points(4)
    whole = point_mesh_face_distance(meshes, pts)
    items = []
    for b in range(2):  # same padded shapes for both items: one compilation
        one = Meshes(
            meshes.verts_padded()[b : b + 1],
            meshes.faces_padded()[b : b + 1],
            num_verts=meshes.num_verts_per_mesh()[b : b + 1],
            num_faces=meshes.num_faces_per_mesh()[b : b + 1],
        )
        items.append(point_mesh_face_distance(one, pts[b : b + 1]))
    np.testing.assert_allclose(whole, np.mean(items), rtol=1e-5)
    np.testing.assert_allclose(jax.jit(point_mesh_face_distance)(meshes, pts), whole, rtol=1e-6)


def test_gradients_reach_points_and_verts():
    verts, faces = _meshes()
    meshes = Meshes([jnp.asarray(v) for v in verts], [jnp.asarray(f) for f in faces])
    pts = jnp.asarray(_points(5, 2, 4))

    def f(v, p):
        return point_mesh_face_distance(meshes.update_padded(v), p)

    check_grads(
        jax.jit(f), (meshes.verts_padded(), pts), order=1, modes=["rev"], atol=2e-2, rtol=2e-2
    )
    ge = jax.grad(lambda v: point_mesh_edge_distance(meshes.update_padded(v), pts))(
        meshes.verts_padded()
    )
    assert np.isfinite(ge).all() and np.abs(ge).sum() > 0


def test_tiled_search_matches_single_tile():
    rng = np.random.default_rng(6)
    pts = jnp.asarray(rng.normal(size=(2, 37, 3)), jnp.float32)
    tris = jnp.asarray(rng.normal(size=(2, 23, 3, 3)), jnp.float32)
    valid = jnp.arange(23)[None] < jnp.array([[23], [9]])

    def fn(p, t, a):
        return point_triangle_distance(p, t[..., 0, :], t[..., 1, :], t[..., 2, :], a)

    area = jnp.float32(5e-3)
    small = nearest_primitive_idx(pts, tris, valid, (area,), fn=fn, tile_pairs=50)
    full = nearest_primitive_idx(pts, tris, valid, (area,), fn=fn, tile_pairs=10**6)
    np.testing.assert_array_equal(small, full)
    assert (np.asarray(small)[1] < 9).all()


def test_pointclouds_with_lengths():
    structures = pytest.importorskip("jax3d.structures")
    if not hasattr(structures, "Pointclouds"):
        pytest.skip("Pointclouds not available yet")
    verts, faces = _meshes()
    meshes = Meshes([jnp.asarray(v) for v in verts], [jnp.asarray(f) for f in faces])
    pts = _points(7)
    pcl = structures.Pointclouds([jnp.asarray(pts[0, :10]), jnp.asarray(pts[1])])
    got = point_mesh_face_distance(meshes, pcl)
    items = [
        point_mesh_face_distance(
            Meshes([jnp.asarray(verts[0])], [jnp.asarray(faces[0])]), pts[:1, :10]
        ),
        point_mesh_face_distance(Meshes([jnp.asarray(verts[1])], [jnp.asarray(faces[1])]), pts[1:]),
    ]
    np.testing.assert_allclose(got, np.mean(items), rtol=1e-5)


def test_validation():
    verts, faces = _meshes()
    meshes = Meshes([jnp.asarray(v) for v in verts], [jnp.asarray(f) for f in faces])
    with pytest.raises(ValueError, match="equal sized"):
        point_mesh_face_distance(meshes, _points(0, 3))
    with pytest.raises(TypeError, match="Meshes"):
        point_mesh_edge_distance(np.zeros((2, 3, 3)), _points(0))
    with pytest.raises(ValueError, match="3D points"):
        point_mesh_face_distance(meshes, np.zeros((2, 4, 2), np.float32))
