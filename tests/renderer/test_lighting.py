"""Lights and the diffuse / specular terms against float64 NumPy references."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jax3d.renderer import AmbientLights, DirectionalLights, PointLights, diffuse, specular


def _unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-6)


def diffuse_naive(normals, color, direction):
    cos = np.sum(_unit(normals) * _unit(direction), -1, keepdims=True)
    return color * np.maximum(cos, 0.0)


def specular_naive(points, normals, direction, cam, color, shininess):
    n, d = _unit(normals), _unit(direction)
    cos = np.sum(n * d, -1, keepdims=True)
    r = -d + 2 * cos * n
    v = _unit(cam - points)
    alpha = np.maximum(np.sum(v * r, -1, keepdims=True), 0.0) * (cos > 0)
    return color * alpha**shininess


@pytest.fixture
def scene():
    rng = np.random.default_rng(0)
    return dict(
        points=rng.normal(size=(2, 4, 5, 3)),
        normals=rng.normal(size=(2, 4, 5, 3)),
        location=rng.normal(size=(2, 3)) * 3,
        cam=rng.normal(size=(2, 3)) * 4,
        color=rng.random((2, 3)),
    )


def test_diffuse_and_specular_vs_naive(scene):
    s = scene
    direction = s["location"][:, None, None] - s["points"]
    got = diffuse(jnp.asarray(s["normals"], jnp.float32), s["color"], direction)
    want = diffuse_naive(s["normals"], s["color"][:, None, None], direction)
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)
    got = specular(s["points"], s["normals"], direction, s["color"], s["cam"], 10.0)
    want = specular_naive(s["points"], s["normals"], direction, s["cam"][:, None, None],
                          s["color"][:, None, None], 10.0)  # fmt: skip
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)
    assert np.any(want > 1e-3)  # the test exercises non-zero highlights


def test_point_lights_methods_and_broadcasting(scene):
    s = scene
    lights = PointLights(diffuse_color=s["color"], specular_color=s["color"],
                         location=s["location"])  # fmt: skip
    direction = s["location"][:, None, None] - s["points"]
    np.testing.assert_allclose(
        np.asarray(lights.diffuse(s["normals"], s["points"])),
        diffuse_naive(s["normals"], s["color"][:, None, None], direction), atol=1e-5)
    got = lights.specular(s["normals"], s["points"], s["cam"], jnp.asarray([5.0, 30.0]))
    for n, shin in enumerate([5.0, 30.0]):  # per-mesh shininess
        want = specular_naive(s["points"][n], s["normals"][n], direction[n], s["cam"][n],
                              s["color"][n], shin)  # fmt: skip
        np.testing.assert_allclose(np.asarray(got[n]), want, atol=1e-5)
    one = PointLights(location=s["location"][:1])  # M = 1 broadcasts over N = 2
    both = PointLights(location=np.repeat(s["location"][:1], 2, 0))
    np.testing.assert_allclose(np.asarray(one.diffuse(s["normals"], s["points"])),
                               np.asarray(both.diffuse(s["normals"], s["points"])))  # fmt: skip


def test_directional_and_ambient_lights(scene):
    s = scene
    lights = DirectionalLights(direction=((0.0, 0.0, 1.0),))
    got = lights.diffuse(s["normals"])
    want = diffuse_naive(s["normals"], np.full(3, 0.3), np.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)
    amb = AmbientLights(ambient_color=(0.2, 0.3, 0.4))
    np.testing.assert_allclose(np.asarray(amb.ambient_color), [[0.2, 0.3, 0.4]])
    assert np.all(np.asarray(amb.diffuse(s["normals"], s["points"])) == 0)
    assert np.all(np.asarray(amb.specular(s["normals"], s["points"], s["cam"], 64.0)) == 0)


def test_defaults_are_pytorch3d():
    lights = PointLights()
    np.testing.assert_allclose(np.asarray(lights.ambient_color), [[0.5] * 3])
    np.testing.assert_allclose(np.asarray(lights.diffuse_color), [[0.3] * 3])
    np.testing.assert_allclose(np.asarray(lights.specular_color), [[0.2] * 3])
    np.testing.assert_allclose(np.asarray(lights.location), [[0.0, 1.0, 0.0]])


def test_jit_and_pytree(scene):
    s = scene
    lights = PointLights(location=s["location"])
    f = jax.jit(lambda lt, n, p: lt.diffuse(n, p))
    np.testing.assert_allclose(np.asarray(f(lights, s["normals"], s["points"])),
                               np.asarray(lights.diffuse(s["normals"], s["points"])),
                               atol=1e-6)  # fmt: skip
    doubled = jax.tree.map(lambda x: 2 * x, lights)
    np.testing.assert_allclose(np.asarray(doubled.location), 2 * s["location"], atol=1e-5)


def test_gradients_finite_at_degenerate_inputs():
    def f(n, p):
        lights = PointLights(location=((0.0, 0.0, -1.0),))
        return jnp.sum(lights.diffuse(n, p) + lights.specular(n, p, jnp.zeros((1, 3)), 10.0))

    zero_normals = jnp.zeros((1, 2, 3))
    at_light = jnp.asarray([[[0.0, 0.0, -1.0], [0.0, 0.0, 0.0]]])  # at the light / camera
    g = jax.grad(f, argnums=(0, 1))(zero_normals, at_light)
    assert all(np.all(np.isfinite(np.asarray(x))) for x in g)
    n = jnp.asarray([[[0.1, 0.2, -1.0], [0.3, -0.1, -1.0]]])
    p = jnp.asarray([[[0.2, 0.1, 0.5], [-0.3, 0.2, 0.4]]])
    check_grads(jax.jit(f), (n, p), order=1, modes=["rev"], atol=2e-2, rtol=2e-2)


def test_validation():
    with pytest.raises(ValueError, match="location"):
        PointLights(location=((1.0, 2.0),))
    with pytest.raises(ValueError, match="ambient_color"):
        AmbientLights(ambient_color=np.ones((2, 2, 3)))
    with pytest.raises(ValueError, match="normals"):
        diffuse(jnp.ones(3), jnp.ones(3), jnp.ones(3))


def test_point_lights_reshape_location_broadcasts_over_points():
    lights = PointLights(location=((1.0, 2.0, 3.0), (4.0, 5.0, 6.0)))
    points = np.zeros((2, 5, 7, 3), np.float32)
    loc = lights.reshape_location(points)
    assert loc.shape == (2, 1, 1, 3)
    np.testing.assert_array_equal(np.asarray(loc)[:, 0, 0], [[1, 2, 3], [4, 5, 6]])
    # the diffuse direction is location - point: a light straight above a point lights it fully
    one = PointLights(location=((1.0, 2.0, 3.0),))
    n = np.broadcast_to(np.float32((1.0, 2.0, 3.0)) / np.sqrt(14.0), (1, 5, 7, 3))
    d = one.diffuse(n, points[:1])
    np.testing.assert_allclose(d, np.full((1, 5, 7, 3), 0.3), rtol=1e-5)
