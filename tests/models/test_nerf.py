"""NeuralRadianceField and chunked rendering: formula, heads, direction dependence, chunks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.models.nerf import (
    NeuralRadianceField,
    batched_forward,
    render_image,
    render_rays,
)
from jax3d.renderer.cameras import FoVPerspectiveCameras, look_at_view_transform
from jax3d.renderer.implicit.raybundle import RayBundle
from jax3d.renderer.implicit.raysampling import NDCMultinomialRaysampler

N_HARM, HIDDEN = 5, 16


def _bundle(seed=0, shape=(2, 7), n_pts=6):
    rng = np.random.default_rng(seed)
    return RayBundle(
        origins=jnp.asarray(rng.normal(size=shape + (3,)), jnp.float32),
        directions=jnp.asarray(rng.normal(size=shape + (3,)), jnp.float32),
        lengths=jnp.asarray(np.sort(rng.uniform(0.1, 3, size=shape + (n_pts,))), jnp.float32),
        xys=jnp.zeros(shape + (2,), jnp.float32),
    )


@pytest.fixture(scope="module")
def field():
    model = NeuralRadianceField(n_harmonic_functions=N_HARM, n_hidden_neurons=HIDDEN)
    params = model.init(jax.random.PRNGKey(0), _bundle())
    return model, params, jax.jit(model.apply)


def softplus10_naive(x):
    return np.logaddexp(0.0, 10.0 * x) / 10.0


def embed_naive(x, n, omega_0=0.1):
    """Book embedding: [sin(x_d f_k) for d, k], then [cos(...)], f_k = omega_0 2^k, no input."""
    f = omega_0 * 2.0 ** np.arange(n)
    arg = (x[..., :, None] * f).reshape(*x.shape[:-1], -1)
    return np.concatenate([np.sin(arg), np.cos(arg)], axis=-1)


def field_naive(params, origins, directions, lengths):
    """Float64 forward pass of the book's field from its parameters."""
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params["params"])
    pts = origins[..., None, :] + lengths[..., None] * directions[..., None, :]
    h = embed_naive(pts, N_HARM)
    for name in ("mlp_0", "mlp_1"):
        h = softplus10_naive(h @ p[name]["kernel"] + p[name]["bias"])
    dens = 1.0 - np.exp(-softplus10_naive(h @ p["density"]["kernel"] + p["density"]["bias"]))
    d = directions / np.linalg.norm(directions, axis=-1, keepdims=True)
    e = np.broadcast_to(embed_naive(d, N_HARM)[..., None, :], h.shape[:-1] + (6 * N_HARM,))
    c = softplus10_naive(np.concatenate([h, e], -1) @ p["color_hidden"]["kernel"]
                         + p["color_hidden"]["bias"])  # fmt: skip
    rgb = 1.0 / (1.0 + np.exp(-(c @ p["color_out"]["kernel"] + p["color_out"]["bias"])))
    return dens, rgb


def test_matches_naive_formula(field):
    model, params, apply = field
    rb = _bundle(1)
    dens, rgb = apply(params, rb)
    want_d, want_c = field_naive(params, *(np.asarray(x, np.float64) for x in
                                           (rb.origins, rb.directions, rb.lengths)))  # fmt: skip
    assert dens.shape == (2, 7, 6, 1) and rgb.shape == (2, 7, 6, 3)
    np.testing.assert_allclose(dens, want_d, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(rgb, want_c, rtol=1e-4, atol=1e-6)
    # eager equals jit
    np.testing.assert_allclose(model.apply(params, rb)[1], rgb, rtol=1e-5, atol=1e-6)


def test_book_defaults(field):
    model = NeuralRadianceField()
    shapes = jax.eval_shape(model.init, jax.random.PRNGKey(1), _bundle(n_pts=3))["params"]
    assert shapes["mlp_0"]["kernel"].shape == (360, 256)  # 60 harmonics x sin/cos x 3
    assert shapes["color_hidden"]["kernel"].shape == (256 + 360, 256)
    np.testing.assert_array_equal(field[1]["params"]["density"]["bias"], [-1.5])


def test_densities_nonnegative_colors_depend_on_direction(field):
    _, params, apply = field
    rb = _bundle(2, shape=(3, 50), n_pts=10)
    dens, rgb = apply(params, rb)
    assert float(dens.min()) >= 0.0 and float(dens.max()) < 1.0
    assert float(rgb.min()) > 0.0 and float(rgb.max()) < 1.0
    # same sample points, reversed directions (origins moved so the points coincide)
    flipped = rb.replace(
        origins=rb.origins + 2 * rb.lengths[..., :1] * rb.directions,
        directions=-rb.directions,
        lengths=jnp.broadcast_to(rb.lengths[..., :1], rb.lengths.shape),
    )
    same = rb.replace(lengths=flipped.lengths)
    d1, c1 = apply(params, same)
    d2, c2 = apply(params, flipped)
    np.testing.assert_allclose(d1, d2, rtol=1e-4, atol=1e-6)  # density: position only
    assert float(jnp.max(jnp.abs(c1 - c2))) > 1e-3  # colour: depends on the view direction
    # scaling a direction (with lengths scaled back) changes nothing: directions are normalised
    scaled = same.replace(directions=same.directions * 3.0, lengths=same.lengths / 3.0)
    np.testing.assert_allclose(apply(params, scaled)[1], c1, rtol=1e-4, atol=1e-5)


def test_zero_direction_is_finite(field):
    model, params, _ = field
    rb = _bundle(3)
    rb = rb.replace(directions=rb.directions.at[0, 0].set(0.0))

    def loss(p):
        d, c = model.apply(p, rb)
        return jnp.sum(d) + jnp.sum(c)

    grads = jax.jit(jax.grad(loss))(params)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))


def test_rejects_non_bundle(field):
    model, params, _ = field
    with pytest.raises(TypeError, match="ray_bundle must be a RayBundle"):
        model.apply(params, jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match="chunk_size"):
        batched_forward(lambda rb: rb.origins, _bundle(), chunk_size=0)


@pytest.mark.parametrize("chunk", [1, 5, 14, 100])
def test_batched_forward_equals_at_once(field, chunk):
    _, params, apply = field
    rb = _bundle(4)
    want = apply(params, rb)
    got = batched_forward(lambda b: apply(params, b), rb, chunk_size=chunk)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_render_image_chunks_equal_at_once(field):
    model, params, _ = field
    R, T = look_at_view_transform(dist=2.7, elev=10.0, azim=jnp.array([0.0, 120.0]))
    cams = FoVPerspectiveCameras(R=R, T=T, znear=0.1)
    grid = NDCMultinomialRaysampler(image_width=9, image_height=6, n_pts_per_ray=8,
                                    min_depth=0.1, max_depth=3.0)  # fmt: skip
    full = render_rays(model.apply, params, grid(cams))
    jitted = jax.jit(
        lambda p: batched_forward(
            lambda b: render_rays(model.apply, p, b), grid(cams), chunk_size=13
        )  # fmt: skip
    )(params)
    np.testing.assert_allclose(jitted, full, rtol=1e-5, atol=1e-6)
    for chunk in (17, 1000):
        images, sil = render_image(model.apply, params, cams, grid, chunk_size=chunk)
        assert images.shape == (2, 6, 9, 3) and sil.shape == (2, 6, 9)
        np.testing.assert_allclose(images, full[..., :3], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(sil, full[..., 3], rtol=1e-5, atol=1e-6)
