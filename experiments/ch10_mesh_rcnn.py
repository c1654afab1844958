"""Chapter 10: the full Mesh R-CNN trained on rendered furniture scenes, evaluated with AP.

`jax3d.models.mesh_rcnn.MeshRCNNDetector` (ResNet-FPN, RPN, box / mask heads, voxel head and
mesh refinement in each ROI's frame) trained end to end with `make_detector_loss_fn` on the
shared `jax3d.train` loop (`fit`: checkpoints, exact `--resume`, JSONL + TensorBoard logs,
`--devices N` data parallelism), on the "train" split of `jax3d.datasets.FurnitureScenes`
(several pieces of procedural furniture in a room corner, per-instance class, box, mask, ROI
voxels and camera-frame mesh; rendered once and cached as `.npz`). Held-out "test" scenes are
then detected and scored:

    box AP, AP50, AP75 and mask AP, AP50, AP75     COCO (`jax3d.metrics.coco_evaluate`)
    box / mask / mesh AP@0.5                       Pix3D protocol (`pix3d_evaluate`): a mesh is
                                                   a true positive at box IoU > 0.3 and
                                                   F1@0.3 > 0.5 with an unmatched ground truth

As in the authors' Pix3D evaluation, a predicted mesh is placed in the camera frame with the
ground truth's centre depth (one image fixes a mesh only up to its distance): for every
(detection, ground truth) pair the detection's ROI-frame mesh is mapped to the camera with its
box, its predicted depth extent `dz` and the centre depth of that ground truth, then compared
with `compare_meshes` (scaled so the ground truth's longest box edge is 10).

Reference rows, evaluated the same way: "initial model" (the same network before training:
what training adds), and "class prior" (no image: for every class, the mean training box of
that class, scored by the class's frequency, its mask the filled box; box / mask AP only).

Outputs under `--out`:

    metrics.json      settings, steps, losses (first / last), wall times, the AP of the model
                      and of the reference rows, per-class AP, load average
    curves.png        the training losses (total and every term) over the steps
    figure.png        a few held-out scenes: input / ground truth / detections (masks, boxes,
                      class and score) / the predicted meshes rendered from the input camera
    predictions/<scene>/<i>_mesh_<class>_<score>.obj   the detections' meshes (camera frame,
                      OpenCV axes, at the matched ground truth's centre depth)
    run/              the fit folder: checkpoints/, metrics.jsonl, tensorboard/, settings.json
    data/             the cached scenes (or --cache DIR)

Presets: `--quick` (the tiny detector overfitting two 64 px scenes for a few steps: plumbing
only, the tests), `cpu` (the tiny detector on 96 px scenes, Adam; hours on a shared CPU), and
`authors` (`MeshRCNNDetectorConfig.authors()` on 320 px scenes with the authors' SGD schedule,
for an accelerator).

    python experiments/ch10_mesh_rcnn.py --quick --out out/ch10_rcnn_quick
    python experiments/ch10_mesh_rcnn.py --preset cpu --out out/ch10_rcnn --max-minutes 120
    python experiments/ch10_mesh_rcnn.py --preset cpu --out out/ch10_rcnn --resume
    python experiments/ch10_demo.py --checkpoint out/ch10_rcnn --output out/demo
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
import optax

from jax3d.datasets import (
    FurnitureSceneConfig,
    NpzFurnitureScenes,
    cache_furniture_scenes,
)
from jax3d.io import save_obj
from jax3d.metrics import coco_evaluate, pix3d_evaluate
from jax3d.metrics.detection import box_iou_numpy
from jax3d.metrics.mesh_metrics import compare_meshes
from jax3d.models.mesh_rcnn import (
    BATCH_KEYS,
    QUICK_COMPILE,
    MeshRCNNDetectorConfig,
    fast_key,
    init_detector,
    make_detector_inference,
    make_detector_loss_fn,
    make_detector_optimizer,
)
from jax3d.structures import Meshes
from jax3d.train import (
    FitConfig,
    TrainState,
    fit,
    make_data_mesh,
    make_train_step,
    read_jsonl,
)
from jax3d.transforms.roi_frustum import roi_to_camera
from jax3d.utils import enable_compilation_cache
from jax3d.vis import draw_instances

F1_THRESHOLD = 0.3  # Pix3D's mesh F1 threshold (after scaling the gt's longest edge to 10)

# "steps" counts optimizer updates; "lr" is Adam's peak rate (cpu, quick) or SGD's base rate.
# The scenes are cluttered rooms: the tiny presets use Mask R-CNN's standard matchers (every
# anchor below IoU 0.3 / proposal below 0.5 is background) instead of the authors' Pix3D rule
# (below 0.2 ignored: on Pix3D nearly every proposal overlaps the one object), under which the
# room's far background is never seen as background and the box head fires on it (measured:
# step 600 of the cpu preset, every detection on the background, AP 0).
_MATCHERS = dict(rpn_iou_thresholds=(0.3, 0.7), rpn_iou_labels=(0, -1, 1),
                 roi_iou_thresholds=(0.5,), roi_iou_labels=(0, 1))  # fmt: skip
PRESETS = {
    # the tiny detector overfitting 2 scenes (one fixed batch): seconds of training after the
    # compiles; checks the plumbing and that the loss goes down, not quality
    "quick": dict(model=dict(preset="tiny", image_size=64, **_MATCHERS), scenes=dict(image_size=64,
                  objects=(1, 3), min_visible_pixels=12), train_scenes=2, test_scenes=2,
                  batch=2, steps=8, optimizer="adam", lr=2e-3, warmup=0, eval_points=500,
                  log_every=1, checkpoint_every=4, eval_every=0, figure_scenes=2),  # fmt: skip
    # the tiny detector on 96 px scenes (up to 4 objects): the documented shared-CPU run.
    # Cubify capacity 4096 / 8192 (the config's defaults; a full G = 24 grid needs 3458 / 6912):
    # with tiny()'s 1024 / 2048 every cubified ROI mesh overflowed (measured at step 2000 of a
    # run: gt-box ROIs need a median 2425 vertices / 4856 faces, at most 3787 / 7648; 0.5% of
    # the test detections exceed 4096 / 8192); the step takes about twice as long.
    "cpu": dict(model=dict(preset="tiny", image_size=96, detections_per_image=16,
                           max_verts=4096, max_faces=8192, **_MATCHERS),
                scenes=dict(image_size=96), train_scenes=1024, test_scenes=64, batch=4,
                steps=4000, optimizer="adam", lr=1e-3, warmup=200, eval_points=5000,
                log_every=10, checkpoint_every=100, eval_every=500, figure_scenes=4),  # fmt: skip
    # the authors' Pix3D model and solver on 320 px scenes (up to 6 objects), for an accelerator
    "authors": dict(model=dict(preset="authors", image_size=320), scenes=dict(preset="authors"),
                    train_scenes=4096, test_scenes=256, batch=8, steps=11000, optimizer="sgd",
                    lr=0.02, warmup=1000, eval_points=10000, log_every=20,
                    checkpoint_every=500, eval_every=1000, figure_scenes=4),  # fmt: skip
}


# ----------------------------------------------------------------------------------------------
# Settings
# ----------------------------------------------------------------------------------------------


def scene_config(st: dict, split: str, num_scenes: int) -> FurnitureSceneConfig:
    """The scenes of a split, sized for the preset's model (`num_points` = its gt samples)."""
    changes = dict(st["scenes"])
    preset = changes.pop("preset", "cpu")
    changes.update(seed=st["seed"], split=split, num_scenes=num_scenes,
                   num_points=model_config(st).gt_num_samples)  # fmt: skip
    if preset == "authors":
        return FurnitureSceneConfig.authors(**changes)
    return FurnitureSceneConfig(**changes)


def model_config(st: dict) -> MeshRCNNDetectorConfig:
    """The preset's `MeshRCNNDetectorConfig`, with one class per furniture class."""
    tuples = lambda v: tuple(map(tuples, v)) if isinstance(v, list) else v  # noqa: E731
    changes = {k: tuples(v) for k, v in st["model"].items()}  # JSON lists back to tuples
    preset = changes.pop("preset")
    changes["num_classes"] = len(FurnitureSceneConfig().classes)
    return getattr(MeshRCNNDetectorConfig, preset)(**changes)


def settings_from_args(args) -> dict:
    """The run's settings: the preset, then the command line's overrides (plain JSON)."""
    name = "quick" if args.quick else args.preset
    st = json.loads(json.dumps(PRESETS[name]))
    for key in ("steps", "lr", "batch", "train_scenes", "test_scenes", "seed", "optimizer"):
        value = getattr(args, key, None)
        if value is not None:
            st[key] = value
    st.setdefault("seed", 0)
    st["preset"] = name
    st["classes"] = list(FurnitureSceneConfig().classes)
    return st


def _digest(obj) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:10]


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------


def scene_datasets(st: dict, cache: Path, log=print) -> dict:
    """{"train", "test": NpzFurnitureScenes}, rendered once into `cache/<split>_<digest>.npz`."""
    cache.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", st["train_scenes"]), ("test", st["test_scenes"])):
        config = scene_config(st, split, n)
        path = cache / f"{split}_{_digest(dataclasses.asdict(config))}.npz"
        if not path.exists():
            t0 = time.perf_counter()
            step = max(1, n // 10)

            def progress(done, total, split=split, step=step, t0=t0):
                if done % step < 8 or done == total:
                    log(f"{split}: {done} / {total} scenes ({time.perf_counter() - t0:.0f} s)")

            cache_furniture_scenes(config, path, log=progress)
        out[split] = NpzFurnitureScenes(path)
    return out


def train_indices(step: int, batch_size: int, num_samples: int, seed: int) -> np.ndarray:
    """The scenes of step `step`: epochs are permutations (`default_rng([seed, epoch])`) read in
    order, so a batch is a pure function of the step (exact resume)."""
    pos = step * batch_size + np.arange(batch_size)
    epoch, offset = pos // num_samples, pos % num_samples
    out = np.empty(batch_size, np.int64)
    for e in np.unique(epoch):
        perm = np.random.default_rng([seed, int(e)]).permutation(num_samples)
        out[epoch == e] = perm[offset[epoch == e]]
    return out


def make_batch_fn(dataset, batch_size: int, seed: int):
    """`step -> batch` of the detector's keys (`BATCH_KEYS`)."""

    def batch_fn(step: int) -> dict:
        b = dataset.get_batch(train_indices(step, batch_size, len(dataset), seed))
        return {k: b[k] for k in BATCH_KEYS}

    return batch_fn


# ----------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------


def ground_truths(batch: dict, n: int | None = None) -> list[dict]:
    """The first `n` images of a batch as `coco_evaluate` ground truths (valid slots only),
    with their meshes ("verts" list of (V, 3), "faces" list of (F, 3)) and "zrange"."""
    out = []
    for b in range(len(batch["images"]) if n is None else n):
        v = np.flatnonzero(batch["valid"][b])
        out.append({
            "boxes": np.asarray(batch["boxes"][b, v], np.float64),
            "classes": np.asarray(batch["classes"][b, v], np.int64),
            "masks": np.asarray(batch["masks"][b, v], bool),
            "zrange": np.asarray(batch["zrange"][b, v], np.float64),
            "verts": [batch["verts"][b, k, : batch["num_verts"][b, k]] for k in v],
            "faces": [batch["faces"][b, k, : batch["num_faces"][b, k]] for k in v],
        })  # fmt: skip
    return out


def camera_zrange(boxes, dz, K, zcenter):
    """The depth range `z_c (1 -+ |dz| h / (2 f_y))` the detector gives a detection of box
    height h and relative depth extent `dz` around centre depth `z_c` (as
    `MeshRCNNDetector.__call__`). boxes (..., 4), dz (...), K (..., 3, 3), zcenter (...)."""
    height = jnp.maximum(boxes[..., 3] - boxes[..., 1], 1.0)
    half = jnp.clip(jnp.abs(dz) * height / (2.0 * K[..., 1, 1]), 1e-3, 0.99)
    return jnp.stack([zcenter * (1.0 - half), zcenter * (1.0 + half)], -1)


@functools.partial(jax.jit, static_argnames=("num_samples",))
def pair_f1(roi_verts, faces, num_verts, num_faces, boxes, dz, K, gt_verts, gt_faces,
            gt_num_verts, gt_num_faces, gt_zrange, seed, *, num_samples: int):  # fmt: skip
    """F1@0.3 (in [0, 1]) of P (detection, ground truth) pairs.

    The detection's ROI-frame mesh is mapped to the camera frame with its box, `dz` and the
    centre depth of the ground truth (`camera_zrange`), then compared with the ground truth by
    `compare_meshes` (scale "gt-10", `num_samples` points each).

    Args:
        roi_verts (P, V, 3) ROI frame; faces (P, F, 3); num_verts, num_faces (P,); boxes (P, 4);
        dz (P,); K (P, 3, 3); gt_verts (P, V', 3) camera frame; gt_faces (P, F', 3);
        gt_num_verts, gt_num_faces (P,); gt_zrange (P, 2);
        seed: (2,) uint32 of the surface samples' rbg key.

    Returns:
        (P,) float32.
    """
    V = roi_verts.shape[1]
    zc = jnp.maximum(0.5 * (gt_zrange[:, 0] + gt_zrange[:, 1]), 1e-3)
    zr = camera_zrange(boxes, dz, K, zc)
    safe = jnp.where((boxes[:, 2:] > boxes[:, :2]).all(-1, keepdims=True), boxes,
                     jnp.array([0.0, 0.0, 1.0, 1.0]))  # fmt: skip
    verts = roi_to_camera(roi_verts, safe, K, zr)
    verts = jnp.where((jnp.arange(V) < num_verts[:, None])[..., None], verts, 0.0)
    pred = Meshes(verts, faces, num_verts=num_verts, num_faces=num_faces)
    gt = Meshes(gt_verts, gt_faces, num_verts=gt_num_verts,
                num_faces=jnp.maximum(gt_num_faces, 1))  # fmt: skip
    res = compare_meshes(pred, gt, key=fast_key(seed), num_samples=num_samples,
                         thresholds=(F1_THRESHOLD,), reduce=False)  # fmt: skip
    return res[f"F1@{F1_THRESHOLD:f}"] / 100.0


def mesh_f1(det, batch, *, num_samples: int, seed, filter_iou: float = 0.3,
            bucket: int = 32) -> np.ndarray:  # fmt: skip
    """(B, D, M) F1@0.3 of every detection against every ground-truth slot of its image, for
    the pairs the Pix3D protocol can count (valid, same class, box IoU > `filter_iou`); 0 for
    the others (`pair_f1` on those pairs only, padded to a multiple of `bucket`)."""
    d = jax.tree_util.tree_map(np.asarray, det)
    B, Dn = d.valid.shape
    M = batch["valid"].shape[1]
    out = np.zeros((B, Dn, M), np.float32)
    pairs = []
    for b in range(B):
        iou = box_iou_numpy(d.boxes[b], batch["boxes"][b])
        ok = (d.valid[b][:, None] & batch["valid"][b][None] & (iou > filter_iou)
              & (d.classes[b][:, None] == batch["classes"][b][None]))  # fmt: skip
        pairs += [(b, i, g) for i, g in zip(*np.nonzero(ok))]
    if not pairs:
        return out
    n = len(pairs)
    idx = np.array(pairs + [pairs[-1]] * (-n % bucket))
    bi, di, gi = idx[:, 0], idx[:, 1], idx[:, 2]
    f1 = pair_f1(d.roi_verts[bi, di], d.faces[bi, di], d.num_verts[bi, di], d.num_faces[bi, di],
                 d.boxes[bi, di], d.dz[bi, di], batch["K"][bi], batch["verts"][bi, gi],
                 batch["faces"][bi, gi], batch["num_verts"][bi, gi], batch["num_faces"][bi, gi],
                 batch["zrange"][bi, gi], np.asarray(seed, np.uint32),
                 num_samples=num_samples)  # fmt: skip
    out[bi[:n], di[:n], gi[:n]] = np.asarray(f1)[:n]
    return out


def detections_to_numpy(det, n: int, f1=None, batch=None) -> list[dict]:
    """The first `n` images of `Detections` as `coco_evaluate` predictions (valid slots only):
    boxes, scores, classes, masks, cubify_overflow, and with `f1` (B, D, M) and the batch,
    "mesh_f1" (D, G) over the image's valid ground truths."""
    d = jax.tree_util.tree_map(np.asarray, det)
    out = []
    for b in range(n):
        v = np.flatnonzero(d.valid[b])
        p = {"boxes": d.boxes[b, v].astype(np.float64), "scores": d.scores[b, v].astype(np.float64),
             "classes": d.classes[b, v].astype(np.int64), "masks": d.masks[b, v].astype(bool),
             "slots": v, "cubify_overflow": d.cubify_overflow[b, v].astype(bool)}  # fmt: skip
        if f1 is not None:
            g = np.flatnonzero(batch["valid"][b])
            p["mesh_f1"] = np.asarray(f1)[b][np.ix_(v, g)].astype(np.float64)
        out.append(p)
    return out


def ap_summary(predictions, truths, num_classes: int, mesh: bool = True) -> dict:
    """COCO box / mask AP, AP50, AP75 and Pix3D box / mask / mesh AP@0.5 (fractions)."""
    out = {}
    for kind, iou_type in (("box", "bbox"), ("mask", "segm")):
        r = coco_evaluate(predictions, truths, iou_type=iou_type, num_classes=num_classes)
        out.update({f"{kind}_AP": r["AP"], f"{kind}_AP50": r["AP50"], f"{kind}_AP75": r["AP75"]})
        out[f"{kind}_AP_per_class"] = {str(k): v for k, v in r["per_class_AP"].items()}
    # class-agnostic boxes: what the detector localises, whatever class it gives
    agnostic = lambda ds: [{**d, "classes": np.zeros_like(d["classes"])} for d in ds]  # noqa: E731
    r = coco_evaluate(agnostic(predictions), agnostic(truths), num_classes=1)
    out["box_AP_agnostic"], out["box_AP50_agnostic"] = r["AP"], r["AP50"]
    preds = predictions if mesh else [{k: v for k, v in p.items() if k != "mesh_f1"}
                                      for p in predictions]  # fmt: skip
    r = pix3d_evaluate(preds, truths, num_classes=num_classes)
    for kind in ("box", "mask", "mesh"):
        if f"{kind}_ap@0.5" in r:
            out[f"pix3d_{kind}_AP50"] = r[f"{kind}_ap@0.5"]
    if mesh:
        out["mesh_AP50_per_class"] = {k.split(" - ")[1]: v for k, v in r.items()
                                      if k.startswith("mesh_ap@0.5 - ")}  # fmt: skip
    if predictions and all("cubify_overflow" in p for p in predictions):
        flags = np.concatenate([p["cubify_overflow"] for p in predictions])
        # share of the detections whose cubified mesh was truncated (static capacity)
        out["cubify_overflow"] = float(flags.mean()) if len(flags) else 0.0
    out["num_gt"] = np.asarray(r["num_gt"]).tolist()
    out["num_detections"] = int(sum(len(p["scores"]) for p in predictions))
    return out


def evaluate(infer, params, dataset, *, batch_size: int, eval_points: int, seed: int = 11,
             on_batch=None) -> tuple[list, list]:  # fmt: skip
    """Detect every scene of `dataset` and score the meshes (`pair_f1`). Returns the per-image
    predictions (with "mesh_f1") and ground truths. `on_batch(indices, batch, det, n)` sees
    every batch (the last padded by repeating its last scene; `n` rows are real). Meshes are
    compared only where the protocol can count them (`mesh_f1`)."""
    preds, truths = [], []
    N = len(dataset)
    for start in range(0, N, batch_size):
        idx = np.arange(start, min(N, start + batch_size))
        n = len(idx)
        batch = dataset.get_batch(np.concatenate([idx, np.repeat(idx[-1:], batch_size - n)]))
        det = infer(params, batch["images"], batch["K"], 1.0)
        f1 = mesh_f1(det, batch, num_samples=eval_points, seed=(seed, start))
        preds += detections_to_numpy(det, n, f1, batch)
        truths += ground_truths(batch, n)
        if on_batch is not None:
            on_batch(idx, batch, det, n)
    return preds, truths


def class_prior(dataset, num_classes: int, batch_size: int = 64) -> dict:
    """The "class prior" reference: the mean visible box of each class over `dataset` and the
    class's share of the instances (its score)."""
    sums, counts = np.zeros((num_classes, 4)), np.zeros(num_classes)
    for start in range(0, len(dataset), batch_size):
        b = dataset.get_batch(np.arange(start, min(len(dataset), start + batch_size)))
        cls, boxes = b["classes"][b["valid"]], b["boxes"][b["valid"]]
        np.add.at(sums, cls, boxes)
        np.add.at(counts, cls, 1.0)
    seen = counts > 0
    return {"classes": np.flatnonzero(seen), "boxes": sums[seen] / counts[seen, None],
            "scores": counts[seen] / counts.sum()}  # fmt: skip


def prior_predictions(prior: dict, truths: list, image_size: int) -> list[dict]:
    """The class prior as predictions for every image: its boxes with filled-box masks."""
    S = image_size
    ys, xs = np.mgrid[0:S, 0:S] + 0.5
    b = prior["boxes"]
    masks = ((xs >= b[:, None, None, 0]) & (xs < b[:, None, None, 2])
             & (ys >= b[:, None, None, 1]) & (ys < b[:, None, None, 3]))  # fmt: skip
    one = {"boxes": b, "scores": prior["scores"], "classes": prior["classes"], "masks": masks}
    return [dict(one) for _ in truths]


# ----------------------------------------------------------------------------------------------
# Figures and meshes
# ----------------------------------------------------------------------------------------------


class SceneWriter:
    """`on_batch` of `evaluate`: for the first `count` scenes, each detection's mesh as
    `predictions/<scene>/<i>_mesh_<class>_<score>.obj` (camera frame, at the centre depth of
    the ground truth of highest box IoU) and the rows of the figure."""

    def __init__(self, folder: Path, classes, count: int, min_score: float = 0.3):
        self.folder, self.classes, self.count, self.min_score = folder, classes, count, min_score
        self.rows = []  # (scene, image, K, gt dict, pred dict, [(verts, faces)])

    def __call__(self, idx, batch, det, n):
        d = jax.tree_util.tree_map(np.asarray, det)
        truths = ground_truths(batch, n)
        for j in range(n):
            if len(self.rows) >= self.count:
                return
            scene = int(idx[j])
            folder = self.folder / f"{scene:04d}"
            folder.mkdir(parents=True, exist_ok=True)
            g = truths[j]
            slots = np.flatnonzero(d.valid[j])
            zc_all = g["zrange"].mean(1) if len(g["classes"]) else np.ones(1)
            meshes, keep = [], []
            for i, s in enumerate(slots):
                iou = box_iou_numpy(d.boxes[j, s][None], g["boxes"])[0] if len(zc_all) else []
                zc = zc_all[int(np.argmax(iou))] if len(iou) else float(np.median(zc_all))
                zr = np.asarray(camera_zrange(d.boxes[j, s], d.dz[j, s], batch["K"][j], zc))
                nv, nf = int(d.num_verts[j, s]), int(d.num_faces[j, s])
                verts = np.asarray(roi_to_camera(d.roi_verts[j, s, :nv], d.boxes[j, s],
                                                 batch["K"][j], zr))  # fmt: skip
                faces = d.faces[j, s, :nf]
                name = self.classes[int(d.classes[j, s])]
                save_obj(folder / f"{i}_mesh_{name}_{d.scores[j, s]:.3f}.obj", verts, faces,
                         decimal_places=5)  # fmt: skip
                if d.scores[j, s] >= self.min_score or i == 0:
                    meshes.append((verts, faces))
                    keep.append(s)
            pred = {k: getattr(d, k)[j, keep] for k in ("boxes", "classes", "scores", "masks")}
            self.rows.append((scene, batch["images"][j], batch["K"][j], g, pred, meshes))


def render_scene_meshes(meshes: list, K, image_size: int, scale: int = 1) -> np.ndarray:
    """(S * scale, S * scale, 3) grey Phong render on white of camera-frame (OpenCV) meshes
    `[(verts, faces)]` seen by the pixel camera `K` of the S x S input view, enlarged `scale`
    times (`K`'s focal lengths and principal point scaled with it, so the render lines up
    with the input image)."""
    size = image_size * scale
    if not meshes:
        return np.ones((size, size, 3), np.float32)
    K = np.asarray(K, np.float32).copy()
    K[:2] *= scale  # pixel corners at integers (PyTorch3D's opencv convention): no offset
    verts = np.concatenate([v for v, _ in meshes]).astype(np.float32)
    offsets = np.cumsum([0] + [len(v) for v, _ in meshes[:-1]])
    faces = np.concatenate([f + o for (_, f), o in zip(meshes, offsets)]).astype(np.int32)
    V, F = int(np.ceil(len(verts) / 1024) * 1024), int(np.ceil(len(faces) / 1024) * 1024)
    vp = np.zeros((V, 3), np.float32)
    vp[: len(verts)] = verts
    fp = np.full((F, 3), -1, np.int32)
    fp[: len(faces)] = faces
    return np.asarray(_render_camera(vp, fp, len(verts), len(faces), K, size=size))


@functools.partial(jax.jit, static_argnames=("size",))
def _render_camera(verts, faces, num_verts, num_faces, K, *, size: int):
    from jax3d.renderer import (
        HardPhongShader,
        MeshRasterizer,
        MeshRenderer,
        PointLights,
        RasterizationSettings,
        TexturesVertex,
        cameras_from_opencv_projection,
    )

    meshes = Meshes(verts[None], faces[None], num_verts=jnp.reshape(num_verts, (1,)),
                    num_faces=jnp.reshape(num_faces, (1,)),
                    textures=TexturesVertex(jnp.full((1,) + verts.shape, 0.75)))  # fmt: skip
    cameras = cameras_from_opencv_projection(jnp.eye(3)[None], jnp.zeros((1, 3)), K[None],
                                             jnp.full((1, 2), float(size)))  # fmt: skip
    lights = PointLights(location=[[0.0, 0.0, 0.0]], ambient_color=[[0.4] * 3],
                         diffuse_color=[[0.6] * 3], specular_color=[[0.1] * 3])  # fmt: skip
    settings = RasterizationSettings(image_size=size, faces_per_pixel=1, z_clip_value=0.01)
    renderer = MeshRenderer(MeshRasterizer(cameras, settings),
                            HardPhongShader(cameras=cameras, lights=lights))  # fmt: skip
    rgba = renderer(meshes)[0]
    alpha = (rgba[..., 3:] > 0).astype(jnp.float32)
    return jnp.clip(rgba[..., :3], 0.0, 1.0) * alpha + (1.0 - alpha)


def label_axes(ax, pred: dict, classes, fontsize: int = 7):
    """Class name and score at the top-left corner of each predicted box (matplotlib)."""
    from jax3d.vis.instances import INSTANCE_COLOURS

    for k, (box, c, s) in enumerate(zip(pred["boxes"], pred["classes"], pred["scores"])):
        colour = INSTANCE_COLOURS[k % len(INSTANCE_COLOURS)]
        ax.text(box[0], box[1], f"{classes[int(c)]} {s:.2f}", fontsize=fontsize, color="white",
                va="bottom", ha="left", bbox=dict(facecolor=colour, alpha=0.8, pad=0.5,
                                                  linewidth=0))  # fmt: skip


def save_figure(rows, path: Path, classes, title: str, scale: int = 3):
    """One row per scene: input / ground truth / detections / predicted meshes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = ["input", "ground truth", "detections", "predicted meshes"]
    height = 2.4 * len(rows) + 0.3
    fig = Figure(figsize=(2.4 * len(cols), height))
    FigureCanvasAgg(fig)
    for r, (scene, image, K, gt, pred, meshes) in enumerate(rows):
        S = image.shape[0]
        panels = [image, draw_instances(image, gt["masks"], gt["boxes"]),
                  draw_instances(image, pred["masks"], pred["boxes"]),
                  render_scene_meshes(meshes, K, S, scale)]  # fmt: skip
        for c, panel in enumerate(panels):
            ax = fig.add_subplot(len(rows), len(cols), r * len(cols) + c + 1)
            ext = (0, S, S, 0)
            ax.imshow(panel, extent=ext, interpolation="nearest")
            ax.set_xlim(0, S), ax.set_ylim(S, 0)
            ax.set_xticks([]), ax.set_yticks([])
            if c == 2:
                label_axes(ax, pred, classes)
            if r == 0:
                ax.set_title(cols[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(f"test scene {scene}", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, 1 - 0.3 / height))  # the title above the columns
    fig.savefig(path, dpi=80)


def save_curves(rows: list[dict], path: Path, title: str):
    """The total loss and its terms against the step (log scale)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    train = [r for r in rows if "loss" in r]
    for name in ["loss"] + sorted({k for r in train for k in r if k.startswith("loss_")}):
        pts = [(r["step"], r[name]) for r in train if name in r and r[name] > 0]
        if pts:
            ax.semilogy(*zip(*pts), label=name, lw=2.0 if name == "loss" else 1.0)
    ax.set_xlabel("step")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------


def make_optimizer(st: dict) -> optax.GradientTransformation:
    """"adam": Adam at `lr` after a linear warm-up of `warmup` steps, cosine decay to 5% at
    `steps`, gradients clipped to norm 10; "sgd": the authors' solver
    (`make_detector_optimizer`: SGD, momentum 0.9, weight decay 1e-4, linear warm-up from 0.1
    `lr` over `warmup` steps, x0.1 at 8/11 and 10/11 of `steps`, as 8000 / 10000 of 11000)."""
    lr, warm, steps = float(st["lr"]), int(st["warmup"]), int(st["steps"])
    if st["optimizer"] == "adam":
        sched = optax.warmup_cosine_decay_schedule(0.0 if warm else lr, lr, max(warm, 1),
                                                   max(steps, warm + 1), end_value=0.05 * lr)
        return optax.chain(optax.clip_by_global_norm(10.0), optax.adam(sched))
    if st["optimizer"] == "sgd":
        config = model_config(st).replace(base_lr=lr, warmup_iters=warm, max_iter=steps,
                                          steps=(round(steps * 8 / 11), round(steps * 10 / 11)))
        return make_detector_optimizer(config)
    raise ValueError(f"optimizer must be 'adam' or 'sgd', got {st['optimizer']!r}")


def initial_state(st: dict) -> TrainState:
    """Fresh parameters (key `seed + 1`) and the optimizer state at step 0."""
    config = model_config(st)
    options = QUICK_COMPILE if st["preset"] == "quick" else None
    params = init_detector(config, jax.random.PRNGKey(st["seed"] + 1),
                           compiler_options=options)["params"]  # fmt: skip
    return TrainState.create(params=params, tx=make_optimizer(st),
                             key=jax.random.PRNGKey(st["seed"]))  # fmt: skip


def _printer(every: int, t0: float):
    """A `fit` callback printing a line every `every` steps (logs without a terminal)."""

    def callback(step, state, metrics):
        if step % every == 0:
            text = " ".join(f"{k} {float(metrics[k]):.4f}"
                            for k in ("loss", "loss_cls", "loss_mask", "loss_mesh") if k in metrics)
            print(f"step {step} {text} ({time.perf_counter() - t0:.0f} s)", flush=True)
        return False

    return callback


def make_eval_fn(st, data):
    """`fit`'s `eval_fn`: box / mask AP50 (COCO) and mesh AP50 (Pix3D) on the test scenes."""
    config = model_config(st)
    options = QUICK_COMPILE if st["preset"] == "quick" else None
    infer = make_detector_inference(config, compiler_options=options)

    def eval_fn(state, step):
        preds, truths = evaluate(infer, state.params, data["test"], batch_size=st["batch"],
                                 eval_points=st["eval_points"])  # fmt: skip
        r = ap_summary(preds, truths, config.num_classes)
        return {"box_AP50": r["box_AP50"], "mask_AP50": r["mask_AP50"],
                "mesh_AP50": r["pix3d_mesh_AP50"], "box_AP": r["box_AP"],
                "box_AP50_agnostic": r["box_AP50_agnostic"],
                "cubify_overflow": r.get("cubify_overflow", 0.0)}

    return eval_fn


def train(st, state, data, run_dir: Path, mesh, max_seconds: float) -> TrainState:
    """`fit` on the training scenes (one run folder, resumable), evaluated on the test scenes
    every `eval_every` steps."""
    config = model_config(st)
    batch_fn = make_batch_fn(data["train"], st["batch"], st["seed"])
    step = make_train_step(make_detector_loss_fn(config), mesh=mesh)
    if st["preset"] == "quick":  # compile once without LLVM optimisation: slow compiles
        step = step.lower(state, batch_fn(0)).compile(compiler_options=QUICK_COMPILE)
    tty = sys.stderr.isatty()
    fc = FitConfig(num_steps=st["steps"], log_every=st["log_every"],
                   checkpoint_every=st["checkpoint_every"], max_seconds=max_seconds,
                   progress=tty, items_per_step=st["batch"], item_name="img",
                   eval_every=st["eval_every"], desc="Mesh R-CNN")  # fmt: skip
    callback = None if tty else _printer(st["log_every"], time.perf_counter())
    eval_fn = make_eval_fn(st, data) if st["eval_every"] else None
    state, _ = fit(step, state, batch_fn, fc, run_dir, eval_fn=eval_fn, callback=callback)
    return state


def restore_params(out: Path, state: TrainState) -> TrainState:
    """The newest checkpoint of `out/run` restored into `state` (ValueError without one)."""
    from jax3d.train import CheckpointManager

    folder = Path(out) / "run" / "checkpoints"
    if not folder.exists() or not any(folder.iterdir()):
        raise ValueError(f"no checkpoint under {folder}")
    manager = CheckpointManager(folder)
    try:
        return manager.restore(state)
    finally:
        manager.close()


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the tiny model on 2 scenes")
    parser.add_argument("--preset", choices=("cpu", "authors"), default="cpu")
    parser.add_argument("--out", type=Path, default=Path("out/ch10_mesh_rcnn"))
    parser.add_argument("--cache", type=Path, default=None,
                        help="folder of the cached scenes (default OUT/data)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the newest checkpoint in OUT/run/checkpoints")
    parser.add_argument("--devices", type=int, default=1,
                        help="train data-parallel over this many devices")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop training after this much wall time (then evaluate)")
    parser.add_argument("--eval-only", action="store_true",
                        help="evaluate the newest checkpoint, no training")
    parser.add_argument("--no-baselines", action="store_true",
                        help="skip the initial-model reference (one more pass over the test set)")
    for name, kind in (("steps", int), ("batch", int), ("lr", float), ("train_scenes", int),
                       ("test_scenes", int), ("seed", int), ("optimizer", str)):  # fmt: skip
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, default=None)
    return parser.parse_args(argv)


def _prepare_run_dir(run_dir: Path, settings: dict, resume: bool):
    """A fresh run folder, or (`resume`) the existing one after checking its settings."""
    path = run_dir / "settings.json"
    if resume and path.exists():
        old = json.loads(path.read_text())
        differ = sorted(k for k in set(old) | set(settings)
                        if k not in ("steps", "devices") and old.get(k) != settings.get(k))
        if differ:
            raise SystemExit(f"--resume: {path} holds other settings ({', '.join(differ)}); "
                             "use another --out")  # fmt: skip
    elif run_dir.exists():
        shutil.rmtree(run_dir)  # a fresh run: no stale checkpoints to resume from
    run_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=1))


def main(argv=None) -> dict:
    args = _parse(argv)
    st = settings_from_args(args)
    config = model_config(st)
    classes = st["classes"]
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()
    t0 = time.perf_counter()
    data = scene_datasets(st, args.cache or out / "data")
    t_data = time.perf_counter() - t0
    mesh = make_data_mesh(args.devices) if args.devices > 1 else None
    run_dir = out / "run"
    settings = {**st, "devices": args.devices, "model_config": dataclasses.asdict(config)}
    settings = json.loads(json.dumps(settings))
    if not args.eval_only:
        _prepare_run_dir(run_dir, settings, args.resume)
    state0 = initial_state(st)
    t0 = time.perf_counter()
    if args.eval_only:
        state = restore_params(out, state0)
    else:
        minutes = float("inf") if args.max_minutes is None else args.max_minutes
        state = train(st, state0, data, run_dir, mesh, 60.0 * minutes)
    t_train = time.perf_counter() - t0
    steps = int(state.step)
    rows = read_jsonl(run_dir / "metrics.jsonl") if (run_dir / "metrics.jsonl").exists() else []

    # held-out evaluation, OBJ files, figures
    t0 = time.perf_counter()
    options = QUICK_COMPILE if st["preset"] == "quick" else None
    infer = make_detector_inference(config, compiler_options=options)
    writer = SceneWriter(out / "predictions", classes, st["figure_scenes"])
    ev = dict(batch_size=st["batch"], eval_points=st["eval_points"])
    preds, truths = evaluate(infer, state.params, data["test"], on_batch=writer, **ev)
    results = {"model": ap_summary(preds, truths, len(classes))}
    if not args.no_baselines:
        p0, _ = evaluate(infer, state0.params, data["test"], **ev)
        results["initial model"] = ap_summary(p0, truths, len(classes))
    prior = class_prior(data["train"], len(classes))
    results["class prior"] = ap_summary(prior_predictions(prior, truths, config.image_size),
                                        truths, len(classes), mesh=False)  # fmt: skip
    t_eval = time.perf_counter() - t0
    title = f"Mesh R-CNN ({st['preset']} preset), step {steps} of {st['steps']}"
    save_curves(rows, out / "curves.png", title)
    save_figure(writer.rows, out / "figure.png", classes, title)
    train_rows = [r for r in rows if "loss" in r]
    n5 = min(5, max(1, len(train_rows) // 4))
    metrics = {
        "settings": settings,
        "steps": steps,
        "complete": steps >= st["steps"],
        "first_loss": train_rows[0]["loss"] if train_rows else None,
        "first_losses_mean": (float(np.mean([r["loss"] for r in train_rows[:n5]]))
                              if train_rows else None),  # fmt: skip
        "final_loss": (float(np.mean([r["loss"] for r in train_rows[-n5:]]))
                       if train_rows else None),  # fmt: skip
        "train_seconds_this_call": t_train,
        "data_seconds": t_data,
        "eval_seconds": t_eval,
        "num_test_scenes": len(truths),
        "num_test_instances": int(sum(len(t["classes"]) for t in truths)),
        **{k: results["model"][k] for k in ("box_AP", "box_AP50", "mask_AP", "mask_AP50",
                                             "pix3d_mesh_AP50", "box_AP50_agnostic")},
        "results": results,
        "mesh_ap_protocol": "Pix3D: box IoU > 0.3 and F1@0.3 > 0.5, meshes at the gt's centre "
                            f"depth, {st['eval_points']} points per mesh",
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "device": jax.devices()[0].device_kind,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }
    metrics = json.loads(json.dumps(metrics))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    for name, r in results.items():
        print(f"{name:>14}: box AP {r['box_AP']:.3f} AP50 {r['box_AP50']:.3f} | mask AP "
              f"{r['mask_AP']:.3f} AP50 {r['mask_AP50']:.3f} | mesh AP50 "
              f"{r.get('pix3d_mesh_AP50', float('nan')):.3f} | class-agnostic box AP50 "
              f"{r['box_AP50_agnostic']:.3f}")  # fmt: skip
    print(f"{steps} steps, training {t_train:.0f} s this call, evaluation {t_eval:.0f} s; "
          f"outputs in {out}")  # fmt: skip
    return metrics


if __name__ == "__main__":
    enable_compilation_cache()  # compiled programs persist across runs
    main()
