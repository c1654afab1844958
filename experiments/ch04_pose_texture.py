"""Chapter 4: camera pose from silhouette + textured (Phong) images of the cow.

The book's setup: the textured cow (``meshes/cow_mesh/cow.obj`` from ``JAX3D_DATA``, else the
procedural UV-checkerboard teapot), 256 x 256; a soft silhouette renderer (sigma = gamma =
1e-4, blur_radius = log(1/1e-4 - 1) sigma, K = 100) and a SoftPhong renderer (same blur,
K = 50), light at (0, 0, -3). Target camera: dist 3, elev 50, azim 0, rendered with a hard
Phong shader; the target silhouette is ``rgb.max(-1) != 1``. Loss = 1.0 * sum of squared
silhouette differences + 0.1 * sum of squared RGB differences; the camera position starts at
(3.0, 6.9, 2.5); Adam lr 0.05; at most 200 iterations, stop when loss < 800.

``--starts N`` runs N random starts (radius 3..7) in batches of ``--chunk`` and reports the
success rate; ``--threshold`` overrides the stopping loss.
``--quick`` renders 64 x 64 (K = 20 / 10); the threshold scales with the image side.

    python experiments/ch04_pose_texture.py --quick --out out/ch04_tex
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ch04_pose_common import (  # noqa: E402
    add_multistart_args,
    camera_from_position,
    cow_mesh,
    fit_positions,
    phong_renderer,
    print_metrics,
    run_multistart,
    save_outputs,
    save_target,
    target_position,
)

from jax3d.renderer import (  # noqa: E402
    BlendParams,
    MeshRasterizer,
    MeshRenderer,
    PointLights,
    RasterizationSettings,
    SoftPhongShader,
    SoftSilhouetteShader,
)
from jax3d.utils import enable_compilation_cache  # noqa: E402

START = (3.0, 6.9, 2.5)
SIGMA = 1e-4
WEIGHTS = (1.0, 0.1)  # silhouette, texture


def soft_renderers(image_size: int, k_sil: int, k_tex: int):
    """(silhouette renderer, SoftPhong renderer) as in the book."""
    blur = math.log(1.0 / 1e-4 - 1.0) * SIGMA
    blend = BlendParams(sigma=SIGMA, gamma=SIGMA)
    cams = camera_from_position(jnp.asarray([0.0, 0.0, 3.0]))

    def settings(k):
        return RasterizationSettings(image_size=image_size, blur_radius=blur, faces_per_pixel=k)

    sil = MeshRenderer(MeshRasterizer(cams, settings(k_sil)),
                       SoftSilhouetteShader(blend_params=blend))  # fmt: skip
    lights = PointLights(location=[(0.0, 0.0, -3.0)])
    tex = MeshRenderer(MeshRasterizer(cams, settings(k_tex)),
                       SoftPhongShader(cameras=cams, lights=lights, blend_params=blend))
    return sil, tex


def make_loss(mesh, renderers, target_sil, target_rgb):
    sil_renderer, tex_renderer = renderers

    def loss_fn(positions):  # (S, 3) -> (S,), one batched render per renderer
        cams = camera_from_position(positions)
        meshes = mesh.extend(positions.shape[0])
        sil = sil_renderer(meshes, cameras=cams)[..., 3]
        rgb = tex_renderer(meshes, cameras=cams)[..., :3]
        loss_s = jnp.sum((sil - target_sil) ** 2, axis=(1, 2))
        loss_t = jnp.sum((rgb - target_rgb) ** 2, axis=(1, 2, 3))
        return WEIGHTS[0] * loss_s + WEIGHTS[1] * loss_t

    return loss_fn


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="64x64, K=20/10 (seconds)")
    p.add_argument("--out", type=Path, default=Path("out/ch04_pose_texture"))
    p.add_argument("--iters", type=int, default=None, help="default 200 (25 with --quick)")
    p.add_argument("--image-size", type=int, default=None, help="override the image side")
    add_multistart_args(p, 800.0)
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.iters is None:
        args.iters = 25 if args.quick else 200
    size, k_sil, k_tex = (64, 20, 10) if args.quick else (256, 100, 50)
    size = args.image_size or size
    threshold = 800.0 * size / 256 if args.threshold is None else args.threshold
    mesh, source = cow_mesh(args.quick)
    target = target_position(3.0, 50.0, 0.0)
    phong = phong_renderer(size)
    render_phong = jax.jit(lambda m, p: phong(m, cameras=camera_from_position(p)))
    ref = render_phong(mesh, jnp.asarray(target))[0]
    target_sil = (jnp.max(ref[..., :3], axis=-1) != 1.0).astype(jnp.float32)
    save_target(args.out, "target_rgb", ref[..., :3])
    save_target(args.out, "target_silhouette", target_sil)
    loss_fn = make_loss(mesh, soft_renderers(size, k_sil, k_tex), target_sil, ref[..., :3])
    frames = []

    def on_iteration(i, pos):
        frames.append(np.asarray(render_phong(mesh, pos[0])[0]))

    t0 = time.perf_counter()
    fit = fit_positions(loss_fn, np.asarray([START], np.float32), lr=0.05,
                        max_iters=args.iters, threshold=threshold,
                        on_iteration=on_iteration, desc="texture")  # fmt: skip
    metrics = {
        "data": source,
        "image_size": size,
        "faces_per_pixel": [k_sil, k_tex],
        "threshold": threshold,
        "iterations": int(fit["iterations"][0]),
        "reached_threshold": bool(fit["iterations"][0] > 0),
        "final_loss": float(fit["losses"][-1, 0]),
        "final_position": fit["positions"][0].tolist(),
        "target_position": target.tolist(),
        "final_position_error": float(np.linalg.norm(fit["positions"][0] - target)),
        "seconds": time.perf_counter() - t0,
    }
    if args.starts > 0:
        metrics["multistart"] = run_multistart(loss_fn, args, threshold, target)
    save_outputs(args.out, "texture_fit", frames, fit["losses"], metrics)
    print_metrics(metrics)
    return metrics


if __name__ == "__main__":
    enable_compilation_cache()  # compiled programs persist across runs
    main()
