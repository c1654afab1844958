"""Mesh R-CNN's mesh metrics on hand-made cases, a brute-force reference and the table."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from jax3d.metrics import (
    MESH_RCNN_SHAPENET,
    PIXEL2MESH,
    MeshEvaluation,
    compare_meshes,
    sampling_metrics,
)
from jax3d.structures import Meshes


def sampling_metrics_naive(p, q, pn, qn, t):
    """Brute force in float64 for one pair of clouds."""
    d = np.linalg.norm(p[:, None] - q[None], axis=-1)
    i, j = d.argmin(1), d.argmin(0)
    dp, dq = d.min(1), d.min(0)
    cp = np.sum(pn * qn[i], -1) / np.linalg.norm(pn, axis=-1) / np.linalg.norm(qn[i], axis=-1)
    cq = np.sum(qn * pn[j], -1) / np.linalg.norm(qn, axis=-1) / np.linalg.norm(pn[j], axis=-1)
    prec, rec = 100 * np.mean(dp < t), 100 * np.mean(dq < t)
    return {"Chamfer-L2": np.mean(dp**2) + np.mean(dq**2),
            "F1": 2 * prec * rec / (prec + rec + 1e-8),
            "AbsNormalConsistency": 0.5 * (np.abs(cp).mean() + np.abs(cq).mean()),
            "NormalConsistency": 0.5 * (cp.mean() + cq.mean())}  # fmt: skip


def test_identical_and_offset_clouds_by_hand():
    g = np.stack(np.meshgrid(*[np.arange(5.0)] * 3, indexing="ij"), -1).reshape(1, -1, 3)
    g = np.concatenate([g, g])  # (2, 125, 3): the shapes of the next test (one compile)
    normals = np.broadcast_to([0.0, 0.0, 1.0], g.shape)
    same = sampling_metrics(g, g, normals, normals, thresholds=(0.1, 0.3))
    assert float(same["Chamfer-L2"][0]) == 0.0
    assert float(same["F1@0.100000"][0]) == pytest.approx(100.0)
    assert float(same["NormalConsistency"][0]) == pytest.approx(1.0)
    shifted = sampling_metrics(g + [0, 0, 0.2], g, -normals, normals, thresholds=(0.1, 0.3))
    assert float(shifted["Chamfer-L2"][0]) == pytest.approx(2 * 0.2**2, rel=1e-5)  # 0.08
    assert float(shifted["F1@0.100000"][0]) == 0.0
    assert float(shifted["F1@0.300000"][0]) == pytest.approx(100.0)
    assert float(shifted["Precision@0.300000"][0]) == pytest.approx(100.0)
    assert float(shifted["NormalConsistency"][0]) == pytest.approx(-1.0)  # flipped normals
    assert float(shifted["AbsNormalConsistency"][0]) == pytest.approx(1.0)


def test_matches_brute_force_on_random_clouds():
    rng = np.random.default_rng(0)
    p, q = rng.normal(size=(2, 125, 3)), rng.normal(size=(2, 125, 3)) * [1.0, 2.0, 0.5]
    pn, qn = rng.normal(size=(2, 125, 3)), rng.normal(size=(2, 125, 3))
    out = sampling_metrics(p, q, pn, qn, thresholds=(0.3,))
    for b in range(2):
        ref = sampling_metrics_naive(p[b], q[b], pn[b], qn[b], 0.3)
        np.testing.assert_allclose(out["Chamfer-L2"][b], ref["Chamfer-L2"], rtol=1e-4)
        np.testing.assert_allclose(out["F1@0.300000"][b], ref["F1"], rtol=1e-4)
        for k in ("AbsNormalConsistency", "NormalConsistency"):
            np.testing.assert_allclose(out[k][b], ref[k], rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="both"):
        sampling_metrics(p, q, pn, None)


def _square(z):
    v = np.array([[0, 0, z], [1, 0, z], [1, 1, z], [0, 1, z]], np.float32)
    return v, np.array([[0, 1, 2], [0, 2, 3]], np.int32)


def test_compare_meshes_known_offset_under_both_protocols():
    (v0, f), (v1, _) = _square(0.0), _square(0.04)
    gt = Meshes([v0, v0], [f, f])
    pred = Meshes([v1, v0], [f, f])
    key, n = jax.random.PRNGKey(0), 3000  # the protocol's 10^4 points cost more test time
    p = MESH_RCNN_SHAPENET
    out = compare_meshes(pred, gt, key=key, num_samples=n, scale=p.scale,
                         thresholds=p.thresholds, reduce=False)  # fmt: skip
    # Scaled by 10 (the box's longest edge is 1): planes 0.4 apart. Each point's nearest
    # neighbour is 0.4 away across, plus the in-plane nearest-neighbour term of n uniform
    # points on a 10 x 10 square, E r^2 = 1 / (pi n / 100): chamfer = 2 (0.16 + 100 / (pi n)).
    in_plane = 100 / (np.pi * n)
    assert float(out["Chamfer-L2"][0]) == pytest.approx(2 * (0.16 + in_plane), rel=0.02)
    assert float(out["F1@0.300000"][0]) == 0.0 and float(out["F1@0.500000"][0]) > 99.5
    assert float(out["AbsNormalConsistency"][0]) == pytest.approx(1.0)
    # The identical pair: only the sampling noise is left.
    assert float(out["Chamfer-L2"][1]) == pytest.approx(2 * in_plane, rel=0.1)
    assert float(out["F1@0.300000"][1]) > 99.5
    p2m = compare_meshes(pred, gt, key=key, num_samples=n, scale=PIXEL2MESH.scale,
                         thresholds=PIXEL2MESH.thresholds, reduce=False)  # fmt: skip
    assert float(p2m["F1@0.010000"][0]) == 0.0  # planes 0.0228 apart after scaling by 0.57
    assert float(p2m["F1@0.014142"][0]) == 0.0
    with pytest.raises(ValueError, match="scale"):
        compare_meshes(pred, gt, key=key, num_samples=10, scale="bbox")


@pytest.mark.slow
def test_compare_meshes_one_ground_truth_for_every_prediction():
    (v0, f), (v1, _) = _square(0.0), _square(0.04)
    pred, gt = Meshes([v1, v0], [f, f]), Meshes([v0], [f])
    out = compare_meshes(pred, gt, key=jax.random.PRNGKey(0), num_samples=3000)
    assert out["F1@0.300000"] == pytest.approx(50.0, abs=0.5)  # the mean of 0 and 100


def test_table_rows_markdown_and_json():
    ev = MeshEvaluation(MESH_RCNN_SHAPENET)
    metrics = {"Chamfer-L2": [1.0, 3.0, 5.0], "AbsNormalConsistency": [0.5, 0.7, 0.9],
               "F1@0.100000": [10, 20, 60], "F1@0.300000": [30, 40, 80],
               "F1@0.500000": [50, 60, 100]}  # fmt: skip
    ev.add_metrics(metrics, ["chair", "chair", "table"])
    rows = ev.rows()
    assert [r[0] for r in rows] == ["chair", "table", "total", "per-instance"]
    assert rows[0][:4] == ["chair", 2, 2.0, pytest.approx(0.6)]
    assert rows[2][2] == pytest.approx((2.0 + 5.0) / 2)  # mean of the class means
    assert rows[3][2] == pytest.approx(3.0) and rows[3][1] == 3  # mean over instances
    md = ev.markdown()
    assert md.splitlines()[0] == (
        "| category | #instances | chamfer | normal | F1(0.1) | F1(0.3) | F1(0.5) |"
    )
    assert "| total | 3 | 3.5000 |" in md
    data = json.loads(ev.to_json())
    assert data["protocol"]["scale"] == "gt-10" and len(data["rows"]) == 4
    assert MeshEvaluation(PIXEL2MESH).columns()[-2:] == ("F1(0.0001)", "F1(0.0002)")
    with pytest.raises(ValueError, match="categories"):
        ev.add_metrics(metrics, ["chair"])
