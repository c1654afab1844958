"""Triangle maths in screen space, as PyTorch3D's rasterizer computes it.

Every function broadcasts over any leading axes; vertex arguments are separate ``(x, y)`` (and
``z``) components so that the callers can pass gathered columns without stacking. Used by the
search (:mod:`jax3d.renderer.mesh.face_search`) and the differentiable recompute
(:mod:`jax3d.renderer.mesh.recompute`), so both see the same values (the recompute's
distance, :func:`nearest_edge_dist2`, up to rounding).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = [
    "K_EPSILON",
    "edge_function",
    "barycentric_coords",
    "perspective_correct_bary",
    "clip_bary",
    "segment_dist2",
    "triangle_dist2",
    "nearest_edge_dist2",
]

K_EPSILON = 1e-8  # PyTorch3D's kEpsilon: zero-area test, area offset, degenerate edges.


def edge_function(px, py, ax, ay, bx, by):
    """PyTorch3D's EdgeFunctionForward(p, a, b) = cross(p - a, b - a); broadcasts."""
    return (px - ax) * (by - ay) - (py - ay) * (bx - ax)


def barycentric_coords(px, py, x0, y0, x1, y1, x2, y2, *, safe=False):
    """Screen-space barycentrics ``(w0, w1, w2)`` of p in triangle v0 v1 v2 (area + 1e-8)."""
    area = edge_function(x2, y2, x0, y0, x1, y1) + K_EPSILON
    if safe:
        area = jnp.where(area == 0.0, 1.0, area)
    w0 = edge_function(px, py, x1, y1, x2, y2) / area
    w1 = edge_function(px, py, x2, y2, x0, y0) / area
    w2 = edge_function(px, py, x0, y0, x1, y1) / area
    return w0, w1, w2


def perspective_correct_bary(w0, w1, w2, z0, z1, z2):
    """World-space barycentrics from screen-space ones and the vertices' view depths."""
    t0, t1, t2 = w0 * z1 * z2, w1 * z0 * z2, w2 * z0 * z1
    denom = jnp.maximum(t0 + t1 + t2, K_EPSILON)  # PyTorch3D's floor: no 0 or sign flip
    return t0 / denom, t1 / denom, t2 / denom


def clip_bary(w0, w1, w2):
    """Clamp negative barycentrics to 0 and renormalise (sum floored at 1e-5)."""
    w0, w1, w2 = jnp.maximum(w0, 0.0), jnp.maximum(w1, 0.0), jnp.maximum(w2, 0.0)
    s = jnp.maximum(w0 + w1 + w2, 1e-5)
    return w0 / s, w1 / s, w2 / s


def _segment_t(px, py, ax, ay, bx, by):
    """(t, d2): the parameter in [0, 1] of the point of segment a-b nearest to p, and the
    squared distance to it (t = 1, the distance to b, when the segment is degenerate)."""
    dx, dy = bx - ax, by - ay
    l2 = dx * dx + dy * dy
    degenerate = l2 <= K_EPSILON
    l2_safe = jnp.where(degenerate, 1.0, l2)
    t = jnp.clip(((px - ax) * dx + (py - ay) * dy) / l2_safe, 0.0, 1.0)
    qx, qy = ax + t * dx, ay + t * dy
    d_seg = (px - qx) ** 2 + (py - qy) ** 2
    d_end = (px - bx) ** 2 + (py - by) ** 2
    return jnp.where(degenerate, 1.0, t), jnp.where(degenerate, d_end, d_seg)


def segment_dist2(px, py, ax, ay, bx, by):
    """Squared distance from p to segment a-b (distance to b when the segment is degenerate)."""
    return _segment_t(px, py, ax, ay, bx, by)[1]


def triangle_dist2(px, py, x0, y0, x1, y1, x2, y2):
    """Unsigned squared 2D distance from p to the triangle's edges (PyTorch3D's edge order)."""
    d01 = segment_dist2(px, py, x0, y0, x1, y1)
    d02 = segment_dist2(px, py, x0, y0, x2, y2)
    d12 = segment_dist2(px, py, x1, y1, x2, y2)
    return jnp.minimum(jnp.minimum(d01, d02), d12)


def nearest_edge_dist2(px, py, x0, y0, x1, y1, x2, y2):
    """:func:`triangle_dist2` (the same value up to rounding), differentiated through the
    nearest point only.

    The nearest point q of the triangle's edges is found without gradient and written as fixed
    weights of the three vertices, ``q = a0 v0 + a1 v1 + a2 v2`` (``1 - t`` and ``t`` on the
    nearest edge's ends); the result is ``|p - q|^2`` with those weights. Its derivative is
    that of the segment distance (at the optimal t the derivative in t is zero or t is
    clamped), and the backward pass is that of one weighted point instead of three segment
    distances and two ``minimum``s (value and gradient about 3.5x faster on CPU, 2**20
    fragments). At exact ties the gradient follows the first nearest edge in PyTorch3D's
    order (v0v1, v0v2, v1v2).

    Ties are common, not rare: in the corner region outside a vertex, both of its edges are
    nearest at that vertex. There the weights agree whichever edge is taken (all on that
    vertex), so the compiled code may evaluate the comparison once or several times (XLA
    may duplicate it into each consumer's fusion, where the copies can round apart) and still
    combine one consistent point. Selecting the edge's end coordinates one by one instead
    could mix the ends of two edges.
    """
    sg = jax.lax.stop_gradient
    p = sg((px, py, x0, y0, x1, y1, x2, y2))
    t01, d01 = _segment_t(p[0], p[1], p[2], p[3], p[4], p[5])
    t02, d02 = _segment_t(p[0], p[1], p[2], p[3], p[6], p[7])
    t12, d12 = _segment_t(p[0], p[1], p[4], p[5], p[6], p[7])
    e01 = (d01 <= d02) & (d01 <= d12)
    e02 = ~e01 & (d02 <= d12)
    a0 = jnp.where(e01, 1.0 - t01, jnp.where(e02, 1.0 - t02, 0.0))
    a1 = jnp.where(e01, t01, jnp.where(e02, 0.0, 1.0 - t12))
    a2 = jnp.where(e01, 0.0, jnp.where(e02, t02, t12))
    qx = a0 * x0 + a1 * x1 + a2 * x2
    qy = a0 * y0 + a1 * y1 + a2 * y2
    return (px - qx) ** 2 + (py - qy) ** 2
