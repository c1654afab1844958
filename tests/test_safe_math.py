"""jax3d.safe_math: the clamped homogeneous divide and eigh / SVD with finite gradients."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.safe_math import DEFAULT_DIVISOR_EPS, homogeneous_divide, safe_eigh, safe_svd


def test_homogeneous_divide_clamps_like_pytorch3d():
    xyz = jnp.array([[1.0, 2.0, 3.0]] * 4)
    w = jnp.array([[2.0], [-1e-9], [0.0], [1e-9]])
    out = homogeneous_divide(xyz, w, eps=1e-3)
    np.testing.assert_allclose(out[:, 0], [0.5, -1e3, 1e3, 1e3])  # 0 counts as positive
    big = 1.0 / DEFAULT_DIVISOR_EPS  # eps=None clamps at 1e-8 instead of dividing exactly
    np.testing.assert_allclose(homogeneous_divide(xyz, w)[:, 0], [0.5, -big, big, big])
    gx, gw = jax.jit(jax.grad(lambda a, b: homogeneous_divide(a, b).sum(), argnums=(0, 1)))(
        xyz, w)
    assert np.all(np.isfinite(gx)) and np.all(np.isfinite(gw))
    np.testing.assert_allclose(gw[1:], 0.0)  # the clamp is constant in w
    np.testing.assert_allclose(gw[0, 0], -6.0 / 4.0)


_W = jnp.arange(9.0).reshape(3, 3)


def _loss_eigh(eigh, m):
    w, v = eigh(m)
    return jnp.sum(w * jnp.arange(1.0, 4.0)) + jnp.sum(jnp.sin(v) ** 2 * _W)


def _loss_svd(svd, m):
    u, s, vt = svd(m)
    return jnp.sum(s**3) + jnp.sum(jnp.sin(u @ vt) * _W)


def _jnp_svd(m):
    return jnp.linalg.svd(m, full_matrices=False)


@partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0})  # compile-bound
def _gradients(m):
    """Per matrix: gradients of the eigh loss (at m + m^T) and of the SVD loss (at m), with the
    safe and with jnp's decompositions."""
    sym = m + jnp.swapaxes(m, -1, -2)

    def per_matrix(x, s):
        return (jax.grad(lambda y: _loss_eigh(safe_eigh, y))(s),
                jax.grad(lambda y: _loss_eigh(jnp.linalg.eigh, y))(s),
                jax.grad(lambda y: _loss_svd(safe_svd, y))(x),
                jax.grad(lambda y: _loss_svd(_jnp_svd, y))(x))  # fmt: skip

    return jax.vmap(per_matrix)(m, sym)


def test_safe_eigh_and_svd_match_jax_away_from_repeated_values():
    m = jax.random.normal(jax.random.PRNGKey(0), (4, 3, 3))
    eigh_ours, eigh_jnp, svd_ours, svd_jnp = _gradients(m)
    np.testing.assert_allclose(eigh_ours, eigh_jnp, atol=1e-4)
    np.testing.assert_allclose(svd_ours, svd_jnp, atol=1e-4)
    w, v = safe_eigh(m[0] + m[0].T)
    np.testing.assert_allclose(v @ jnp.diag(w) @ v.T, m[0] + m[0].T, atol=1e-5)


def test_safe_eigh_and_svd_gradients_are_finite_at_repeated_values():
    # zero (all values repeated), identity / 2 (sym = identity), diag(1, 1, 0) / 2
    m = jnp.stack([jnp.zeros((3, 3)), 0.5 * jnp.eye(3), 0.5 * jnp.diag(jnp.array([1.0, 1, 0])),
                   jnp.zeros((3, 3))])  # fmt: skip
    eigh_ours, eigh_jnp, svd_ours, svd_jnp = _gradients(m)
    assert np.all(np.isfinite(eigh_ours)) and np.all(np.isfinite(svd_ours))
    assert not np.all(np.isfinite(svd_jnp[0]))  # jnp's: 1 / (s_j^2 - s_i^2) times 0 = NaN
    # At sym = I only the eigenvalue part remains, and it is exact: d(sum_i c_i w_i) / dsym =
    # V diag(c) V^T, whose trace is 1 + 2 + 3.
    np.testing.assert_allclose(jnp.trace(eigh_ours[1]), 6.0, atol=1e-4)
