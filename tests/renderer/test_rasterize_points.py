"""rasterize_points / PointsRasterizer against a naive float64 reference and PyTorch3D."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.renderer import FoVPerspectiveCameras
from jax3d.renderer.points import (
    PointsRasterizationSettings,
    PointsRasterizer,
    rasterize_points,
    rasterize_points_padded,
)
from jax3d.structures import Pointclouds
from tests.renderer.test_rasterize_meshes import pixel_centers_naive


def rasterize_points_naive(points, num_points, H, W, radius, K):
    """PyTorch3D's CPU algorithm in float64: per pixel the K nearest-z points covering it."""
    N = points.shape[0]
    xs, ys = pixel_centers_naive(H, W)
    idx = -np.ones((N, H, W, K), np.int64)
    zbuf, dists = -np.ones((N, H, W, K)), -np.ones((N, H, W, K))
    first = np.cumsum(num_points) - num_points
    for n in range(N):
        p = points[n, : num_points[n]].astype(np.float64)
        r = np.broadcast_to(np.asarray(radius, np.float64), points.shape[:2])[n, : num_points[n]]
        for yi in range(H):
            for xi in range(W):
                d2 = (p[:, 0] - xs[xi]) ** 2 + (p[:, 1] - ys[yi]) ** 2
                ok = np.nonzero((p[:, 2] >= 0) & (d2 < r * r))[0]
                ok = ok[np.argsort(p[ok, 2], kind="stable")][:K]
                idx[n, yi, xi, : len(ok)] = ok + first[n]
                zbuf[n, yi, xi, : len(ok)] = p[ok, 2]
                dists[n, yi, xi, : len(ok)] = d2[ok]
    return idx, zbuf, dists


def random_clouds(seed, N=2, P=60, num_points=None):
    rng = np.random.default_rng(seed)
    pts = np.concatenate([rng.uniform(-1.1, 1.1, (N, P, 2)), rng.uniform(-0.2, 3, (N, P, 1))], -1)
    return pts.astype(np.float32), np.array(num_points or [P] * N)


@pytest.mark.parametrize("K, radius, size", [(1, 0.1, (16, 16)), (4, 0.2, (14, 23))])
def test_matches_naive(K, radius, size):
    pts, n = random_clouds(K, num_points=[60, 35])
    out = rasterize_points_padded(pts, n, size, radius, K, bin_size=8)
    ref = rasterize_points_naive(pts, n, *size, radius, K)
    np.testing.assert_array_equal(np.asarray(out[0]), ref[0])
    for a, b in zip(out[1:], ref[1:]):
        np.testing.assert_allclose(np.asarray(a), b, atol=1e-5, rtol=1e-5)
    assert (ref[0][..., 0] >= 0).mean() > 0.2  # most pixels are covered


def test_per_point_radius_packed_and_padded():
    pts, n = random_clouds(3, num_points=[60, 20])
    rng = np.random.default_rng(0)
    r_pad = rng.uniform(0.05, 0.25, pts.shape[:2]).astype(np.float32)
    out = rasterize_points_padded(pts, n, 12, r_pad, 3, bin_size=4)
    ref = rasterize_points_naive(pts, n, 12, 12, r_pad, 3)
    np.testing.assert_array_equal(np.asarray(out[0]), ref[0])
    clouds = Pointclouds(points=[pts[0], pts[1, :20]])
    packed = np.concatenate([r_pad[0], r_pad[1, :20]])
    out2 = rasterize_points(clouds, 12, packed, 3, bin_size=4)
    np.testing.assert_array_equal(np.asarray(out2[0]), ref[0])


def test_jit_overflow_fallback_and_bin_sizes_agree():
    pts, n = random_clouds(5)
    a = rasterize_points_padded(pts, n, 16, 0.15, 3, bin_size=0)
    b = jax.jit(lambda p: rasterize_points_padded(p, n, 16, 0.15, 3, bin_size=4,
                                                  max_points_per_bin=2))(pts)
    for x, y in zip(a, b):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=1e-6)


def test_gradients_wrt_points_match_analytic():
    pts, n = random_clouds(6, N=1, P=20)

    def loss(p):
        _, z, d = rasterize_points_padded(p, n, 10, 0.2, 2, bin_size=4)
        return (z * (z > -1)).sum() + (d * (d > -1)).sum()

    g = np.asarray(jax.grad(loss)(jnp.asarray(pts)))
    idx, _, _ = rasterize_points_naive(pts, n, 10, 10, 0.2, 2)
    xs, ys = pixel_centers_naive(10, 10)
    want = np.zeros_like(pts, np.float64)
    for yi, xi, k in zip(*np.nonzero(idx[0] >= 0)):
        p = idx[0, yi, xi, k]
        want[0, p, 2] += 1.0
        want[0, p, 0] += 2 * (pts[0, p, 0] - xs[xi])
        want[0, p, 1] += 2 * (pts[0, p, 1] - ys[yi])
    np.testing.assert_allclose(g, want, atol=1e-4)


def test_empty_cloud_in_batch():
    pts, n = random_clouds(7, num_points=[0, 40])
    idx, z, d = rasterize_points_padded(pts, n, 8, 0.3, 2)
    assert (np.asarray(idx[0]) == -1).all() and (np.asarray(z[0]) == -1).all()
    assert (np.asarray(idx[1]) >= 0).any()


def test_validation():
    with pytest.raises(ValueError, match="points must be"):
        rasterize_points_padded(np.zeros((3, 3)), [3], 8)
    with pytest.raises(ValueError, match="radius"):
        rasterize_points_padded(np.zeros((1, 3, 3)), [3], 8, radius=np.ones(5))
    with pytest.raises(ValueError, match="radius"):
        rasterize_points_padded(np.zeros((1, 3, 3)), [3], 8, radius=-0.1)
    with pytest.raises(ValueError, match="max_points_per_bin"):
        rasterize_points_padded(np.zeros((1, 3, 3)), [3], 8, max_points_per_bin=0)


def test_settings_validate_radius_and_capacity():
    for bad in (-0.1, [0.1, -0.2, 0.1], np.float32(np.nan)):
        with pytest.raises(ValueError, match="radius"):
            PointsRasterizationSettings(radius=bad)
    with pytest.raises(ValueError, match="max_points_per_bin"):
        PointsRasterizationSettings(max_points_per_bin=-1)
    PointsRasterizationSettings(radius=np.array([0.0, 0.1]))  # per point, >= 0: fine

    @jax.jit
    def traced(r):  # a traced radius cannot be inspected: no error at construction
        return PointsRasterizationSettings(radius=r).radius * 2

    assert float(traced(jnp.float32(-0.1))) == pytest.approx(-0.2)


def test_points_rasterizer_matches_pytorch3d(reference):
    ref = reference("points")
    cam = reference("rasterize_sphere")
    clouds = Pointclouds(points=[jnp.asarray(ref["points"])])
    cameras = FoVPerspectiveCameras(R=jnp.asarray(cam["R"]), T=jnp.asarray(cam["T"]))
    settings = PointsRasterizationSettings(image_size=64, radius=float(ref["radius"]),
                                           points_per_pixel=int(ref["points_per_pixel"]))
    frags = PointsRasterizer(cameras, settings)(clouds)
    np.testing.assert_array_equal(np.asarray(frags.idx), ref["idx"])
    np.testing.assert_allclose(np.asarray(frags.zbuf), ref["zbuf"], atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(frags.dists), ref["dists"], atol=1e-6, rtol=1e-4)
