"""Chapter 10: Mesh R-CNN's mesh predictor trained on single-object renders, evaluated per class.

The ShapeNet model of Mesh R-CNN (`jax3d.models.mesh_rcnn`): a ResNet, a voxel head, `cubify`
and three graph-convolution refinement stages, trained with the authors' loss (voxel BCE,
chamfer 1.0, normal 0.0, edge 0.2 on sampled points) after a voxel-head-only warm-up, on the
shared `jax3d.train` loop (`fit`: checkpoints, exact `--resume`, JSONL + TensorBoard logs,
`--devices N` data parallelism). The data are `jax3d.datasets.ShapeRenders` (procedural
furniture seen from R2N2's views, generated once and cached as `.npz`) or, with `--shapenet
ROOT`, the ShapeNet R2N2 renderings in the layout of the authors' preprocessing.

After training, every held-out ("test" split) object is predicted and compared with its ground
truth under the protocol of the paper's Table 2 and the book's Figure 10.17
(`jax3d.metrics.MESH_RCNN_SHAPENET`: meshes scaled so the ground truth's longest box edge is
10, 10,000 points, chamfer, normal consistency, F1 at 0.1 / 0.3 / 0.5). Outputs under `--out`:

    table.md, table.json     the per-class tables: the refined meshes (the prediction), the
                             cubified voxels (voxel models), the baselines and an oracle
    metrics.json             settings, steps, wall times of every training call, losses, the
                             tables' rows, baseline settings, cubify overflow, load average
    figure.png               input / voxels / cubified / refined / ground truth, per class
    curves.png               training losses and the validation F1 over the steps
    predictions/<class>/<i>.png, <i>.obj, <i>_cubified.obj, <i>_gt.obj   (camera frame)
    run/                     the fit folder: checkpoints/, metrics.jsonl, tensorboard/,
                             settings.json, calls.json
    data/                    the cached renders (or --cache DIR, shared between runs)

The reference rows of every table: "sphere", the initial sphere (what the sphere-init model
predicts before training); "mean shape", the mean training occupancy cubified at the
threshold with the best validation F1@0.3 (the best constant voxel prediction); and the
oracle "gt voxels", the ground-truth voxels cubified (what a G^3 grid can represent).

`--sphere-init` trains the authors' sphere-init ablation (no voxel branch: an ico-sphere refined
by the same heads; level 4 in the cpu / shapenet presets, 3 in small), placed at the objects'
mean position with radius 0.3. `--compare OUT_A OUT_B ...` prints a summary and an F1 table
over several finished runs. Presets: `--quick` (a tiny model, seconds of training: plumbing
only), `small` (the default: narrower heads, the documented shared-CPU runs), `cpu`
(`MeshRCNNConfig.cpu()`), `shapenet` (the authors' voxmesh_R50, for an accelerator).

    python experiments/ch10_mesh_predictor.py --quick --out out/ch10_quick
    python experiments/ch10_mesh_predictor.py --out out/ch10_voxel --max-minutes 110
    python experiments/ch10_mesh_predictor.py --out out/ch10_voxel --resume      # continue
    python experiments/ch10_mesh_predictor.py --sphere-init --out out/ch10_sphere
    python experiments/ch10_mesh_predictor.py --compare out/ch10_voxel out/ch10_sphere
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.datasets import (
    SHAPENET_R2N2_CLASSES,
    NpzShapeRenders,
    ShapeNetR2N2,
    ShapeRenderConfig,
    ShapeRenders,
    cache_to_npz,
)
from jax3d.io import load_obj, save_obj
from jax3d.metrics import MESH_RCNN_SHAPENET, MeshEvaluation, compare_meshes
from jax3d.models.mesh_rcnn import (
    QUICK_COMPILE,
    MeshRCNN,
    MeshRCNNConfig,
    fast_key,
    init_variables,
    make_loss_fn,
    make_optimizer,
    pretrained_backbone_variables,
    voxels_to_meshes,
    with_backbone,
)
from jax3d.structures import Meshes
from jax3d.train import (
    FitConfig,
    TrainState,
    fit,
    initialize_distributed,
    make_data_mesh,
    make_train_step,
    read_jsonl,
)
from jax3d.transforms.r2n2 import R2N2_MAX_CAMERA_DISTANCE
from jax3d.utils import enable_compilation_cache, ico_sphere_verts_faces

HOLE_CLASSES = ("chair", "table", "bookcase")  # shapes a deformed sphere cannot make
_TRAIN_KEYS = ("images", "voxels", "points", "normals")

# The presets: the model, the data and the schedule. "steps" counts optimizer updates,
# warm-up included.
_TINY_MODEL = dict(image_size=32, voxel_size=12, voxel_num_conv=1, voxel_conv_dim=16,
                   max_verts=600, max_faces=1200, num_stages=1, num_graph_convs=1,
                   graph_conv_dim=16, gt_num_samples=200, pred_num_samples=200, batch_size=4,
                   voxel_only_iters=2, ico_sphere_level=2)  # fmt: skip
PRESETS = {
    # seconds of training on a CPU (the compiles dominate): checks the plumbing, not quality
    "quick": dict(model=MeshRCNNConfig.cpu(**_TINY_MODEL), steps=6, lr=1e-3, train_samples=16,
                  val_samples=8, eval_per_class=1, eval_points=1000, eval_every=6,
                  figure_per_class=1, figure_size=64, object_resolution=32, log_every=1,
                  checkpoint_every=3),  # fmt: skip
    # narrower heads for a shared 2-core CPU (about 1.5 s a step when idle): the documented runs
    "small": dict(model=MeshRCNNConfig.cpu(voxel_conv_dim=128, graph_conv_dim=64,
                                           max_verts=1280, max_faces=2560, gt_num_samples=1000,
                                           pred_num_samples=1000, ico_sphere_level=3),
                  steps=1500, lr=3e-4, train_samples=2400, val_samples=48, eval_per_class=15,
                  eval_points=10000, eval_every=250, figure_per_class=2, figure_size=128,
                  object_resolution=64, log_every=10, checkpoint_every=50),  # fmt: skip
    # the cpu model: about 2 hours on an idle 2-core CPU
    "cpu": dict(model=MeshRCNNConfig.cpu(), steps=1200, lr=None, train_samples=4000,
                val_samples=48, eval_per_class=25, eval_points=10000, eval_every=200,
                figure_per_class=2, figure_size=128, object_resolution=64, log_every=10,
                checkpoint_every=50),  # fmt: skip
    # the authors' voxmesh_R50 (batch 64, 137 px, 48^3 voxels), for an accelerator
    "shapenet": dict(model=MeshRCNNConfig.shapenet(), steps=10000, lr=None,
                     train_samples=24000, val_samples=256, eval_per_class=100,
                     eval_points=10000, eval_every=1000, figure_per_class=2, figure_size=137,
                     object_resolution=128, log_every=20, checkpoint_every=500),  # fmt: skip
}
_VAL_POINTS = 2000  # points per mesh of the validation F1 during training


# ----------------------------------------------------------------------------------------------
# Settings
# ----------------------------------------------------------------------------------------------


def settings_from_args(args) -> dict:
    """The run's settings: the preset, then the command line's overrides."""
    st = dict(PRESETS["quick" if args.quick else args.preset])
    model = st["model"]
    if args.batch is not None:
        model = model.replace(batch_size=args.batch)
    if args.warmup is not None:
        model = model.replace(voxel_only_iters=args.warmup)
    if args.sphere_init:
        distance = R2N2_MAX_CAMERA_DISTANCE * float(np.mean(ShapeRenderConfig().distance_ratio))
        # the preset's sphere level (the authors' 4 for cpu / shapenet, smaller for the rest)
        model = model.sphere_init().replace(sphere_center=(0.0, 0.0, -distance),
                                            sphere_radius=0.3,
                                            ico_sphere_level=model.ico_sphere_level)  # fmt: skip
    st["model"] = model
    for name in ("steps", "lr", "train_samples", "eval_per_class", "eval_every", "seed"):
        value = getattr(args, name, None)
        if value is not None:
            st[name] = value
    st.setdefault("seed", 0)
    if st["lr"] is None:
        st["lr"] = model.base_lr
    st["preset"] = "quick" if args.quick else args.preset
    st["variant"] = "sphere_init" if args.sphere_init else "voxel_refine"
    return st


def settings_json(st: dict) -> dict:
    """`st` as plain JSON (the model config as a dict)."""
    return {**st, "model": dataclasses.asdict(st["model"])}


def _digest(obj) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:10]


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------


def procedural_datasets(st: dict, cache: Path, log=print) -> dict:
    """{"train", "val", "test": NpzShapeRenders, "classes": names}: `ShapeRenders` sized for
    the model, generated once into `cache/<split>_<digest>.npz` and read back from there.

    The test split holds `eval_per_class` objects of every class (shapes cycle through the
    classes); only the training split carries surface points (the loss's ground truth)."""
    model = st["model"]
    base = ShapeRenderConfig(seed=st["seed"], image_size=model.image_size,
                             voxel_size=model.voxel_size,
                             object_resolution=st["object_resolution"], max_faces=512)  # fmt: skip
    sizes = {"train": st["train_samples"], "val": st["val_samples"],
             "test": st["eval_per_class"] * len(base.classes)}  # fmt: skip
    cache.mkdir(parents=True, exist_ok=True)
    out = {"classes": tuple(base.classes)}
    for split, n in sizes.items():
        points = model.gt_num_samples if split == "train" else 0
        config = base.replace(split=split, num_samples=n, num_points=points)
        path = cache / f"{split}_{_digest(dataclasses.asdict(config))}.npz"
        if not path.exists():
            t0 = time.perf_counter()
            step = max(1, n // 10)

            def progress(done, total, split=split, step=step, n=n, t0=t0):
                if done % step < min(32, n) or done == total:
                    log(f"{split}: {done} / {total} samples ({time.perf_counter() - t0:.0f} s)")

            cache_to_npz(ShapeRenders(config), path, batch_size=min(32, n), log=progress)
            log(f"generated {n} {split} samples in {time.perf_counter() - t0:.0f} s: {path}")
        out[split] = NpzShapeRenders(path)
    return out


def shapenet_datasets(st: dict, root: Path) -> dict:
    """The ShapeNet R2N2 splits under `root` (ShapeNetRendering/, ShapeNetCore.v1/,
    ShapeNetCore.v1.binvox/, pix2mesh_splits_val05.json): the authors' layout."""
    model = st["model"]
    dirs = [root / "ShapeNetRendering", root / "ShapeNetCore.v1", root / "ShapeNetCore.v1.binvox"]
    out = {}
    for split in ("train", "val", "test"):
        points = model.gt_num_samples if split == "train" else 0
        out[split] = ShapeNetR2N2(*dirs, root / "pix2mesh_splits_val05.json", split=split,
                                  voxel_size=model.voxel_size, num_points=points,
                                  image_size=model.image_size, seed=st["seed"])  # fmt: skip
    out["classes"] = tuple(SHAPENET_R2N2_CLASSES.get(s, s) for s in out["train"].synsets)
    return out


def per_class_indices(dataset, classes, per_class: int) -> np.ndarray:
    """Indices of the first `per_class` samples of every class of `dataset`."""
    if hasattr(dataset, "entries"):  # ShapeNetR2N2: the synset of every entry, no file read
        names = [SHAPENET_R2N2_CLASSES.get(e.synset, e.synset) for e in dataset.entries]
    else:  # ShapeRenders: shape i is of class i % len(classes) (one view per shape)
        names = [classes[i % len(classes)] for i in range(len(dataset))]
    picked = {c: [] for c in classes}
    for i, name in enumerate(names):
        if len(picked[name]) < per_class:
            picked[name].append(i)
    return np.array(sorted(i for v in picked.values() for i in v), np.int64)


def train_indices(step: int, batch_size: int, num_samples: int, seed: int) -> np.ndarray:
    """The samples of step `step`: epochs are permutations (`default_rng([seed, epoch])`),
    read in order, so a batch is a pure function of the step (exact resume)."""
    pos = step * batch_size + np.arange(batch_size)
    epoch, offset = pos // num_samples, pos % num_samples
    out = np.empty(batch_size, np.int64)
    for e in np.unique(epoch):
        perm = np.random.default_rng([seed, int(e)]).permutation(num_samples)
        out[epoch == e] = perm[offset[epoch == e]]
    return out


def make_batch_fn(dataset, batch_size: int, seed: int, keys=_TRAIN_KEYS):
    """`step -> batch` of the training keys (`train_indices`)."""

    def batch_fn(step: int) -> dict:
        b = dataset.get_batch(train_indices(step, batch_size, len(dataset), seed))
        return {k: b[k] for k in keys if k in b}

    return batch_fn


# ----------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------


def gt_meshes(batch) -> Meshes:
    """The batch's ground-truth meshes (camera frame)."""
    return Meshes(jnp.asarray(batch["verts"]), jnp.asarray(batch["faces"]),
                  num_verts=batch["num_verts"], num_faces=batch["num_faces"])  # fmt: skip


def mesh_arrays(meshes: Meshes, i: int) -> tuple[np.ndarray, np.ndarray]:
    """(verts (V, 3), faces (F, 3)) of mesh i of a padded `Meshes`, as NumPy."""
    nv, nf = int(meshes.num_verts[i]), int(meshes.num_faces[i])
    return np.asarray(meshes.verts)[i, :nv], np.asarray(meshes.faces)[i, :nf]


def pad_meshes(meshes: Meshes, max_verts: int, max_faces: int) -> Meshes:
    """`meshes` padded to a larger capacity (the same meshes: the metrics then compile once
    for every kind of prediction)."""
    V, F = meshes.verts.shape[1], meshes.faces.shape[1]
    if (V, F) == (max_verts, max_faces):
        return meshes
    verts = jnp.pad(meshes.verts, ((0, 0), (0, max_verts - V), (0, 0)))
    faces = jnp.pad(meshes.faces, ((0, 0), (0, max_faces - F), (0, 0)), constant_values=-1)
    return Meshes(verts, faces, num_verts=meshes.num_verts, num_faces=meshes.num_faces)


def broadcast_mesh(verts, faces, batch: int) -> Meshes:
    """One mesh `(V, 3)`, `(F, 3)` repeated `batch` times (a constant prediction)."""
    verts = jnp.broadcast_to(jnp.asarray(verts, jnp.float32), (batch,) + np.shape(verts))
    faces = jnp.broadcast_to(jnp.asarray(faces, jnp.int32), (batch,) + np.shape(faces))
    return Meshes(verts, faces)


@functools.partial(jax.jit, static_argnames=("config",))
def voxel_meshes(probs, thresh, *, config: MeshRCNNConfig) -> Meshes:
    """Occupancy probabilities `(B, G, G, G)` (voxel frame, `[z, y, x]`) cubified at `thresh`
    and moved to the camera frame, exactly as the model does with its predictions
    (`voxels_to_meshes`, capacity `config.max_verts` / `max_faces`)."""
    p = jnp.clip(probs, 1e-6, 1.0 - 1e-6)
    thresh = jnp.clip(thresh, 1e-6, 1.0 - 1e-6)
    scores = jnp.log(p) - jnp.log1p(-p) - (jnp.log(thresh) - jnp.log1p(-thresh))
    # shift the logits so that `config.cubify_thresh` on them means `thresh` on `probs`
    c = config.cubify_thresh
    return voxels_to_meshes(scores + np.log(c) - np.log1p(-c), config)[0]


def sphere_baseline(st: dict) -> tuple[np.ndarray, np.ndarray]:
    """The sphere the sphere-init model starts from: an ico-sphere (the preset's level) of
    radius 0.3 at the mean object position. (verts, faces), camera frame."""
    distance = R2N2_MAX_CAMERA_DISTANCE * float(np.mean(ShapeRenderConfig().distance_ratio))
    v, f = ico_sphere_verts_faces(st["model"].ico_sphere_level)
    return (v * 0.3 + np.array([0.0, 0.0, -distance])).astype(np.float32), f.astype(np.int32)


def mean_occupancy(dataset, batch_size: int = 64) -> np.ndarray:
    """The mean ground-truth occupancy `(G, G, G)` of a dataset (voxel frame)."""
    total, n = None, len(dataset)
    for start in range(0, n, batch_size):
        v = dataset.get_batch(np.arange(start, min(n, start + batch_size)))["voxels"]
        s = v.astype(np.float64).sum(0)
        total = s if total is None else total + s
    return (total / n).astype(np.float32)


def baselines(st: dict, data: dict, seed: int, log=print) -> tuple[dict, dict]:
    """The reference predictions of the table, as `{name: batch -> Meshes}`, and their
    settings: "sphere" (the initial sphere, the sphere-init model before training), "mean
    shape" (the mean training occupancy cubified at the threshold with the best validation
    F1@0.3: the best constant voxel prediction) and "gt voxels" (the ground-truth voxels
    cubified: the ceiling of a G^3 grid, an oracle, not a baseline to beat)."""
    config = st["model"]
    B = config.batch_size
    # cubes centred where the voxelization put the cells (the model's "topleft" cubes sit half a
    # voxel off; its refinement can move them, a constant cannot)
    cap = config.replace(max_verts=4 * config.max_verts, max_faces=4 * config.max_faces,
                         cubify_align="center")  # fmt: skip
    sv, sf = sphere_baseline(st)
    mean = mean_occupancy(data["train"])
    val_idx = np.arange(len(data["val"]))
    protocol = dataclasses.replace(MESH_RCNN_SHAPENET, num_samples=_VAL_POINTS)
    f1 = f1_label(protocol)
    scores = {}
    for t in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5):
        if not (mean >= t).any():
            continue
        meshes = voxel_meshes(np.broadcast_to(mean, (B,) + mean.shape), np.float32(t), config=cap)
        evals, _ = evaluate(None, None, data["val"], val_idx, data["classes"], batch_size=B,
                            protocol=protocol, seed=seed,
                            baselines={"m": lambda batch, m=meshes: m})  # fmt: skip
        scores[t] = table_totals(evals["m"])["total"][f1]
    best = max(scores, key=scores.get)
    log(f"mean shape: validation {f1} {scores} -> threshold {best}")
    mean_meshes = voxel_meshes(np.broadcast_to(mean, (B,) + mean.shape), np.float32(best),
                               config=cap)  # fmt: skip
    out = {
        "sphere": lambda batch: broadcast_mesh(sv, sf, B),
        "mean shape": lambda batch: mean_meshes,
        "gt voxels": lambda batch: voxel_meshes(batch["voxels"].astype(np.float32), np.float32(0.5),
                                                config=cap),
    }
    info = {"sphere": {"level": config.ico_sphere_level, "radius": 0.3, "verts": len(sv)},
            "mean shape": {"threshold": best, "val_" + f1: scores,
                           "occupied": int((mean >= best).sum())}}  # fmt: skip
    return out, info


@functools.partial(jax.jit, static_argnames=("protocol",))
def _compare(pred: Meshes, gt: Meshes, seed, *, protocol) -> dict:
    """`compare_meshes` under `protocol` as one compiled program (its many small operations
    would otherwise compile one by one), sampling with the rbg key of `seed` (2,) uint32."""
    return compare_meshes(pred, gt, key=fast_key(seed), num_samples=protocol.num_samples,
                          scale=protocol.scale, thresholds=protocol.thresholds,
                          reduce=False)  # fmt: skip


def evaluate(predict, variables, dataset, indices, classes, *, batch_size: int, protocol,
             seed: int, baselines=None, on_batch=None) -> tuple[dict, np.ndarray]:  # fmt: skip
    """Predict `dataset[indices]` and compare with the ground truth under `protocol`.

    Returns `({"refined": MeshEvaluation, "cubified": ... (voxel models only), and one per
    baseline}, overflow (N,) bool)`. `predict(variables, images)` is the model (None: only
    the baselines), `baselines` `{name: batch -> Meshes}`. `on_batch(indices, batch, output,
    n)` sees every batch (the last is padded to `batch_size` by repeating its last index; `n`
    rows are real). The surface samples of batch `start` use the key `(seed, start)` of JAX's
    rbg generator (`fast_key`: compiles much faster than threefry on a CPU)."""
    evals, overflow = {}, []
    for start in range(0, len(indices), batch_size):
        idx = np.asarray(indices[start : start + batch_size])
        n = len(idx)
        padded = np.concatenate([idx, np.repeat(idx[-1:], batch_size - n)])
        batch = dataset.get_batch(padded)
        names = [classes[int(c)] for c in batch["category"][:n]]
        gt = gt_meshes(batch)
        candidates = {}
        out = None
        if predict is not None:
            out = predict(variables, batch["images"])
            candidates["refined"] = out.meshes[-1]
            if out.voxel_scores is not None:
                candidates["cubified"] = out.init_meshes
            overflow += np.asarray(out.cubify_overflow[:n]).tolist()
        for name, fn in (baselines or {}).items():
            candidates[name] = fn(batch)
        V = max(m.verts.shape[1] for m in candidates.values())
        F = max(m.faces.shape[1] for m in candidates.values())
        for name, meshes in candidates.items():
            meshes = pad_meshes(meshes, V, F)
            m = _compare(meshes, gt, np.array([seed, start], np.uint32), protocol=protocol)
            ev = evals.setdefault(name, MeshEvaluation(protocol))
            ev.add_metrics({k: np.asarray(v)[:n] for k, v in m.items()}, names)
        if on_batch is not None:
            on_batch(idx, batch, out, n)
    return evals, np.asarray(overflow, bool)


def f1_label(protocol, t: float = 0.3) -> str:
    """The table column of F1 at threshold `t`."""
    return protocol.labels()[list(protocol.thresholds).index(t)]


def table_totals(ev: MeshEvaluation) -> dict:
    """{"total": {column: value}, "per-instance": ..., "<class>": ...} of a table."""
    cols = ev.columns()
    return {r[0]: dict(zip(cols[1:], r[1:])) for r in ev.rows()}


class PredictionWriter:
    """`on_batch` of `evaluate`: the input PNG and OBJ files of every prediction under
    `folder/<class>/`, and the arrays of the first `per_class` objects of every class."""

    def __init__(self, folder: Path, classes, per_class: int, thresh: float):
        self.folder, self.classes, self.per_class, self.thresh = folder, classes, per_class, thresh
        self.rows = []  # (class, index, image, voxels or None, cubified, refined, gt)
        self._count = {}

    def __call__(self, idx, batch, out, n):
        from PIL import Image

        gt, refined = gt_meshes(batch), out.meshes[-1]
        for j in range(n):
            name = self.classes[int(batch["category"][j])]
            folder = self.folder / name
            folder.mkdir(parents=True, exist_ok=True)
            stem = folder / f"{int(idx[j]):04d}"
            image = np.clip(np.asarray(batch["images"][j]), 0.0, 1.0)
            Image.fromarray((image * 255).round().astype(np.uint8)).save(f"{stem}.png")
            meshes = {"": mesh_arrays(refined, j), "_gt": mesh_arrays(gt, j)}
            voxels = None
            if out.voxel_scores is not None:
                meshes["_cubified"] = mesh_arrays(out.init_meshes, j)
                voxels = np.asarray(jax.nn.sigmoid(out.voxel_scores[j])) > self.thresh
            for suffix, (v, f) in meshes.items():
                save_obj(f"{stem}{suffix}.obj", v, f, decimal_places=5)
            k = self._count.get(name, 0)
            self._count[name] = k + 1
            if k < self.per_class:
                self.rows.append((name, int(idx[j]), image, voxels, meshes.get("_cubified"),
                                  meshes[""], meshes["_gt"]))  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------


def render_meshes(meshes: list, image_size: int) -> np.ndarray:
    """Grey flat-shaded renders `(N, S, S, 3)` on white of camera-frame meshes (Blender's
    frame, seen from the input view), given as `(verts, faces)` NumPy pairs."""
    V = max(len(v) for v, _ in meshes)
    F = max(len(f) for _, f in meshes)
    V, F = int(np.ceil(V / 256) * 256), int(np.ceil(F / 256) * 256)  # few distinct shapes
    verts = np.zeros((len(meshes), V, 3), np.float32)
    faces = np.full((len(meshes), F, 3), -1, np.int32)
    for i, (v, f) in enumerate(meshes):
        verts[i, : len(v)], faces[i, : len(f)] = v, f
    nv = np.array([len(v) for v, _ in meshes], np.int32)
    nf = np.array([len(f) for _, f in meshes], np.int32)
    return np.asarray(_render(verts, faces, nv, nf, image_size=image_size))


@functools.partial(jax.jit, static_argnames=("image_size",))
def _render(verts, faces, num_verts, num_faces, *, image_size: int):
    from jax3d.renderer import (
        DirectionalLights,
        FoVPerspectiveCameras,
        HardFlatShader,
        MeshRasterizer,
        MeshRenderer,
        RasterizationSettings,
        TexturesVertex,
    )
    from jax3d.transforms.r2n2 import BLENDER_FOCAL

    B = verts.shape[0]
    meshes = Meshes(verts, faces, num_verts=num_verts, num_faces=num_faces)
    meshes = meshes.replace(textures=TexturesVertex(jnp.full(verts.shape, 0.75)))
    fov = float(np.degrees(2.0 * np.arctan(1.0 / BLENDER_FOCAL)))
    # Blender's camera frame is PyTorch3D's view frame with x and z flipped.
    R = jnp.broadcast_to(jnp.diag(jnp.array([-1.0, 1.0, -1.0])), (B, 3, 3))
    cameras = FoVPerspectiveCameras(R=R, T=jnp.zeros((B, 3)), fov=fov, znear=0.1, zfar=100.0)
    lights = DirectionalLights(direction=[[0.4, 0.6, 1.0]], ambient_color=[[0.35] * 3],
                               diffuse_color=[[0.65] * 3], specular_color=[[0.0] * 3])  # fmt: skip
    settings = RasterizationSettings(image_size=image_size, blur_radius=0.0, faces_per_pixel=1)
    renderer = MeshRenderer(MeshRasterizer(cameras=cameras, raster_settings=settings),
                            HardFlatShader(cameras=cameras, lights=lights))  # fmt: skip
    rgba = renderer(meshes)
    alpha = rgba[..., 3:]
    return rgba[..., :3] * alpha + (1.0 - alpha)


def _voxel_axes(ax, voxels):
    """Occupied cells of a `[z, y, x]` voxel-frame grid (y down, z away from the camera)."""
    filled = np.transpose(voxels, (2, 0, 1))[:, :, ::-1]  # (x, depth, up)
    if filled.any():
        ax.voxels(filled, facecolors="#7f9fbf", edgecolor="#40607f", linewidth=0.1)
    ax.view_init(elev=20, azim=-70)
    G = voxels.shape[0]
    ax.set_xlim(0, G), ax.set_ylim(0, G), ax.set_zlim(0, G)
    ax.set_axis_off()


def save_figure(rows, path: Path, image_size: int):
    """One row per object: input / voxels / cubified / refined / ground truth (the voxel and
    cubified columns only for the voxel branch)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    voxel = rows[0][3] is not None
    meshes = [m for r in rows for m in (r[4:] if voxel else r[5:])]
    renders = render_meshes(meshes, image_size)
    per_row = 3 if voxel else 2
    cols = ["input"] + (["voxels", "cubified"] if voxel else []) + ["refined", "ground truth"]
    fig = Figure(figsize=(2.0 * len(cols), 2.0 * len(rows)))
    FigureCanvasAgg(fig)
    for i, row in enumerate(rows):
        panels = [row[2]] + ([row[3]] if voxel else []) + list(renders[i * per_row :
                                                                       (i + 1) * per_row])
        for j, (title, panel) in enumerate(zip(cols, panels)):
            if title == "voxels":
                ax = fig.add_subplot(len(rows), len(cols), i * len(cols) + j + 1,
                                     projection="3d")  # fmt: skip
                _voxel_axes(ax, panel)
            else:
                ax = fig.add_subplot(len(rows), len(cols), i * len(cols) + j + 1)
                ax.imshow(panel)
                ax.axis("off")
            if i == 0:
                ax.set_title(title, fontsize=9)
            if j == 0:
                ax.text(-0.08, 0.5, f"{row[0]} {row[1]}", transform=ax.transAxes, rotation=90,
                        va="center", ha="right", fontsize=8)  # fmt: skip
    fig.tight_layout(pad=0.3)
    fig.savefig(path, dpi=80)


def save_comparison_figure(folders, path: Path, per_class: int = 1, image_size: int = 128):
    """Input / every run's refined mesh / ground truth for the first `per_class` held-out
    objects of every class, read back from the runs' `predictions/` (the same objects in
    every run of one data set)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    folders = [Path(f) for f in folders]
    titles = [json.loads((f / "table.json").read_text())["title"] for f in folders]
    names = [t.split(",")[0].replace("Mesh R-CNN ", "") for t in titles]
    rows = []  # (class, image, [meshes of the runs..., ground truth])
    for c in sorted(p.name for p in (folders[0] / "predictions").iterdir()):
        for png in sorted((folders[0] / "predictions" / c).glob("*.png"))[:per_class]:
            stems = [f / "predictions" / c / png.stem for f in folders]
            meshes = []
            for obj in [Path(f"{st}.obj") for st in stems] + [Path(f"{stems[0]}_gt.obj")]:
                verts, faces, _ = load_obj(obj)
                meshes.append((np.asarray(verts), np.asarray(faces.verts_idx)))
            rows.append((c, np.asarray(Image.open(png)), meshes))
    renders = render_meshes([m for r in rows for m in r[2]], image_size)
    cols = ["input"] + names + ["ground truth"]
    fig = Figure(figsize=(1.8 * len(rows), 1.8 * len(cols)))
    FigureCanvasAgg(fig)
    k = 0
    for i, (c, image, meshes) in enumerate(rows):  # one column per object
        panels = [image] + list(renders[k : k + len(meshes)])
        k += len(meshes)
        for j, panel in enumerate(panels):
            ax = fig.add_subplot(len(cols), len(rows), j * len(rows) + i + 1)
            ax.imshow(panel)
            ax.set_xticks([]), ax.set_yticks([])
            if j == 0:
                ax.set_title(c, fontsize=9)
            if i == 0:
                ax.set_ylabel(cols[j], fontsize=9)
    fig.tight_layout(pad=0.3)
    fig.savefig(path, dpi=80)


def save_curves(rows: list[dict], path: Path, title: str):
    """Training losses (left) and the validation F1@0.3 (right) against the step."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 2, 1)
    train = [r for r in rows if "loss" in r]
    names = ["loss", "voxel"] + sorted({k for r in train for k in r
                                        if k.startswith(("chamfer_", "edge_"))})[-2:]  # fmt: skip
    for name in names:
        pts = [(r["step"], r[name]) for r in train if name in r]
        if pts:
            ax.semilogy(*zip(*pts), label=name)
    ax.set_xlabel("step")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    ax = fig.add_subplot(1, 2, 2)
    pts = [(r["step"], r["eval/F1@0.3"]) for r in rows if "eval/F1@0.3" in r]
    if pts:
        ax.plot(*zip(*pts), "o-")
    ax.set_xlabel("step")
    ax.set_title("validation F1@0.3 (2,000 points)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


# ----------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------


def write_tables(evals: dict, out: Path, title: str) -> None:
    """`table.md` (a markdown table per evaluation) and `table.json`."""
    names = {"refined": "refined meshes (the prediction)",
             "cubified": "cubified voxels (before refinement)",
             "sphere": "baseline: the initial sphere (the sphere-init model untrained)",
             "mean shape": "baseline: the mean training occupancy, cubified",
             "gt voxels": "oracle: the ground-truth voxels, cubified (the grid ceiling)",
             }  # fmt: skip
    md = [f"# {title}\n"]
    for name, ev in evals.items():
        md += [f"## {names.get(name, name)}\n", ev.markdown()]
    (out / "table.md").write_text("\n".join(md))
    data = {"title": title, **{k: json.loads(ev.to_json()) for k, ev in evals.items()}}
    (out / "table.json").write_text(json.dumps(data, indent=1))


_BASELINES = ("mean shape", "sphere", "gt voxels")


def _run_tables(folders) -> list[tuple[str, dict, dict | None]]:
    """(name, table json, metrics json or None) of every finished run's prediction, then of the
    first run's baselines (the same for every run of one data set)."""
    runs, base = [], None
    for folder in folders:
        folder = Path(folder)
        data = json.loads((folder / "table.json").read_text())
        mpath = folder / "metrics.json"
        metrics = json.loads(mpath.read_text()) if mpath.exists() else None
        runs.append((data["title"], data["refined"], metrics))
        if base is None:
            base = [(f"{n} ({'oracle' if n == 'gt voxels' else 'baseline'})", data[n], None)
                    for n in _BASELINES if n in data]  # fmt: skip
    return runs + (base or [])


def compare_runs(folders, column: str = "F1(0.3)") -> str:
    """Markdown for several finished runs: a summary (steps, training wall time, the "total"
    row's metrics, `column` over the classes with holes) and `column` per class, with the
    baselines of the first run as extra rows / columns."""
    tables = _run_tables(folders)
    head = ["run", "steps", "train wall (min)", "chamfer", "normal", "F1(0.1)", "F1(0.3)",
            "F1(0.5)", f"{column} chair/table/bookcase"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, t, m in tables:
        rows = {r[0]: dict(zip(t["columns"], r)) for r in t["rows"]}
        total = rows["total"]
        holes = [rows[c][column] for c in HOLE_CLASSES if c in rows]
        cells = [name, str(m["steps"]) if m else "",
                 f"{m['train_seconds_total'] / 60:.0f}" if m else "",
                 f"{total['chamfer']:.3f}", f"{total['normal']:.3f}",
                 *(f"{total[k]:.1f}" for k in ("F1(0.1)", "F1(0.3)", "F1(0.5)")),
                 f"{np.mean(holes):.1f}" if holes else ""]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    per = [{r[0]: r[t["columns"].index(column)] for r in t["rows"]} for _, t, _ in tables]
    classes = list(dict.fromkeys(c for rows in per for c in rows))
    lines += ["", f"{column} per class", "",
              "| category | " + " | ".join(name for name, _, _ in tables) + " |",
              "|---|" + "---|" * len(per)]  # fmt: skip
    for c in classes:
        cells = [f"{rows[c]:.1f}" if c in rows else "" for rows in per]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------


def initial_state(st: dict, key, backbone_weights=None) -> TrainState:
    """A `TrainState` of freshly initialised variables (with a pretrained backbone if given)."""
    config = st["model"]
    options = QUICK_COMPILE if st["preset"] == "quick" else None
    variables = init_variables(config, key, compiler_options=options)
    if backbone_weights is not None or config.backbone == "vgg16":
        pretrained = pretrained_backbone_variables(config.backbone, config.norm,
                                                   backbone_weights)  # fmt: skip
        variables = with_backbone(variables, pretrained)
    mutable = {k: v for k, v in variables.items() if k != "params"} or None
    tx = make_optimizer(config, learning_rate=st["lr"])
    return TrainState.create(params=variables["params"], tx=tx, key=jax.random.PRNGKey(st["seed"]),
                             mutable=mutable)  # fmt: skip


def _step(loss_fn, mesh, state, example, quick: bool):
    step = make_train_step(loss_fn, mesh=mesh)
    if quick:  # compile once without LLVM optimisation: tiny steps, slow compiles
        return step.lower(state, example).compile(compiler_options=QUICK_COMPILE)
    return step


def _printer(every: int, t0: float):
    """A `fit` callback printing a line every `every` steps (logs without a terminal)."""

    def callback(step, state, metrics):
        if step % every == 0:
            keys = [k for k in metrics if k in ("loss", "voxel") or k.startswith("chamfer_")]
            text = " ".join(f"{k} {metrics[k]:.4f}" for k in keys[:4])
            print(f"step {step} {text} ({time.perf_counter() - t0:.0f} s)", flush=True)
        return False

    return callback


def train(st, state, data, run_dir: Path, mesh, max_seconds: float, eval_fn) -> TrainState:
    """The voxel-only warm-up, then the full loss, on `fit` (one run folder, resumable)."""
    config = st["model"]
    batch_fn = make_batch_fn(data["train"], config.batch_size, st["seed"])
    example = batch_fn(0)
    quick = st["preset"] == "quick"
    tty = sys.stderr.isatty()
    t0 = time.perf_counter()
    common = dict(log_every=st["log_every"], checkpoint_every=st["checkpoint_every"],
                  progress=tty, items_per_step=config.batch_size, item_name="img")  # fmt: skip
    warm = min(config.voxel_only_iters, st["steps"]) if config.voxel_on else 0
    callback = None if tty else _printer(st["log_every"], t0)
    if warm:
        step = _step(make_loss_fn(config, voxel_only=True), mesh, state, example, quick)
        fc = FitConfig(num_steps=warm, max_seconds=max_seconds, desc="voxel warm-up", **common)
        state, _ = fit(step, state, batch_fn, fc, run_dir, callback=callback)
    left = max_seconds - (time.perf_counter() - t0)
    if int(state.step) < warm or left <= 0:
        return state
    step = _step(make_loss_fn(config), mesh, state, example, quick)
    fc = FitConfig(num_steps=st["steps"], max_seconds=left, eval_every=st["eval_every"],
                   desc="train", **common)  # fmt: skip
    state, _ = fit(step, state, batch_fn, fc, run_dir, eval_fn=eval_fn, callback=callback)
    return state


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny model, seconds of training")
    parser.add_argument("--preset", choices=("small", "cpu", "shapenet"), default="small")
    parser.add_argument("--sphere-init", action="store_true", help="the sphere-init ablation")
    parser.add_argument("--out", type=Path, default=Path("out/ch10_mesh_predictor"))
    parser.add_argument("--cache", type=Path, default=None,
                        help="folder of the cached renders (default OUT/data)")
    parser.add_argument("--shapenet", type=Path, default=None,
                        help="train on ShapeNet R2N2 under this folder instead")
    parser.add_argument("--backbone-weights", type=Path, default=None,
                        help="a torchvision ResNet checkpoint (.pth) for the backbone")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the newest checkpoint in OUT/run/checkpoints")
    parser.add_argument("--devices", type=int, default=1,
                        help="train data-parallel over this many devices")
    parser.add_argument("--distributed", action="store_true",
                        help="join a multi-host run first (jax3d.train.initialize_distributed)")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop training after this much wall time (then evaluate)")
    parser.add_argument("--data-only", action="store_true",
                        help="generate (cache) the data sets and exit")
    parser.add_argument("--eval-only", action="store_true",
                        help="evaluate the newest checkpoint, no training")
    parser.add_argument("--compare", type=Path, nargs="+", default=None,
                        help="print the F1@0.3 table of these finished runs and exit")
    parser.add_argument("--figure", type=Path, default=None,
                        help="with --compare: a PNG of every run's prediction per class")
    for name, kind in (("steps", int), ("batch", int), ("lr", float), ("warmup", int),
                       ("train_samples", int), ("eval_per_class", int), ("eval_every", int),
                       ("seed", int)):  # fmt: skip
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, default=None)
    return parser.parse_args(argv)


def _prepare_run_dir(run_dir: Path, settings: dict, resume: bool):
    """A fresh run folder, or (`resume`) the existing one after checking its settings."""
    path = run_dir / "settings.json"
    if resume and path.exists():
        old = json.loads(path.read_text())
        new = json.loads(json.dumps(settings))  # tuples as JSON lists, like the file's
        keep = ("steps",)  # a resumed run may train for longer
        differ = sorted(k for k in set(old) | set(new)
                        if k not in keep and old.get(k) != new.get(k))  # fmt: skip
        if differ:
            raise SystemExit(f"--resume: {path} holds other settings ({', '.join(differ)}); "
                             "use another --out")  # fmt: skip
    elif run_dir.exists():
        shutil.rmtree(run_dir)  # a fresh run: no stale checkpoints to resume from
    run_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=1))


def main(argv=None) -> dict | None:
    args = _parse(argv)
    if args.compare:
        text = compare_runs(args.compare)
        print(text)
        if args.figure is not None:
            save_comparison_figure(args.compare, args.figure)
            print(f"figure: {args.figure}")
        return None
    if args.distributed:
        initialize_distributed()
    st = settings_from_args(args)
    config = st["model"]
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()
    t_start = time.perf_counter()
    mesh = make_data_mesh(args.devices) if args.devices > 1 else None
    if args.shapenet is not None:
        data = shapenet_datasets(st, args.shapenet)
    else:
        data = procedural_datasets(st, args.cache or out / "data")
    t_data = time.perf_counter() - t_start
    if args.data_only:
        print(f"data ready in {t_data:.0f} s", flush=True)
        return None
    run_dir = out / "run"
    sj = {**settings_json(st), "data": str(args.shapenet or "procedural"),
          "devices": args.devices}  # fmt: skip
    if not args.eval_only:
        _prepare_run_dir(run_dir, sj, args.resume)
    state = initial_state(st, jax.random.PRNGKey(st["seed"] + 1), args.backbone_weights)
    predict = jax.jit(lambda variables, images: MeshRCNN(config).apply(variables, images))
    classes = data["classes"]
    val_idx = np.arange(len(data["val"]))
    val_protocol = dataclasses.replace(MESH_RCNN_SHAPENET, num_samples=_VAL_POINTS)
    f1 = f1_label(MESH_RCNN_SHAPENET)

    def eval_fn(state, step):
        evals, _ = evaluate(predict, state.variables(), data["val"], val_idx, classes,
                            batch_size=config.batch_size, protocol=val_protocol,
                            seed=7)  # fmt: skip
        totals = {name: table_totals(ev)["total"] for name, ev in evals.items()}
        metrics = {"F1@0.3": totals["refined"][f1], "chamfer": totals["refined"]["chamfer"],
                   "load1": os.getloadavg()[0]}  # fmt: skip
        if "cubified" in totals:
            metrics["cubified_F1@0.3"] = totals["cubified"][f1]
        return metrics

    t0 = time.perf_counter()
    if args.eval_only:
        from jax3d.train import CheckpointManager

        with_ckpt = CheckpointManager(run_dir / "checkpoints")
        state = with_ckpt.restore(state)
        with_ckpt.close()
    else:
        minutes = float("inf") if args.max_minutes is None else args.max_minutes
        state = train(st, state, data, run_dir, mesh, 60.0 * minutes, eval_fn)
    t_train = time.perf_counter() - t0
    steps = int(state.step)
    rows = read_jsonl(run_dir / "metrics.jsonl") if (run_dir / "metrics.jsonl").exists() else []

    # wall time of every training call (fit's own clock restarts with each call)
    calls_path = run_dir / "calls.json"
    calls = json.loads(calls_path.read_text()) if calls_path.exists() else []
    if not args.eval_only:
        calls.append({"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time()
                      - t_train)), "seconds": round(t_train, 1), "to_step": steps,
                      "load_average_start": load_start})  # fmt: skip
        calls_path.write_text(json.dumps(calls, indent=1))

    # held-out evaluation, predictions, figures
    t0 = time.perf_counter()
    base, base_info = baselines(st, data, seed=13)
    test_idx = per_class_indices(data["test"], classes, st["eval_per_class"])
    writer = PredictionWriter(out / "predictions", classes, st["figure_per_class"],
                              config.cubify_thresh)  # fmt: skip
    protocol = dataclasses.replace(MESH_RCNN_SHAPENET, num_samples=st["eval_points"])
    evals, overflow = evaluate(predict, state.variables(), data["test"], test_idx, classes,
                               batch_size=config.batch_size, protocol=protocol,
                               seed=11, baselines=base,
                               on_batch=writer)  # fmt: skip
    t_eval = time.perf_counter() - t0
    variant = "sphere-init" if args.sphere_init else "voxel + refine"
    title = f"Mesh R-CNN {variant}, preset {st['preset']}, step {steps} of {st['steps']}"
    write_tables(evals, out, title)
    save_figure(writer.rows, out / "figure.png", st["figure_size"])
    save_curves(rows, out / "curves.png", title)
    full = [r for r in rows if "loss" in r and any(k.startswith("chamfer_") for k in r)]
    totals = {name: table_totals(ev) for name, ev in evals.items()}
    metrics = {
        "settings": sj,
        "steps": steps,
        "complete": steps >= st["steps"],
        # the full loss (after the voxel-only warm-up): first logged step, mean of the last 5
        "first_loss": full[0]["loss"] if full else None,
        "final_loss": float(np.mean([r["loss"] for r in full[-5:]])) if full else None,
        "train_seconds_this_call": t_train,
        "train_seconds_total": float(sum(c["seconds"] for c in calls)),
        "training_calls": calls,
        "data_seconds": t_data,
        "eval_seconds": t_eval,
        "num_test": len(test_idx),
        "cubify_overflow_share": float(overflow.mean()) if len(overflow) else 0.0,
        "baselines": base_info,
        "table": totals,
        f"{f1}_per_class": {c: totals["refined"][c][f1] for c in classes if c in totals["refined"]},
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "device": jax.devices()[0].device_kind,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }
    metrics = json.loads(json.dumps(metrics))  # returned as written (lists, string keys)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    print((out / "table.md").read_text())
    print(f"{steps} steps, training {t_train:.0f} s this call, evaluation {t_eval:.0f} s; "
          f"outputs in {out}")  # fmt: skip
    return metrics


if __name__ == "__main__":
    enable_compilation_cache()  # compiled programs persist across runs
    main()
