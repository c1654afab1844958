"""GraphConv / gather_scatter against dense float64 adjacency products."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.ops import GraphConv, gather_scatter


def adjacency_naive(V, edges, directed):
    A = np.zeros((V, V))
    for i, j in edges:
        if i < 0:
            continue
        A[i, j] += 1.0
        if not directed:
            A[j, i] += 1.0
    return A


def _graph(seed, V=9, E=20, D=4):
    rng = np.random.default_rng(seed)
    edges = rng.integers(0, V, (E, 2)).astype(np.int32)
    edges[-3:] = -1  # padding rows
    return rng.normal(size=(V, D)).astype(np.float32), edges


@pytest.mark.parametrize("directed", [False, True])
def test_gather_scatter_matches_dense(directed):
    x, edges = _graph(0)
    ref = adjacency_naive(len(x), edges, directed) @ x.astype(np.float64)
    np.testing.assert_allclose(gather_scatter(x, edges, directed), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("directed", [False, True])
def test_graph_conv_matches_dense(directed):
    x, edges = _graph(1)
    conv = GraphConv(4, 6, directed=directed)
    params = conv.init(jax.random.PRNGKey(0), x, edges)
    p = jax.tree.map(lambda a: a + 0.3, params)  # nonzero biases
    w0, w1 = p["params"]["w0"], p["params"]["w1"]
    A = adjacency_naive(len(x), edges, directed)
    ref = x @ w0["kernel"] + w0["bias"] + A @ (x @ w1["kernel"] + w1["bias"])
    out = conv.apply(p, x, edges)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(jax.jit(conv.apply)(p, x, edges), out, rtol=1e-6, atol=1e-6)


def test_initialisations():
    x, edges = _graph(2, D=64)
    p = GraphConv(64, 32).init(jax.random.PRNGKey(0), x, edges)["params"]
    assert abs(float(jnp.std(p["w0"]["kernel"])) - 0.01) < 0.002
    assert not np.any(np.asarray(p["w0"]["bias"])) and not np.any(np.asarray(p["w1"]["bias"]))
    z = GraphConv(64, 32, init="zero").init(jax.random.PRNGKey(0), x, edges)["params"]
    assert not np.any(np.asarray(z["w0"]["kernel"])) and not np.any(np.asarray(z["w1"]["kernel"]))
    assert np.all(np.abs(np.asarray(z["w0"]["bias"])) <= 1 / 8)  # torch Linear default bias
    with pytest.raises(ValueError, match="initialization"):
        GraphConv(3, 3, init="xavier")


def test_grads_and_empty_graph():
    x, edges = _graph(3)
    conv = GraphConv(4, 2)
    params = conv.init(jax.random.PRNGKey(1), x, edges)
    g = jax.jit(jax.grad(lambda v: conv.apply(params, v, edges).sum()))(jnp.asarray(x))
    assert np.all(np.isfinite(g))
    out = conv.apply(params, jnp.zeros((0, 4)), jnp.zeros((0, 2), jnp.int32))
    assert out.shape == (0, 2)


def test_validation():
    x, edges = _graph(4)
    conv = GraphConv(4, 2)
    with pytest.raises(ValueError, match="verts"):
        conv.init(jax.random.PRNGKey(0), x[:, :3], edges)
    with pytest.raises(ValueError, match="edges"):
        conv.init(jax.random.PRNGKey(0), x, edges[:, :1])
    with pytest.raises(TypeError, match="edges"):
        gather_scatter(x, edges.astype(np.float32))
