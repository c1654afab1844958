"""Tests for jax3d.structures.Volumes against PyTorch3D's coordinate formulas.

PyTorch3D (pytorch3d/structures/volumes.py, VolumeLocator) defines, for a batch padded to
``(D, H, W)`` with per-volume sizes ``(D_b, H_b, W_b)``:

- base axis of padded size ``r``: ``linspace(-1 + a, 1 - a, r)`` with ``a = 0`` when
  ``align_corners`` else ``1 / r``; the grid stacks ``(x(w), y(h), z(d))``;
- relative size ``rel = (r - 1) / (r_b - 1)`` per axis; ``local = base * rel + rel - 1``;
- ``world = local * (size_xyz - 1) * 0.5 * voxel_size - volume_translation`` with
  ``size_xyz = (W_b, H_b, D_b)``, and ``local = (world + volume_translation) / (0.5 *
  voxel_size) / (size_xyz - 1)``.

Consequence used as a closed form (align_corners=True): the centre of voxel ``i`` along an axis
of size ``s`` is at world ``(i - (s - 1) / 2) * voxel_size - volume_translation``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jax3d.structures import Volumes


def coord_grid_naive(grid_sizes, padded, voxel_size, translation, align_corners, world):
    """Float64 loop over voxels following PyTorch3D's formulas (module docstring)."""
    de, he, wi = padded

    def base(r, i):
        a = 0.0 if align_corners else 1.0 / r
        return -1.0 + a + i * (2.0 - 2.0 * a) / max(r - 1, 1)

    out = np.zeros((len(grid_sizes), de, he, wi, 3))
    for b, sizes in enumerate(grid_sizes):
        rel = [(p - 1) / (s - 1) if s > 1 else 1.0 for p, s in zip(padded, sizes)][::-1]
        size_xyz = np.array(sizes[::-1], np.float64)
        for d, h, w in np.ndindex(de, he, wi):
            local = np.array([base(wi, w), base(he, h), base(de, d)]) * rel + np.array(rel) - 1
            if world:
                local = local * (size_xyz - 1) * 0.5 * voxel_size[b] - translation[b]
            out[b, d, h, w] = local
    return out


def test_pytorch3d_docstring_example():
    # 5x5x5 volume, voxel_size 1, no translation: world (-2, 0, 2) <-> local (-1, 0, 1).
    vol = Volumes(jnp.zeros((1, 1, 5, 5, 5)))
    np.testing.assert_allclose(vol.world_to_local_coords(jnp.array([[[-2.0, 0.0, 2.0]]])),
                               [[[-1.0, 0.0, 1.0]]])
    np.testing.assert_allclose(vol.local_to_world_coords(jnp.array([[[-1.0, 0.0, 1.0]]])),
                               [[[-2.0, 0.0, 2.0]]])


@pytest.mark.parametrize("align_corners", [True, False])
def test_coord_grid_matches_pytorch3d_formulas(align_corners):
    dens = [np.zeros((1, 3, 4, 5), np.float32), np.zeros((1, 2, 4, 1), np.float32)]
    vs = np.array([[0.5, 1.0, 2.0], [1.5, 1.5, 1.5]])
    t = np.array([[1.0, -2.0, 0.5], [0.0, 0.0, 3.0]])
    vol = Volumes(dens, voxel_size=vs, volume_translation=t, align_corners=align_corners)
    sizes = [(3, 4, 5), (2, 4, 1)]
    for world in (False, True):
        got = jax.jit(lambda v, w=world: v.get_coord_grid(world_coordinates=w))(vol)
        want = coord_grid_naive(sizes, (3, 4, 5), vs, t, align_corners, world)
        assert got.shape == (2, 3, 4, 5, 3)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert vol.get_align_corners() is align_corners


def test_world_grid_closed_form_and_grid_sample_identity():
    d, h, w = 3, 4, 6
    vs, t = np.array([0.3, 0.7, 1.1]), np.array([0.5, -1.0, 2.0])
    vol = Volumes(jnp.zeros((1, 2, d, h, w)), voxel_size=vs, volume_translation=t)
    grid = np.asarray(vol.get_coord_grid())[0]
    for axis, size in enumerate((w, h, d)):  # x along W, y along H, z along D
        idx = np.arange(size)
        want = (idx - (size - 1) / 2) * vs[axis] - t[axis]
        line = np.moveaxis(grid[..., axis], 2 - axis, 0).reshape(size, -1)
        np.testing.assert_allclose(line, np.repeat(want[:, None], line.shape[1], 1), atol=1e-5)
    # grid_sample(align_corners=True) index of the local grid is the voxel's own index.
    local = np.asarray(vol.get_coord_grid(world_coordinates=False))[0]
    index = (local + 1) / 2 * (np.array([w, h, d]) - 1)
    zz, yy, xx = np.meshgrid(np.arange(d), np.arange(h), np.arange(w), indexing="ij")
    np.testing.assert_allclose(index, np.stack([xx, yy, zz], -1), atol=1e-5)


@pytest.mark.parametrize(
    "voxel_size, expected",
    [
        (2.0, [[2, 2, 2]] * 2),
        ((1.0, 2.0, 3.0), [[1, 2, 3]] * 2),
        (np.array([0.5]), [[0.5] * 3] * 2),
        (np.array([[1.0], [2.0]]), [[1, 1, 1], [2, 2, 2]]),
        (np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), [[1, 2, 3], [4, 5, 6]]),
    ],
)
def test_voxel_size_forms(voxel_size, expected):
    vol = Volumes(jnp.zeros((2, 1, 3, 3, 3)), voxel_size=voxel_size)
    np.testing.assert_allclose(vol.voxel_size, expected)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"voxel_size": (1.0, 2.0)},
        {"voxel_size": np.ones((3, 3))},
        {"volume_translation": 1.0},
        {"volume_translation": np.ones((3, 3))},
    ],
)
def test_bad_voxel_size_or_translation(kwargs):
    with pytest.raises(ValueError, match="voxel_size|volume_translation"):
        Volumes(jnp.zeros((2, 1, 3, 3, 3)), **kwargs)


def test_construction_errors():
    with pytest.raises(ValueError, match="densities"):
        Volumes(jnp.zeros((1, 3, 3, 3)))
    with pytest.raises(ValueError, match="densities"):
        Volumes([np.zeros((3, 3, 3))])
    with pytest.raises(ValueError, match="channels"):
        Volumes([np.zeros((1, 3, 3, 3)), np.zeros((2, 3, 3, 3))])
    with pytest.raises(ValueError, match="features"):
        Volumes(jnp.zeros((2, 1, 3, 3, 3)), features=jnp.zeros((2, 3, 3, 3, 4)))
    with pytest.raises(ValueError, match="grid size"):
        Volumes([np.zeros((1, 3, 3, 3)), np.zeros((1, 2, 3, 3))],
                features=[np.zeros((2, 2, 3, 3)), np.zeros((2, 3, 3, 3))])
    vol = Volumes(jnp.zeros((2, 1, 3, 3, 3)))
    with pytest.raises(ValueError, match="points_3d_world"):
        vol.world_to_local_coords(jnp.zeros((3, 5, 3)))
    with pytest.raises(ValueError, match="new_densities"):
        vol.update_padded(jnp.zeros((2, 1, 3, 3, 4)))


def test_heterogeneous_lists_round_trip():
    rng = np.random.default_rng(0)
    dens = [rng.uniform(size=(1, 2, 3, 4)).astype(np.float32),
            rng.uniform(size=(1, 4, 2, 2)).astype(np.float32)]
    feats = [rng.uniform(size=(3, 2, 3, 4)).astype(np.float32),
             rng.uniform(size=(3, 4, 2, 2)).astype(np.float32)]
    vol = Volumes(dens, features=feats)
    assert vol.densities().shape == (2, 1, 4, 3, 4) and vol.features().shape == (2, 3, 4, 3, 4)
    np.testing.assert_array_equal(vol.get_grid_sizes(), [[2, 3, 4], [4, 2, 2]])
    for got, want in zip(vol.densities_list(), dens):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(vol.features_list(), feats):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(vol.densities()[0, :, 2:], 0.0)
    assert Volumes(jnp.zeros((1, 1, 2, 2, 2))).features_list() is None


def test_local_world_round_trip_transform3d_and_degenerate_axis():
    rng = np.random.default_rng(1)
    vol = Volumes(jnp.zeros((2, 1, 4, 1, 6)), voxel_size=(0.5, 1.0, 2.0),
                  volume_translation=rng.normal(size=(2, 3)))
    pts = jnp.asarray(rng.uniform(-1, 1, size=(2, 7, 5, 3)), jnp.float32)
    world = vol.local_to_world_coords(pts)
    back = vol.world_to_local_coords(world)
    np.testing.assert_allclose(back[..., [0, 2]], pts[..., [0, 2]], atol=1e-5)
    np.testing.assert_array_equal(back[..., 1], 0.0)  # H = 1: zero scale maps to local 0
    matrix_world = vol.get_local_to_world_coords_transform().transform_points(
        pts.reshape(2, -1, 3)).reshape(pts.shape)
    np.testing.assert_allclose(matrix_world, world, atol=1e-5)
    ok = Volumes(jnp.zeros((1, 1, 3, 4, 5)), voxel_size=0.7, volume_translation=(1, 2, 3))
    w = ok.local_to_world_coords(pts[:1])
    inv = ok.get_world_to_local_coords_transform().transform_points(w.reshape(1, -1, 3))
    np.testing.assert_allclose(inv.reshape(w.shape), pts[:1], atol=1e-5)


def test_jit_grad_index_update():
    dens = jnp.ones((3, 1, 2, 3, 4))
    vol = Volumes(dens, voxel_size=jnp.array([[1.0], [2.0], [3.0]]))
    out = jax.jit(lambda v: v.get_coord_grid())(vol)
    np.testing.assert_allclose(out, vol.get_coord_grid())

    @jax.jit
    def world_sum(vs, t):
        return Volumes(dens, voxel_size=vs, volume_translation=t).get_coord_grid().sum()

    check_grads(world_sum, (jnp.ones((3, 3)), jnp.zeros((3, 3))), order=1, modes=["rev"])
    check_grads(jax.jit(vol.world_to_local_coords), (jnp.ones((3, 2, 3)),), order=1)
    sub = vol[[2, 0]]
    assert len(sub) == 2
    np.testing.assert_allclose(sub.get_coord_grid(), vol.get_coord_grid()[np.array([2, 0])])
    new = vol.update_padded(dens * 2, new_features=jnp.zeros((3, 5, 2, 3, 4)))
    np.testing.assert_array_equal(new.densities(), 2.0)
    assert new.features().shape == (3, 5, 2, 3, 4)
    np.testing.assert_array_equal(new.voxel_size, vol.voxel_size)
    with pytest.raises(AttributeError):
        vol.voxel_size = 1.0
