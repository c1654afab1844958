"""Mesh reconstruction metrics: Mesh R-CNN's ShapeNet protocol and the Pixel2Mesh variant.

`compare_meshes` is Mesh R-CNN's function of that name: both meshes are scaled (by default so
that the ground truth's bounding box has a longest edge of 10), 10,000 points with normals
are sampled on each, and from the nearest neighbours in both directions it reports

- "Chamfer-L2": the sum of the two mean squared distances;
- "NormalConsistency" / "AbsNormalConsistency": the mean (absolute) cosine between a point's
  normal and its nearest neighbour's, averaged over both directions;
- "Precision@t", "Recall@t", "F1@t" in percent: the share of predicted points within distance
  t of the ground truth, of ground-truth points within t of the prediction, and their F1.

`MESH_RCNN_SHAPENET` (scale "gt-10", F1 at 0.1, 0.3, 0.5) is the protocol of Mesh R-CNN's
Table 2 and the book's Figure 10.17; `PIXEL2MESH` (scale 0.57, F1 at sqrt(1e-4) and sqrt(2e-4),
the squared-distance thresholds of Pixel2Mesh) its Table 1. `MeshEvaluation` accumulates
per-instance results and prints them as the per-class table of those papers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.ops.knn import knn_gather, knn_points
from jax3d.ops.sample_points_from_meshes import sample_points_from_meshes

__all__ = [
    "MESH_RCNN_SHAPENET",
    "PIXEL2MESH",
    "MeshEvalProtocol",
    "MeshEvaluation",
    "compare_meshes",
    "sampling_metrics",
]

_COS_EPS = 1e-8  # torch.nn.functional.cosine_similarity's eps


@dataclass(frozen=True)
class MeshEvalProtocol:
    """An evaluation protocol: how meshes are scaled and which F1 thresholds are reported.

    Attributes:
        name: for tables and files.
        scale: a float (both meshes multiplied by it) or "gt-<L>" (each pair scaled so the
            ground truth's bounding box has longest edge L).
        thresholds: F1 distance thresholds (after scaling).
        num_samples: points sampled on each mesh.
        threshold_labels: column names of the F1 columns in tables.
    """

    name: str
    scale: float | str
    thresholds: tuple[float, ...]
    num_samples: int = 10000
    threshold_labels: tuple[str, ...] = ()

    def labels(self) -> tuple[str, ...]:
        return self.threshold_labels or tuple(f"F1({t:g})" for t in self.thresholds)


MESH_RCNN_SHAPENET = MeshEvalProtocol("mesh_rcnn", "gt-10", (0.1, 0.3, 0.5))
PIXEL2MESH = MeshEvalProtocol(
    "pixel2mesh", 0.57, (math.sqrt(1e-4), math.sqrt(2e-4)),
    threshold_labels=("F1(0.0001)", "F1(0.0002)"),
)  # fmt: skip


def _cosine(a, b):
    na = jnp.maximum(jnp.linalg.norm(a, axis=-1), _COS_EPS)
    nb = jnp.maximum(jnp.linalg.norm(b, axis=-1), _COS_EPS)
    return jnp.sum(a * b, axis=-1) / (na * nb)


@jax.jit
def _nearest_terms(pred_points, pred_normals, gt_points, gt_normals):
    """Squared nearest-neighbour distances both ways (N, S), (N, S') and the cosines between
    each point's normal and its neighbour's (or None without normals)."""
    knn_pred = knn_points(pred_points, gt_points, K=1)
    knn_gt = knn_points(gt_points, pred_points, K=1)
    cos_pred = cos_gt = None
    if pred_normals is not None:
        cos_pred = _cosine(pred_normals, knn_gather(gt_normals, knn_pred.idx)[..., 0, :])
        cos_gt = _cosine(gt_normals, knn_gather(pred_normals, knn_gt.idx)[..., 0, :])
    return knn_pred.dists[..., 0], knn_gt.dists[..., 0], cos_pred, cos_gt


def _metrics_from_terms(d_pred2, d_gt2, cos_pred, cos_gt, thresholds, eps):
    out = {"Chamfer-L2": jnp.mean(d_pred2, 1) + jnp.mean(d_gt2, 1)}
    if cos_pred is not None:
        out["NormalConsistency"] = 0.5 * (jnp.mean(cos_pred, 1) + jnp.mean(cos_gt, 1))
        out["AbsNormalConsistency"] = 0.5 * (
            jnp.mean(jnp.abs(cos_pred), 1) + jnp.mean(jnp.abs(cos_gt), 1)
        )
    d_pred, d_gt = jnp.sqrt(d_pred2), jnp.sqrt(d_gt2)
    for t in thresholds:
        precision = 100.0 * jnp.mean((d_pred < t).astype(jnp.float32), 1)
        recall = 100.0 * jnp.mean((d_gt < t).astype(jnp.float32), 1)
        out[f"Precision@{t:f}"] = precision
        out[f"Recall@{t:f}"] = recall
        out[f"F1@{t:f}"] = 2.0 * precision * recall / (precision + recall + eps)
    return out


def sampling_metrics(
    pred_points, gt_points, pred_normals=None, gt_normals=None, *,
    thresholds=(0.1, 0.2, 0.3, 0.4, 0.5), eps: float = 1e-8,
) -> dict[str, jax.Array]:  # fmt: skip
    """The metrics of `compare_meshes` from given point samples (Mesh R-CNN's
    `_compute_sampling_metrics`); the nearest-neighbour search is jitted.

    Args:
        pred_points, gt_points: (N, S, 3) and (N, S', 3) float points.
        pred_normals, gt_normals: matching normals, or None (no normal consistency).
        thresholds: F1 distance thresholds (Euclidean, not squared).
        eps: added to the F1 denominator.

    Returns:
        dict of (N,) float32 arrays; keys "Chamfer-L2", "NormalConsistency",
        "AbsNormalConsistency" (with normals), and "Precision@t", "Recall@t", "F1@t" with t
        formatted as `f"{t:f}"` (e.g. "F1@0.300000"), in percent.
    """
    pred_points, gt_points = jnp.asarray(pred_points), jnp.asarray(gt_points)
    for name, x in (("pred_points", pred_points), ("gt_points", gt_points)):
        if x.ndim != 3 or x.shape[-1] != 3:
            raise ValueError(f"{name} must be (N, S, 3), got {x.shape}")
    if pred_points.shape[0] != gt_points.shape[0]:
        raise ValueError(f"batch sizes differ: {pred_points.shape[0]} and {gt_points.shape[0]}")
    if (pred_normals is None) != (gt_normals is None):
        raise ValueError("give both pred_normals and gt_normals, or neither")
    thresholds = tuple(float(t) for t in thresholds)
    terms = _nearest_terms(pred_points, pred_normals, gt_points, gt_normals)
    return _metrics_from_terms(*terms, thresholds, eps)


def _scales(pred_meshes, gt_meshes, scale):
    """(pred (N,), gt (N,)) scale factors (Mesh R-CNN's `_scale_meshes`)."""
    n = len(pred_meshes)
    if isinstance(scale, str):
        if not scale.startswith("gt-"):
            raise ValueError(f"scale must be a float, a pair or 'gt-<L>', got {scale!r}")
        target = float(scale[3:])
        box = jnp.asarray(gt_meshes.get_bounding_boxes())  # (M, 3, 2)
        s = target / jnp.max(box[:, :, 1] - box[:, :, 0], axis=1)
        s = jnp.broadcast_to(s, (n,))
        return s, s
    if isinstance(scale, tuple):
        return jnp.full((n,), float(scale[0])), jnp.full((n,), float(scale[1]))
    return jnp.full((n,), float(scale)), jnp.full((n,), float(scale))


def compare_meshes(
    pred_meshes,
    gt_meshes,
    *,
    key: jax.Array,
    num_samples: int = 10000,
    scale: float | str | tuple = "gt-10",
    thresholds=(0.1, 0.2, 0.3, 0.4, 0.5),
    reduce: bool = True,
    eps: float = 1e-8,
) -> dict:
    """Compare predicted and ground-truth meshes (Mesh R-CNN's `compare_meshes`).

    Args:
        pred_meshes: `Meshes` of N predictions.
        gt_meshes: `Meshes` of N ground truths, or of 1 (compared with every prediction).
        key: PRNG key for the surface sampling.
        num_samples: points sampled on each mesh.
        scale: float, (pred, gt) floats, or "gt-<L>" (see module doc).
        thresholds: F1 thresholds (distances after scaling).
        reduce: average over the batch (Python floats) instead of (N,) arrays.
        eps: F1 denominator guard.

    Returns:
        dict of metrics (see `sampling_metrics`): (N,) arrays, or floats if `reduce`.
    """
    n, m = len(pred_meshes), len(gt_meshes)
    if m not in (1, n):
        raise ValueError(f"gt_meshes must hold 1 or {n} meshes, got {m}")
    ps, gs = _scales(pred_meshes, gt_meshes, scale)
    gt_points_scale = gs if m == n else gs[:1]
    k_pred, k_gt = jax.random.split(key)
    pred_points, pred_normals = sample_points_from_meshes(
        pred_meshes, num_samples, return_normals=True, key=k_pred
    )
    gt_points, gt_normals = sample_points_from_meshes(
        gt_meshes, num_samples, return_normals=True, key=k_gt
    )
    pred_points = pred_points * ps[:, None, None]
    gt_points = gt_points * gt_points_scale[:, None, None]
    if m == 1:
        gt_points = jnp.broadcast_to(gt_points, pred_points.shape)
        gt_normals = jnp.broadcast_to(gt_normals, pred_points.shape)
    out = sampling_metrics(pred_points, gt_points, pred_normals, gt_normals,
                           thresholds=thresholds, eps=eps)  # fmt: skip
    if reduce:
        return {k: float(jnp.mean(v)) for k, v in out.items()}
    return out


class MeshEvaluation:
    """Per-instance metrics under a protocol, and the per-class table of Mesh R-CNN.

    Example:
        ev = MeshEvaluation(MESH_RCNN_SHAPENET)
        for batch in loader:
            ev.add(pred_meshes, gt_meshes, batch_category_names, key=k)
        print(ev.markdown())

    The table has one row per category (instances, mean chamfer, mean absolute normal
    consistency, mean F1 at each threshold), then "total" (the mean of the class rows) and
    "per-instance" (the mean over all instances), as in the papers.
    """

    def __init__(self, protocol: MeshEvalProtocol = MESH_RCNN_SHAPENET):
        self.protocol = protocol
        self.categories: list[str] = []
        self.values: dict[str, list[float]] = {k: [] for k in self.columns()[2:]}

    def columns(self) -> tuple[str, ...]:
        return ("category", "#instances", "chamfer", "normal") + self.protocol.labels()

    def add(self, pred_meshes, gt_meshes, categories, *, key) -> dict:
        """Evaluate a batch (see `compare_meshes`) and record it; returns its (N,) metrics."""
        p = self.protocol
        out = compare_meshes(pred_meshes, gt_meshes, key=key, num_samples=p.num_samples,
                             scale=p.scale, thresholds=p.thresholds, reduce=False)  # fmt: skip
        self.add_metrics(out, categories)
        return out

    def add_metrics(self, metrics: dict, categories) -> None:
        """Record precomputed (N,) `compare_meshes` metrics of N instances."""
        categories = [str(c) for c in categories]
        cols = {"chamfer": "Chamfer-L2", "normal": "AbsNormalConsistency"}
        cols.update({label: f"F1@{t:f}" for label, t in zip(self.protocol.labels(),
                                                            self.protocol.thresholds)})  # fmt: skip
        rows = {n: np.asarray(metrics[k], np.float64).reshape(-1) for n, k in cols.items()}
        if any(len(v) != len(categories) for v in rows.values()):
            raise ValueError(f"{len(categories)} categories for metrics of another length")
        self.categories += categories
        for name, v in rows.items():
            self.values[name] += v.tolist()

    def rows(self) -> list[list]:
        """The table: [category, #instances, chamfer, normal, F1...] per class, then "total"
        and "per-instance"."""
        cats = np.array(self.categories)
        names = list(self.values)
        vals = {k: np.array(v) for k, v in self.values.items()}
        rows = []
        for c in dict.fromkeys(self.categories):  # first-seen order
            sel = cats == c
            rows.append([c, int(sel.sum())] + [float(vals[k][sel].mean()) for k in names])
        if not rows:
            return rows
        class_means = np.array([r[2:] for r in rows])
        rows.append(["total", len(cats)] + class_means.mean(0).tolist())
        rows.append(["per-instance", len(cats)] + [float(vals[k].mean()) for k in names])
        return rows

    def markdown(self, digits: int = 4) -> str:
        """The table as GitHub markdown."""
        head = self.columns()
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self.rows():
            cells = [r[0], str(r[1])] + [f"{v:.{digits}g}" if abs(v) < 1e-3 else
                                         f"{v:.{digits}f}" for v in r[2:]]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def to_json(self) -> str:
        """The protocol, the table and the per-instance values as JSON."""
        p = self.protocol
        return json.dumps({
            "protocol": {"name": p.name, "scale": p.scale, "thresholds": list(p.thresholds),
                         "num_samples": p.num_samples},
            "columns": list(self.columns()),
            "rows": self.rows(),
            "instances": {"category": self.categories, **self.values},
        }, indent=1)  # fmt: skip
