"""Tests for jax3d.structures.Meshes against naive float64 NumPy references."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

from jax3d.structures import Meshes, join_meshes_as_batch, join_meshes_as_scene

# ----------------------------------------------------------------------------------------------
# Fixtures and naive references.
# ----------------------------------------------------------------------------------------------


def octahedron() -> tuple[np.ndarray, np.ndarray]:
    """Closed octahedron with counter-clockwise (outward) faces."""
    v = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], np.float32)
    f = np.array([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4],
                  [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]], np.int32)
    return v, f


def random_meshes_np(seed: int, sizes: list[tuple[int, int]]):
    """Lists of random verts (V_i, 3) float32 and faces (F_i, 3) int32 with given sizes."""
    rng = np.random.default_rng(seed)
    verts, faces = [], []
    for nv, nf in sizes:
        verts.append(rng.normal(size=(nv, 3)).astype(np.float32))
        nf = nf if nv >= 3 else 0  # faces use 3 distinct vertices (degenerate ones tested apart)
        f = [rng.choice(nv, size=3, replace=False) for _ in range(nf)]
        faces.append(np.array(f, np.int32).reshape(nf, 3))
    return verts, faces


def face_cross_naive(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    v = v.astype(np.float64)
    return np.array([np.cross(v[b] - v[a], v[c] - v[a]) for a, b, c in f]).reshape(-1, 3)


def face_areas_naive(v, f):
    return 0.5 * np.linalg.norm(face_cross_naive(v, f), axis=1)


def face_normals_naive(v, f):
    c = face_cross_naive(v, f)
    return c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-6)


def verts_normal_sums_naive(v, f):
    out = np.zeros((v.shape[0], 3))
    for (a, b, c), n in zip(f, face_cross_naive(v, f)):
        for i in (a, b, c):
            out[i] += n
    return out


def verts_normals_naive(v, f):
    out = verts_normal_sums_naive(v, f)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)


def edges_naive(faces_packed: np.ndarray) -> np.ndarray:
    edges = {tuple(sorted((int(f[i]), int(f[j])))) for f in faces_packed
             for i, j in ((0, 1), (1, 2), (2, 0))}
    return np.array(sorted(edges), np.int64).reshape(-1, 2)


sizes_strategy = st.lists(
    st.tuples(st.integers(1, 9), st.integers(0, 7)), min_size=1, max_size=4
)


# ----------------------------------------------------------------------------------------------
# Construction and views.
# ----------------------------------------------------------------------------------------------


@jax.jit
def _rebuild_jit(verts, faces, num_verts, num_faces):
    return Meshes(verts, faces, num_verts=num_verts, num_faces=num_faces)


@settings(max_examples=10)
@given(sizes=sizes_strategy, seed=st.integers(0, 2**16))
def test_list_padded_packed_round_trip(sizes, seed):
    verts, faces = random_meshes_np(seed, sizes)
    meshes = Meshes(verts, faces)
    nv = np.array([v.shape[0] for v in verts])
    assert meshes.verts_padded().shape == (len(sizes), nv.max(), 3)
    for b, (v, f) in enumerate(zip(verts, faces)):
        np.testing.assert_array_equal(meshes.verts_list()[b], v)
        np.testing.assert_array_equal(meshes.faces_list()[b], f)
        np.testing.assert_array_equal(meshes.verts_padded()[b, v.shape[0]:], 0)
        np.testing.assert_array_equal(meshes.faces_padded()[b, f.shape[0]:], -1)
    first = np.concatenate([[0], np.cumsum(nv)[:-1]])
    np.testing.assert_array_equal(meshes.verts_packed(), np.concatenate(verts))
    np.testing.assert_array_equal(
        meshes.faces_packed(), np.concatenate([f + o for f, o in zip(faces, first)]))
    np.testing.assert_array_equal(meshes.mesh_to_verts_packed_first_idx(), first)
    np.testing.assert_array_equal(meshes.verts_packed_to_mesh_idx(),
                                  np.repeat(np.arange(len(sizes)), nv))
    nf = np.array([f.shape[0] for f in faces])
    np.testing.assert_array_equal(meshes.faces_packed_to_mesh_idx(),
                                  np.repeat(np.arange(len(sizes)), nf))
    flat = meshes.verts_padded().reshape(-1, 3)[meshes.verts_padded_to_packed_idx()]
    np.testing.assert_array_equal(flat, meshes.verts_packed())
    flat_f = meshes.faces_padded().reshape(-1, 3)[meshes.faces_padded_to_packed_idx()]
    np.testing.assert_array_equal(flat_f, np.concatenate(faces))
    # Rebuilding from padded arrays inside jit gives the same structure.
    rebuilt = _rebuild_jit(meshes.verts, meshes.faces, meshes.num_verts, meshes.num_faces)
    np.testing.assert_array_equal(rebuilt.verts_packed(), meshes.verts_packed())
    np.testing.assert_array_equal(rebuilt.faces_packed(), meshes.faces_packed())


def test_padded_input_defaults_and_padding_reset():
    v = np.ones((2, 4, 3), np.float32)
    f = np.array([[[0, 1, 2], [1, 2, 3]], [[0, 1, 2], [-1, -1, -1]]], np.int32)
    meshes = Meshes(v, f)
    np.testing.assert_array_equal(meshes.num_verts_per_mesh(), [4, 4])
    np.testing.assert_array_equal(meshes.num_faces_per_mesh(), [2, 1])
    meshes = Meshes(v, f, num_verts=[4, 3])
    np.testing.assert_array_equal(meshes.verts_padded()[1, 3], 0.0)
    np.testing.assert_array_equal(meshes.verts_mask(), [[1, 1, 1, 1], [1, 1, 1, 0]])
    np.testing.assert_array_equal(meshes.faces_mask(), [[1, 1], [1, 0]])
    assert meshes.verts.dtype == jnp.float32 and meshes.faces.dtype == jnp.int32


@pytest.mark.parametrize(
    "verts, faces, kwargs, err",
    [
        (np.zeros((4, 3)), np.zeros((2, 3), int), {}, ValueError),  # verts not batched
        (np.zeros((1, 4, 2)), np.zeros((1, 2, 3), int), {}, ValueError),  # not 3-D points
        (np.zeros((1, 4, 3)), np.zeros((1, 2, 3)), {}, TypeError),  # float faces
        (np.zeros((2, 4, 3)), np.zeros((1, 2, 3), int), {}, ValueError),  # batch mismatch
        (np.zeros((2, 4, 3)), np.zeros((2, 2, 3), int), {"num_verts": [1, 2, 3]}, ValueError),
        ([np.zeros((3, 3))], [np.array([[0, 1, 3]])], {}, ValueError),  # index out of range
        ([np.zeros((3, 3))], [np.array([[0, 1]])], {}, ValueError),  # faces not (F, 3)
        ([np.zeros((3, 3))], [], {}, ValueError),  # length mismatch
        ([np.zeros((3, 3))], np.zeros((1, 1, 3), int), {}, TypeError),  # mixed list / array
        (np.zeros((1, 3, 3)), [np.zeros((1, 3), int)], {}, TypeError),  # mixed array / list
        ([np.zeros((3, 3))], [np.zeros((1, 3), int)], {"num_verts": [3]}, ValueError),
    ],
)
def test_construction_validation(verts, faces, kwargs, err):
    with pytest.raises(err):
        Meshes(verts, faces, **kwargs)


def test_empty_meshes():
    empty = Meshes([], [])
    assert len(empty) == 0 and empty.isempty()
    assert empty.verts_packed().shape == (0, 3) and empty.faces_packed().shape == (0, 3)
    assert empty.edges_packed().shape == (0, 2)
    with_empty = Meshes([np.zeros((0, 3)), np.eye(3)], [np.zeros((0, 3), int), [[0, 1, 2]]])
    assert not with_empty.isempty()
    np.testing.assert_array_equal(with_empty.num_verts_per_mesh(), [0, 3])
    assert with_empty.verts_list()[0].shape == (0, 3)
    np.testing.assert_array_equal(with_empty.verts_normals_padded()[0], 0.0)
    assert Meshes([np.eye(3)], [np.zeros((0, 3), int)]).isempty()


def test_immutable_and_pytree():
    v, f = octahedron()
    meshes = Meshes([v], [f])
    with pytest.raises(AttributeError):
        meshes.verts = None
    leaves, treedef = jax.tree_util.tree_flatten(meshes)
    assert len(leaves) == 4  # textures None is an empty subtree
    again = jax.tree_util.tree_unflatten(treedef, leaves)
    np.testing.assert_array_equal(again.verts_packed(), meshes.verts_packed())
    doubled = jax.tree_util.tree_map(lambda x: x * 2 if x.dtype == jnp.float32 else x, meshes)
    np.testing.assert_allclose(doubled.verts_packed(), 2 * v)


# ----------------------------------------------------------------------------------------------
# Geometry.
# ----------------------------------------------------------------------------------------------


def test_octahedron_normals_point_outward():
    v, f = octahedron()
    meshes = Meshes([v], [f])
    vn = np.asarray(meshes.verts_normals_packed())
    np.testing.assert_allclose(vn, v, atol=1e-6)  # vertex normal = radial direction
    fn = np.asarray(meshes.faces_normals_packed())
    centers = v[f].mean(axis=1)
    assert (np.sum(fn * centers, axis=1) > 0).all()
    np.testing.assert_allclose(np.linalg.norm(fn, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(meshes.faces_areas_packed(), np.sqrt(3) / 2, rtol=1e-6)


@jax.jit
def _geometry_jit(meshes):
    return meshes.faces_areas_padded(), meshes.faces_normals_padded(), meshes.verts_normals_padded()


def fixed_shape_meshes(sizes, seed, v_max=9, f_max=7):
    """Meshes padded to fixed (len(sizes), v_max, f_max) shapes, so jitted code compiles once."""
    verts, faces = random_meshes_np(seed, sizes)
    v = np.zeros((len(sizes), v_max, 3), np.float32)
    f = np.full((len(sizes), f_max, 3), -1, np.int32)
    for b, (vb, fb) in enumerate(zip(verts, faces)):
        v[b, : len(vb)], f[b, : len(fb)] = vb, fb
    nv, nf = [len(x) for x in verts], [len(x) for x in faces]
    return verts, faces, Meshes(v, f, num_verts=nv, num_faces=nf)


@given(sizes=st.lists(st.tuples(st.integers(1, 9), st.integers(0, 7)), min_size=3, max_size=3),
       seed=st.integers(0, 2**16))
def test_normals_and_areas_match_float64(sizes, seed):
    verts, faces, meshes = fixed_shape_meshes(sizes, seed)
    areas, fnormals, vnormals = (np.asarray(x) for x in _geometry_jit(meshes))
    for b, (v, f) in enumerate(zip(verts, faces)):
        nv, nf = len(v), len(f)
        np.testing.assert_allclose(areas[b, :nf], face_areas_naive(v, f), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(fnormals[b, :nf], face_normals_naive(v, f), atol=2e-4)
        # Where incident faces cancel (|sum| ~ 0) the direction is rounding noise: skip them.
        ok = np.linalg.norm(verts_normal_sums_naive(v, f), axis=1) > 1e-3
        np.testing.assert_allclose(vnormals[b, :nv][ok], verts_normals_naive(v, f)[ok],
                                   atol=2e-4)
        np.testing.assert_array_equal(areas[b, nf:], 0.0)
        np.testing.assert_array_equal(vnormals[b, nv:], 0.0)


def test_normals_list_and_packed_views():
    verts, faces = random_meshes_np(7, [(5, 4), (8, 6)])
    meshes = Meshes(verts, faces)
    np.testing.assert_allclose(meshes.faces_areas_packed(),
                               np.concatenate([face_areas_naive(v, f)
                                               for v, f in zip(verts, faces)]), rtol=1e-5)
    for b, (v, f) in enumerate(zip(verts, faces)):
        np.testing.assert_allclose(meshes.verts_normals_list()[b], verts_normals_naive(v, f),
                                   atol=2e-4)
        np.testing.assert_allclose(meshes.faces_normals_list()[b], face_normals_naive(v, f),
                                   atol=2e-4)
    np.testing.assert_allclose(meshes.verts_normals_packed(),
                               np.concatenate(meshes.verts_normals_list()))
    np.testing.assert_allclose(meshes.faces_normals_packed(),
                               np.concatenate(meshes.faces_normals_list()))


@settings(max_examples=8)
@given(seed=st.integers(0, 2**16), extra_v=st.sampled_from([1, 4]),
       extra_f=st.sampled_from([1, 4]))
def test_extra_padding_does_not_leak(seed, extra_v, extra_f):
    verts, faces = random_meshes_np(seed, [(5, 4), (7, 6)])
    meshes = Meshes(verts, faces)
    rng = np.random.default_rng(seed)
    # Garbage in the padding (it is reset) and extra padding rows must change nothing.
    v = np.concatenate([np.asarray(meshes.verts), rng.normal(size=(2, extra_v, 3))], axis=1)
    f = np.concatenate([np.asarray(meshes.faces), rng.integers(0, 3, size=(2, extra_f, 3))],
                       axis=1)
    padded = Meshes(v.astype(np.float32), f, num_verts=meshes.num_verts,
                    num_faces=meshes.num_faces)
    # Scatter-add order may differ between shapes (e.g. on GPU): compare to float32 rounding.
    np.testing.assert_allclose(padded.verts_normals_packed(), meshes.verts_normals_packed(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(padded.faces_areas_packed(), meshes.faces_areas_packed(),
                               rtol=1e-6)
    np.testing.assert_array_equal(padded.faces_areas_padded()[:, -extra_f:], 0.0)
    np.testing.assert_array_equal(padded.verts_normals_padded()[:, -extra_v:], 0.0)
    np.testing.assert_array_equal(padded.faces_normals_padded()[:, -extra_f:], 0.0)


def test_geometry_jit_and_vmap_match_eager():
    verts, faces = random_meshes_np(0, [(6, 5), (9, 8), (4, 2)])
    meshes = Meshes(verts, faces)

    def geometry(m):
        return m.verts_normals_padded(), m.faces_normals_padded(), m.faces_areas_padded()

    for eager, jitted in zip(geometry(meshes), jax.jit(geometry)(meshes)):
        np.testing.assert_allclose(jitted, eager, rtol=1e-5, atol=1e-6)
    # vmap over a stack of vertex positions equals a Python loop.
    stack = meshes.verts[None] * jnp.arange(1.0, 4.0)[:, None, None, None]
    batched = jax.vmap(lambda v: meshes.update_padded(v).faces_areas_padded())(stack)
    for k in range(3):
        np.testing.assert_allclose(
            batched[k], meshes.update_padded(stack[k]).faces_areas_padded(), rtol=1e-6)


def test_gradients_finite_with_degenerate_faces():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [2, 0, 0], [0, 0, 0]], np.float32)
    f = np.array([[0, 1, 2], [0, 1, 3], [0, 4, 4]], np.int32)  # ok, collinear, collapsed
    meshes = Meshes([v], [f])

    def loss(x):
        m = meshes.update_padded(x)
        return (m.verts_normals_padded().sum() + m.faces_areas_padded().sum()
                + m.faces_normals_padded().sum())

    grad = jax.grad(loss)(meshes.verts)
    assert np.isfinite(np.asarray(grad)).all()
    np.testing.assert_array_equal(meshes.faces_areas_packed()[1:], 0.0)
    assert np.isfinite(np.asarray(meshes.verts_normals_packed())).all()


def test_check_grads_areas_and_normals():
    verts, faces = random_meshes_np(3, [(5, 4), (6, 5)])
    meshes = Meshes(verts, faces)

    def areas(x):
        return meshes.update_padded(x).faces_areas_padded()

    def normals(x):
        return meshes.update_padded(x).verts_normals_padded()

    check_grads(areas, (meshes.verts,), order=1, modes=["rev"], atol=2e-2, rtol=2e-2)
    check_grads(normals, (meshes.verts,), order=1, modes=["rev"], atol=5e-2, rtol=5e-2)


def test_bounding_boxes():
    verts, faces = random_meshes_np(1, [(5, 2), (3, 1)])
    boxes = jax.jit(lambda m: m.get_bounding_boxes())(Meshes(verts, faces))
    for b, v in enumerate(verts):
        np.testing.assert_allclose(boxes[b], np.stack([v.min(0), v.max(0)], axis=1))


# ----------------------------------------------------------------------------------------------
# Edges.
# ----------------------------------------------------------------------------------------------


@settings(max_examples=10)
@given(sizes=sizes_strategy, seed=st.integers(0, 2**16))
def test_edges_match_naive(sizes, seed):
    verts, faces = random_meshes_np(seed, sizes)
    meshes = Meshes(verts, faces)
    faces_packed = np.asarray(meshes.faces_packed())
    edges = np.asarray(meshes.edges_packed())
    np.testing.assert_array_equal(edges, edges_naive(faces_packed))
    f2e = np.asarray(meshes.faces_packed_to_edges_packed())
    for k, (i, j) in enumerate(((1, 2), (2, 0), (0, 1))):
        expected = np.sort(faces_packed[:, [i, j]], axis=1)
        np.testing.assert_array_equal(edges[f2e[:, k]], expected)
    per_mesh = [len(edges_naive(f)) for f in faces]
    np.testing.assert_array_equal(meshes.num_edges_per_mesh(), per_mesh)
    np.testing.assert_array_equal(meshes.mesh_to_edges_packed_first_idx(),
                                  np.cumsum(per_mesh) - per_mesh)
    np.testing.assert_array_equal(meshes.edges_packed_to_mesh_idx(),
                                  np.repeat(np.arange(len(sizes)), per_mesh))


def test_packed_views_raise_under_jit():
    v, f = octahedron()
    meshes = Meshes([v], [f])
    for method in ("verts_packed", "faces_packed", "verts_list", "edges_packed",
                   "verts_packed_to_mesh_idx", "verts_normals_packed", "faces_areas_packed"):
        with pytest.raises(ValueError, match="traced"):
            jax.jit(lambda m, name=method: getattr(m, name)())(meshes)
    # Index values in the packed layout are jit-safe.
    fp = jax.jit(lambda m: m.faces_packed_padded())(meshes)
    np.testing.assert_array_equal(fp[0], f)


# ----------------------------------------------------------------------------------------------
# Updates, indexing, extend.
# ----------------------------------------------------------------------------------------------


def test_offset_and_scale_verts():
    verts, faces = random_meshes_np(2, [(4, 3), (6, 2)])
    meshes = Meshes(verts, faces)
    rng = np.random.default_rng(0)
    packed = rng.normal(size=(10, 3)).astype(np.float32)
    by_packed = meshes.offset_verts(packed)
    np.testing.assert_allclose(by_packed.verts_packed(), np.concatenate(verts) + packed)
    padded = rng.normal(size=meshes.verts.shape).astype(np.float32)
    by_padded = jax.jit(lambda m, d: m.offset_verts(d))(meshes, padded)
    np.testing.assert_allclose(by_padded.verts_list()[1], verts[1] + padded[1, :6], rtol=1e-6)
    np.testing.assert_array_equal(by_padded.verts_padded()[0, 4:], 0.0)
    shifted = meshes.offset_verts(jnp.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(shifted.verts_list()[0], verts[0] + [1, 2, 3])
    scaled = meshes.scale_verts(jnp.array([2.0, -1.0]))
    np.testing.assert_allclose(scaled.verts_list()[1], -verts[1])
    np.testing.assert_allclose(meshes.scale_verts(3.0).verts_packed(), 3 * np.concatenate(verts))
    with pytest.raises(ValueError, match="vert_offsets"):
        meshes.offset_verts(np.zeros((9, 3)))
    with pytest.raises(ValueError, match="scale"):
        meshes.scale_verts(np.ones(3))
    with pytest.raises(ValueError, match="new_verts_padded"):
        meshes.update_padded(np.zeros((2, 5, 3)))


class _FakeTextures:
    """Minimal textures pytree recording calls (per-mesh colour (B, 3))."""

    def __init__(self, colors):
        self.colors = jnp.asarray(colors)

    def __getitem__(self, idx):
        return _FakeTextures(self.colors[idx])

    def extend(self, n):
        return _FakeTextures(jnp.repeat(self.colors, n, axis=0))

    def join_batch(self, others):
        return _FakeTextures(jnp.concatenate([self.colors] + [o.colors for o in others]))

    def join_scene(self):
        return _FakeTextures(self.colors.mean(0, keepdims=True))


jax.tree_util.register_pytree_node(
    _FakeTextures, lambda t: ((t.colors,), None), lambda _, c: _FakeTextures(c[0]))


@pytest.mark.parametrize("index", [1, -1, slice(0, 3, 2), [2, 0], np.array([1, 1]),
                                   np.array([True, False, True])])
def test_indexing_matches_per_item(index):
    verts, faces = random_meshes_np(4, [(4, 3), (6, 2), (5, 5)])
    meshes = Meshes(verts, faces, textures=_FakeTextures(np.eye(3)))
    picked = np.arange(3)[index]
    picked = np.atleast_1d(picked)
    sub = meshes[index]
    assert len(sub) == len(picked)
    for k, b in enumerate(picked):
        v, f = sub.get_mesh_verts_faces(k)
        np.testing.assert_array_equal(v, verts[b])
        np.testing.assert_array_equal(f, faces[b])
    np.testing.assert_array_equal(sub.textures.colors, np.eye(3)[picked])


def test_indexing_errors():
    meshes = Meshes(*random_meshes_np(4, [(4, 3), (6, 2)]))
    with pytest.raises(IndexError):
        meshes[2]
    with pytest.raises(TypeError):
        meshes[1.5]
    with pytest.raises(IndexError):
        meshes.get_mesh_verts_faces(5)


def test_extend_and_textures_dropped_with_warning():
    verts, faces = random_meshes_np(5, [(4, 3), (6, 2)])
    meshes = Meshes(verts, faces, textures=_FakeTextures(np.eye(2, 3)))
    ext = meshes.extend(3)
    assert len(ext) == 6
    for k in range(6):
        np.testing.assert_array_equal(ext.verts_list()[k], verts[k // 3])
    np.testing.assert_array_equal(ext.textures.colors, np.repeat(np.eye(2, 3), 3, axis=0))
    with pytest.raises(ValueError):
        meshes.extend(0)
    bare = Meshes(verts, faces, textures=object())
    with pytest.warns(UserWarning, match="textures dropped"):
        assert bare.extend(2).textures is None


# ----------------------------------------------------------------------------------------------
# trimesh.
# ----------------------------------------------------------------------------------------------


def test_trimesh_round_trip():
    v, f = octahedron()
    tm = trimesh.Trimesh(v, f, process=False)
    meshes = Meshes.from_trimesh([tm, tm])
    assert len(meshes) == 2
    back = meshes.to_trimesh(1)
    np.testing.assert_allclose(back.vertices, v)
    np.testing.assert_array_equal(back.faces, f)
    assert back.is_watertight and back.is_winding_consistent
    np.testing.assert_allclose(meshes.faces_normals_list()[0], tm.face_normals, atol=1e-6)
    np.testing.assert_allclose(meshes.faces_areas_packed()[:8], tm.area_faces, rtol=1e-6)
    assert len(meshes.to_trimesh()) == 2
    with pytest.raises(TypeError):
        Meshes.from_trimesh("not a mesh")


def test_real_mesh_from_data(data):
    path = data("meshes/cow_mesh/cow.obj")
    tm = trimesh.load(path, process=False, force="mesh")
    meshes = Meshes.from_trimesh(tm)
    np.testing.assert_allclose(meshes.faces_areas_packed().sum(), tm.area, rtol=1e-4)
    assert np.isfinite(np.asarray(meshes.verts_normals_packed())).all()


@jax.jit
def _normals_from_list_jit(v0, v1, f0, f1):
    return Meshes([v0, v1], [f0, f1]).verts_normals_padded()


def test_list_construction_inside_jit():
    verts, faces = random_meshes_np(8, [(5, 4), (7, 6)])
    inside = _normals_from_list_jit(*verts, *faces)
    np.testing.assert_allclose(inside, Meshes(verts, faces).verts_normals_padded(), atol=1e-6)


def test_with_renderer_textures_vertex():
    textures_mod = pytest.importorskip("jax3d.renderer.mesh.textures")
    verts, faces = random_meshes_np(9, [(4, 3), (6, 2)])
    colors = [np.full((4, 3), 0.25, np.float32), np.full((6, 3), 0.75, np.float32)]
    meshes = Meshes(verts, faces, textures=textures_mod.TexturesVertex(colors))
    sub = meshes[1]
    np.testing.assert_allclose(sub.textures.verts_features_list()[0], colors[1])
    ext = meshes.extend(2)
    assert len(ext.textures) == 4
    joined = join_meshes_as_batch([meshes, meshes[0]])
    np.testing.assert_allclose(joined.textures.verts_features_list()[2], colors[0])
    scene = join_meshes_as_scene(meshes)
    np.testing.assert_allclose(scene.textures.verts_features_packed(), np.concatenate(colors))
    assert scene.textures.verts_features_packed().shape[0] == scene.verts_packed().shape[0]


def test_edges_of_a_noisy_sphere():
    from jax3d.utils import ico_sphere_verts_faces

    verts, faces = ico_sphere_verts_faces(2)
    v = verts * np.random.default_rng(0).uniform(0.9, 1.1, (len(verts), 1)).astype(np.float32)
    meshes = Meshes([v], [faces])
    edges = np.asarray(meshes.edges_packed())
    assert edges.shape == (480, 2)  # ico_sphere(2): V - E + F = 2
    assert (edges[:, 0] < edges[:, 1]).all()
    # Closed manifold: every edge is used by exactly two faces.
    counts = np.bincount(np.asarray(meshes.faces_packed_to_edges_packed()).ravel())
    np.testing.assert_array_equal(counts, 2)
    # Noisy sphere, outward winding: vertex normals point away from the centre.
    assert (np.sum(np.asarray(meshes.verts_normals_packed()) * v, axis=1) > 0).all()


def test_edges_pytorch3d_parity(reference):
    """PyTorch3D's mesh_edge_loss (target 0) on one mesh = mean squared edge length."""
    ref = reference("losses")
    meshes = Meshes([ref["mesh_verts"]], [ref["mesh_faces"].astype(np.int32)])
    edges = np.asarray(meshes.edges_packed())
    v = ref["mesh_verts"].astype(np.float64)
    mean_sq = np.mean(np.sum((v[edges[:, 0]] - v[edges[:, 1]]) ** 2, axis=1))
    np.testing.assert_allclose(mean_sq, ref["edge"], rtol=1e-5)


@jax.jit
def _geometry_single_jit(verts, faces):
    m = Meshes(verts[None], faces[None])
    return m.verts_normals_padded()[0], m.faces_normals_padded()[0], m.faces_areas_padded()[0]


@settings(max_examples=15)
@given(seed=st.integers(0, 2**16))
def test_rotation_and_permutation_equivariance(seed):
    rng = np.random.default_rng(seed)
    verts, faces = random_meshes_np(seed, [(8, 10)])
    v, f = verts[0], faces[0]
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rot = (q * np.sign(np.linalg.det(q))).astype(np.float32)  # proper rotation
    vn, fn, area = _geometry_single_jit(v, f)
    vn_r, fn_r, area_r = _geometry_single_jit(v @ rot, f)
    np.testing.assert_allclose(area_r, area, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fn_r, np.asarray(fn) @ rot, atol=1e-4)
    ok = np.linalg.norm(verts_normal_sums_naive(v, f), axis=1) > 1e-3
    np.testing.assert_allclose(np.asarray(vn_r)[ok], (np.asarray(vn) @ rot)[ok], atol=1e-4)
    perm = rng.permutation(len(v))  # new vertex k is old vertex perm[k]
    inv = np.argsort(perm)
    vn_p, fn_p, area_p = _geometry_single_jit(v[perm], inv[f].astype(np.int32))
    np.testing.assert_allclose(np.asarray(vn_p), np.asarray(vn)[perm], atol=1e-5)
    np.testing.assert_allclose(fn_p, fn, atol=1e-5)
    np.testing.assert_allclose(area_p, area, rtol=1e-5)


def test_vmap_over_stacked_meshes_matches_loop():
    # Two Meshes with equal padded shapes stack leaf-wise into one pytree with a K axis.
    verts, faces = random_meshes_np(11, [(6, 5), (4, 3)])
    a = Meshes(verts, faces)
    b = a.update_padded(a.verts * 2.0 + 1.0)
    stacked = jax.tree_util.tree_map(lambda x, y: jnp.stack([x, y]), a, b)

    def geometry(m):
        return m.verts_normals_padded(), m.faces_areas_padded(), m.get_bounding_boxes()

    batched = jax.vmap(geometry)(stacked)
    for k, m in enumerate((a, b)):
        for got, want in zip(batched, geometry(m)):
            np.testing.assert_allclose(got[k], want, rtol=1e-5, atol=1e-6)
