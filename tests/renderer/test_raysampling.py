"""Ray samplers: PyTorch3D parity, ray geometry (pixel centres, unproject_points), randomness."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.renderer import (
    FoVOrthographicCameras,
    FoVPerspectiveCameras,
    PerspectiveCameras,
    look_at_view_transform,
)
from jax3d.renderer.implicit import (
    GridRaysampler,
    MonteCarloRaysampler,
    MultinomialRaysampler,
    NDCGridRaysampler,
    NDCMultinomialRaysampler,
    RayBundle,
    ray_bundle_to_ray_points,
)
from jax3d.renderer.implicit.raysampling import jiggle_within_stratas


def _cameras(n=3, cls=FoVPerspectiveCameras):
    R, T = look_at_view_transform(dist=2.5, elev=np.linspace(-20, 30, n),
                                  azim=np.linspace(0, 250, n))
    return cls(R=R, T=T)


def test_parity_with_pytorch3d(reference):
    ref = reference("volumetric")
    cams = FoVPerspectiveCameras(R=ref["R"], T=ref["T"])
    rb = NDCMultinomialRaysampler(image_width=8, image_height=6, n_pts_per_ray=5,
                                  min_depth=1.0, max_depth=4.0)(cams)
    for name in ("origins", "directions", "lengths", "xys"):
        np.testing.assert_allclose(getattr(rb, name), ref[name], atol=2e-5, err_msg=name)


@pytest.mark.parametrize("hw", [(6, 8), (8, 6), (5, 5)])
def test_rays_pass_through_pixel_centres(hw):
    h, w = hw
    cams = _cameras()
    rb = NDCMultinomialRaysampler(image_width=w, image_height=h, n_pts_per_ray=4,
                                  min_depth=0.5, max_depth=3.0)(cams)
    pts = ray_bundle_to_ray_points(rb)  # (N, H, W, S, 3)
    screen = cams.transform_points_screen(pts.reshape(3, -1, 3), image_size=(h, w))
    screen = np.asarray(screen).reshape(3, h, w, 4, 3)
    jj, ii = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    np.testing.assert_allclose(screen[..., 0], np.broadcast_to(jj[..., None], screen.shape[:-1]),
                               atol=2e-4)
    np.testing.assert_allclose(screen[..., 1], np.broadcast_to(ii[..., None], screen.shape[:-1]),
                               atol=2e-4)
    # lengths are view depths: the view-space z of sample s is lengths[..., s].
    view = cams.get_world_to_view_transform().transform_points(pts.reshape(3, -1, 3))
    np.testing.assert_allclose(np.asarray(view[..., 2]).reshape(rb.lengths.shape), rb.lengths,
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cls", [FoVPerspectiveCameras, FoVOrthographicCameras])
def test_directions_from_unproject_points(cls):
    cams = _cameras(2, cls)
    rb = NDCGridRaysampler(image_width=5, image_height=4, n_pts_per_ray=3, min_depth=1.0,
                           max_depth=2.0)(cams)
    xy = rb.xys.reshape(2, -1, 2)
    ones = jnp.ones_like(xy[..., :1])
    p1 = cams.unproject_points(jnp.concatenate([xy, ones], -1))
    p2 = cams.unproject_points(jnp.concatenate([xy, 2 * ones], -1))
    np.testing.assert_allclose(rb.directions.reshape(2, -1, 3), p2 - p1, atol=1e-5)
    np.testing.assert_allclose(rb.origins.reshape(2, -1, 3), 2 * p1 - p2, atol=1e-5)
    if cls is FoVPerspectiveCameras:  # every ray starts at the camera centre
        centre = np.asarray(cams.get_camera_center())[:, None, None]
        np.testing.assert_allclose(rb.origins, np.broadcast_to(centre, rb.origins.shape),
                                   atol=1e-5)


def test_screen_cameras_and_unit_directions():
    R, T = look_at_view_transform(dist=3.0, azim=30.0)
    cams = PerspectiveCameras(focal_length=2.0, R=R, T=T)
    rs = NDCMultinomialRaysampler(image_width=4, image_height=4, n_pts_per_ray=2,
                                  min_depth=1.0, max_depth=2.0, unit_directions=True)
    rb = rs(cams)
    np.testing.assert_allclose(jnp.linalg.norm(rb.directions, axis=-1), 1.0, atol=1e-6)
    # the central rays point at the look-at target (the origin): x, y ~ 0 in view space.
    view = cams.get_world_to_view_transform().transform_points(rb.origins.reshape(1, -1, 3)
                                                                + rb.directions.reshape(1, -1, 3))
    assert np.all(np.abs(np.asarray(view[0, :, :2])) < 0.5)


def test_grid_layout_and_aliases():
    rs = MultinomialRaysampler(min_x=1.0, max_x=-1.0, min_y=2.0, max_y=-2.0, image_width=3,
                               image_height=5, n_pts_per_ray=4, min_depth=0.0, max_depth=3.0)
    grid = np.asarray(rs.xy_grid())
    np.testing.assert_allclose(grid[0, :, 0], [-1.0, 0.0, 1.0])  # linspace(max_x, min_x)
    np.testing.assert_allclose(grid[:, 0, 1], [-2.0, -1.0, 0.0, 1.0, 2.0])
    assert GridRaysampler is MultinomialRaysampler and NDCGridRaysampler is NDCMultinomialRaysampler
    rb = rs(_cameras(2))
    assert rb.lengths.shape == (2, 5, 3, 4)
    np.testing.assert_allclose(rb.lengths[1, 2, 1], [0.0, 1.0, 2.0, 3.0])


def test_random_subset_and_mask():
    cams = _cameras(2)
    rs = NDCMultinomialRaysampler(image_width=6, image_height=5, n_pts_per_ray=3,
                                  min_depth=1.0, max_depth=2.0, n_rays_per_image=7)
    rb = rs(cams, jax.random.key(0))
    assert rb.xys.shape == (2, 7, 2) and rb.origins.shape == (2, 7, 3)
    grid = np.asarray(rs.xy_grid()).reshape(-1, 2)
    for b in range(2):  # distinct pixels of the grid
        d = np.abs(np.asarray(rb.xys[b])[:, None] - grid[None]).sum(-1)
        assert np.all(d.min(1) < 1e-6) and len(set(d.argmin(1))) == 7
    assert rs(cams, jax.random.key(0), n_rays_per_image=3).xys.shape == (2, 3, 2)
    mask = np.zeros((2, 5, 6), np.float32)
    mask[:, 1:3, 2:5] = 1.0  # 6 allowed pixels
    sub = rs(cams, jax.random.key(1), mask=mask, n_rays_per_image=6)
    allowed = np.asarray(rs.xy_grid())[1:3, 2:5].reshape(-1, 2)
    for b in range(2):
        got = np.asarray(sub.xys[b])
        assert sorted(map(tuple, np.round(got, 5))) == sorted(map(tuple, np.round(allowed, 5)))
    with pytest.raises(ValueError, match="key"):
        rs(cams)
    with pytest.raises(ValueError, match="n_rays_per_image"):
        rs(cams, jax.random.key(0), n_rays_per_image=31)


def test_stratified_sampling():
    cams = _cameras(2)
    rs = NDCMultinomialRaysampler(image_width=4, image_height=3, n_pts_per_ray=6,
                                  min_depth=1.0, max_depth=3.5, stratified_sampling=True)
    rb = rs(cams, jax.random.key(3))
    centers = np.linspace(1.0, 3.5, 6)
    mids = 0.5 * (centers[1:] + centers[:-1])
    lo, hi = np.r_[centers[0], mids], np.r_[mids, centers[-1]]
    ln = np.asarray(rb.lengths)
    assert np.all(ln >= lo - 1e-6) and np.all(ln <= hi + 1e-6)
    assert np.std(ln[..., 2]) > 0.05  # actually random
    fixed = rs(cams, stratified_sampling=False)
    np.testing.assert_allclose(fixed.lengths[0, 0, 0], centers, rtol=1e-6)
    # jiggle: per-sample uniformity within the stratum (mean at the stratum centre)
    s = jiggle_within_stratas(jax.random.key(0), jnp.broadcast_to(jnp.asarray(centers), (4000, 6)))
    np.testing.assert_allclose(np.mean(np.asarray(s), 0), 0.5 * (lo + hi), atol=0.02)


def test_monte_carlo():
    cams = _cameras(3)
    rs = MonteCarloRaysampler(min_x=-0.5, max_x=0.8, min_y=-1.0, max_y=0.2, n_rays_per_image=500,
                              n_pts_per_ray=7, min_depth=0.5, max_depth=2.0)
    rb = rs(cams, jax.random.key(0))
    assert rb.origins.shape == (3, 500, 3) and rb.lengths.shape == (3, 500, 7)
    xy = np.asarray(rb.xys)
    assert xy[..., 0].min() >= -0.5 and xy[..., 0].max() <= 0.8
    assert xy[..., 1].min() >= -1.0 and xy[..., 1].max() <= 0.2
    np.testing.assert_allclose(xy.mean((0, 1)), [0.15, -0.4], atol=0.05)
    # each ray projects back onto its xy in NDC
    pts = ray_bundle_to_ray_points(rb)[:, :, 3]
    ndc = np.asarray(cams.transform_points_ndc(pts))
    np.testing.assert_allclose(ndc[..., :2], xy, atol=1e-4)
    again = jax.jit(lambda c, k: rs(c, k))(cams, jax.random.key(0))
    np.testing.assert_allclose(again.xys, rb.xys, atol=1e-6)
    np.testing.assert_allclose(again.directions, rb.directions, atol=1e-5)
    with pytest.raises(ValueError, match="key"):
        rs(cams)


def test_jit_and_vmap_match_eager():
    cams = _cameras(3)
    rs = NDCMultinomialRaysampler(image_width=5, image_height=4, n_pts_per_ray=3,
                                  min_depth=1.0, max_depth=2.0)
    eager = rs(cams)
    jitted = jax.jit(lambda c: rs(c))(cams)
    for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    per_camera = [rs(cams[i]) for i in range(3)]
    np.testing.assert_allclose(eager.origins, np.concatenate([p.origins for p in per_camera]),
                               atol=1e-6)


def test_validation_and_ray_points():
    with pytest.raises(ValueError, match="n_pts_per_ray"):
        NDCMultinomialRaysampler(image_width=4, image_height=4, n_pts_per_ray=0,
                                 min_depth=1.0, max_depth=2.0)
    with pytest.raises(ValueError, match="min_depth"):
        NDCMultinomialRaysampler(image_width=4, image_height=4, n_pts_per_ray=3,
                                 min_depth=3.0, max_depth=2.0)
    with pytest.raises(ValueError, match="image_width"):
        NDCMultinomialRaysampler(image_width=4.0, image_height=4, n_pts_per_ray=3,
                                 min_depth=1.0, max_depth=2.0)
    with pytest.raises(TypeError, match="cameras"):
        NDCMultinomialRaysampler(image_width=4, image_height=4, n_pts_per_ray=3,
                                 min_depth=1.0, max_depth=2.0)(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="lengths"):
        RayBundle(jnp.zeros((1, 4, 3)), jnp.zeros((1, 4, 3)), jnp.zeros((1, 5, 2)),
                  jnp.zeros((1, 4, 2)))
    rb = RayBundle(jnp.array([[1.0, 2.0, 3.0]]), jnp.array([[0.0, 0.0, 2.0]]),
                   jnp.array([[0.0, 1.0, 2.5]]), jnp.zeros((1, 2)))
    np.testing.assert_allclose(ray_bundle_to_ray_points(rb)[0],
                               [[1, 2, 3], [1, 2, 5], [1, 2, 8]])
    with pytest.raises(TypeError, match="RayBundle"):
        ray_bundle_to_ray_points((1, 2))
