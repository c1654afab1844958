"""Tests for jax3d.transforms.math: NaN-safe helpers vs float64 closed forms."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.safe_math import safe_norm, safe_normalize, safe_sqrt
from jax3d.transforms import acos_linear_extrapolation
from jax3d.transforms.math import (
    half_x_cot_half_x_coefficient,
    one_minus_cos_over_x2,
    sin_over_x,
    x_minus_sin_over_x3,
)

# Angles on both sides of the Taylor thresholds (x^2 = 1e-2 and 0.25), up to near 2 pi.
X = np.array([1e-4, 0.05, 0.0999, 0.1001, 0.3, 0.4999, 0.5001, 1.0, 2.0, np.pi, 5.0, 6.0])


def sin_over_x_naive(x):
    return np.sin(x) / x


def one_minus_cos_over_x2_naive(x):
    return (1 - np.cos(x)) / x**2


def x_minus_sin_over_x3_naive(x):
    return (x - np.sin(x)) / x**3


def half_x_cot_half_x_coefficient_naive(x):
    return (1 - (x / 2) / np.tan(x / 2)) / x**2


@pytest.mark.parametrize(
    "fn, naive, at_zero",
    [
        (sin_over_x, sin_over_x_naive, 1.0),
        (one_minus_cos_over_x2, one_minus_cos_over_x2_naive, 0.5),
        (x_minus_sin_over_x3, x_minus_sin_over_x3_naive, 1.0 / 6.0),
        (half_x_cot_half_x_coefficient, half_x_cot_half_x_coefficient_naive, 1.0 / 12.0),
    ],
)
def test_series_functions(fn, naive, at_zero):
    x = X[X < 6.2] if fn is half_x_cot_half_x_coefficient else X
    # float64 closed forms are exact enough for x >= 1e-2; below, compare to the limit.
    x64 = np.where(x < 1e-2, 1e-2, x)
    got = np.asarray(fn(jnp.asarray(x**2, jnp.float32)), np.float64)
    ref = np.where(x < 1e-2, at_zero, naive(x64))
    np.testing.assert_allclose(got, ref, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(fn(jnp.zeros(())), at_zero, rtol=1e-7)
    g = jax.grad(lambda t: fn(t))(jnp.float32(0.0))
    assert np.isfinite(g)
    # Derivative w.r.t. x2 agrees across the branch switch (continuity of the gradient; the
    # direct formulas lose a few float32 digits in their derivative there).
    gx = jax.vmap(jax.grad(fn))(jnp.asarray([0.0099, 0.0101, 0.249, 0.251], jnp.float32))
    np.testing.assert_allclose(gx[0], gx[1], rtol=3e-3)
    np.testing.assert_allclose(gx[2], gx[3], rtol=3e-3)


def test_safe_sqrt_norm_normalize():
    np.testing.assert_allclose(safe_sqrt(jnp.array([4.0, 0.0, -1.0])), [2.0, 0.0, 0.0])
    assert jax.grad(safe_sqrt)(0.0) == 0.0
    assert jax.grad(safe_sqrt)(-1.0) == 0.0
    np.testing.assert_allclose(jax.grad(safe_sqrt)(4.0), 0.25)
    v = jnp.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(safe_norm(v), [5.0, 0.0])
    assert safe_norm(v, keepdims=True).shape == (2, 1)
    np.testing.assert_allclose(safe_normalize(v), [[0.6, 0.8, 0.0], [0.0, 0.0, 0.0]])
    g = jax.jacrev(lambda x: safe_normalize(x).sum())(v)
    assert np.all(np.isfinite(g))
    assert np.all(np.isfinite(jax.grad(lambda x: safe_norm(x).sum())(v)))


def test_acos_linear_extrapolation():
    x = jnp.linspace(-1.5, 1.5, 61)
    y = acos_linear_extrapolation(x, (-0.9, 0.9))
    inside = np.abs(np.asarray(x)) <= 0.9
    np.testing.assert_allclose(y[inside], np.arccos(np.asarray(x)[inside]), rtol=1e-6)
    # Outside: the tangent line at the bound, continuous with the inside.
    slope = -1 / np.sqrt(1 - 0.81)
    xo = np.asarray(x)[~inside]
    bound = np.where(xo > 0, 0.9, -0.9)
    np.testing.assert_allclose(y[~inside], np.arccos(bound) + slope * (xo - bound), rtol=1e-5)
    g = jax.vmap(jax.grad(lambda t: acos_linear_extrapolation(t, (-0.9, 0.9))))(x)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g[~inside], slope, rtol=1e-5)
    with pytest.raises(ValueError, match="bounds"):
        acos_linear_extrapolation(x, (0.5, -0.5))
