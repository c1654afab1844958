"""Held-out evaluation of SynSin and its two baselines with the paper's metrics.

For every pair `(src, tgt, K, RT)` three predictions of the target view are scored against it:

- "synsin": the generator's output (evaluation mode);
- "identity": the input image itself (no motion at all);
- "naive": the book's naive renderer, a hard z-buffer reprojection of the input with SynSin's
  *predicted* depth and no refinement (`inference.naive_render`, black holes);
- "naive_gt_depth" (only when the batches carry the ground-truth source depth `depth_src`):
  the same reprojection with the true depth, no network at all (the geometry's upper bound
  for a renderer that fills no holes).

Metrics (images clipped to [0, 1]): PSNR and SSIM (`jax3d.metrics`, higher is better), LPIPS
with VGG16 and SynSin's "Perc Sim" (lower is better), each averaged over the pairs. When the
batches carry ground-truth depth (`depth_src`), the predicted depth's mean absolute relative
error is reported too.
"""

from __future__ import annotations

from collections.abc import Iterable

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.metrics import load_lpips_params, load_vgg16_params, lpips, perceptual_similarity
from jax3d.metrics import psnr as psnr_fn
from jax3d.metrics import ssim as ssim_fn
from jax3d.models.synsin.config import SynSinConfig
from jax3d.models.synsin.inference import apply_eval, naive_render

__all__ = ["METHODS", "METRICS", "evaluate_pairs", "score_images"]

METHODS = ("synsin", "identity", "naive")
METRICS = ("psnr", "ssim", "lpips", "perc_sim")


def score_images(pred, target, *, lpips_params=None, vgg_params=None) -> dict:
    """Per-image PSNR, SSIM, LPIPS (VGG16) and Perc Sim of (B, H, W, 3) images in [0, 1].

    Returns:
        `{metric: (B,) NumPy float64}` for `METRICS`.
    """
    pred = jnp.clip(jnp.asarray(pred, jnp.float32), 0.0, 1.0)
    target = jnp.clip(jnp.asarray(target, jnp.float32), 0.0, 1.0)
    return {
        "psnr": np.asarray(psnr_fn(pred, target), np.float64),
        "ssim": np.asarray(ssim_fn(pred, target), np.float64),
        "lpips": np.asarray(lpips(pred, target, "vgg", lpips_params), np.float64),
        "perc_sim": np.asarray(perceptual_similarity(pred, target, vgg_params), np.float64),
    }


def evaluate_pairs(variables, config: SynSinConfig, batches: Iterable[dict], *,
                   naive_radius: float = 1.0, keep_images: int = 0) -> dict:
    """Score SynSin and the baselines on held-out pairs.

    Args:
        variables: the generator's variables (`{"params", "batch_stats"}`).
        config: its `SynSinConfig`.
        batches: dicts with `src`, `tgt` (B, H, W, 3), `K`, `RT` (and optionally `K_tgt`,
            `depth_src`), e.g. `RoomPairs.get_batch` over fixed indices.
        naive_radius: the naive renderer's disc radius in pixels.
        keep_images: also return the first this many (src, tgt, synsin, naive, depth) images.

    Returns:
        `{"num_pairs": n, "synsin": {metric: mean}, "identity": {...}, "naive": {...}}` plus
        `"naive_gt_depth"` and `"depth_abs_rel"` when ground-truth depth is given and
        `"images"` when `keep_images`.
    """
    lpips_params = jax.device_put(load_lpips_params("vgg"))
    vgg_params = jax.device_put(load_vgg16_params())
    scores = {m: {k: [] for k in METRICS} for m in METHODS + ("naive_gt_depth",)}
    abs_rel, kept, n = [], [], 0
    for batch in batches:
        out = apply_eval(variables, config, batch["src"], batch["K"], batch["RT"],
                         batch.get("K_tgt"))  # fmt: skip
        naive = naive_render(batch["src"], out.depth, batch["K"], batch["RT"], batch.get("K_tgt"),
                             radius=naive_radius)  # fmt: skip
        preds = {"synsin": out.image, "identity": batch["src"], "naive": naive}
        if "depth_src" in batch:
            preds["naive_gt_depth"] = naive_render(
                batch["src"], batch["depth_src"], batch["K"], batch["RT"], batch.get("K_tgt"),
                radius=naive_radius,
            )
        for method, pred in preds.items():
            s = score_images(pred, batch["tgt"], lpips_params=lpips_params, vgg_params=vgg_params)
            for k in METRICS:
                scores[method][k].append(s[k])
        if "depth_src" in batch:
            gt = np.asarray(batch["depth_src"], np.float64).reshape(out.depth.shape)
            err = np.abs(np.asarray(out.depth, np.float64) - gt) / np.maximum(gt, 1e-6)
            abs_rel.append(err.reshape(len(gt), -1).mean(1))
        if len(kept) < keep_images:
            kept.append({"src": np.asarray(batch["src"]), "tgt": np.asarray(batch["tgt"]),
                         "synsin": np.asarray(out.image), "naive": np.asarray(naive),
                         "depth": np.asarray(out.depth)})  # fmt: skip
        n += len(batch["src"])
    result = {"num_pairs": n}
    for method, values in scores.items():
        if values["psnr"]:
            result[method] = {k: float(np.mean(np.concatenate(v))) for k, v in values.items()}
    if abs_rel:
        result["depth_abs_rel"] = float(np.mean(np.concatenate(abs_rel)))
    if keep_images:
        result["images"] = {k: np.concatenate([b[k] for b in kept])[:keep_images]
                            for k in kept[0]}  # fmt: skip
    return result
