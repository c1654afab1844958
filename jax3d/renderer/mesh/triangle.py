"""Triangle maths in screen space, as PyTorch3D's rasterizer computes it.

Every function broadcasts over any leading axes; vertex arguments are separate ``(x, y)`` (and
``z``) components so that the callers can pass gathered columns without stacking. Used by the
search (:mod:`jax3d.renderer.mesh.face_search`) and the differentiable recompute
(:mod:`jax3d.renderer.mesh.recompute`), so both see exactly the same values.
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


def segment_dist2(px, py, ax, ay, bx, by):
    """Squared distance from p to segment a-b (distance to b when the segment is degenerate)."""
    dx, dy = bx - ax, by - ay
    l2 = dx * dx + dy * dy
    degenerate = l2 <= K_EPSILON
    l2_safe = jnp.where(degenerate, 1.0, l2)
    t = jnp.clip(((px - ax) * dx + (py - ay) * dy) / l2_safe, 0.0, 1.0)
    qx, qy = ax + t * dx, ay + t * dy
    d_seg = (px - qx) ** 2 + (py - qy) ** 2
    d_end = (px - bx) ** 2 + (py - by) ** 2
    return jnp.where(degenerate, d_end, d_seg)


def triangle_dist2(px, py, x0, y0, x1, y1, x2, y2):
    """Unsigned squared 2D distance from p to the triangle's edges (PyTorch3D's edge order)."""
    d01 = segment_dist2(px, py, x0, y0, x1, y1)
    d02 = segment_dist2(px, py, x0, y0, x2, y2)
    d12 = segment_dist2(px, py, x1, y1, x2, y2)
    return jnp.minimum(jnp.minimum(d01, d02), d12)


def nearest_edge_dist2(px, py, x0, y0, x1, y1, x2, y2):
    """:func:`triangle_dist2` (same values), differentiated through the nearest edge only.

    The nearest edge is chosen without gradient, then one segment distance is evaluated on it:
    the backward pass is that of a single segment instead of three plus two ``minimum``s
    (about 8x cheaper on CPU). At exact ties the gradient follows the first nearest edge in
    PyTorch3D's order (v0v1, v0v2, v1v2) rather than splitting it.
    """
    sg = jax.lax.stop_gradient
    d01 = segment_dist2(*sg((px, py, x0, y0, x1, y1)))
    d02 = segment_dist2(*sg((px, py, x0, y0, x2, y2)))
    d12 = segment_dist2(*sg((px, py, x1, y1, x2, y2)))
    e01 = (d01 <= d02) & (d01 <= d12)
    e02 = ~e01 & (d02 <= d12)
    ax, ay = jnp.where(e01 | e02, x0, x1), jnp.where(e01 | e02, y0, y1)
    bx, by = jnp.where(e01, x1, x2), jnp.where(e01, y1, y2)
    return segment_dist2(px, py, ax, ay, bx, by)
