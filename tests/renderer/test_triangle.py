"""Triangle maths of the mesh rasterizer (:mod:`jax3d.renderer.mesh.triangle`): the nearest-edge
distance that the differentiable recompute uses, against the three-segment minimum. (The
rasterizer-level regression of its forward mode is in ``test_forward_mode.py``.)"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from jax3d.renderer.mesh.triangle import nearest_edge_dist2, segment_dist2, triangle_dist2

_coord = st.floats(-1.0, 1.0, allow_nan=False, width=32)


def _naive_dist2(p, tri):
    """float64 squared distance to the triangle's edges by dense sampling (20,001 points per
    edge): the maths, not the code under test."""
    best = np.inf
    for a, b in ((0, 1), (0, 2), (1, 2)):
        t = np.linspace(0.0, 1.0, 20001)
        q = tri[a] + t[:, None] * (tri[b] - tri[a])
        best = min(best, float(((p - q) ** 2).sum(-1).min()))
    return best


@settings(max_examples=40, deadline=None)
@given(st.lists(_coord, min_size=8, max_size=8))
def test_nearest_edge_dist2_value_is_the_edge_distance(c):
    p, tri = np.asarray(c[:2], np.float64), np.asarray(c[2:], np.float64).reshape(3, 2)
    args = [jnp.float32(v) for v in c]
    got = float(nearest_edge_dist2(*args))
    np.testing.assert_allclose(got, float(triangle_dist2(*args)), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got, _naive_dist2(p, tri), rtol=2e-3, atol=1e-6)


def test_nearest_edge_dist2_gradient_is_the_minimum_s_gradient():
    """Away from ties the gradient in the vertices is that of the three-segment minimum,
    in reverse mode (eager) and forward mode (jitted)."""
    key = jax.random.PRNGKey(0)
    tri = jax.random.uniform(key, (64, 6), minval=-1.0, maxval=1.0)
    p = jax.random.uniform(jax.random.PRNGKey(1), (64, 2), minval=-1.5, maxval=1.5)

    def f(dist, tri):
        return dist(p[:, 0], p[:, 1], *(tri[:, i] for i in range(6)))

    g_min = jax.vmap(jax.grad(lambda t, q: triangle_dist2(q[0], q[1], *t)))(tri, p)
    g_near = jax.vmap(jax.grad(lambda t, q: nearest_edge_dist2(q[0], q[1], *t)))(tri, p)
    np.testing.assert_allclose(np.asarray(g_near), np.asarray(g_min), rtol=1e-4, atol=1e-5)
    dtri = jax.random.normal(jax.random.PRNGKey(2), tri.shape)
    _, t_min = jax.jvp(lambda t: f(triangle_dist2, t), (tri,), (dtri,))
    _, t_near = jax.jit(lambda t, d: jax.jvp(lambda t: f(nearest_edge_dist2, t), (t,), (d,)))(
        tri, dtri
    )
    np.testing.assert_allclose(np.asarray(t_near), np.asarray(t_min), rtol=1e-4, atol=1e-5)


def test_nearest_edge_dist2_at_a_shared_vertex_tie():
    """Outside a vertex both of its edges are nearest (an exact tie): the distance and its
    gradient are the vertex's, and only that vertex gets gradient."""
    tri = (0.0, 0.0, 1.0, 0.1, 0.2, 1.0)  # v0 at the origin
    px, py = -0.3, -0.4  # beyond v0, in the corner region of both edges at v0
    assert float(segment_dist2(px, py, 0.0, 0.0, 1.0, 0.1)) == float(
        segment_dist2(px, py, 0.0, 0.0, 0.2, 1.0)
    )
    args = [jnp.float32(v) for v in tri]
    np.testing.assert_allclose(float(nearest_edge_dist2(px, py, *args)), 0.25, rtol=1e-6)
    grad = jax.grad(lambda t: nearest_edge_dist2(px, py, *t))(tuple(args))
    np.testing.assert_allclose(np.asarray(grad), [0.6, 0.8, 0, 0, 0, 0], atol=1e-6)
