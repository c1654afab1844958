"""Chapter 5: fit a volume to multi-view images. 40 views of the cow (generate_cow_renders;
a procedural teapot without data) supervise a 128^3 voxel grid of log-densities (init -4) and
log-colours rendered by VolumeRenderer (128x128 rays, 150 points between depths 0.1 and 3.0,
emission-absorption). Adam (lr 0.1, / 10 at 75% of the 300 iterations) on batches of 10
cameras minimises a Huber loss on colours + silhouettes in one jitted step; full images are
rendered in chunks of rays (checkpointed) to bound memory. Held-out views give PSNR and
silhouette IoU; a 7x4 grid and a GIF show the fitted volume turning around.

    python experiments/ch05_volume_reconstruction.py --quick --out out/ch05_volume_reconstruction

--quick: 32^3 volume, 32x32 images, 10 views, a few iterations (seconds).
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
from tqdm import tqdm

from jax3d.datasets import generate_cow_renders
from jax3d.renderer import FoVPerspectiveCameras, look_at_view_transform
from jax3d.renderer.implicit import (
    EmissionAbsorptionRaymarcher,
    NDCMultinomialRaysampler,
    VolumeRenderer,
)
from jax3d.structures import Volumes
from jax3d.utils import enable_compilation_cache
from jax3d.vis import image_grid, plot_losses, save_gif, save_image

VOLUME_EXTENT_WORLD = 3.0


def settings(quick: bool, args) -> dict:
    s = dict(num_views=40, size=128, volume_size=128, n_pts=150, iters=300, batch=10,
             test_every=8, chunk=2048)
    if quick:
        s.update(num_views=6, size=32, volume_size=32, n_pts=48, iters=8, batch=3,
                 test_every=3, chunk=512)
    for key in ("iters", "chunk", "size", "volume_size", "n_pts", "num_views", "batch"):
        if getattr(args, key) is not None:
            s[key] = getattr(args, key)
    return s


def huber(x, y, scaling: float = 0.1):
    """The book's smooth L1: ``scaling * (sqrt(1 + (x - y)^2 / scaling^2) - 1)``."""
    diff_sq = (x - y) ** 2
    return (jnp.sqrt(jnp.maximum(1.0 + diff_sq / scaling**2, 1e-4)) - 1.0) * scaling


def init_params(volume_size: int) -> dict:
    """Log-densities ``(1, S, S, S)`` at -4 and log-colours ``(3, S, S, S)`` at 0."""
    shape = (volume_size,) * 3
    return {"log_densities": jnp.full((1, *shape), -4.0, jnp.float32),
            "log_colors": jnp.zeros((3, *shape), jnp.float32)}


def to_volumes(params: dict) -> Volumes:
    """One volume (batch 1, shared by all cameras) of sigmoid densities and colours."""
    size = params["log_densities"].shape[-1]
    return Volumes(densities=jax.nn.sigmoid(params["log_densities"])[None],
                   features=jax.nn.sigmoid(params["log_colors"])[None],
                   voxel_size=VOLUME_EXTENT_WORLD / size)


def make_renderer(s: dict) -> VolumeRenderer:
    raysampler = NDCMultinomialRaysampler(image_width=s["size"], image_height=s["size"],
                                          n_pts_per_ray=s["n_pts"], min_depth=0.1,
                                          max_depth=VOLUME_EXTENT_WORLD)
    return VolumeRenderer(raysampler, EmissionAbsorptionRaymarcher(), chunk_size=s["chunk"])


def make_train_step(renderer: VolumeRenderer, optimizer):
    def loss_fn(params, cameras, images, silhouettes):
        rendered, _ = renderer(cameras, to_volumes(params))
        colour = huber(rendered[..., :3], images).mean()
        sil = huber(rendered[..., 3], silhouettes).mean()
        return colour + sil, (colour, sil)

    @jax.jit
    def step(params, opt_state, cameras, images, silhouettes, idx):
        cams = jax.tree.map(lambda x: x[idx], cameras)
        (loss, parts), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            params, cams, images[idx], silhouettes[idx])
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss, parts

    return step


def render_views(renderer, params, cameras, batch: int) -> np.ndarray:
    """RGBA renders ``(N, H, W, 4)`` of ``cameras`` in jitted batches of ``batch`` views."""
    fn = jax.jit(lambda p, c: renderer(c, to_volumes(p))[0])
    out = []
    for start in range(0, len(cameras), batch):
        idx = np.arange(start, min(start + batch, len(cameras)))
        pad = np.pad(idx, (0, batch - len(idx)), mode="edge")  # one compiled shape
        out.append(np.asarray(fn(params, cameras[pad]))[: len(idx)])
    return np.concatenate(out)


def evaluate(rendered: np.ndarray, images: np.ndarray, silhouettes: np.ndarray) -> dict:
    mse = float(np.mean((np.clip(rendered[..., :3], 0, 1) - images) ** 2))
    pred, true = rendered[..., 3] > 0.5, silhouettes > 0.5
    iou = float(np.logical_and(pred, true).sum() / max(np.logical_or(pred, true).sum(), 1))
    return {"psnr": float(-10.0 * np.log10(max(mse, 1e-10))), "silhouette_iou": iou}


def rotating_cameras(n: int = 28) -> FoVPerspectiveCameras:
    azim = np.linspace(0.0, 360.0, n, endpoint=False)
    R, T = look_at_view_transform(dist=2.7, elev=np.full(n, 10.0), azim=azim)
    return FoVPerspectiveCameras(R=R, T=T)


def fit(s: dict, cameras, images, silhouettes, train_idx, seed: int):
    renderer = make_renderer(s)
    schedule = optax.piecewise_constant_schedule(0.1, {int(0.75 * s["iters"]): 0.1})
    optimizer = optax.adam(schedule)
    params = init_params(s["volume_size"])
    opt_state = optimizer.init(params)
    step = make_train_step(renderer, optimizer)
    rng = np.random.default_rng(seed)
    history = {"total": [], "colour": [], "silhouette": []}
    t0 = time.perf_counter()
    for _ in tqdm(range(s["iters"]), desc="volume fit"):
        idx = jnp.asarray(rng.choice(train_idx, s["batch"], replace=False))
        params, opt_state, loss, (lc, ls) = step(params, opt_state, cameras, images,
                                                 silhouettes, idx)
        for name, v in zip(history, (loss, lc, ls)):
            history[name].append(float(v))
    return renderer, params, history, time.perf_counter() - t0


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="32^3 volume, few iterations")
    parser.add_argument("--out", default="out/ch05_volume_reconstruction", help="output folder")
    parser.add_argument("--iters", type=int, default=None, help="Adam iterations (300)")
    parser.add_argument("--chunk", type=int, default=None, help="rays per camera per chunk")
    parser.add_argument("--size", type=int, default=None, help="image size (128)")
    parser.add_argument("--volume-size", type=int, default=None, help="voxels per side (128)")
    parser.add_argument("--n-pts", type=int, default=None, help="points per ray (150)")
    parser.add_argument("--num-views", type=int, default=None, help="target views (40)")
    parser.add_argument("--batch", type=int, default=None, help="cameras per step (10)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    s = settings(args.quick, args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    cameras, images, silhouettes, source = generate_cow_renders(
        s["num_views"], azimuth_range=180.0, image_size=s["size"], batch_size=4 if args.quick
        else 8, return_source=True)
    test_idx = np.arange(0, s["num_views"], s["test_every"])
    train_idx = np.setdiff1d(np.arange(s["num_views"]), test_idx)
    print(f"targets: {source}, images {tuple(images.shape)}, {len(train_idx)} train / "
          f"{len(test_idx)} held-out views")
    renderer, params, history, seconds = fit(s, cameras, images, silhouettes, train_idx,
                                             args.seed)

    held_out = render_views(renderer, params, cameras[test_idx], 7)
    scores = evaluate(held_out, np.asarray(images)[test_idx], np.asarray(silhouettes)[test_idx])
    print(f"held-out PSNR {scores['psnr']:.2f} dB, silhouette IoU {scores['silhouette_iou']:.3f}")
    turning = render_views(renderer, params, rotating_cameras(28), 7)
    save_image(out / "rotating_volume.png", image_grid(turning[..., :3], rows=4, cols=7, pad=2))
    save_gif(out / "rotating_volume.gif", turning[..., :3], fps=8)
    compare = np.concatenate([np.asarray(images)[test_idx], held_out[..., :3]], axis=0)
    save_image(out / "held_out.png", image_grid(compare, rows=2, pad=2))
    plot_losses(out / "losses.png", history, title="volume fit (Huber)", log_scale=True)
    metrics = {"source": source, "settings": s, **scores,
               "initial_loss": history["total"][0], "final_loss": history["total"][-1],
               "seconds_per_iteration": seconds / s["iters"], "held_out_views": test_idx.tolist()}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


if __name__ == "__main__":
    enable_compilation_cache()  # compiled programs persist across runs
    main()
