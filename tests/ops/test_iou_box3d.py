"""box3d_overlap: hand cases with known volumes, a Monte Carlo estimate, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from jax3d.ops import box3d_overlap
from jax3d.transforms import euler_angles_to_matrix

UNIT = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0],
                 [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]], np.float64)  # fmt: skip


def box(size=(1.0, 1.0, 1.0), centre=(0.0, 0.0, 0.0), R=None) -> np.ndarray:
    """(8, 3) corners of an oriented box in PyTorch3D's order."""
    R = np.eye(3) if R is None else np.asarray(R)
    return ((UNIT - 0.5) * np.asarray(size)) @ R.T + np.asarray(centre)


def rz(deg: float) -> np.ndarray:
    t = np.deg2rad(deg)
    return np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])


def inside_naive(points: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Points inside the parallelepiped with corner 0 and edges to corners 1, 3, 4."""
    edges = np.stack([b[1] - b[0], b[3] - b[0], b[4] - b[0]], 1)  # columns
    local = np.linalg.solve(edges, (points - b[0]).T).T
    return np.all((local >= 0) & (local <= 1), axis=1)


def test_hand_cases():
    a = box()
    others = np.stack([
        box(),                                   # identical: iou 1
        box(centre=(0.5, 0, 0)),                 # half overlap: vol 1/2, iou 1/3
        box(centre=(0.5, 0.5, 0.5)),             # corner overlap: 1/8
        box(centre=(3, 0, 0)),                   # disjoint
        box(centre=(1, 0, 0)),                   # touching faces: zero volume
        box(R=rz(45)),                           # octagonal prism: 2 (sqrt 2 - 1)
        box(size=(0.5, 0.5, 0.5), R=rz(30)),     # contained: the small box
        box(size=(3, 0.2, 0.2)),                 # a rod through the cube: 1 x 0.2 x 0.2
    ])  # fmt: skip
    vol, iou = (np.asarray(x)[0] for x in box3d_overlap(a[None].astype(np.float32),
                                                       others.astype(np.float32)))  # fmt: skip
    want_vol = [1.0, 0.5, 0.125, 0.0, 0.0, 2 * (np.sqrt(2) - 1), 0.125, 0.04]
    np.testing.assert_allclose(vol, want_vol, atol=2e-5)
    union = 1.0 + np.array([1, 1, 1, 1, 1, 1, 0.125, 0.12]) - np.asarray(want_vol)
    np.testing.assert_allclose(iou, np.asarray(want_vol) / union, atol=2e-5)


@pytest.mark.slow  # a second compilation (4 x 4 boxes) and 200k samples
def test_matches_monte_carlo_and_is_symmetric():
    rng = np.random.default_rng(0)
    boxes = [box(rng.uniform(0.5, 1.5, 3), rng.uniform(-0.4, 0.4, 3),
                 np.asarray(euler_angles_to_matrix(rng.uniform(-np.pi, np.pi, 3), "XYZ")))
             for _ in range(4)]  # fmt: skip
    b = np.stack(boxes).astype(np.float32)
    vol, iou = (np.asarray(x) for x in box3d_overlap(b, b))
    np.testing.assert_allclose(vol, vol.T, rtol=1e-4, atol=1e-5)
    pts = rng.uniform(-1.5, 1.5, (200_000, 3))
    inside = np.stack([inside_naive(pts, x.astype(np.float64)) for x in boxes])
    for i in range(4):
        for j in range(4):
            est = np.mean(inside[i] & inside[j]) * 27.0  # sampling box volume 3^3
            np.testing.assert_allclose(vol[i, j], est, atol=0.02 + 0.02 * est)
        np.testing.assert_allclose(iou[i, i], 1.0, atol=1e-4)


def test_input_checks():
    bent = box()
    bent[6] += [0.0, 0.0, 0.2]
    with pytest.raises(ValueError, match="not coplanar"):
        box3d_overlap(bent[None], box()[None])
    flat = box(size=(1.0, 1.0, 0.0))
    with pytest.raises(ValueError, match="zero areas"):
        box3d_overlap(box()[None], flat[None])
    with pytest.raises(ValueError, match=r"\(N, 8, 3\)"):
        box3d_overlap(np.zeros((2, 4, 3)), box()[None])
