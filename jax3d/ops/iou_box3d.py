"""Exact volume and IoU of intersecting oriented 3D boxes (PyTorch3D's ``box3d_overlap``).

The algorithm of PyTorch3D's ``iou_box3d`` (Ravi et al., "Accelerating 3D Deep Learning with
PyTorch3D", 2020), written for fixed shapes so that it vectorises and jits:

1. every face of box 1 is clipped by the six half-spaces of box 2 (Sutherland-Hodgman, one
   plane at a time; a face coplanar with a clipping plane is kept whole), and vice versa;
   what remains of both boxes' faces is the surface of the convex intersection;
2. a clipped face of box 2 that is coplanar with a clipped face of box 1 of area above
   ``1e-4`` is dropped, so that a shared face counts once;
3. the volume is the sum of the unsigned volumes of the tetrahedra joining every remaining
   triangle to a point inside the intersection (the mean of the triangle centres).

The faces are kept as convex polygons of at most ``4 + 6`` vertices (a quad clipped by six
planes) instead of PyTorch3D's lists of triangles; they cover the same surface, so the volumes
agree up to rounding. Tolerances are PyTorch3D's: ``1e-3`` on the cosines of the coplanarity
tests and ``1e-4`` on face areas.

Corner order of a box (PyTorch3D's): the unit cube's corners ``(0,0,0), (1,0,0), (1,1,0),
(0,1,0), (0,0,1), (1,0,1), (1,1,1), (0,1,1)`` in that order, or any affine image of it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["box3d_overlap"]

Array = jax.Array

# The quad faces and the triangles of a box, as corner indices.
BOX_PLANES = np.array(
    [[0, 1, 2, 3], [3, 2, 6, 7], [0, 1, 5, 4], [0, 3, 7, 4], [1, 2, 6, 5], [4, 5, 6, 7]]
)
BOX_TRIANGLES = np.array(
    [[0, 1, 2], [0, 3, 2], [4, 5, 6], [4, 6, 7], [1, 5, 6], [1, 6, 2],
     [0, 4, 7], [0, 7, 3], [3, 2, 6], [3, 6, 7], [0, 1, 5], [0, 4, 5]]
)  # fmt: skip

_COS_EPS = 1e-3  # PyTorch3D's dEpsilon
_AREA_EPS = 1e-4  # PyTorch3D's aEpsilon
_NORM_EPS = 1e-8  # PyTorch3D's kEpsilon
_MAX_VERTS = 4 + 6  # a quad clipped by six planes


def _unit(v: Array) -> Array:
    return v / jnp.maximum(jnp.linalg.norm(v, axis=-1, keepdims=True), _NORM_EPS)


def _planes(box: Array):
    """Centres (6, 3), inward unit normals (6, 3) and corners (6, 4, 3) of a box's faces."""
    quads = box[BOX_PLANES]  # (6, 4, 3)
    centres = quads.mean(axis=1)
    normals = _unit(jnp.cross(quads[:, 2] - quads[:, 0], quads[:, 3] - quads[:, 1]))
    inward = jnp.sum((box.mean(axis=0) - centres) * normals, axis=-1, keepdims=True)
    return centres, jnp.where(inward < 0, -normals, normals), quads


def _polygon_normal(poly: Array, n: Array) -> Array:
    """Unit normal (Newell's method) of the first ``n`` vertices of ``poly (K, 3)``."""
    k = poly.shape[0]
    i = jnp.arange(k)
    nxt = poly[jnp.where(i + 1 < n, i + 1, 0)]
    terms = jnp.cross(poly, nxt) * (i < n)[:, None]
    return _unit(jnp.sum(terms, axis=0))


def _polygon_area(poly: Array, n: Array) -> Array:
    k = jnp.arange(1, poly.shape[0] - 1)
    tri = jnp.cross(poly[k] - poly[0], poly[k + 1] - poly[0]) * (k + 1 < n)[:, None]
    return 0.5 * jnp.linalg.norm(jnp.sum(tri, axis=0))


def _farthest_pair_direction(a: Array, a_ok: Array, b: Array, b_ok: Array) -> Array:
    """Unit direction between the most distant pair of points of ``a`` and ``b``."""
    d = a[:, None, :] - b[None, :, :]
    dist = jnp.where(a_ok[:, None] & b_ok[None, :], jnp.linalg.norm(d, axis=-1), -1.0)
    flat = jnp.argmax(dist)
    return _unit(d.reshape(-1, 3)[flat])


def _clip(poly: Array, n: Array, centre: Array, normal: Array, quad: Array):
    """Clip the convex polygon ``poly[:n]`` (K, 3) to the half-space ``dot(x - centre,
    normal) >= 0``, keeping it whole when it is coplanar with the plane's ``quad``."""
    k = poly.shape[0]
    i = jnp.arange(k)
    ok = i < n
    parallel = jnp.abs(jnp.dot(_polygon_normal(poly, n), normal)) > 1.0 - _COS_EPS
    across = _farthest_pair_direction(poly, ok, quad, jnp.ones(4, bool))
    coplanar = parallel & (jnp.abs(jnp.dot(across, normal)) < _COS_EPS)
    nxt = poly[jnp.where(i + 1 < n, i + 1, 0)]
    side = (poly - centre) @ normal
    inside = side >= 0.0
    inside_next = inside[jnp.where(i + 1 < n, i + 1, 0)]
    edge = nxt - poly
    denom = edge @ normal
    steep = jnp.abs(_unit(edge) @ normal) >= _COS_EPS
    t = -side / jnp.where(steep, denom, 1.0)
    hit = jnp.where(steep[:, None], poly + t[:, None] * edge, 0.5 * (poly + nxt))
    cand = jnp.stack([poly, hit], axis=1).reshape(2 * k, 3)
    keep = jnp.stack([inside & ok, (inside != inside_next) & ok], axis=1).reshape(2 * k)
    pos = jnp.where(keep, jnp.cumsum(keep) - 1, k)
    clipped = jnp.zeros_like(poly).at[pos].set(cand, mode="drop")
    count = jnp.sum(keep).astype(n.dtype)
    return jnp.where(coplanar, poly, clipped), jnp.where(coplanar, n, count)


def _clip_faces(box: Array, other: Array):
    """The faces of ``box`` clipped to ``other``: (6, K, 3) polygons and (6,) counts."""
    quads = box[BOX_PLANES]
    polys = jnp.concatenate([quads, jnp.zeros((6, _MAX_VERTS - 4, 3), box.dtype)], axis=1)
    counts = jnp.full((6,), 4, jnp.int32)
    clip_all = jax.vmap(_clip, in_axes=(0, 0, None, None, None))

    def clip_by(carry, plane):
        return clip_all(*carry, *plane), None

    (polys, counts), _ = jax.lax.scan(clip_by, (polys, counts), _planes(other))
    return polys, counts


def _coplanar(a: Array, na: Array, b: Array, nb: Array) -> Array:
    """PyTorch3D's face-face coplanarity test on two clipped polygons."""
    n1, n2 = _polygon_normal(a, na), _polygon_normal(b, nb)
    parallel = jnp.abs(jnp.dot(n1, n2)) > 1.0 - _COS_EPS
    k = jnp.arange(a.shape[0])
    across = _farthest_pair_direction(a, k < na, b, k < nb)
    return parallel & ((jnp.abs(across @ n1) < _COS_EPS) | (jnp.abs(across @ n2) < _COS_EPS))


def _fan(polys: Array, counts: Array, keep: Array):
    """Fan triangles (6 (K-2), 3, 3) of the polygons and their validity."""
    k = jnp.arange(1, polys.shape[1] - 1)
    tris = jnp.stack([jnp.broadcast_to(polys[:, :1], polys[:, k].shape), polys[:, k],
                      polys[:, k + 1]], axis=2)  # fmt: skip
    valid = (k[None, :] + 1 < counts[:, None]) & keep[:, None]
    return tris.reshape(-1, 3, 3), valid.reshape(-1)


def _tet_volume(tris: Array, valid: Array, centre: Array) -> Array:
    v = tris - centre
    vol = jnp.abs(jnp.sum(v[:, 0] * jnp.cross(v[:, 1], v[:, 2]), axis=-1)) / 6.0
    return jnp.sum(jnp.where(valid, vol, 0.0))


def _box_volume(box: Array) -> Array:
    tris = box[BOX_TRIANGLES]
    return _tet_volume(tris, jnp.ones(12, bool), box.mean(axis=0))


def _pair(box1: Array, box2: Array) -> tuple[Array, Array]:
    polys1, counts1 = _clip_faces(box1, box2)
    polys2, counts2 = _clip_faces(box2, box1)
    area1 = jax.vmap(_polygon_area)(polys1, counts1)
    pairwise = jax.vmap(jax.vmap(_coplanar, (None, None, 0, 0)), (0, 0, None, None))
    shared = pairwise(polys1, counts1, polys2, counts2) & (area1 > _AREA_EPS)[:, None]
    keep2 = ~jnp.any(shared, axis=0)
    tris1, ok1 = _fan(polys1, counts1, jnp.ones(6, bool))
    tris2, ok2 = _fan(polys2, counts2, keep2)
    tris = jnp.concatenate([tris1, tris2])
    ok = jnp.concatenate([ok1, ok2])
    n_ok = jnp.sum(ok)
    centre = jnp.sum(jnp.where(ok[:, None], tris.mean(axis=1), 0.0), 0) / jnp.maximum(n_ok, 1)
    vol = jnp.where(n_ok > 0, _tet_volume(tris, ok, centre), 0.0)
    union = _box_volume(box1) + _box_volume(box2) - vol
    return vol, jnp.where(n_ok > 0, vol / union, 0.0)


@jax.jit
def _overlap(boxes1: Array, boxes2: Array) -> tuple[Array, Array]:
    return jax.vmap(jax.vmap(_pair, (None, 0)), (0, None))(boxes1, boxes2)


def _check_boxes(name: str, boxes, eps: float) -> Array:
    arr = jnp.asarray(boxes, jnp.float32)
    if arr.ndim != 3 or arr.shape[1:] != (8, 3):
        raise ValueError(f"{name} must be (N, 8, 3) box corners, got {tuple(arr.shape)}")
    if isinstance(arr, jax.core.Tracer):
        return arr
    b = np.asarray(arr, np.float64)
    quads = b[:, BOX_PLANES]  # (N, 6, 4, 3)
    e0 = quads[:, :, 1] - quads[:, :, 0]
    e1 = quads[:, :, 2] - quads[:, :, 0]
    e0 /= np.maximum(np.linalg.norm(e0, axis=-1, keepdims=True), 1e-12)
    e1 /= np.maximum(np.linalg.norm(e1, axis=-1, keepdims=True), 1e-12)
    n = np.cross(e0, e1)
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
    off = np.abs(np.sum((quads[:, :, 3] - quads[:, :, 0]) * n, axis=-1))
    if (off >= eps).any():
        raise ValueError(f"{name}: plane vertices are not coplanar (a box face bends by "
                         f"{off.max():.3g}); check the corner order")  # fmt: skip
    tris = b[:, BOX_TRIANGLES]
    areas = 0.5 * np.linalg.norm(np.cross(tris[:, :, 1] - tris[:, :, 0],
                                          tris[:, :, 2] - tris[:, :, 0]), axis=-1)  # fmt: skip
    if (areas < eps).any():
        raise ValueError(f"{name}: planes have zero areas (smallest {areas.min():.3g})")
    return arr


def box3d_overlap(boxes1, boxes2, eps: float = 1e-4) -> tuple[Array, Array]:
    """Intersection volume and IoU of every pair of oriented boxes.

    Args:
        boxes1: (N, 8, 3) float32 corners in PyTorch3D's order (see the module doc).
        boxes2: (M, 8, 3) float32 corners.
        eps: tolerance of the input checks: each face's fourth corner must lie within
            ``eps`` of the plane of its first three, and every face triangle must have an area
            of at least ``eps`` (checked when the inputs are concrete).

    Returns:
        ``(vol (N, M), iou (N, M))`` float32: ``vol[n, m]`` is the volume of the intersection
        of ``boxes1[n]`` and ``boxes2[m]``, ``iou = vol / (vol1 + vol2 - vol)``.

    Raises:
        ValueError: wrong shapes, bent faces or degenerate boxes.

    Jitted; differentiable almost everywhere (the clipping is piecewise smooth; PyTorch3D
    defines no gradient).
    """
    b1 = _check_boxes("boxes1", boxes1, eps)
    b2 = _check_boxes("boxes2", boxes2, eps)
    return _overlap(b1, b2)
