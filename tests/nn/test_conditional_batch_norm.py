"""ConditionalBatchNorm against the formula with NumPy batch statistics."""

import jax
import numpy as np
import pytest

from jax3d.nn import STATS_COLLECTION, ConditionalBatchNorm
from tests.nn._init import jit_apply, numpy_init

EPS = 1e-5


def _normalised(x):
    mean = x.mean(axis=(0, 1, 2))
    var = x.var(axis=(0, 1, 2))  # biased, as batch norm normalises with
    return (x - mean) / np.sqrt(var + EPS), mean, var


def _x():
    return np.random.default_rng(0).standard_normal((4, 2, 3, 3)).astype(np.float32) * 2 + 1


def test_class_conditioned_matches_formula_and_running_stats():
    x, labels = _x(), np.array([0, 2, 1, 2], np.int32)
    model = ConditionalBatchNorm(num_classes=3)
    variables = numpy_init(model, x, labels, train=False)
    y, upd = jit_apply(model, variables, x, labels, train=True, mutable=[STATS_COLLECTION])
    gamma = np.asarray(variables["params"]["gamma"]["embedding"])  # (3, C)
    beta = np.asarray(variables["params"]["beta"]["embedding"])
    x_hat, mean, var = _normalised(x.astype(np.float64))
    expected = x_hat * gamma[labels][:, None, None] + beta[labels][:, None, None]
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)
    # Running averages: momentum 0.9 from (0, 1).
    stats = upd[STATS_COLLECTION]["bn"]
    np.testing.assert_allclose(stats["mean"], 0.1 * mean, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(stats["var"], 0.9 + 0.1 * var, rtol=1e-4)
    # Evaluation normalises with the running averages.
    y_eval = jit_apply(model, {**variables, **upd}, x, labels, train=False)
    x_eval = (x - stats["mean"]) / np.sqrt(stats["var"] + EPS)
    np.testing.assert_allclose(
        y_eval, x_eval * gamma[labels][:, None, None] + beta[labels][:, None, None], rtol=1e-4,
        atol=1e-5,
    )


def test_code_conditioned_matches_formula():
    x = _x()
    code = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    model = ConditionalBatchNorm()
    variables = numpy_init(model, x, code, train=False)
    y, _ = jit_apply(model, variables, x, code, train=True, mutable=[STATS_COLLECTION])
    w_gamma = np.asarray(variables["params"]["gamma"]["kernel"])  # (5, C)
    w_beta = np.asarray(variables["params"]["beta"]["kernel"])
    x_hat, _, _ = _normalised(x.astype(np.float64))
    gamma, beta = 1.0 + code @ w_gamma, code @ w_beta
    np.testing.assert_allclose(y, x_hat * gamma[:, None, None] + beta[:, None, None],
                               rtol=1e-4, atol=1e-5)


def test_spectral_code_projections_and_bad_cond():
    x, code = _x(), np.ones((4, 5), np.float32)
    shapes = jax.eval_shape(
        lambda: ConditionalBatchNorm(spectral_norm=True).init(
            jax.random.key(0), x, code, train=False
        )
    )
    assert set(shapes[STATS_COLLECTION]) == {"bn", "gamma", "beta"}
    assert shapes[STATS_COLLECTION]["gamma"]["spectral_norm"]["dense/kernel/u"].shape == (1, 3)
    with pytest.raises(ValueError, match="int class labels"):
        numpy_init(ConditionalBatchNorm(num_classes=3), x, code[:, 0], train=False)
    with pytest.raises(ValueError, match=r"\(B, D\) codes"):
        numpy_init(ConditionalBatchNorm(), x, code[:3], train=False)
