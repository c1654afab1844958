"""Chapter 8: SMPLify. Fits SMPL to the 2D LSP joints of im0001 and im0002
(smplify/est_joints.npz, with JAX3D_DATA) and always runs a synthetic benchmark: bodies with
known parameters, their 14 joints projected with noise and occasional low-confidence joints,
fitted in one jitted, vmapped batch; reprojection error, MPJPE, PA-MPJPE and success rate.

    python experiments/ch08_smplify.py --quick --out out/ch08_smplify
    JAX3D_DATA=../shared/data python experiments/ch08_smplify.py --model SMPL_NEUTRAL.pkl

Without --model the synthetic capsule body is used for everything (the real-image fits are
then labelled as such); without JAX3D_DATA a synthetic GMM pose prior replaces gmm_08.pkl and
the real-image part is skipped. Fitted meshes are drawn with jax3d's mesh renderer (hard
Phong) from the fitted SMPLify camera (f = 5000 px, principal point at the image centre),
blended over the photos and under the synthetic skeletons; smpl_mesh_*.png adds a side view.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ch08_render_common import (  # noqa: E402
    BODY_RGB,
    on_white,
    render_front,
    render_smplify_view,
)

from jax3d.datasets import data_path, has_data  # noqa: E402
from jax3d.io import load_npz, save_obj  # noqa: E402
from jax3d.models.smpl import (  # noqa: E402
    load_smpl,
    lsp_joints,
    smpl_forward,
    synthetic_body_model,
)
from jax3d.models.smplify import (  # noqa: E402
    SMPLifySettings,
    body_spheres,
    load_gmm_prior,
    project_points,
    smplify,
    synthetic_gmm_prior,
)
from jax3d.ops import corresponding_points_alignment  # noqa: E402
from jax3d.utils import enable_compilation_cache

# LSP skeleton for drawing: (joint, joint) index pairs
LSP_BONES = ((0, 1), (1, 2), (3, 4), (4, 5), (6, 7), (7, 8), (9, 10), (10, 11), (2, 8), (3, 9),
             (8, 12), (9, 12), (12, 13), (2, 3))  # fmt: skip
SUCCESS_PX = 10.0  # a synthetic fit succeeds when its mean 2D joint error is below this
IMAGE_SIZE = (500.0, 500.0)
RENDER_PX = 480  # long side of the mesh renders overlaid on the (small) LSP photos


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="few bodies and iterations")
    p.add_argument("--out", type=Path, default=Path("out/ch08_smplify"))
    p.add_argument("--model", type=Path, default=None, help="SMPL .pkl/.npz (else synthetic)")
    p.add_argument("--num-bodies", type=int, default=None, help="synthetic bodies (default 50)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--docs-images", type=Path, default=None, help="also write smpl_*.png here")
    return p.parse_args(argv)


def load_inputs(args):
    """Model, pose prior and labels saying where they came from."""
    if args.model is not None:
        model, model_src = load_smpl(args.model), f"SMPL file {args.model.name}"
    else:
        model, model_src = synthetic_body_model(0), "synthetic capsule body (no SMPL file given)"
    if has_data("smplify/gmm_08.pkl"):
        prior, prior_src = load_gmm_prior(data_path("smplify/gmm_08.pkl")), "gmm_08.pkl"
    else:
        prior, prior_src = synthetic_gmm_prior(jax.random.PRNGKey(7)), "synthetic GMM"
    return model, prior, model_src, prior_src


def make_settings(quick: bool) -> SMPLifySettings:
    if quick:
        return SMPLifySettings(camera_iters=15, stage_iters=15)
    return SMPLifySettings(camera_iters=50, stage_iters=100)


def synthetic_bodies(key, model, prior, n: int):
    """Known bodies facing the camera (yaw within +-35 degrees) 20-30 m away, and their
    LSP joints: clean 2D, noisy 2D (2 px; 10% low-confidence joints get 15 px more), 3D."""
    k = jax.random.split(key, 9)
    comp = jax.random.choice(
        k[0], prior.means.shape[0], (n,), p=prior.weights / prior.weights.sum()
    )
    pose = (prior.means[comp] + 0.1 * jax.random.normal(k[1], (n, 69))).reshape(n, 23, 3)
    betas = 0.5 * jax.random.normal(k[2], (n, model.num_betas))
    yaw = jax.random.uniform(k[3], (n,), minval=-0.6, maxval=0.6)
    orient = jnp.stack([jnp.zeros(n), np.pi + yaw, jnp.zeros(n)], 1)
    orient = orient + 0.05 * jax.random.normal(k[4], (n, 3))
    lo, hi = jnp.array([-0.2, 0.0, 20.0]), jnp.array([0.2, 0.3, 30.0])
    transl = jax.random.uniform(k[5], (n, 3), minval=lo, maxval=hi)
    out = smpl_forward(model, betas, pose, orient, transl)
    j3d = lsp_joints(out.vertices, out.joints)
    size = jnp.broadcast_to(jnp.array(IMAGE_SIZE), (n, 2))
    clean = project_points(j3d, jnp.zeros((n, 3)), size)
    low = jax.random.uniform(k[6], (n, 14)) < 0.1
    conf = jnp.where(low, jax.random.uniform(k[7], (n, 14), minval=0.05, maxval=0.3),
                     jax.random.uniform(k[7], (n, 14), minval=0.7, maxval=1.0))  # fmt: skip
    noise = jax.random.normal(k[8], (n, 14, 2)) * jnp.where(low, 15.0, 2.0)[..., None]
    return dict(j3d=j3d, clean=clean, noisy=clean + noise, conf=conf, size=size)


def fitted_joints(model, result):
    """(B, 14, 3) fitted LSP joints in the camera frame."""
    out = smpl_forward(model, result.betas, result.body_pose, result.global_orient, result.camera_t)
    return lsp_joints(out.vertices, out.joints), out.vertices


def joint_errors_mm(pred, gt):
    """MPJPE (mid-hip aligned) and PA-MPJPE (similarity Procrustes), per body, in mm."""
    root = lambda j: (j[:, 2:3] + j[:, 3:4]) / 2  # noqa: E731
    mpjpe = jnp.linalg.norm((pred - root(pred)) - (gt - root(gt)), axis=-1).mean(-1)
    sim = corresponding_points_alignment(pred, gt, estimate_scale=True)
    aligned = sim.s[:, None, None] * pred @ sim.R + sim.T[:, None]
    pa = jnp.linalg.norm(aligned - gt, axis=-1).mean(-1)
    return 1e3 * np.asarray(mpjpe), 1e3 * np.asarray(pa)


def synthetic_metrics(model, data, result) -> dict:
    """Reprojection error against the clean 2D joints, MPJPE, PA-MPJPE and success rate."""
    pred3d, _ = fitted_joints(model, result)
    err2d = np.linalg.norm(np.asarray(result.joints_2d - data["clean"]), axis=-1).mean(-1)
    mpjpe, pa = joint_errors_mm(pred3d, data["j3d"])
    return {
        "num_bodies": int(len(err2d)),
        "mean_reprojection_error_px": float(err2d.mean()),
        "median_reprojection_error_px": float(np.median(err2d)),
        "mpjpe_mm": float(mpjpe.mean()),
        "pa_mpjpe_mm": float(pa.mean()),
        "success_rate": float(np.mean(err2d < SUCCESS_PX)),
        "success_threshold_px": SUCCESS_PX,
        "num_ambiguous": int(np.sum(result.ambiguous)),
        "num_flipped": int(np.sum(result.flipped)),
    }


def draw_synthetic(data, result, verts, faces, path: Path, count: int = 6) -> None:
    """The first ``count`` synthetic bodies: the fitted mesh rendered from the fitted SMPLify
    camera (half resolution), noisy input joints (green) and fitted joints (red)."""
    count = min(count, len(data["clean"]))
    renders = render_smplify_view(verts[:count], faces, IMAGE_SIZE, scale=0.5)
    fig = Figure(figsize=(3 * count, 3.4), dpi=80)
    FigureCanvasAgg(fig)
    for i in range(count):
        ax = fig.add_subplot(1, count, i + 1)
        ax.imshow(on_white(renders[i]), extent=(0, IMAGE_SIZE[1], IMAGE_SIZE[0], 0))
        draw_skeleton(ax, np.asarray(data["noisy"][i]), "tab:green", "input")
        draw_skeleton(ax, np.asarray(result.joints_2d[i]), "tab:red", "fit")
        ax.set_xlim(0, IMAGE_SIZE[1])
        ax.set_ylim(IMAGE_SIZE[0], 0)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.axes[0].legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


def draw_skeleton(ax, joints, color, label):
    for a, b in LSP_BONES:
        ax.plot(joints[[a, b], 0], joints[[a, b], 1], color=color, lw=1.5)
    ax.plot(joints[:, 0], joints[:, 1], "o", color=color, ms=3, label=label)


def load_lsp_images():
    """[(name, image (H, W, 3) uint8, joints (14, 2), confidence (14,))] for im0001 and im0002,
    or [] without JAX3D_DATA."""
    if not (has_data("smplify/est_joints.npz") and has_data("smplify/lsp/im0001.jpg")):
        return []
    est = load_npz(data_path("smplify/est_joints.npz"))["est_joints"]
    items = []
    for i, name in enumerate(("im0001", "im0002")):
        img = np.asarray(Image.open(data_path(f"smplify/lsp/{name}.jpg")).convert("RGB"))
        items.append(
            (name, img, est[:2, :, i].T.astype(np.float32), est[2, :, i].astype(np.float32))
        )
    return items


def draw_image_fit(img, detected, projected, render, title, path: Path) -> None:
    """The photo with the fitted mesh (rendered from the SMPLify camera, ``render`` (h, w, 4)
    at any multiple of the photo's size) blended in, detected (green) and fitted (red) joints."""
    fig = Figure(figsize=(4, 4 * img.shape[0] / img.shape[1] + 0.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    extent = (0, img.shape[1], img.shape[0], 0)
    ax.imshow(img, extent=extent)
    ax.imshow(np.concatenate([render[..., :3], 0.6 * render[..., 3:]], -1), extent=extent)
    draw_skeleton(ax, detected, "lime", "detected")
    draw_skeleton(ax, projected, "red", "SMPLify")
    ax.set_xlim(0, img.shape[1])
    ax.set_ylim(img.shape[0], 0)
    ax.set_title(title, fontsize=8)
    ax.legend(loc="lower left", fontsize=6)
    ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path)


def draw_mesh(views, title, path: Path) -> None:
    """Side-by-side renders of a fitted mesh; ``views`` is a list of (name, (h, w, 4) RGBA)."""
    fig = Figure(figsize=(3.2 * len(views), 3.6), dpi=100)
    FigureCanvasAgg(fig)
    for i, (name, rgba) in enumerate(views):
        ax = fig.add_subplot(1, len(views), i + 1)
        ax.imshow(on_white(rgba))
        ax.set_title(f"{title}, {name}", fontsize=8)
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path)


def crop_to_alpha(rgba, pad: int = 8):
    """``rgba (H, W, 4)`` cut to its covered pixels' bounding box plus ``pad``."""
    ys, xs = np.nonzero(rgba[..., 3] > 0)
    if len(ys) == 0:
        return rgba
    y0, x0 = max(ys.min() - pad, 0), max(xs.min() - pad, 0)
    return rgba[y0 : ys.max() + pad + 1, x0 : xs.max() + pad + 1]


def save_real_fits(model, images, result, out: Path, model_src: str, docs: Path | None) -> dict:
    pred3d, verts = fitted_joints(model, result)
    faces = np.asarray(model.faces)
    metrics = {}
    for i, (name, img, j2d, conf) in enumerate(images):
        scale = RENDER_PX / max(img.shape[:2])
        render = render_smplify_view(verts[i : i + 1], faces, img.shape[:2], scale=scale)[0]
        # the camera view cut to the body, and a side view (frontal_camera at azimuth 90)
        views = [("SMPLify camera", crop_to_alpha(render)),
                 ("side", render_front(verts[i], faces, BODY_RGB, azim=90.0))]  # fmt: skip
        title = f"{name}: SMPLify with {model_src}"
        for folder in [out] + ([docs] if docs is not None else []):
            draw_image_fit(img, j2d, np.asarray(result.joints_2d[i]), render, title,
                           folder / f"smpl_fit_{name}.png")  # fmt: skip
            draw_mesh(views, f"{name}: fitted mesh", folder / f"smpl_mesh_{name}.png")
        save_obj(out / f"fit_{name}.obj", np.asarray(verts[i]), faces)
        w = conf > 0.5
        err = np.linalg.norm(np.asarray(result.joints_2d[i]) - j2d, axis=-1)
        metrics[name] = {
            "reprojection_error_px_confident_joints": float(err[w].mean()),
            "camera_depth_m": float(result.camera_t[i, 2]),
            "flipped": bool(result.flipped[i]),
        }
    return metrics


def main(argv=None) -> dict:
    args = parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    if args.docs_images is not None:
        args.docs_images.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    model, prior, model_src, prior_src = load_inputs(args)
    settings = make_settings(args.quick)
    n = args.num_bodies or (6 if args.quick else 50)
    spheres = body_spheres(model)
    images = load_lsp_images()
    data = synthetic_bodies(jax.random.PRNGKey(args.seed), model, prior, n)
    # real images and synthetic bodies go through one jitted, vmapped batch
    j2d = jnp.concatenate([jnp.asarray(np.stack([im[2] for im in images]))
                           if images else jnp.zeros((0, 14, 2)), data["noisy"]])  # fmt: skip
    conf = jnp.concatenate([jnp.asarray(np.stack([im[3] for im in images]))
                            if images else jnp.zeros((0, 14)), data["conf"]])  # fmt: skip
    sizes = [[im[1].shape[0], im[1].shape[1]] for im in images]
    size = jnp.concatenate([jnp.asarray(sizes, jnp.float32).reshape(-1, 2), data["size"]])
    t0 = time.perf_counter()
    with tqdm(total=len(j2d), desc="SMPLify (one jitted batch)") as bar:
        result = smplify(model, prior, j2d, conf, size, spheres=spheres, settings=settings)
        jax.block_until_ready(result)
        bar.update(len(j2d))
    fit_seconds = time.perf_counter() - t0
    k = len(images)
    real = jax.tree_util.tree_map(lambda x: x[:k], result)
    synth = jax.tree_util.tree_map(lambda x: x[k:], result)
    metrics = {"model": model_src, "pose_prior": prior_src, "settings": repr(settings)}
    metrics["synthetic"] = synthetic_metrics(model, data, synth)
    metrics["synthetic"]["seconds_per_fit_including_compile"] = fit_seconds / len(j2d)
    _, synth_verts = fitted_joints(model, synth)
    faces = np.asarray(model.faces)
    draw_synthetic(data, synth, synth_verts, faces, out / "smplify_synthetic.png")
    if args.docs_images is not None:
        draw_synthetic(data, synth, synth_verts, faces,
                       args.docs_images / "smpl_smplify_synthetic.png")  # fmt: skip
    if images:
        metrics["lsp"] = save_real_fits(model, images, real, out, model_src, args.docs_images)
    else:
        metrics["lsp"] = "skipped: JAX3D_DATA with smplify/est_joints.npz and lsp/ images needed"
    metrics["seconds"] = time.perf_counter() - start
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics, indent=2))
    return metrics


if __name__ == "__main__":
    enable_compilation_cache()  # compiled programs persist across runs
    main()
