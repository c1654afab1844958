"""Naive float64 NumPy references for mesh properties, shared by the asset tests."""

from __future__ import annotations

from collections import Counter

import numpy as np


def directed_edge_counts_naive(faces) -> Counter:
    """How often each directed edge (a, b) occurs, by a Python loop over face sides."""
    counts: Counter = Counter()
    for a, b, c in np.asarray(faces).tolist():
        for e in ((a, b), (b, c), (c, a)):
            counts[e] += 1
    return counts


def undirected_edge_counts_naive(faces) -> Counter:
    """How many faces use each undirected edge {a, b}."""
    counts: Counter = Counter()
    for (a, b), n in directed_edge_counts_naive(faces).items():
        counts[(min(a, b), max(a, b))] += n
    return counts


def assert_closed_and_consistent(faces) -> None:
    """Watertight (every edge in exactly 2 faces) and consistently oriented (each directed edge
    once, so the two faces of an edge traverse it in opposite directions)."""
    undirected = undirected_edge_counts_naive(faces)
    bad = {e: n for e, n in undirected.items() if n != 2}
    assert not bad, f"edges not shared by exactly 2 faces: {list(bad.items())[:5]}"
    directed = directed_edge_counts_naive(faces)
    assert max(directed.values()) == 1, "some directed edge is used twice: inconsistent winding"


def face_normals_naive(verts, faces) -> np.ndarray:
    """Un-normalised PyTorch3D face normals cross(v1 - v0, v2 - v0), float64: (F, 3)."""
    v = np.asarray(verts, np.float64)[np.asarray(faces)]
    return np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])


def face_areas_naive(verts, faces) -> np.ndarray:
    """Triangle areas, float64: (F,)."""
    return 0.5 * np.linalg.norm(face_normals_naive(verts, faces), axis=1)


def signed_volume_naive(verts, faces) -> float:
    """Sum of signed tetrahedron volumes (origin, v0, v1, v2); > 0 for outward closed meshes."""
    v = np.asarray(verts, np.float64)[np.asarray(faces)]
    return float(np.einsum("fi,fi->f", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6.0)


def winding_number_naive(points, verts, faces, chunk: int = 128) -> np.ndarray:
    """Generalised winding number of each point w.r.t. the triangles (solid angles / 4 pi).

    ~1 inside and ~0 outside a closed outward mesh; meaningful for nearly closed ones too.
    """
    tri = np.asarray(verts, np.float64)[np.asarray(faces)]  # (F, 3, 3)
    out = []
    for s in range(0, len(points), chunk):
        p = np.asarray(points[s : s + chunk], np.float64)[:, None, :]  # (P, 1, 3)
        a, b, c = (tri[None, :, k] - p for k in range(3))  # (P, F, 3) each
        la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
        det = np.einsum("pfi,pfi->pf", a, np.cross(b, c))
        dot = lambda x, y: np.einsum("pfi,pfi->pf", x, y)  # noqa: E731
        den = la * lb * lc + dot(a, b) * lc + dot(b, c) * la + dot(c, a) * lb
        out.append(2.0 * np.arctan2(det, den).sum(axis=1) / (4.0 * np.pi))
    return np.concatenate(out)


def outward_fraction_naive(verts, faces, eps: float = 1e-3) -> float:
    """Fraction of faces whose normal points outwards: just behind the face centroid is inside
    (|winding number| > 1/2) and just in front of it is outside.

    (The winding number always drops by one across a face along its normal, whatever the
    global orientation, so the test compares inside/outside, not the values.)
    """
    v = np.asarray(verts, np.float64)[np.asarray(faces)]
    n = face_normals_naive(verts, faces)
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    c = v.mean(axis=1)
    front = np.abs(winding_number_naive(c + eps * n, verts, faces)) > 0.5
    back = np.abs(winding_number_naive(c - eps * n, verts, faces)) > 0.5
    return float(np.mean(back & ~front))


def get_meshes_class():
    """`jax3d.structures.Meshes`, or skip while the structures package does not provide it."""
    import pytest

    structures = pytest.importorskip("jax3d.structures")
    if not hasattr(structures, "Meshes"):
        pytest.skip("jax3d.structures.Meshes is not available yet")
    return structures.Meshes
