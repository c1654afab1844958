"""Chapter 8: the SMPL body model. A random body (body pose ~ U(0, 0.2) per axis-angle
component, betas ~ U(0, 0.03), global rotation pi about x, as in the book) is posed with
`smpl_forward`, saved as OBJ, and drawn next to the rest template.

    python experiments/ch08_smpl.py --quick --out out/ch08_smpl
    python experiments/ch08_smpl.py --model basicModel_neutral_lbs_10_207_0_v1.0.0.pkl
    python experiments/ch08_smpl.py --docs-images docs/images   # refresh docs/smpl.md figures

Without --model the synthetic capsule body (`synthetic_body_model`) stands in for the licensed
SMPL file. The bodies are drawn with jax3d's mesh renderer (hard Phong, vertex colours by
dominant skinning joint: the body's left orange, its right blue), each seen from the front
(camera on +Z, the direction SMPL bodies face) at a distance that frames the whole body.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ch08_render_common import on_white, part_colors, render_front  # noqa: E402

from jax3d.io import save_obj  # noqa: E402
from jax3d.models.smpl import load_smpl, smpl_forward, synthetic_body_model  # noqa: E402
from jax3d.utils import enable_compilation_cache


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer timing repeats, seconds to run")
    p.add_argument("--out", type=Path, default=Path("out/ch08_smpl"))
    p.add_argument("--model", type=Path, default=None, help="SMPL .pkl/.npz (else synthetic)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--docs-images", type=Path, default=None, help="also write smpl_*.png here")
    return p.parse_args(argv)


def load_model(path: Path | None):
    """The SMPL model at ``path`` or the synthetic stand-in, and a label saying which."""
    if path is not None:
        return load_smpl(path), f"SMPL file {path.name}"
    return synthetic_body_model(0), "synthetic capsule body (no SMPL file given)"


def random_body(key, model, batch: int = 1):
    """The book's random body: pose ~ U(0, 0.2), betas ~ U(0, 0.03), global rotation pi about x."""
    k_pose, k_betas = jax.random.split(key)
    body_pose = jax.random.uniform(k_pose, (batch, model.num_joints - 1, 3), maxval=0.2)
    betas = jax.random.uniform(k_betas, (batch, model.num_betas), maxval=0.03)
    global_orient = jnp.broadcast_to(jnp.array([np.pi, 0.0, 0.0]), (batch, 3))
    return betas, body_pose, global_orient


def draw_bodies(panels, faces, colors, path: Path, image_size: int = 320) -> None:
    """Side-by-side renders (jax3d's hard-Phong mesh renderer, each body framed from the front
    by `frontal_camera`) with titles; ``panels`` is a list of (title, (V, 3) verts, +Y up)."""
    fig = Figure(figsize=(3.2 * len(panels), 3.5), dpi=100)
    FigureCanvasAgg(fig)
    for i, (title, verts) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        ax.imshow(on_white(render_front(verts, faces, colors, image_size=image_size)))
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def time_forward(model, batch: int, repeats: int) -> float:
    """Median milliseconds of a jitted batched forward pass."""
    betas, pose, orient = random_body(jax.random.PRNGKey(1), model, batch)
    fwd = jax.jit(smpl_forward)
    fwd(model, betas, pose, orient).vertices.block_until_ready()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fwd(model, betas, pose, orient).vertices.block_until_ready()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def main(argv=None) -> dict:
    args = parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    model, source = load_model(args.model)
    betas, pose, orient = random_body(jax.random.PRNGKey(args.seed), model)
    posed = smpl_forward(model, betas, pose, orient)
    upright = smpl_forward(model, betas, pose)  # same body without the global rotation
    rest = smpl_forward(model, jnp.zeros_like(betas), jnp.zeros_like(pose))
    faces = np.asarray(model.faces)
    save_obj(out / "smpl_random_body.obj", np.asarray(posed.vertices[0]), faces)
    save_obj(out / "smpl_template.obj", np.asarray(rest.vertices[0]), faces)
    panels = [("rest template", np.asarray(rest.vertices[0])),
              ("random pose and shape", np.asarray(upright.vertices[0]))]  # fmt: skip
    colors = part_colors(model.weights)
    draw_bodies(panels, faces, colors, out / "smpl_bodies.png")
    if args.docs_images is not None:
        draw_bodies(panels, faces, colors, Path(args.docs_images) / "smpl_bodies.png")
    verts = np.asarray(posed.vertices[0])
    metrics = {
        "data_source": source,
        "num_verts": model.num_verts,
        "num_faces": int(faces.shape[0]),
        "num_joints": model.num_joints,
        "num_betas": model.num_betas,
        "max_displacement_from_template_m": float(
            np.abs(np.asarray(upright.vertices - rest.vertices)).max()
        ),
        "posed_y_range_m": [float(verts[:, 1].min()), float(verts[:, 1].max())],
        "forward_ms_batch1": time_forward(model, 1, 5 if args.quick else 50),
        "forward_ms_batch64": time_forward(model, 64, 3 if args.quick else 20),
        "seconds": time.perf_counter() - start,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics, indent=2))
    return metrics


if __name__ == "__main__":
    enable_compilation_cache()  # compiled programs persist across runs
    main()
