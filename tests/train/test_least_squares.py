"""Levenberg-Marquardt (jax3d.train.least_squares) against problems with known answers: a
linear least-squares problem (one Gauss-Newton step is exact), Rosenbrock's residuals (minimum
at (1, 1)), a noisy exponential curve fit against SciPy's MINPACK ``lm``, and the rejected step
of ``atan``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from jax3d.train import (
    LevenbergMarquardtState,
    levenberg_marquardt,
    levenberg_marquardt_init,
    levenberg_marquardt_step,
)


def test_one_gauss_newton_step_solves_a_linear_problem():
    """Residuals ``A x - b`` (20 x 4): one step with damping 0 from anywhere lands on the
    least-squares solution (``np.linalg.lstsq`` in float64); the Jacobian is ``A``."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20, 4)).astype(np.float32)
    b = rng.normal(size=20).astype(np.float32)
    want = np.linalg.lstsq(a.astype(np.float64), b.astype(np.float64), rcond=None)[0]

    def residual_fn(x):
        return jnp.asarray(a) @ x - jnp.asarray(b)

    init = jax.jit(lambda x: levenberg_marquardt_init(residual_fn, x, damping=0.0))
    state = init(jnp.asarray([5.0, -3.0, 2.0, 7.0]))
    np.testing.assert_allclose(state.jtj, a.T @ a, rtol=1e-5, atol=1e-4)
    state = jax.jit(lambda s: levenberg_marquardt_step(residual_fn, s))(state)
    assert bool(state.accepted) and int(state.iteration) == 1
    np.testing.assert_allclose(state.params, want, rtol=1e-4, atol=1e-5)
    residual = a.astype(np.float64) @ want - b
    np.testing.assert_allclose(state.loss, residual @ residual, rtol=1e-4)
    np.testing.assert_allclose(state.jtr, 0.0, atol=1e-4)  # the normal equations hold


def test_rosenbrock_pytree_params_and_gradient():
    """Rosenbrock's residuals ``(10 (y - x^2), 1 - x)`` from (-1.2, 1), the classic start:
    converges to (1, 1); ``J^T r`` is half the reverse-mode gradient of the loss; params may
    be any pytree (here a dict of scalars) and the whole solve jits."""

    def residual_fn(p):
        return jnp.stack([10.0 * (p["y"] - p["x"] ** 2), 1.0 - p["x"]])

    start = {"x": jnp.float32(-1.2), "y": jnp.float32(1.0)}
    init = jax.jit(lambda p: levenberg_marquardt_init(residual_fn, p))(start)
    grad = jax.jit(jax.grad(lambda p: jnp.sum(residual_fn(p) ** 2)))(start)
    np.testing.assert_allclose(init.jtr, 0.5 * np.asarray([grad["x"], grad["y"]]), rtol=1e-5)
    state = jax.jit(lambda p: levenberg_marquardt(residual_fn, p, max_iters=100))(start)
    assert isinstance(state, LevenbergMarquardtState)
    assert set(state.params) == {"x", "y"}
    np.testing.assert_allclose([state.params["x"], state.params["y"]], [1.0, 1.0], atol=1e-4)
    assert float(state.loss) < 1e-8
    assert 5 <= int(state.iteration) < 100  # it took steps, and stopped on the gradient


def test_noisy_curve_fit_matches_minpack():
    """``y = a exp(b t) + c`` with noise: the same minimum as SciPy's MINPACK ``lm`` (float64)
    from the same start, far from it."""
    rng = np.random.default_rng(1)
    t = np.linspace(0.0, 2.0, 50)
    y = 2.5 * np.exp(-1.3 * t) + 0.5 + 0.02 * rng.normal(size=t.size)
    start = np.asarray([1.0, 0.0, 0.0])

    def model(p, t):
        return p[0] * np.exp(p[1] * t) + p[2]

    want = scipy.optimize.least_squares(lambda p: model(p, t) - y, start, method="lm").x
    tj, yj = jnp.asarray(t, jnp.float32), jnp.asarray(y, jnp.float32)
    solve = jax.jit(lambda p0: levenberg_marquardt(
        lambda p: p[0] * jnp.exp(p[1] * tj) + p[2] - yj, p0, max_iters=200))
    state = solve(jnp.asarray(start, jnp.float32))
    np.testing.assert_allclose(state.params, want, rtol=2e-3, atol=2e-3)
    assert abs(want[0] - 2.5) < 0.1 and abs(want[1] + 1.3) < 0.1  # a real fit, not the start


def test_a_step_that_raises_the_loss_is_rejected():
    """``r(x) = atan(x)`` from x = 2: the Gauss-Newton step (-5.5) overshoots to a higher
    loss, so the state is kept and the damping grows; a more damped step is accepted."""

    def residual_fn(x):
        return jnp.arctan(x)

    state = levenberg_marquardt_init(residual_fn, jnp.asarray([2.0]), lazy=True)
    step = jax.jit(lambda s: levenberg_marquardt_step(residual_fn, s, factor=4.0))
    state = step(state)._replace(damping=jnp.float32(1e-3))  # evaluated at x = 2
    rejected = step(state)
    assert not bool(rejected.accepted)
    np.testing.assert_array_equal(rejected.params, [2.0])
    assert float(rejected.loss) == float(state.loss)
    np.testing.assert_allclose(rejected.damping, 4e-3)
    state = rejected._replace(damping=jnp.float32(1.0))  # half the Gauss-Newton step: x = -0.76
    accepted = step(state)
    assert bool(accepted.accepted) and float(accepted.loss) < float(state.loss)
    np.testing.assert_allclose(accepted.params, [2.0 - 0.5 * 5.0 * np.arctan(2.0)], rtol=1e-5)
    np.testing.assert_allclose(accepted.damping, 0.25)


def test_lazy_init_is_evaluated_by_the_first_step():
    """A ``lazy`` state (nothing evaluated) becomes, after one step that does not move, the
    eager init's state: same loss, normal equations, damping and iteration 0."""

    def residual_fn(x):
        return jnp.stack([x[0] * x[1] - 2.0, x[0] - x[1] ** 2, jnp.sin(x[0])])

    start = jnp.asarray([0.7, -1.1])
    eager = jax.jit(lambda x: levenberg_marquardt_init(residual_fn, x, damping=0.5))(start)
    step = jax.jit(lambda s: levenberg_marquardt_step(residual_fn, s, factor=4.0))
    for damping in (0.5, 0.0):  # 0: the zero system is singular, still no move
        lazy = levenberg_marquardt_init(residual_fn, start, damping=damping, lazy=True,
                                        factor=4.0)  # fmt: skip
        assert float(lazy.loss) == np.inf and int(lazy.iteration) == -1
        first = step(lazy)
        assert bool(first.accepted) and int(first.iteration) == 0
        np.testing.assert_array_equal(first.params, start)
        np.testing.assert_allclose(first.damping, damping)
        for name in ("loss", "jtj", "jtr"):
            np.testing.assert_allclose(getattr(first, name), getattr(eager, name), rtol=1e-6)


def test_bad_arguments_are_named():
    def residual_fn(x):
        return x

    with pytest.raises(TypeError, match="residual_fn"):
        levenberg_marquardt_init("not a function", jnp.zeros(2))
    with pytest.raises(ValueError, match="damping"):
        levenberg_marquardt_init(residual_fn, jnp.zeros(2), damping=-1.0)
    with pytest.raises(ValueError, match="params"):
        levenberg_marquardt_init(residual_fn, {})
    with pytest.raises(TypeError, match="params"):
        levenberg_marquardt_init(residual_fn, jnp.zeros(2, jnp.int32))
    state = levenberg_marquardt_init(residual_fn, jnp.ones(2))
    with pytest.raises(ValueError, match="factor"):
        levenberg_marquardt_step(residual_fn, state, factor=1.0)
    with pytest.raises(ValueError, match="max_iters"):
        levenberg_marquardt(residual_fn, jnp.ones(2), max_iters=-1)
