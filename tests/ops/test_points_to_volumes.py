"""add_pointclouds_to_volumes / add_points_features_to_volume_densities_features against a
naive per-point loop."""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest

from jax3d.ops import add_pointclouds_to_volumes, add_points_features_to_volume_densities_features
from jax3d.structures import Pointclouds, Volumes


def splat_naive(points, feats, dims, mode, align_corners=True):
    """Per-point votes into (C, D, H, W) features and (1, D, H, W) densities (not rescaled)."""
    d, h, w = dims
    dens = np.zeros((1, d, h, w))
    out = np.zeros((feats.shape[1], d, h, w))
    size = np.array([w, h, d], float)
    for p, f in zip(points, feats):
        g = (p + 1) / 2 * (size - 1) if align_corners else ((p + 1) * size - 1) / 2
        if mode == "nearest":
            votes = [(np.round(g).astype(int), 1.0)]
        else:
            base = np.floor(g)
            votes = []
            for step in itertools.product((0, 1), repeat=3):
                c = base + step
                weight = np.prod(np.where(np.array(step) == 1, g - base, 1 - (g - base)))
                votes.append((c.astype(int), weight))
        for (x, y, z), weight in votes:
            if 0 <= x < w and 0 <= y < h and 0 <= z < d:
                dens[0, z, y, x] += weight
                out[:, z, y, x] += weight * f
    return out, dens


@pytest.mark.parametrize("mode,align", [
    ("trilinear", True),
    pytest.param("nearest", True, marks=pytest.mark.slow),
    pytest.param("trilinear", False, marks=pytest.mark.slow),
])  # fmt: skip
def test_matches_naive_splatting(mode, align):
    rng = np.random.default_rng(0)
    pts = rng.uniform(-1.1, 1.1, (2, 40, 3)).astype(np.float32)  # a few fall outside
    feats = rng.uniform(size=(2, 40, 2)).astype(np.float32)
    dims = (3, 4, 5)
    init_d = rng.uniform(size=(2, 1, *dims)).astype(np.float32)
    init_f = rng.uniform(size=(2, 2, *dims)).astype(np.float32)
    mask = np.ones((2, 40), np.float32)
    mask[1, 30:] = 0.0
    f, d = add_points_features_to_volume_densities_features(
        pts, feats, init_d, init_f, mode=mode, min_weight=1e-4, mask=mask, align_corners=align)
    for b in range(2):
        n = 40 if b == 0 else 30
        want_f, want_d = splat_naive(pts[b, :n], feats[b, :n], dims, mode, align)
        want_d = want_d + init_d[b]
        floor = 1e-4 if mode == "trilinear" else 1.0
        want_f = (want_f + init_f[b]) / np.maximum(want_d, floor)
        np.testing.assert_allclose(np.asarray(d[b]), want_d, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.asarray(f[b]), want_f, rtol=1e-4, atol=1e-5)


def test_pointclouds_to_volumes_in_world_coordinates():
    vols = Volumes(np.zeros((1, 1, 3, 3, 3), np.float32), np.zeros((1, 2, 3, 3, 3), np.float32),
                   voxel_size=0.5, volume_translation=(-1.0, 0.0, 0.0))  # fmt: skip
    # world (1, 0, 0) is the volume centre; +0.5 in x is one voxel further along W
    clouds = Pointclouds([np.array([[1.0, 0.0, 0.0], [1.5, 0.0, 0.0]], np.float32)],
                         features=[np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)])
    out = add_pointclouds_to_volumes(clouds, vols, mode="trilinear")
    dens = np.asarray(out.densities())[0, 0]
    assert dens[1, 1, 1] == pytest.approx(1.0) and dens[1, 1, 2] == pytest.approx(1.0)
    assert dens.sum() == pytest.approx(2.0)
    np.testing.assert_allclose(np.asarray(out.features())[0, :, 1, 1, 2], [3.0, 4.0], rtol=1e-5)
    with pytest.raises(ValueError, match="features"):
        add_pointclouds_to_volumes(Pointclouds([np.zeros((2, 3))]), vols)


@pytest.mark.slow  # compiles the backward pass
def test_trilinear_splatting_is_differentiable_wrt_points():
    vols = Volumes(np.zeros((1, 1, 3, 3, 3), np.float32), np.zeros((1, 2, 3, 3, 3), np.float32))
    pts = np.array([[[0.1, 0.2, -0.3], [0.6, 0.1, 0.0]]], np.float32)
    feats = np.ones((1, 2, 2), np.float32)

    def density(p):
        return add_pointclouds_to_volumes(Pointclouds(p, features=feats), vols).densities()[
            0, 0, 1, 1, 1]

    grad = np.asarray(jax.grad(density)(pts))
    eps = 1e-3
    for axis in range(3):
        step = np.zeros_like(pts)
        step[0, 0, axis] = eps
        fd = (density(pts + step) - density(pts - step)) / (2 * eps)
        np.testing.assert_allclose(grad[0, 0, axis], fd, rtol=1e-2, atol=1e-3)
