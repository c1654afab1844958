"""ImplicitRenderer / VolumeRenderer: analytic scene, chunked == unchunked, jit, gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from jax.test_util import check_grads

from jax3d.renderer import FoVPerspectiveCameras, look_at_view_transform
from jax3d.renderer.implicit import (
    AbsorptionOnlyRaymarcher,
    EmissionAbsorptionRaymarcher,
    ImplicitRenderer,
    MonteCarloRaysampler,
    NDCMultinomialRaysampler,
    VolumeRenderer,
    VolumeSampler,
    march_rays,
    march_rays_chunked,
    ray_bundle_to_ray_points,
)
from jax3d.structures import Volumes


@struct.dataclass
class Sphere:
    """Opacity 1 inside a sphere, colour = |point|: an analytic volumetric function."""

    centre: jax.Array
    radius: float = struct.field(pytree_node=False, default=0.5)

    def __call__(self, ray_bundle, **kwargs):
        pts = ray_bundle_to_ray_points(ray_bundle)
        inside = jnp.linalg.norm(pts - self.centre, axis=-1, keepdims=True) < self.radius
        return inside.astype(jnp.float32), jnp.abs(pts)


def _cameras(n=2, dist=2.5):
    R, T = look_at_view_transform(dist=dist, elev=np.linspace(0, 40, n),
                                  azim=np.linspace(-60, 90, n))
    return FoVPerspectiveCameras(R=R, T=T)


def _volumes(n=2, size=6, seed=0):
    rng = np.random.default_rng(seed)
    d = rng.uniform(0.0, 0.3, (n, 1, size, size, size)).astype(np.float32)
    f = rng.uniform(size=(n, 3, size, size, size)).astype(np.float32)
    return Volumes(densities=d, features=f, voxel_size=1.6 / (size - 1))


def sphere_hit_naive(origins, directions, centre, radius):
    """Distance from the sphere centre to each (infinite) ray, float64."""
    o, dvec = np.asarray(origins, np.float64), np.asarray(directions, np.float64)
    dn = dvec / np.linalg.norm(dvec, axis=-1, keepdims=True)
    rel = np.asarray(centre, np.float64) - o
    return np.linalg.norm(rel - np.sum(rel * dn, -1, keepdims=True) * dn, axis=-1)


def test_implicit_renderer_analytic_sphere():
    cams = _cameras()
    centre = jnp.array([0.1, -0.1, 0.0])
    rs = NDCMultinomialRaysampler(image_width=12, image_height=10, n_pts_per_ray=200,
                                  min_depth=1.0, max_depth=4.0)
    images, rb = ImplicitRenderer(rs, AbsorptionOnlyRaymarcher())(cams, Sphere(centre))
    assert images.shape == (2, 10, 12, 1)
    dist = sphere_hit_naive(rb.origins, rb.directions, centre, 0.5)
    sil = np.asarray(images[..., 0])
    assert np.all(sil[dist < 0.45] == 1.0) and np.all(sil[dist > 0.55] == 0.0)
    assert (dist < 0.45).sum() > 10 and (dist > 0.55).sum() > 10
    # emission-absorption: the colour is the first sample inside the sphere (opacity 1)
    rgba, _ = ImplicitRenderer(rs, EmissionAbsorptionRaymarcher())(cams, Sphere(centre))
    pts = np.asarray(ray_bundle_to_ray_points(rb))
    inside = np.linalg.norm(pts - np.asarray(centre), axis=-1) < 0.5
    first = np.argmax(inside, axis=-1)
    hit = inside.any(-1)
    expected = np.abs(np.take_along_axis(pts, first[..., None, None], axis=-2)[..., 0, :])
    np.testing.assert_allclose(np.asarray(rgba[..., :3])[hit], expected[hit], atol=1e-5)
    np.testing.assert_array_equal(np.asarray(rgba)[~hit], 0.0)


@pytest.mark.slow
def test_volume_renderer_chunked_equals_unchunked_and_jit():
    cams, vols = _cameras(), _volumes()
    rs = NDCMultinomialRaysampler(image_width=9, image_height=7, n_pts_per_ray=16,
                                  min_depth=1.0, max_depth=4.0)
    full, rb = VolumeRenderer(rs, EmissionAbsorptionRaymarcher())(cams, vols)  # eager
    assert full.shape == (2, 7, 9, 4) and rb.lengths.shape == (2, 7, 9, 16)
    assert float(full[..., 3].max()) > 0.3  # the rays do cross the volume
    chunked = VolumeRenderer(rs, EmissionAbsorptionRaymarcher(), chunk_size=10)
    render = jax.jit(lambda c, v: chunked(c, v)[0])
    np.testing.assert_allclose(render(cams, vols), full, atol=1e-6)
    per_cam = [render(cams[i], vols[i]) for i in range(2)]  # one compile for B = 1
    np.testing.assert_allclose(np.concatenate(per_cam), full, atol=1e-6)


def test_chunked_gradients_match():
    cams, vols = _cameras(1), _volumes(1, 4)
    rs = NDCMultinomialRaysampler(image_width=5, image_height=4, n_pts_per_ray=8,
                                  min_depth=1.0, max_depth=4.0)

    def loss(dens, chunk):
        r = VolumeRenderer(rs, EmissionAbsorptionRaymarcher(), chunk_size=chunk)
        img, _ = r(cams, vols.update_padded(dens, vols.features()))
        return jnp.sum(img * jnp.arange(4.0))

    g_full = jax.jit(jax.grad(lambda d: loss(d, None)))(vols.densities())
    g_chunk = jax.jit(jax.grad(lambda d: loss(d, 3)))(vols.densities())
    np.testing.assert_allclose(g_chunk, g_full, atol=1e-5)
    assert float(jnp.abs(g_full).sum()) > 0


def test_check_grads_through_render():
    # Trilinear interpolation has kinks on voxel planes; an even grid and image keep the
    # samples off them (a ray through the volume centre would sit on a plane of a 3^3 grid).
    cams, vols = _cameras(1, dist=2.7), _volumes(1, 4)
    rs = NDCMultinomialRaysampler(image_width=4, image_height=3, n_pts_per_ray=5,
                                  min_depth=1.6, max_depth=3.6)
    renderer = VolumeRenderer(rs, EmissionAbsorptionRaymarcher())

    @jax.jit
    def render(dens, feats, T):
        img, _ = renderer(cams.replace(T=T), vols.update_padded(dens, feats))
        return img

    check_grads(render, (vols.densities() + 0.2, vols.features(), cams.T), order=1,
                modes=["rev"], atol=2e-2, rtol=2e-2, eps=1e-3)


def test_monte_carlo_and_march_rays():
    cams, vols = _cameras(), _volumes()
    rs = MonteCarloRaysampler(min_x=-1.0, max_x=1.0, min_y=-1.0, max_y=1.0, n_rays_per_image=37,
                              n_pts_per_ray=9, min_depth=1.0, max_depth=4.0)
    renderer = VolumeRenderer(rs, EmissionAbsorptionRaymarcher(), chunk_size=8)
    images, rb = jax.jit(lambda c, v, k: renderer(c, v, k))(cams, vols, jax.random.key(0))
    assert images.shape == (2, 37, 4)
    ea = EmissionAbsorptionRaymarcher()
    direct = jax.jit(lambda r, v: march_rays(r, VolumeSampler(v), ea))(rb, vols)
    np.testing.assert_allclose(images, direct, atol=1e-6)
    big = jax.jit(lambda r, v: march_rays_chunked(r, VolumeSampler(v), ea, 100))(rb, vols)
    np.testing.assert_allclose(big, direct, atol=1e-6)
    with pytest.raises(ValueError, match="chunk_size"):
        march_rays_chunked(rb, VolumeSampler(vols), EmissionAbsorptionRaymarcher(), 0)
    with pytest.raises(TypeError, match="volumetric_function"):
        ImplicitRenderer(rs, EmissionAbsorptionRaymarcher())(cams, 3.0, jax.random.key(0))
