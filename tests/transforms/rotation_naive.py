"""Float64 NumPy reference implementations and hypothesis strategies for the transforms tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

ALL_CONVENTIONS = [
    a + b + c
    for a in "XYZ"
    for b in "XYZ"
    for c in "XYZ"
    if b not in (a, c)
]


def hat_naive(v):
    v = np.asarray(v, np.float64)
    out = np.zeros(v.shape[:-1] + (3, 3))
    out[..., 0, 1], out[..., 0, 2] = -v[..., 2], v[..., 1]
    out[..., 1, 0], out[..., 1, 2] = v[..., 2], -v[..., 0]
    out[..., 2, 0], out[..., 2, 1] = -v[..., 1], v[..., 0]
    return out


def axis_angle_to_matrix_naive(aa):
    """Rodrigues in float64, one vector at a time."""
    aa = np.asarray(aa, np.float64).reshape(-1, 3)
    out = []
    for w in aa:
        t = np.linalg.norm(w)
        if t == 0:
            out.append(np.eye(3))
            continue
        k = hat_naive(w / t)
        out.append(np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * k @ k)
    return np.stack(out)


def quaternion_to_matrix_naive(q):
    """Via the axis-angle of each unit quaternion (an independent route)."""
    q = np.asarray(q, np.float64).reshape(-1, 4)
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    angles = 2 * np.arctan2(np.linalg.norm(q[:, 1:], axis=1), q[:, 0])
    axes = q[:, 1:] / np.maximum(np.linalg.norm(q[:, 1:], axis=1, keepdims=True), 1e-300)
    return axis_angle_to_matrix_naive(axes * angles[:, None])


def elementary_naive(axis, angle):
    c, s = np.cos(angle), np.sin(angle)
    i = "XYZ".index(axis)
    m = np.eye(3)
    j, k = [a for a in range(3) if a != i]
    m[j, j], m[j, k], m[k, j], m[k, k] = c, -s, s, c
    if i == 1:  # Y: the (Z, X) plane, so the signs flip with index order
        m[j, k], m[k, j] = s, -s
    return m


def euler_to_matrix_naive(angles, convention):
    angles = np.asarray(angles, np.float64).reshape(-1, 3)
    return np.stack(
        [
            elementary_naive(convention[0], a[0])
            @ elementary_naive(convention[1], a[1])
            @ elementary_naive(convention[2], a[2])
            for a in angles
        ]
    )


def rotation_angle_naive(R):
    R = np.asarray(R, np.float64)
    return np.arccos(np.clip((np.trace(R, axis1=-2, axis2=-1) - 1) / 2, -1, 1))


# ---------------------------------------------------------------- hypothesis strategies


@st.composite
def unit_vectors(draw):
    v = np.array(draw(st.lists(st.floats(-1, 1), min_size=3, max_size=3)))
    n = np.linalg.norm(v)
    if n < 1e-3:
        v, n = np.array([0.0, 0.0, 1.0]), 1.0
    return v / n


# Angles in [0, pi): near the identity, generic, and near pi, where the maps have branches.
angles_below_pi = st.one_of(
    st.floats(0.0, 1e-3),
    st.floats(1e-3, np.pi - 1e-2),
    st.floats(np.pi - 1e-2, np.pi - 1e-4),
)


@st.composite
def axis_angles(draw, batch=4):
    """(batch, 3) float64 axis-angle vectors with angles in [0, pi - 1e-4]."""
    n = batch
    return np.stack([draw(unit_vectors()) * draw(angles_below_pi) for _ in range(n)])
