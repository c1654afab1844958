"""Chapter 3: fitting a deformable mesh to a point cloud, with and without mesh regularisers.

The target is the book's pedestrian point cloud (``pointclouds/pedestrian.ply`` from
``JAX3D_DATA``; without it, points sampled on a procedural body made of capsules), centred
and scaled to unit size. An ``ico_sphere(4)`` is deformed by per-vertex offsets with SGD
(lr 1.0, momentum 0.9, 2000 iterations) under three weightings of
(chamfer, edge, normal consistency, Laplacian):

    deform1: (1, 1, 0.01, 0.1)   deform2: (1, 0, 0, 0)   deform3: (1, 1, 0, 0)

Each fitted mesh is written back in the original frame as ``deformK.ply``; a figure shows the
target and the three meshes, another the loss curves; ``metrics.json`` holds each run's final
chamfer, edge, normal-consistency and Laplacian values. One jitted step function serves all
three runs (the weights are an argument).

    python experiments/ch03_deform.py --quick --out out/ch03_deform
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d.art3d import Poly3DCollection
from tqdm import tqdm

from jax3d.datasets import data_path, has_data
from jax3d.io import load_ply, save_ply
from jax3d.loss import (
    chamfer_distance,
    mesh_edge_loss,
    mesh_laplacian_smoothing,
    mesh_normal_consistency,
)
from jax3d.ops import sample_points_from_meshes
from jax3d.structures import Meshes
from jax3d.utils import enable_compilation_cache, ico_sphere

CONFIGS = {  # (chamfer, edge, normal consistency, Laplacian) weights
    "deform1": (1.0, 1.0, 0.01, 0.1),
    "deform2": (1.0, 0.0, 0.0, 0.0),
    "deform3": (1.0, 1.0, 0.0, 0.0),
}
TERMS = ("chamfer", "edge", "normal", "laplacian")

# Procedural pedestrian: capsules (start, end, radius) of a standing figure, y up, ~1.75 tall.
_BODY = [
    ((0.0, 1.45, 0.0), (0.0, 1.62, 0.0), 0.10),  # head
    ((0.0, 0.95, 0.0), (0.0, 1.38, 0.0), 0.16),  # torso
    ((-0.2, 1.35, 0.0), (-0.3, 0.95, 0.05), 0.05),  # upper arms
    ((0.2, 1.35, 0.0), (0.3, 0.95, 0.05), 0.05),
    ((-0.3, 0.95, 0.05), (-0.33, 0.7, 0.12), 0.04),  # forearms
    ((0.3, 0.95, 0.05), (0.33, 0.7, 0.12), 0.04),
    ((-0.1, 0.9, 0.0), (-0.12, 0.48, 0.05), 0.07),  # thighs
    ((0.1, 0.9, 0.0), (0.14, 0.48, -0.05), 0.07),
    ((-0.12, 0.48, 0.05), (-0.13, 0.05, -0.02), 0.05),  # shins
    ((0.14, 0.48, -0.05), (0.16, 0.05, 0.08), 0.05),
]


def procedural_pedestrian(num_points: int, seed: int = 0) -> np.ndarray:
    """(P, 3) points on the side surfaces of the capsules, allotted by lateral area."""
    rng = np.random.default_rng(seed)
    segs = np.array([[a, b] for a, b, _ in _BODY], np.float64)  # (C, 2, 3)
    radii = np.array([r for _, _, r in _BODY])
    axis = segs[:, 1] - segs[:, 0]
    length = np.linalg.norm(axis, axis=1)
    which = rng.choice(len(_BODY), num_points, p=radii * length / np.sum(radii * length))
    d = axis[which] / length[which, None]
    u = rng.normal(size=(num_points, 3))
    u -= np.sum(u * d, axis=1, keepdims=True) * d  # perpendicular to the capsule's axis
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    t = rng.uniform(size=(num_points, 1))
    return (segs[which, 0] + t * axis[which] + radii[which, None] * u).astype(np.float32)


def load_target(quick: bool) -> tuple[np.ndarray, str]:
    if has_data("pointclouds/pedestrian.ply"):
        verts, _ = load_ply(data_path("pointclouds/pedestrian.ply"))
        return np.asarray(verts, np.float32), "JAX3D_DATA"
    print("JAX3D_DATA not set: using a procedural pedestrian made of capsules")
    return procedural_pedestrian(239 if quick else 600), "procedural"


def normalise(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Centre on the mean and scale so the largest |coordinate| is 1 (as the book)."""
    center = points.mean(0)
    scale = float(np.abs(points - center).max())
    return (points - center) / scale, center, scale


def loss_terms(deform, src: Meshes, target, key, num_samples: int):
    """(4,) chamfer, edge, normal consistency and Laplacian losses of the deformed sphere."""
    mesh = src.offset_verts(deform)
    sample = sample_points_from_meshes(mesh, num_samples, key=key)
    chamfer, _ = chamfer_distance(target, sample)
    return jnp.stack(
        [
            chamfer,
            mesh_edge_loss(mesh),
            mesh_normal_consistency(mesh),
            mesh_laplacian_smoothing(mesh, method="uniform"),
        ]
    )


def make_run_chunk(src: Meshes, target, optimizer, num_samples: int):
    """Jitted scan of the SGD step over a chunk of keys; weights are an argument."""

    def step(carry, key):
        deform, opt_state, weights = carry

        def total(d):
            terms = loss_terms(d, src, target, key, num_samples)
            return jnp.dot(weights, terms), terms

        (_, terms), grad = jax.value_and_grad(total, has_aux=True)(deform)
        updates, opt_state = optimizer.update(grad, opt_state, deform)
        return (optax.apply_updates(deform, updates), opt_state, weights), terms

    @jax.jit
    def run_chunk(deform, opt_state, weights, keys):
        (deform, opt_state, _), terms = jax.lax.scan(step, (deform, opt_state, weights), keys)
        return deform, opt_state, terms

    return run_chunk


def fit(name, weights, run_chunk, optimizer, src: Meshes, key, iters: int, chunk: int):
    deform = jnp.zeros(src.verts_padded().shape, jnp.float32)
    opt_state = optimizer.init(deform)
    history = []
    keys = jax.random.split(key, iters)
    with tqdm(total=iters, desc=name) as bar:
        for start in range(0, iters, chunk):
            ks = keys[start : start + chunk]
            deform, opt_state, terms = run_chunk(deform, opt_state, jnp.asarray(weights), ks)
            history.append(np.asarray(terms))
            bar.update(len(ks))
    return deform, np.concatenate(history)


def _equal_axes(ax, verts):
    lo, hi = verts.min(0), verts.max(0)
    mid, half = (lo + hi) / 2, (hi - lo).max() / 2
    ax.set_xlim(mid[0] - half, mid[0] + half)
    ax.set_ylim(mid[1] - half, mid[1] + half)
    ax.set_zlim(mid[2] - half, mid[2] + half)


def _draw_mesh(ax, verts, faces, title):
    ax.add_collection3d(
        Poly3DCollection(verts[faces], facecolor="lightsteelblue", edgecolor="k", linewidths=0.05)
    )
    _equal_axes(ax, verts)
    ax.set_title(title)


def save_figures(out: Path, target, fitted: dict, histories: dict) -> None:
    fig = Figure(figsize=(16, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 4, 1, projection="3d")
    ax.scatter(target[:, 0], target[:, 1], target[:, 2], s=2)
    _equal_axes(ax, target)
    ax.set_title("target point cloud")
    for i, (name, (verts, faces)) in enumerate(fitted.items()):
        w = ", ".join(f"{x:g}" for x in CONFIGS[name])
        _draw_mesh(fig.add_subplot(1, 4, i + 2, projection="3d"), verts, faces, f"{name} ({w})")
    fig.tight_layout()
    fig.savefig(out / "deform.png", dpi=100)

    fig = Figure(figsize=(16, 3.5))
    FigureCanvasAgg(fig)
    for j, term in enumerate(TERMS):
        ax = fig.add_subplot(1, 4, j + 1)
        for name, hist in histories.items():
            ax.semilogy(np.maximum(hist[:, j], 1e-8), label=name)
        ax.set_title(term)
        ax.set_xlabel("iteration")
    fig.axes[0].legend()
    fig.tight_layout()
    fig.savefig(out / "losses.png", dpi=100)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="ico_sphere(2), few iterations")
    parser.add_argument("--out", default="out/ch03_deform", help="output folder")
    parser.add_argument("--iters", type=int, default=None, help="SGD iterations (default 2000)")
    parser.add_argument("--level", type=int, default=None, help="ico_sphere level (default 4)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    iters = args.iters or (200 if args.quick else 2000)
    level = args.level if args.level is not None else (2 if args.quick else 4)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    raw, source = load_target(args.quick)
    points, center, scale = normalise(raw)
    target = jnp.asarray(points)[None]
    num_samples = points.shape[0]  # as many mesh samples as target points, as the book
    src = ico_sphere(level)
    optimizer = optax.sgd(1.0, momentum=0.9)
    run_chunk = make_run_chunk(src, target, optimizer, num_samples)
    k_fit, k_eval = jax.random.split(jax.random.PRNGKey(args.seed))

    fitted, histories, runs = {}, {}, {}
    t0 = time.perf_counter()
    for name, weights in CONFIGS.items():
        deform, hist = fit(name, weights, run_chunk, optimizer, src, k_fit, iters, chunk=50)
        final = loss_terms(deform, src, target, k_eval, 5 * num_samples)
        mesh = src.offset_verts(deform)
        verts = np.asarray(mesh.verts_list()[0]) * scale + center  # back to the original frame
        faces = np.asarray(mesh.faces_list()[0])
        save_ply(out / f"{name}.ply", verts, faces)
        fitted[name], histories[name] = (verts, faces), hist
        runs[name] = {"weights": dict(zip(TERMS, CONFIGS[name]))}
        runs[name].update({f"final_{t}": float(v) for t, v in zip(TERMS, np.asarray(final))})
        print(name, ", ".join(f"{t} {v:.5f}" for t, v in zip(TERMS, np.asarray(final))))
    seconds = time.perf_counter() - t0
    save_figures(out, raw, fitted, histories)
    reg, bare = runs["deform1"], runs["deform2"]
    metrics = {
        "data": source,
        "num_target_points": int(points.shape[0]),
        "ico_sphere_level": level,
        "iters": iters,
        "num_samples": num_samples,
        "center": center.tolist(),
        "scale": scale,
        "runs": runs,
        "regularised_smoother_than_chamfer_only": bool(
            reg["final_normal"] < bare["final_normal"]
            and reg["final_laplacian"] < bare["final_laplacian"]
        ),
        "fit_seconds": seconds,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"outputs in {out}")
    return metrics


if __name__ == "__main__":
    enable_compilation_cache()  # compiled programs persist across runs
    main()
