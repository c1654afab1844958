"""VolumeSampler / grid_sample_3d against a naive float64 trilinear interpolation."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jax3d.renderer.implicit import RayBundle, VolumeSampler, grid_sample_3d
from jax3d.structures import Volumes


def grid_sample_naive(grid, points, align_corners=True, mode="bilinear"):
    """float64 loop over points: torch.grid_sample semantics, zero padding."""
    grid, points = np.asarray(grid, np.float64), np.asarray(points, np.float64)
    c, d, h, w = grid.shape
    out = np.zeros((len(points), c))

    def read(x, y, z):
        if 0 <= x < w and 0 <= y < h and 0 <= z < d:
            return grid[:, z, y, x]
        return np.zeros(c)

    for p, (x, y, z) in enumerate(points):
        idx = []
        for coord, size in ((x, w), (y, h), (z, d)):
            idx.append((coord + 1) / 2 * (size - 1) if align_corners
                       else ((coord + 1) * size - 1) / 2)
        if mode == "nearest":
            out[p] = read(*(int(np.round(i)) for i in idx))
            continue
        base = [math.floor(i) for i in idx]
        for dx in (0, 1):
            for dy in (0, 1):
                for dz in (0, 1):
                    wgt = 1.0
                    for i, b, o in zip(idx, base, (dx, dy, dz)):
                        wgt *= (i - b) if o else (1 - (i - b))
                    out[p] += wgt * read(base[0] + dx, base[1] + dy, base[2] + dz)
    return out


@pytest.mark.parametrize("align_corners", [True, False])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_grid_sample_vs_naive(align_corners, mode):
    rng = np.random.default_rng(0)
    grids = rng.normal(size=(2, 3, 4, 5, 6)).astype(np.float32)
    points = rng.uniform(-1.3, 1.3, (2, 60, 3)).astype(np.float32)  # some outside
    got = grid_sample_3d(grids, points, align_corners=align_corners, mode=mode)
    for b in range(2):
        ref = grid_sample_naive(grids[b], points[b], align_corners, mode)
        np.testing.assert_allclose(got[b], ref, atol=1e-5)


def test_border_padding_and_shared_grid():
    grid = np.arange(8, dtype=np.float32).reshape(1, 1, 2, 2, 2)
    pts = np.array([[[-5.0, -5.0, -5.0], [5.0, 5.0, 5.0]]], np.float32)
    np.testing.assert_allclose(grid_sample_3d(grid, pts, padding_mode="border")[0, :, 0], [0, 7])
    np.testing.assert_allclose(grid_sample_3d(grid, pts)[0, :, 0], [0, 0])
    # one grid shared by a batch of point sets
    pts2 = np.repeat(np.zeros((1, 1, 3), np.float32), 3, 0)
    np.testing.assert_allclose(grid_sample_3d(grid, pts2)[:, 0, 0], [3.5] * 3)


def test_voxel_centres_read_their_values():
    rng = np.random.default_rng(1)
    dens = rng.uniform(size=(2, 1, 4, 5, 6)).astype(np.float32)
    feats = rng.uniform(size=(2, 3, 4, 5, 6)).astype(np.float32)
    vols = Volumes(densities=dens, features=feats, voxel_size=[[0.1], [0.3]],
                   volume_translation=[[0.2, -0.1, 0.3], [0.0, 0.5, 0.0]])
    centres = vols.get_coord_grid()  # (2, D, H, W, 3) world
    # a ray bundle whose samples are the voxel centres: origin at the centre, length 0
    flat = centres.reshape(2, -1, 3)
    rb = RayBundle(flat, jnp.ones_like(flat), jnp.zeros((2, flat.shape[1], 1)),
                   jnp.zeros((2, flat.shape[1], 2)))
    d, f = VolumeSampler(vols)(rb)
    np.testing.assert_allclose(d[:, :, 0, 0], dens.reshape(2, -1), atol=1e-5)
    np.testing.assert_allclose(np.moveaxis(np.asarray(f[:, :, 0]), -1, 1),
                               feats.reshape(2, 3, -1), atol=1e-5)
    d2, f2 = VolumeSampler(vols, sample_mode="nearest")(rb)
    np.testing.assert_allclose(d2, d, atol=1e-5)
    # no features: an empty channel axis
    _, none = VolumeSampler(Volumes(densities=dens))(rb)
    assert none.shape == (2, flat.shape[1], 1, 0)


def test_sampler_world_to_local_matches_naive():
    rng = np.random.default_rng(2)
    dens = rng.uniform(size=(1, 1, 5, 5, 5)).astype(np.float32)
    vols = Volumes(densities=dens, voxel_size=0.25, volume_translation=(0.1, 0.0, -0.2))
    origins = rng.uniform(-1, 1, (1, 7, 3)).astype(np.float32)
    dirs = rng.normal(size=(1, 7, 3)).astype(np.float32)
    lengths = np.sort(rng.uniform(0, 1, (1, 7, 4)).astype(np.float32), -1)
    d, _ = VolumeSampler(vols)(RayBundle(origins, dirs, lengths, np.zeros((1, 7, 2))))
    pts = origins[..., None, :] + lengths[..., None] * dirs[..., None, :]
    local = (pts + np.array([0.1, 0.0, -0.2])) / (0.25 * 2.0)  # (size-1)/2 * voxel = 0.5
    ref = grid_sample_naive(dens[0], local.reshape(-1, 3)).reshape(1, 7, 4, 1)
    np.testing.assert_allclose(d, ref, atol=1e-5)


@pytest.mark.slow
def test_jit_vmap_and_grads():
    rng = np.random.default_rng(3)
    grids = jnp.asarray(rng.normal(size=(2, 2, 3, 4, 5)), jnp.float32)
    pts = jnp.asarray(rng.uniform(-0.9, 0.9, (2, 11, 3)), jnp.float32)
    eager = grid_sample_3d(grids, pts)
    np.testing.assert_allclose(jax.jit(grid_sample_3d)(grids, pts), eager, atol=1e-6)
    per = jax.vmap(lambda g, p: grid_sample_3d(g[None], p[None])[0])(grids, pts)
    np.testing.assert_allclose(per, eager, atol=1e-6)
    check_grads(lambda g, p: grid_sample_3d(g, p), (grids, pts), order=1, modes=["rev"],
                atol=2e-2, rtol=2e-2)
    vols = Volumes(densities=grids[:, :1])
    rb = RayBundle(pts, jnp.ones_like(pts), jnp.zeros((2, 11, 1)), jnp.zeros((2, 11, 2)))
    sampler = VolumeSampler(vols)
    d = jax.jit(lambda s, r: s(r)[0])(sampler, rb)
    np.testing.assert_allclose(d, sampler(rb)[0], atol=1e-6)


def test_densities_and_features_off_grid_and_grads():
    """Both are read in one gather: each must still equal its own naive interpolation."""
    rng = np.random.default_rng(4)
    dens = rng.uniform(size=(1, 1, 4, 5, 6)).astype(np.float32)
    feats = rng.uniform(size=(1, 2, 4, 5, 6)).astype(np.float32)
    origins = rng.uniform(-1.2, 1.2, (1, 9, 3)).astype(np.float32)  # some samples outside
    dirs = rng.normal(size=(1, 9, 3)).astype(np.float32)
    lengths = np.sort(rng.uniform(0, 1, (1, 9, 3)).astype(np.float32), -1)
    rb = RayBundle(origins, dirs, lengths, np.zeros((1, 9, 2), np.float32))
    vols = Volumes(densities=dens, features=feats, voxel_size=0.5)  # local = world here
    d, f = VolumeSampler(vols)(rb)
    assert d.shape == (1, 9, 3, 1) and f.shape == (1, 9, 3, 2)
    assert d.dtype == f.dtype == jnp.float32
    pts = (origins[..., None, :] + lengths[..., None] * dirs[..., None, :]).reshape(-1, 3)
    local = pts / np.array([1.25, 1.0, 0.75])  # (size - 1) / 2 * voxel along x, y, z
    np.testing.assert_allclose(d.reshape(-1, 1), grid_sample_naive(dens[0], local), atol=1e-5)
    np.testing.assert_allclose(f.reshape(-1, 2), grid_sample_naive(feats[0], local), atol=1e-5)

    def both(dd, ff):
        out_d, out_f = VolumeSampler(Volumes(densities=dd, features=ff, voxel_size=0.5))(rb)
        return jnp.sum(out_d * 1.3) + jnp.sum(out_f * jnp.array([0.7, -2.0]))

    check_grads(both, (jnp.asarray(dens), jnp.asarray(feats)), order=1, modes=["rev"],
                atol=1e-2, rtol=1e-2)


def test_validation():
    grid = jnp.zeros((1, 1, 2, 2, 2))
    with pytest.raises(ValueError, match="mode"):
        grid_sample_3d(grid, jnp.zeros((1, 3, 3)), mode="bicubic")
    with pytest.raises(ValueError, match="padding_mode"):
        VolumeSampler(Volumes(densities=grid), padding_mode="reflection")
    with pytest.raises(ValueError, match="points"):
        grid_sample_3d(grid, jnp.zeros((1, 3)))
    with pytest.raises(TypeError, match="Volumes"):
        VolumeSampler(np.zeros((1, 1, 2, 2, 2)))
    vols = Volumes(densities=jnp.zeros((2, 1, 2, 2, 2)))
    rb = RayBundle(jnp.zeros((3, 4, 3)), jnp.ones((3, 4, 3)), jnp.zeros((3, 4, 2)),
                   jnp.zeros((3, 4, 2)))
    with pytest.raises(ValueError, match="len\\(volumes\\)"):
        VolumeSampler(vols)(rb)
