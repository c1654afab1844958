"""cubify against a naive per-voxel cube builder and closed forms."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import trimesh

from jax3d.ops import cubify, cubify_padded


def cubify_triangles_naive(occ, align="topleft"):
    """Set of exterior cube sides, each the frozenset of its 4 corner coordinates."""
    D, H, W = occ.shape
    scale = {"corner": (2.0 / W, 2.0 / H, 2.0 / D)}.get(
        align, (2.0 / (W - 1), 2.0 / (H - 1), 2.0 / (D - 1))
    )
    shift = -0.5 if align == "center" else 0.0
    sides = set()
    for d, h, w in zip(*np.nonzero(occ)):
        for axis, step in ((0, -1), (0, 1), (1, -1), (1, 1), (2, -1), (2, 1)):  # x, y, z sides
            nb = [w, h, d]
            nb[axis] += step
            x, y, z = nb
            if 0 <= x < W and 0 <= y < H and 0 <= z < D and occ[z, y, x]:
                continue
            lo = [w, h, d]
            corners = []
            for a in (0, 1):
                for b in (0, 1):
                    c = list(lo)
                    c[axis] += 1 if step > 0 else 0
                    c[(axis + 1) % 3] += a
                    c[(axis + 2) % 3] += b
                    corners.append(
                        tuple(round((c[k] + shift) * scale[k] - 1.0, 6) for k in range(3))
                    )
            sides.add(frozenset(corners))  # the 4 corners of an exterior side
    return sides


def test_single_voxel_is_a_unit_cube():
    vox = np.zeros((1, 3, 3, 3), np.float32)
    vox[0, 1, 1, 1] = 1.0
    m = cubify(vox, 0.5)
    verts, faces = np.asarray(m.verts_list()[0]), np.asarray(m.faces_list()[0])
    assert verts.shape == (8, 3) and faces.shape == (12, 3)
    np.testing.assert_allclose(verts.min(0), [0, 0, 0])  # grid point 1 -> 2 * 1 / 2 - 1 = 0
    np.testing.assert_allclose(verts.max(0), [1, 1, 1])
    mesh = trimesh.Trimesh(verts, faces, process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent
    np.testing.assert_allclose(mesh.volume, 1.0)  # positive: faces point outwards


def test_two_adjacent_voxels_share_verts_and_drop_inner_faces():
    for axis in (1, 2, 3):
        vox = np.zeros((1, 3, 3, 3), np.float32)
        idx = [0, 0, 0, 0]
        vox[tuple(idx)] = 1.0
        idx[axis] = 1
        vox[tuple(idx)] = 1.0
        m = cubify(vox, 0.5)
        verts, faces = np.asarray(m.verts_list()[0]), np.asarray(m.faces_list()[0])
        assert verts.shape == (12, 3) and faces.shape == (20, 3)
        mesh = trimesh.Trimesh(verts, faces, process=False)
        assert mesh.is_watertight
        np.testing.assert_allclose(mesh.volume, 2.0)
        extent = verts.max(0) - verts.min(0)
        np.testing.assert_allclose(sorted(extent), [1, 1, 2])


@pytest.mark.parametrize("align", ["topleft", "corner", "center"])
def test_random_grid_matches_naive(align):
    rng = np.random.default_rng(0)
    vox = rng.uniform(size=(2, 3, 4, 5)).astype(np.float32)
    m = cubify(vox, 0.6, align=align)
    for b in range(2):
        occ = vox[b] >= 0.6
        verts, faces = np.asarray(m.verts_list()[b], np.float64), np.asarray(m.faces_list()[b])
        assert len(np.unique(np.round(verts, 6), axis=0)) == len(verts)  # merged
        assert np.all(np.bincount(faces.ravel(), minlength=len(verts)) > 0)  # no idle verts
        # two triangles per exterior side of the naive cubes, each inside exactly one side
        quads = cubify_triangles_naive(occ, align)
        assert 2 * len(quads) == len(faces)
        covered = set()
        for f in faces:
            tri = frozenset(tuple(np.round(verts[i], 6)) for i in f)
            match = [q for q in quads if tri <= q]
            assert len(match) == 1
            covered.add(match[0])
        assert covered == quads


def test_corner_and_center_alignment_extents():
    full = np.ones((1, 2, 2, 2), np.float32)
    np.testing.assert_allclose(
        cubify(full, 0.5, align="corner").get_bounding_boxes()[0], [[-1, 1]] * 3
    )
    one = np.zeros((1, 3, 3, 3), np.float32)
    one[0, 1, 1, 1] = 1
    verts = np.asarray(cubify(one, 0.5, align="center").verts_list()[0])
    np.testing.assert_allclose(verts.mean(0), [0, 0, 0], atol=1e-6)  # voxel centre at 0


def test_threshold_is_inclusive_and_empty_grids():
    vox = np.zeros((2, 2, 2, 2), np.float32)
    vox[0, 0, 0, 0] = 0.5
    m = cubify(vox, 0.5)
    assert m.verts_list()[0].shape == (8, 3)
    assert m.verts_list()[1].shape[0] == 0 and m.faces_list()[1].shape[0] == 0


def test_validation():
    with pytest.raises(ValueError, match="align"):
        cubify(np.ones((1, 2, 2, 2)), 0.5, align="middle")
    with pytest.raises(ValueError, match="voxels"):
        cubify(np.ones((2, 2, 2)), 0.5)
    with pytest.raises(ValueError, match="voxels"):
        cubify(np.ones((1, 1, 1, 1)), 0.5)  # topleft scales by 2 / (size - 1)
    assert cubify(np.ones((1, 1, 1, 1)), 0.5, align="corner").verts_list()[0].shape == (8, 3)
    with pytest.raises(ValueError, match="concrete"):
        jax.jit(lambda v: cubify(v, 0.5).verts_padded())(np.ones((1, 2, 2, 2)))


# ----------------------------------------------------------------------------------------------
# cubify_padded: static capacity under jit.
# ----------------------------------------------------------------------------------------------

_CAP = dict(max_verts=300, max_faces=600)
_padded_jit = jax.jit(lambda v, t: cubify_padded(v, t, **_CAP))


def _grids(seed):
    vox = np.random.default_rng(seed).uniform(size=(3, 4, 5, 3)).astype(np.float32)
    vox[2] = 0.0  # an empty grid
    return vox


@pytest.mark.parametrize(
    "align", [pytest.param("corner", marks=pytest.mark.slow),
              pytest.param("center", marks=pytest.mark.slow)]
)  # fmt: skip
def test_padded_equals_reference_when_it_fits(align):
    vox = _grids(1)
    ref = cubify(vox, 0.55, align=align)
    out = cubify_padded(vox, 0.55, align=align, **_CAP)
    assert not np.any(out.overflow)
    for b in range(3):
        np.testing.assert_array_equal(out.meshes.faces_list()[b], ref.faces_list()[b])
        np.testing.assert_allclose(out.meshes.verts_list()[b], ref.verts_list()[b], atol=1e-6)


def test_padded_under_jit_equals_reference_with_traced_threshold():
    vox = _grids(2)  # the third grid is empty
    for thresh in (0.3, 0.55, 0.7):
        out = _padded_jit(vox, thresh)
        ref = cubify(vox, thresh)
        assert not np.any(out.overflow)
        for b in range(3):
            np.testing.assert_array_equal(out.meshes.faces_list()[b], ref.faces_list()[b])
            np.testing.assert_allclose(out.meshes.verts_list()[b], ref.verts_list()[b], atol=1e-6)
        np.testing.assert_array_equal(out.num_faces_needed, ref.num_faces_per_mesh())
        np.testing.assert_array_equal(out.num_verts_needed, ref.num_verts_per_mesh())
        assert np.all(np.asarray(out.meshes.faces_padded()[2]) == -1)
        assert np.all(np.asarray(out.meshes.verts_padded()[2]) == 0)


def test_padded_overflow_is_reported_and_the_rest_is_consistent():
    vox = np.zeros((3, 4, 5, 3), np.float32)
    vox[0, :4, :4, :3] = 1.0  # a 4 x 4 x 3 block: 160 faces, 82 verts
    out = cubify_padded(vox, 0.5, max_verts=40, max_faces=100)
    assert bool(out.overflow[0]) and not np.any(out.overflow[1:])
    assert int(out.num_faces_needed[0]) == 160 and int(out.num_verts_needed[0]) == 82
    nv, nf = int(out.meshes.num_verts_per_mesh()[0]), int(out.meshes.num_faces_per_mesh()[0])
    assert nv <= 40 and 0 < nf <= 100
    faces = np.asarray(out.meshes.faces_padded()[0])
    assert faces[:nf].max() < nv and np.all(faces[nf:] == -1)
    full = cubify(vox[:1], 0.5)
    ref, ref_verts = np.asarray(full.faces_list()[0])[:100], np.asarray(full.verts_list()[0])
    keep = [f for f in ref if f.max() < 40]  # the reference's first faces using kept verts
    got = np.asarray(out.meshes.verts_padded()[0])[faces[:nf]]
    np.testing.assert_allclose(got, ref_verts[np.array(keep)], atol=1e-6)
    with pytest.raises(ValueError, match="max_faces"):
        cubify_padded(vox, 0.5, max_verts=10, max_faces=0)
