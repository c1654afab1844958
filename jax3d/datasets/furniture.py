"""Procedural furniture and primitive shapes for single-view 3D reconstruction.

`shape_from_seed(seed, index)` builds shape `index` of an endless, reproducible collection:
chairs, tables, sofas, beds, bookcases, desks, stools and lamps (the classes of Pix3D and
ShapeNet), each a union of boxes, cylinders and cones with random proportions, leg styles,
holes (chair-back slats, open bookcases, legs and stretchers) and shelves; plus the primitives
and meshes jax3d already has (cube, ico-sphere, torus, teapot, Platonic solids, and the cow when
`JAX3D_DATA` holds it), randomly stretched. Every part is a closed, outward-oriented triangle
mesh, so `jax3d.datasets.voxelize` fills the union exactly; parts overlap like the parts of a
ShapeNet model.

Shapes are in ShapeNetCore v1's object frame: +Y up, the front towards +Z, the bounding box
centred at the origin with a unit diagonal. Shape `index` has category
`classes[index % len(classes)]` and depends only on `(seed, index)`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from jax3d.utils import (
    cube_verts_faces,
    dodecahedron_verts_faces,
    ico_sphere_verts_faces,
    octahedron_verts_faces,
    teapot_verts_faces,
    tetrahedron_verts_faces,
    torus_verts_faces,
)

__all__ = [
    "ALL_CLASSES",
    "FURNITURE_CLASSES",
    "PRIMITIVE_CLASSES",
    "Shape",
    "make_shape",
    "shape_from_seed",
]

FURNITURE_CLASSES = ("chair", "table", "sofa", "bed", "bookcase", "desk", "stool", "lamp")
PRIMITIVE_CLASSES = (
    "cube", "sphere", "torus", "teapot", "tetrahedron", "octahedron", "dodecahedron", "cow",
)  # fmt: skip
ALL_CLASSES = FURNITURE_CLASSES + PRIMITIVE_CLASSES

_SEGMENTS = 16  # sides of a cylinder or cone


@dataclass(frozen=True, eq=False)
class Shape:
    """One generated shape.

    Attributes:
        category: its class name.
        verts: (V, 3) float32, object frame (+Y up, bounding box centred, unit diagonal).
        faces: (F, 3) int32, outward-oriented.
        part_faces: (P + 1,) int64 face offsets: part p is `faces[part_faces[p]:part_faces[p+1]]`,
            a closed surface (except for the teapot, see `closed`).
        closed: every part is closed (False for the teapot, whose spout and lid leave holes:
            voxelize it with `robust=True`).
    """

    category: str
    verts: np.ndarray
    faces: np.ndarray
    part_faces: np.ndarray
    closed: bool = True

    @property
    def num_parts(self) -> int:
        return len(self.part_faces) - 1


# ----------------------------------------------------------------------------------------------
# Closed parts.
# ----------------------------------------------------------------------------------------------


def _rot(axis: str, degrees: float) -> np.ndarray:
    a = np.deg2rad(degrees)
    c, s = np.cos(a), np.sin(a)
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    R = np.eye(3)
    R[i, i], R[i, j], R[j, i], R[j, j] = c, -s, s, c
    return R


def _cylinder(r0: float, r1: float, height: float, segments: int = _SEGMENTS):
    """Closed frustum along +Y from y=0 (radius r0) to y=height (radius r1)."""
    t = 2.0 * np.pi * np.arange(segments) / segments
    ring = np.stack([np.cos(t), np.zeros_like(t), -np.sin(t)], -1)  # counter-clockwise from +Y
    verts = np.concatenate([ring * r0, ring * r1 + [0, height, 0], [[0, 0, 0], [0, height, 0]]])
    i = np.arange(segments)
    j = (i + 1) % segments
    n, bc, tc = segments, 2 * segments, 2 * segments + 1
    side = np.concatenate([np.stack([i, j, j + n], -1), np.stack([i, j + n, i + n], -1)])
    caps = np.concatenate([np.stack([np.full(n, bc), j, i], -1),
                           np.stack([np.full(n, tc), i + n, j + n], -1)])  # fmt: skip
    return verts, np.concatenate([side, caps])


class _Parts:
    """Collects closed parts (verts, faces) of one shape."""

    def __init__(self):
        self.parts: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, verts, faces, R=None, t=(0.0, 0.0, 0.0)):
        v = np.asarray(verts, np.float64)
        if R is not None:
            v = v @ np.asarray(R).T
        self.parts.append((v + np.asarray(t, np.float64), np.asarray(faces, np.int64)))

    def box(self, lo, hi, R=None, pivot=None):
        """Box [lo, hi]; optionally rotated by R about `pivot` (default its centre)."""
        lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
        v, f = cube_verts_faces()
        centre = 0.5 * (lo + hi)
        v = v.astype(np.float64) * (hi - lo) + centre
        if R is not None:
            p = centre if pivot is None else np.asarray(pivot, np.float64)
            v = (v - p) @ np.asarray(R).T + p
        self.add(v, f)

    def cylinder(self, base, r0, height, r1=None, R=None, segments=_SEGMENTS):
        """Frustum standing on `base` along +Y (then rotated by R about the base)."""
        v, f = _cylinder(r0, r0 if r1 is None else r1, height, segments)
        self.add(v, f, R=R, t=base)

    def rod(self, p0, p1, radius, segments=_SEGMENTS):
        """Cylinder from point p0 to point p1."""
        p0, p1 = np.asarray(p0, np.float64), np.asarray(p1, np.float64)
        d = p1 - p0
        length = float(np.linalg.norm(d))
        y = d / length
        x = np.cross(y, [0.0, 0.0, 1.0] if abs(y[2]) < 0.9 else [1.0, 0.0, 0.0])
        x /= np.linalg.norm(x)
        z = np.cross(x, y)
        v, f = _cylinder(radius, radius, length, segments)
        self.add(v, f, R=np.stack([x, y, z], -1), t=p0)

    def sphere(self, centre, radius, level=2):
        v, f = ico_sphere_verts_faces(level)
        self.add(v.astype(np.float64) * radius, f, t=centre)


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


def _legs(p: _Parts, rng, xs, zs, top, thick, style, splay=0.0):
    """Legs from y=0 to `top` at the (x, z) corners; box or round; splayed outwards."""
    for x in xs:
        for z in zs:
            R = _rot("z", -np.sign(x) * splay) @ _rot("x", np.sign(z) * splay)
            if style == "round":
                p.cylinder((x, 0.0, z), 0.5 * thick, top, r1=0.5 * thick * _u(rng, 0.8, 1.0))
                if splay:
                    v, f = p.parts.pop()
                    p.add((v - [x, top, z]) @ R.T + [x, top, z], f)
            else:
                p.box((x - thick / 2, 0.0, z - thick / 2), (x + thick / 2, top, z + thick / 2),
                      R=R if splay else None, pivot=(x, top, z))  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Furniture classes.
# ----------------------------------------------------------------------------------------------


def _chair(p: _Parts, rng):
    W, D = _u(rng, 0.4, 0.6), _u(rng, 0.4, 0.6)
    h, t = _u(rng, 0.38, 0.5), _u(rng, 0.03, 0.08)
    base = rng.choice(["box", "round", "pedestal", "sled"], p=[0.4, 0.25, 0.2, 0.15])
    lt = _u(rng, 0.03, 0.06)
    x, z = W / 2 - lt / 2 - _u(rng, 0, 0.03), D / 2 - lt / 2 - _u(rng, 0, 0.03)
    p.box((-W / 2, h - t, -D / 2), (W / 2, h, D / 2))
    if base in ("box", "round"):
        _legs(p, rng, (-x, x), (-z, z), h - t, lt, base, splay=_u(rng, 0, 6) * (rng.random() < 0.4))
        if rng.random() < 0.5:  # side stretchers
            y = _u(rng, 0.08, 0.2)
            for sx in (-x, x):
                p.box((sx - lt / 3, y, -z), (sx + lt / 3, y + lt / 1.5, z))
    elif base == "pedestal":
        r = _u(rng, 0.025, 0.045)
        p.cylinder((0.0, 0.06, 0.0), r, h - t - 0.06)
        if rng.random() < 0.5:
            p.cylinder((0.0, 0.0, 0.0), _u(rng, 0.18, 0.28), 0.06, r1=r * 1.5)
        else:
            n, arm = int(rng.integers(4, 6)), _u(rng, 0.2, 0.3)
            for k in range(n):
                p.box((0.0, 0.02, -0.02), (arm, 0.06, 0.02), R=_rot("y", 360.0 * k / n),
                      pivot=(0.0, 0.04, 0.0))  # fmt: skip
    else:  # sled: a U-frame under each side
        for sx in (-x, x):
            p.box((sx - lt / 2, 0.0, -z - lt / 2), (sx + lt / 2, lt, z + lt / 2))
            for sz in (-z, z):
                p.box((sx - lt / 2, 0.0, sz - lt / 2), (sx + lt / 2, h - t, sz + lt / 2))
    _chair_back(p, rng, W, D, h, lt)
    if rng.random() < 0.3:  # arms
        ah, aw = h + _u(rng, 0.18, 0.26), _u(rng, 0.04, 0.07)
        for sx in (-W / 2 + aw / 2, W / 2 - aw / 2):
            p.box((sx - aw / 2, ah - 0.03, -D / 2), (sx + aw / 2, ah, D / 2 + 0.02))
            p.box((sx - 0.015, h, D / 2 - 0.05), (sx + 0.015, ah, D / 2 - 0.02))


def _chair_back(p: _Parts, rng, W, D, h, lt):
    H, tb = _u(rng, 0.3, 0.55), _u(rng, 0.025, 0.05)
    tilt = _u(rng, 0, 15)
    R, pivot = _rot("x", -tilt), (0.0, h, -D / 2)
    z0, z1 = -D / 2, -D / 2 + tb
    style = rng.choice(["solid", "vertical", "horizontal", "frame"])
    if style == "solid":
        p.box((-W / 2, h, z0), (W / 2, h + H, z1), R=R, pivot=pivot)
        return
    post = max(lt, 0.035)
    for sx in (-W / 2, W / 2 - post):
        p.box((sx, h, z0), (sx + post, h + H, z1), R=R, pivot=pivot)
    rail = _u(rng, 0.04, 0.1)
    p.box((-W / 2, h + H - rail, z0), (W / 2, h + H, z1), R=R, pivot=pivot)
    if style == "vertical":
        n = int(rng.integers(2, 6))
        for k in range(n):
            cx = -W / 2 + post + (k + 1) * (W - 2 * post) / (n + 1)
            p.box((cx - 0.015, h, z0 + 0.003), (cx + 0.015, h + H - rail, z1 - 0.003), R=R,
                  pivot=pivot)  # fmt: skip
    elif style == "horizontal":
        n = int(rng.integers(1, 4))
        for k in range(n):
            cy = h + (k + 1) * (H - rail) / (n + 1)
            p.box((-W / 2, cy - 0.02, z0 + 0.003), (W / 2, cy + 0.02, z1 - 0.003), R=R,
                  pivot=pivot)  # fmt: skip
    else:  # an open frame with a bottom rail
        p.box((-W / 2, h, z0), (W / 2, h + rail / 2, z1), R=R, pivot=pivot)


def _table_like(p: _Parts, rng, W, D, H, t, round_top):
    if round_top:
        p.cylinder((0.0, H - t, 0.0), W / 2, t, segments=24)
    else:
        p.box((-W / 2, H - t, -D / 2), (W / 2, H, D / 2))


def _table(p: _Parts, rng):
    W, H, t = _u(rng, 0.8, 1.6), _u(rng, 0.65, 0.78), _u(rng, 0.03, 0.06)
    round_top = rng.random() < 0.25
    D = W if round_top else _u(rng, 0.5, min(1.0, W))
    _table_like(p, rng, W, D, H, t, round_top)
    style = "pedestal" if round_top and rng.random() < 0.6 else rng.choice(
        ["box", "round", "trestle"], p=[0.45, 0.35, 0.2]
    )
    lt = _u(rng, 0.04, 0.08)
    inset = W / 2 * (0.62 if round_top else 1.0)
    x, z = inset - lt / 2 - _u(rng, 0, 0.06), (inset if round_top else D / 2) - lt / 2 - 0.02
    if style == "pedestal":
        p.cylinder((0.0, 0.04, 0.0), _u(rng, 0.04, 0.08), H - t - 0.04)
        p.cylinder((0.0, 0.0, 0.0), _u(rng, 0.2, 0.3), 0.04)
        return
    if style == "trestle":
        for sx in (-x, x):
            p.box((sx - lt / 2, 0.0, -D / 2 + 0.05), (sx + lt / 2, 0.05, D / 2 - 0.05))
            p.box((sx - lt / 2, 0.05, -lt), (sx + lt / 2, H - t, lt))
        p.box((-x, 0.25, -lt / 3), (x, 0.32, lt / 3))  # stretcher
        return
    _legs(p, rng, (-x, x), (-z, z), H - t, lt, style)
    if rng.random() < 0.5:  # apron
        a = _u(rng, 0.06, 0.12)
        p.box((-x, H - t - a, -z - lt / 4), (x, H - t, -z + lt / 4))
        p.box((-x, H - t - a, z - lt / 4), (x, H - t, z + lt / 4))
    if rng.random() < 0.3:  # lower shelf
        y = _u(rng, 0.1, 0.25)
        p.box((-x, y, -z), (x, y + 0.025, z))


def _sofa(p: _Parts, rng):
    W, D = _u(rng, 1.4, 2.2), _u(rng, 0.75, 1.0)
    leg = _u(rng, 0.05, 0.15) if rng.random() < 0.6 else 0.0
    base_h, arm_w = _u(rng, 0.2, 0.3), _u(rng, 0.1, 0.25)
    back_h, back_t = _u(rng, 0.35, 0.55), _u(rng, 0.15, 0.25)
    arms = rng.choice(["both", "both", "left", "none"])
    p.box((-W / 2, leg, -D / 2), (W / 2, leg + base_h, D / 2))
    p.box((-W / 2, leg + base_h, -D / 2), (W / 2, leg + base_h + back_h, -D / 2 + back_t),
          R=_rot("x", -_u(rng, 0, 10)), pivot=(0.0, leg + base_h, -D / 2))  # fmt: skip
    arm_h = _u(rng, 0.15, 0.28)
    inner = W / 2 - (arm_w if arms != "none" else 0.0)
    for side in (-1, 1):
        if arms == "both" or (arms == "left" and side < 0):
            x0 = side * W / 2
            p.box((min(x0, x0 - side * arm_w), leg, -D / 2),
                  (max(x0, x0 - side * arm_w), leg + base_h + arm_h, D / 2))  # fmt: skip
    n = int(rng.integers(1, 4))
    ch = _u(rng, 0.06, 0.12)
    for k in range(n):
        xa = -inner + 2 * inner * k / n + 0.01
        xb = -inner + 2 * inner * (k + 1) / n - 0.01
        p.box((xa, leg + base_h - 0.01, -D / 2 + back_t), (xb, leg + base_h + ch, D / 2 - 0.02))
    if leg:
        _legs(p, rng, (-W / 2 + 0.06, W / 2 - 0.06), (-D / 2 + 0.06, D / 2 - 0.06), leg + 0.01,
              0.05, rng.choice(["box", "round"]))  # fmt: skip


def _bed(p: _Parts, rng):
    W, L = _u(rng, 1.0, 1.8), _u(rng, 1.9, 2.2)
    fh, mh = _u(rng, 0.2, 0.35), _u(rng, 0.15, 0.25)
    legs = rng.random() < 0.5
    lt = 0.07
    if legs:  # rails on legs: a gap under the bed
        y0 = _u(rng, 0.1, 0.2)
        p.box((-W / 2, y0, -L / 2), (W / 2, fh, L / 2))
        _legs(p, rng, (-W / 2 + lt / 2, W / 2 - lt / 2), (-L / 2 + lt / 2, L / 2 - lt / 2),
              y0 + 0.01, lt, "box")  # fmt: skip
    else:
        p.box((-W / 2, 0.0, -L / 2), (W / 2, fh, L / 2))
    p.box((-W / 2 + 0.03, fh, -L / 2 + 0.03), (W / 2 - 0.03, fh + mh, L / 2 - 0.03))
    hh, ht = _u(rng, 0.5, 0.9), _u(rng, 0.04, 0.08)
    if rng.random() < 0.5:
        p.box((-W / 2, 0.0, -L / 2 - ht), (W / 2, fh + mh + hh, -L / 2))
    else:  # posts, rails and slats
        top = fh + mh + hh
        for sx in (-W / 2, W / 2 - 0.06):
            p.box((sx, 0.0, -L / 2 - ht), (sx + 0.06, top, -L / 2))
        p.box((-W / 2, top - 0.08, -L / 2 - ht), (W / 2, top, -L / 2))
        p.box((-W / 2, fh, -L / 2 - ht), (W / 2, fh + 0.06, -L / 2))
        n = int(rng.integers(3, 9))
        for k in range(n):
            cx = -W / 2 + 0.06 + (k + 1) * (W - 0.12) / (n + 1)
            p.box((cx - 0.02, fh, -L / 2 - ht + 0.005), (cx + 0.02, top, -L / 2 - 0.005))
    if rng.random() < 0.5:  # footboard
        p.box((-W / 2, 0.0, L / 2), (W / 2, fh + mh + _u(rng, 0.0, 0.3), L / 2 + ht))
    if rng.random() < 0.5:  # pillows
        for sx in ((-W / 4, W / 4) if W > 1.3 else (0.0,)):
            pw = min(0.55, W / 2 - 0.08) if W > 1.3 else 0.6
            p.box((sx - pw / 2, fh + mh, -L / 2 + 0.08), (sx + pw / 2, fh + mh + 0.12,
                                                         -L / 2 + 0.45))  # fmt: skip


def _bookcase(p: _Parts, rng):
    W, H, D = _u(rng, 0.6, 1.2), _u(rng, 0.9, 2.0), _u(rng, 0.25, 0.4)
    t = _u(rng, 0.025, 0.045)
    plinth = _u(rng, 0.0, 0.1) if rng.random() < 0.5 else 0.0
    for sx in (-W / 2, W / 2 - t):
        p.box((sx, 0.0, -D / 2), (sx + t, H, D / 2))
    p.box((-W / 2, H - t, -D / 2), (W / 2, H, D / 2))
    p.box((-W / 2 + t, plinth, -D / 2), (W / 2 - t, plinth + t, D / 2))
    if plinth:
        p.box((-W / 2 + t, 0.0, D / 2 - 0.03), (W / 2 - t, plinth, D / 2 - 0.01))
    n = int(rng.integers(1, 6))
    for k in range(n):
        y = plinth + t + (k + 1) * (H - plinth - 2 * t) / (n + 1)
        p.box((-W / 2 + t, y - t / 2, -D / 2 + 0.01), (W / 2 - t, y + t / 2, D / 2))
    if rng.random() < 0.5:  # back panel (without it, the shelves are see-through)
        p.box((-W / 2 + t, plinth, -D / 2), (W / 2 - t, H - t, -D / 2 + 0.012))
    if rng.random() < 0.3:  # a middle divider
        p.box((-t / 2, plinth + t, -D / 2 + 0.01), (t / 2, H - t, D / 2))


def _desk(p: _Parts, rng):
    W, D, H, t = _u(rng, 1.0, 1.6), _u(rng, 0.5, 0.8), _u(rng, 0.7, 0.78), _u(rng, 0.025, 0.05)
    p.box((-W / 2, H - t, -D / 2), (W / 2, H, D / 2))
    style = rng.choice(["one", "two", "legs", "panels"])
    pw = _u(rng, 0.3, 0.45)
    lt = _u(rng, 0.04, 0.07)
    if style in ("one", "two"):
        sides = (1,) if style == "one" else (-1, 1)
        for s in sides:
            x0, x1 = sorted((s * (W / 2 - 0.02), s * (W / 2 - 0.02 - pw)))
            p.box((x0, 0.0, -D / 2 + 0.02), (x1, H - t, D / 2 - 0.02))
            n = int(rng.integers(2, 5))  # drawer fronts
            for k in range(n):
                y0 = (H - t) * k / n + 0.015
                y1 = (H - t) * (k + 1) / n - 0.015
                p.box((x0 + 0.02, y0, D / 2 - 0.02), (x1 - 0.02, y1, D / 2 - 0.005))
        if style == "one":
            x = -W / 2 + lt / 2 + 0.02
            _legs(p, rng, (x,), (-D / 2 + lt, D / 2 - lt), H - t, lt, rng.choice(["box", "round"]))
    elif style == "legs":
        _legs(p, rng, (-W / 2 + lt, W / 2 - lt), (-D / 2 + lt, D / 2 - lt), H - t, lt,
              rng.choice(["box", "round"]))  # fmt: skip
    else:
        for sx in (-W / 2 + 0.02, W / 2 - 0.02 - lt):
            p.box((sx, 0.0, -D / 2 + 0.02), (sx + lt, H - t, D / 2 - 0.02))
    if rng.random() < 0.5:  # modesty panel
        p.box((-W / 2 + 0.05, H - t - _u(rng, 0.2, 0.4), -D / 2 + 0.03),
              (W / 2 - 0.05, H - t, -D / 2 + 0.05))  # fmt: skip


def _stool(p: _Parts, rng):
    H, r = _u(rng, 0.45, 0.8), _u(rng, 0.15, 0.22)
    t = _u(rng, 0.03, 0.06)
    if rng.random() < 0.6:
        p.cylinder((0.0, H - t, 0.0), r, t, segments=24)
    else:
        p.box((-r, H - t, -r), (r, H, r))
    if rng.random() < 0.2:  # pedestal
        p.cylinder((0.0, 0.03, 0.0), _u(rng, 0.025, 0.04), H - t - 0.03)
        p.cylinder((0.0, 0.0, 0.0), r * _u(rng, 0.9, 1.3), 0.03)
        return
    n = int(rng.integers(3, 5))
    splay = _u(rng, 3, 12)
    lt = _u(rng, 0.025, 0.045)
    spread = r * _u(rng, 0.6, 0.85)
    foot = spread + (H - t) * np.tan(np.deg2rad(splay))
    ring_y = _u(rng, 0.15, 0.3)
    for k in range(n):
        a = 2 * np.pi * (k + 0.5) / n
        d = np.array([np.cos(a), 0.0, np.sin(a)])
        p.rod(d * foot, d * spread + [0, H - t + 0.005, 0], lt / 2, segments=10)
    if rng.random() < 0.6:  # foot ring: rods between neighbouring legs
        ring = spread + (H - t - ring_y) * np.tan(np.deg2rad(splay))
        for k in range(n):
            a0, a1 = 2 * np.pi * (k + 0.5) / n, 2 * np.pi * (k + 1.5) / n
            q0 = np.array([np.cos(a0), 0.0, np.sin(a0)]) * ring + [0, ring_y, 0]
            q1 = np.array([np.cos(a1), 0.0, np.sin(a1)]) * ring + [0, ring_y, 0]
            p.rod(q0, q1, lt / 3, segments=8)


def _lamp(p: _Parts, rng):
    style = rng.choice(["straight", "arm", "bulb", "tripod"])
    base_r = _u(rng, 0.08, 0.16)
    pole_r = _u(rng, 0.015, 0.03)
    H = _u(rng, 0.4, 1.5)
    if style != "tripod":
        if rng.random() < 0.7:
            p.cylinder((0.0, 0.0, 0.0), base_r, _u(rng, 0.02, 0.05), r1=base_r * _u(rng, 0.7, 1.0))
        else:
            p.box((-base_r, 0.0, -base_r), (base_r, 0.04, base_r))
    sr0, sr1, sh = _u(rng, 0.1, 0.25), _u(rng, 0.05, 0.18), _u(rng, 0.1, 0.3)
    if style == "straight":
        p.cylinder((0.0, 0.03, 0.0), pole_r, H - 0.03)
        p.cylinder((0.0, H - 0.3 * sh, 0.0), sr0, sh, r1=sr1)
    elif style == "bulb":
        p.cylinder((0.0, 0.03, 0.0), pole_r, H - 0.03)
        p.sphere((0.0, H + 0.06, 0.0), _u(rng, 0.06, 0.14))
    elif style == "arm":
        p.cylinder((0.0, 0.03, 0.0), pole_r, H - 0.03)
        reach = _u(rng, 0.2, 0.5)
        end = np.array([reach, H + _u(rng, -0.1, 0.2), 0.0])
        p.rod((0.0, H - 0.02, 0.0), end, pole_r * 0.8, segments=10)
        shade = np.array([reach, end[1] - sh * 0.8, 0.0])
        p.cylinder(shade, sr0 * 0.8, sh, r1=pole_r * 2.0)
    else:  # tripod floor lamp
        top = np.array([0.0, H, 0.0])
        for k in range(3):
            a = 2 * np.pi * k / 3
            p.rod(np.array([np.cos(a), 0.0, np.sin(a)]) * base_r * 2.0, top, pole_r, segments=8)
        p.cylinder(top - [0, 0.05, 0], sr0, sh, r1=sr1)


_FURNITURE = {
    "chair": _chair, "table": _table, "sofa": _sofa, "bed": _bed, "bookcase": _bookcase,
    "desk": _desk, "stool": _stool, "lamp": _lamp,
}  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Primitives.
# ----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _cow_verts_faces():
    from jax3d.datasets.data_path import data_path
    from jax3d.io import load_obj

    verts, faces, _ = load_obj(data_path("meshes/cow_mesh/cow.obj"), load_textures=False)
    return np.asarray(verts, np.float64), np.asarray(faces.verts_idx, np.int64)


def _primitive(p: _Parts, rng, category: str) -> bool:
    """Adds the primitive, randomly stretched and turned; returns whether it is closed."""
    if category == "cube":
        v, f = cube_verts_faces()
    elif category == "sphere":
        v, f = ico_sphere_verts_faces(3)
    elif category == "torus":
        v, f = torus_verts_faces(_u(rng, 0.15, 0.45), 1.0, 16, 32)
    elif category == "teapot":
        v, f = teapot_verts_faces(3)
    elif category == "cow":
        v, f = _cow_verts_faces()
    else:
        v, f = {"tetrahedron": tetrahedron_verts_faces, "octahedron": octahedron_verts_faces,
                "dodecahedron": dodecahedron_verts_faces}[category]()  # fmt: skip
    stretch = np.exp(rng.uniform(-0.35, 0.35, 3)) if category != "cow" else np.ones(3)
    R = _rot("y", _u(rng, 0, 360))
    if category in ("torus", "tetrahedron", "octahedron", "dodecahedron"):
        R = R @ _rot("x", _u(rng, 0, 90))
    p.add(np.asarray(v, np.float64) * stretch, f, R=R)
    return category != "teapot"


# ----------------------------------------------------------------------------------------------
# Public API.
# ----------------------------------------------------------------------------------------------


def _normalised(parts: list[tuple[np.ndarray, np.ndarray]]):
    verts = np.concatenate([v for v, _ in parts])
    lo, hi = verts.min(0), verts.max(0)
    scale = 1.0 / float(np.linalg.norm(hi - lo))
    offsets = np.cumsum([0] + [len(v) for v, _ in parts])
    faces = np.concatenate([f + o for (_, f), o in zip(parts, offsets)])
    verts = (verts - 0.5 * (lo + hi)) * scale
    part_faces = np.cumsum([0] + [len(f) for _, f in parts])
    return verts.astype(np.float32), faces.astype(np.int32), part_faces.astype(np.int64)


def make_shape(category: str, rng: np.random.Generator) -> Shape:
    """A random shape of `category` (one of `ALL_CLASSES`) drawn with `rng`.

    Raises:
        ValueError: unknown category.
        jax3d.datasets.DataNotFoundError: "cow" without `JAX3D_DATA`.
    """
    if category not in ALL_CLASSES:
        raise ValueError(f"category must be one of {ALL_CLASSES}, got {category!r}")
    p = _Parts()
    closed = True
    if category in _FURNITURE:
        _FURNITURE[category](p, rng)
    else:
        closed = _primitive(p, rng, category)
    verts, faces, part_faces = _normalised(p.parts)
    return Shape(category, verts, faces, part_faces, closed)


def shape_from_seed(seed: int, index: int, classes=FURNITURE_CLASSES) -> Shape:
    """Shape `index` of the collection `seed`: category `classes[index % len(classes)]`,
    drawn with `np.random.default_rng([seed, index])` (reproducible, order-independent)."""
    classes = tuple(classes)
    if not classes:
        raise ValueError("classes must not be empty")
    if int(seed) < 0 or int(index) < 0:
        raise ValueError(f"seed and index must be >= 0, got {seed}, {index}")
    rng = np.random.default_rng([int(seed), int(index)])
    return make_shape(classes[int(index) % len(classes)], rng)
