"""Ray marchers: PyTorch3D parity, analytic cases, float64 naive references, gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from jax3d.renderer.implicit import (
    AbsorptionOnlyRaymarcher,
    EmissionAbsorptionRaymarcher,
    alpha_composite,
)


def emission_absorption_naive(d, f, thickness=1, eps=1e-10):
    """Per-ray float64 loop of PyTorch3D's emission-absorption formulas."""
    d, f = np.asarray(d, np.float64)[..., 0], np.asarray(f, np.float64)
    out = np.zeros(d.shape[:-1] + (f.shape[-1] + 1,))
    for idx in np.ndindex(*d.shape[:-1]):
        trans = 1.0
        acc = np.zeros(f.shape[-1])
        for s in range(d.shape[-1]):
            absorb = np.prod(1.0 + eps - d[idx][: max(s - thickness + 1, 0)])
            acc += d[idx][s] * absorb * f[idx][s]
            trans *= 1.0 - d[idx][s]
        out[idx] = np.r_[acc, 1.0 - trans]
    return out


def alpha_composite_naive(sigma, deltas, f):
    sigma, deltas, f = (np.asarray(x, np.float64) for x in (sigma, deltas, f))
    out, opac = np.zeros(f.shape[:-2] + f.shape[-1:]), np.zeros(sigma.shape[:-1] + (1,))
    for idx in np.ndindex(*sigma.shape[:-1]):
        t = 1.0
        for s in range(sigma.shape[-1]):
            alpha = 1.0 - np.exp(-max(sigma[idx][s], 0.0) * deltas[idx][s])
            out[idx] += t * alpha * f[idx][s]
            opac[idx] += t * alpha
            t *= 1.0 - alpha
    return out, opac


def _random(shape_rays=(2, 3, 4), s=6, c=3, seed=0):
    rng = np.random.default_rng(seed)
    d = rng.uniform(0, 1, shape_rays + (s, 1)).astype(np.float32)
    f = rng.uniform(0, 1, shape_rays + (s, c)).astype(np.float32)
    return d, f


def test_parity_with_pytorch3d(reference):
    ref = reference("volumetric")
    ea = EmissionAbsorptionRaymarcher()(ref["densities"], ref["features"])
    np.testing.assert_allclose(ea, ref["emission_absorption"], atol=1e-6)
    ao = AbsorptionOnlyRaymarcher()(ref["densities"])
    np.testing.assert_allclose(ao, ref["absorption_only"], atol=1e-6)


@pytest.mark.parametrize("thickness", [1, 2, 4])
def test_emission_absorption_vs_naive(thickness):
    d, f = _random()
    got = EmissionAbsorptionRaymarcher(surface_thickness=thickness)(d, f)
    np.testing.assert_allclose(got, emission_absorption_naive(d, f, thickness), atol=1e-5)
    np.testing.assert_allclose(AbsorptionOnlyRaymarcher()(d), got[..., 3:], atol=1e-6)


def test_analytic_cases():
    s = 10
    colours = np.tile(np.linspace(0, 1, s)[:, None], (1, 3)).astype(np.float32)
    # constant-opacity slab: transmittance after the slab is (1 - a)^s
    a = 0.2
    out = EmissionAbsorptionRaymarcher()(np.full((1, s, 1), a, np.float32), colours[None])
    np.testing.assert_allclose(out[0, 3], 1.0 - (1.0 - a) ** s, rtol=1e-5)
    expected = sum(a * (1 - a) ** k * colours[k, 0] for k in range(s))
    np.testing.assert_allclose(out[0, :3], expected, rtol=1e-5)
    # an opaque first sample hides everything behind it
    d = np.zeros((1, s, 1), np.float32)
    d[0, 0] = 1.0
    d[0, 3:] = 0.7
    f = np.random.default_rng(0).uniform(size=(1, s, 3)).astype(np.float32)
    out = EmissionAbsorptionRaymarcher()(d, f)
    np.testing.assert_allclose(out[0, :3], f[0, 0], atol=1e-6)
    np.testing.assert_allclose(out[0, 3], 1.0)
    # empty space: zero colour and zero opacity
    out = EmissionAbsorptionRaymarcher()(np.zeros((2, s, 1), np.float32), f.repeat(2, 0))
    np.testing.assert_array_equal(out, 0.0)
    assert float(AbsorptionOnlyRaymarcher()(np.zeros((1, s, 1), np.float32))[0, 0]) == 0.0


def test_alpha_composite_with_nerf_far_delta():
    """NeRF's last interval of 1e10 must not wreck the earlier weights (float32 cancellation)."""
    rng = np.random.default_rng(2)
    sigma = rng.uniform(0.5, 20, (4, 64)).astype(np.float32)
    deltas = np.concatenate([rng.uniform(0.01, 0.05, (4, 63)), np.full((4, 1), 1e10)], -1)
    deltas = deltas.astype(np.float32)
    f = rng.uniform(size=(4, 64, 3)).astype(np.float32)
    out = alpha_composite(sigma, deltas, f)
    ref_f, ref_o = alpha_composite_naive(sigma, deltas, f)
    np.testing.assert_allclose(out.weights.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out.features, ref_f, atol=1e-5)
    np.testing.assert_allclose(out.opacities, ref_o, atol=1e-5)


def test_alpha_composite():
    rng = np.random.default_rng(1)
    sigma = rng.uniform(-1, 4, (3, 5, 8)).astype(np.float32)
    deltas = rng.uniform(0.01, 0.5, (3, 5, 8)).astype(np.float32)
    f = rng.uniform(size=(3, 5, 8, 2)).astype(np.float32)
    out = alpha_composite(sigma, deltas, f)
    ref_f, ref_o = alpha_composite_naive(sigma, deltas, f)
    np.testing.assert_allclose(out.features, ref_f, atol=1e-5)
    np.testing.assert_allclose(out.opacities, ref_o, atol=1e-5)
    np.testing.assert_allclose(out.weights.sum(-1, keepdims=True), out.opacities, atol=1e-6)
    # (..., S, 1) densities are accepted
    np.testing.assert_allclose(alpha_composite(sigma[..., None], deltas, f).features,
                               out.features, atol=1e-6)
    # constant density slab of length L: opacity 1 - exp(-sigma L)
    sl = alpha_composite(jnp.full((100,), 2.0), jnp.full((100,), 0.01), jnp.ones((100, 1)))
    np.testing.assert_allclose(sl.opacities, 1.0 - np.exp(-2.0), rtol=1e-5)
    with pytest.raises(ValueError, match="deltas"):
        alpha_composite(sigma, deltas[..., :-1], f)


@given(st.integers(1, 8), st.floats(0.0, 1.0), st.integers(0, 100))
def test_opacity_in_unit_interval_and_weights_bounded(s, scale, seed):
    d, f = _random((3,), s, 2, seed)
    out = np.asarray(EmissionAbsorptionRaymarcher()(d * scale, f))
    assert np.all(out[..., -1] >= -1e-6) and np.all(out[..., -1] <= 1 + 1e-6)
    # features are a sub-convex combination of the sample features (all in [0, 1])
    assert np.all(out[..., :-1] <= 1 + 1e-5) and np.all(out[..., :-1] >= 0)


def test_jit_vmap_grads():
    d, f = _random((4,), 5, 3)
    ea = EmissionAbsorptionRaymarcher()
    eager = ea(d, f)
    np.testing.assert_allclose(jax.jit(ea)(d, f), eager, atol=1e-6)
    np.testing.assert_allclose(jax.vmap(ea)(d, f), eager, atol=1e-6)
    d_mid = 0.1 + 0.8 * d  # keep 1 - d away from 0 for finite differences
    check_grads(lambda x, y: ea(x, y), (d_mid, f), order=1, modes=["rev"], atol=1e-2, rtol=1e-2)
    sigma, deltas = jnp.asarray(d[..., 0] * 3), jnp.full((4, 5), 0.2)
    check_grads(lambda x, y: alpha_composite(x, deltas, y).features, (sigma + 0.1, f), order=1,
                modes=["rev"], atol=1e-2, rtol=1e-2)
    g = jax.grad(lambda x: alpha_composite(x, deltas, f).features.sum())(jnp.zeros((4, 5)) - 1)
    assert np.all(np.isfinite(g))


def test_validation():
    d, f = _random((2,), 4, 3)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        EmissionAbsorptionRaymarcher()(d + 1.0, f)
    with pytest.raises(ValueError, match="rays_densities"):
        EmissionAbsorptionRaymarcher()(d[..., 0], f)
    with pytest.raises(ValueError, match="rays_features"):
        EmissionAbsorptionRaymarcher()(d, f[:, :3])
    with pytest.raises(ValueError, match="surface_thickness"):
        EmissionAbsorptionRaymarcher(surface_thickness=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        AbsorptionOnlyRaymarcher()(-d)


def test_rounding_outside_unit_interval_is_clamped_with_straight_through_gradient():
    # Trilinear sampling of a volume of ones gives 1 + 1.2e-7 (issue #21; the VolumeRenderer
    # case of tests/test_degenerate_sweep.py), 1 - exp(-x) activations can give -1e-8.
    one_plus = np.nextafter(np.float32(1.0), np.float32(2.0))
    d = jnp.full((2, 4, 1), 0.5).at[0, 0, 0].set(one_plus).at[1, 1, 0].set(-1e-8)
    f = jnp.ones((2, 4, 3))
    ea, ao = EmissionAbsorptionRaymarcher(), AbsorptionOnlyRaymarcher()

    @jax.jit
    def march(x):
        return ea(x, f), ao(x), jax.grad(lambda y: ea(y, f).sum())(x)

    out, clamped = march(d), march(jnp.clip(d, 0.0, 1.0))
    for a, b in zip(out, clamped):  # values as at the clamped input, gradients passed through
        np.testing.assert_array_equal(a, b)
    assert np.all((out[0] >= 0.0) & (out[0] <= 1.0))  # unclamped, ray 0's colour is 1 + 1e-7
    np.testing.assert_array_equal(ao(d), clamped[1])  # eager: within the tolerance, no error
    with pytest.raises(ValueError, match="rays_densities"):
        ao(jnp.full((2, 4, 1), 1.0 + 1e-4))
