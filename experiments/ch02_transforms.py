"""Chapter 2: rotations and Lie groups. The book's four log-rotations go through `hat`,
`hat_inv`, `so3_exp_map` and `so3_log_map` (shapes, values and round-trip errors are printed);
an accuracy sweep compares `so3_log_map` with the textbook acos-of-the-trace formula from the
identity to pi; a mesh is moved with `Transform3d` and turned along a geodesic of SO(3).

    python experiments/ch02_transforms.py --quick --out out/ch02_transforms

Works without data (the procedural Utah teapot) and with JAX3D_DATA (the cow mesh).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from tqdm import tqdm

from jax3d.datasets import data_path, has_data
from jax3d.io import load_obj, save_obj
from jax3d.transforms import (
    Rotate,
    RotateAxisAngle,
    Scale,
    Translate,
    hat,
    hat_inv,
    so3_exp_map,
    so3_log_map,
)
from jax3d.utils import enable_compilation_cache, teapot_verts_faces
from jax3d.vis import save_gif, save_image

COW_NAME = "meshes/cow_mesh/cow.obj"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="coarse sweep and a short GIF, seconds")
    p.add_argument("--out", type=Path, default=Path("out/ch02_transforms"))
    return p.parse_args(argv)


def book_log_rotations() -> np.ndarray:
    """The book's 4 log-rotations (axis-angle vectors), (4, 3) float32."""
    log_rot = np.zeros((4, 3), np.float32)
    log_rot[0] = [0.001, 0.0001, 0.0002]
    log_rot[1] = [0.0001, 0.001, 0.0002]
    log_rot[2] = [0.0001, 0.0002, 0.001]
    log_rot[3] = [0.001, 0.002, 0.003]
    return log_rot


@jax.jit
def lie_round_trip(log_rot: jax.Array) -> dict[str, jax.Array]:
    """hat / hat_inv and exp / log of (N, 3) log-rotations, with their round-trip errors."""
    skew = hat(log_rot)
    R = so3_exp_map(log_rot)
    log_back = so3_log_map(R)
    eye = jnp.eye(3)
    return {
        "hat": skew,
        "hat_inv": hat_inv(skew),
        "R": R,
        "log": log_back,
        "hat_roundtrip_error": jnp.max(jnp.abs(hat_inv(skew) - log_rot)),
        "log_exp_abs_error": jnp.max(jnp.abs(log_back - log_rot)),
        "log_exp_rel_error": jnp.max(
            jnp.linalg.norm(log_back - log_rot, axis=-1) / jnp.linalg.norm(log_rot, axis=-1)
        ),
        "orthogonality_error": jnp.max(jnp.abs(R @ jnp.swapaxes(R, -1, -2) - eye)),
        "det_error": jnp.max(jnp.abs(jnp.linalg.det(R) - 1.0)),
    }


def rodrigues_float64(w: np.ndarray) -> np.ndarray:
    """Exact (float64) rotation matrices of (N, 3) axis-angle vectors."""
    out = np.tile(np.eye(3), (len(w), 1, 1))
    for i, v in enumerate(np.asarray(w, np.float64)):
        t = np.linalg.norm(v)
        if t > 0:
            x, y, z = v / t
            k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
            out[i] = np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * k @ k
    return out


def log_acos_float32(R: np.ndarray) -> np.ndarray:
    """The textbook log map in float32: angle = acos((tr R - 1) / 2), axis from R - R^T."""
    R = np.asarray(R, np.float32)
    cos = np.clip((np.trace(R, axis1=1, axis2=2) - 1) / 2, -1, 1).astype(np.float32)
    angle = np.arccos(cos)
    vee = np.stack([R[:, 2, 1] - R[:, 1, 2], R[:, 0, 2] - R[:, 2, 0], R[:, 1, 0] - R[:, 0, 1]], 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(angle > 0, angle / (2 * np.sin(angle)), 0.5)
    return vee * scale[:, None].astype(np.float32)


def accuracy_sweep(num: int) -> dict[str, np.ndarray]:
    """Max log-map error from angle 1e-7 to pi, jax3d vs the acos formula (both float32)."""
    angles = np.concatenate(
        [np.logspace(-7, 0, num), np.pi - np.logspace(0, -6, num), [np.pi]]
    )
    axis = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    w = axis[None] * angles[:, None]
    R32 = rodrigues_float64(w).astype(np.float32)
    ours = np.asarray(jax.jit(so3_log_map)(R32), np.float64)
    ours = np.where((ours @ axis)[:, None] < 0, -ours, ours)  # at pi both signs are right
    naive = log_acos_float32(R32).astype(np.float64)
    return {
        "angles": angles,
        "jax3d": np.linalg.norm(ours - w, axis=1),
        "acos": np.linalg.norm(naive - w, axis=1),
    }


def plot_sweep(sweep: dict[str, np.ndarray], path: Path) -> None:
    fig = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 2, 1)
    bx = fig.add_subplot(1, 2, 2)
    a = sweep["angles"]
    near_zero, near_pi = a <= 1.0, a > 1.0
    floor = 1e-10
    for key, style in (("acos", "tab:red"), ("jax3d", "tab:blue")):
        err = np.maximum(sweep[key], floor)
        ax.loglog(a[near_zero], err[near_zero], color=style, label=key)
        bx.loglog(np.maximum(np.pi - a[near_pi], 1e-8), err[near_pi], color=style, label=key)
    ax.set_xlabel("angle (rad)")
    ax.set_ylabel("|log(R) - w| (float32 R)")
    ax.set_title("near the identity")
    bx.set_xlabel("pi - angle (rad)")
    bx.set_title("near pi")
    bx.invert_xaxis()
    for axes in (ax, bx):
        axes.axhline(1e-5, color="gray", ls=":", lw=1)
        axes.legend()
    fig.tight_layout()
    fig.savefig(path)


def load_mesh() -> tuple[np.ndarray, np.ndarray, str]:
    """(V, 3) verts, (F, 3) faces and their source: the cow (JAX3D_DATA) or the teapot."""
    if has_data(COW_NAME):
        verts, faces, _ = load_obj(data_path(COW_NAME), load_textures=False)
        return np.asarray(verts), np.asarray(faces.verts_idx), "JAX3D_DATA"
    verts, faces = teapot_verts_faces(subdivisions=4)
    return np.asarray(verts), np.asarray(faces), "procedural"


def _edges(faces: np.ndarray) -> np.ndarray:
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.unique(np.sort(e, axis=1), axis=0)


def draw_wireframes(panels, faces: np.ndarray, size: int, titles=None) -> np.ndarray:
    """Orthographic front views (x to the left as PyTorch3D's camera sees +Z) as an RGB image."""
    edges = _edges(faces)
    fig = Figure(figsize=(size * len(panels) / 100, size / 100), dpi=100)
    canvas = FigureCanvasAgg(fig)
    lim = max(np.abs(verts[:, :2]).max() for verts, _ in panels) * 1.05
    for i, (verts, color) in enumerate(panels):
        ax = fig.add_axes([i / len(panels), 0, 1 / len(panels), 1])
        segs = verts[edges][:, :, :2] * np.array([-1.0, 1.0])  # +X left on screen
        ax.add_collection(LineCollection(segs, colors=color, linewidths=0.3))
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.axis("off")
        if titles:
            ax.set_title(titles[i], fontsize=8, y=0.9)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def transform_demo(verts: np.ndarray, faces: np.ndarray, out: Path) -> dict[str, float]:
    """Scale, rotate and translate a mesh with Transform3d; check the inverse; save OBJ + PNG."""
    centre = verts.mean(axis=0)
    radius = np.abs(verts - centre).max()
    t = (
        Translate(jnp.asarray(-centre[None]))
        .compose(Scale(1.0 / radius))
        .rotate_axis_angle(30.0, "Y")
        .compose(RotateAxisAngle(-20.0, "X"), Translate(0.2, -0.1, 0.0))
    )
    moved = np.asarray(t.transform_points(verts))
    back = np.asarray(t.inverse().transform_points(moved))
    save_obj(out / "mesh_transformed.obj", moved, faces)
    normalised = np.asarray(Translate(jnp.asarray(-centre[None])).scale(1.0 / radius)
                            .transform_points(verts))
    img = draw_wireframes([(normalised, "tab:gray"), (moved, "tab:blue")], faces, 300,
                          ["normalised", "rotated + translated"])
    save_image(out / "transform3d.png", img)
    return {"transform_inverse_max_error": float(np.abs(back - verts).max())}


def geodesic_frames(verts: np.ndarray, faces: np.ndarray, num: int, size: int):
    """Frames of the mesh turned along R(s) = exp(s log R1), s in [0, 1]."""
    centre = verts.mean(axis=0)
    v = (verts - centre) / np.abs(verts - centre).max()
    log_r1 = jnp.array([0.4, 2.2, 0.3])
    steps = jnp.linspace(0.0, 1.0, num)[:, None] * log_r1[None]
    R = so3_exp_map(steps)  # (num, 3, 3), column convention: x -> R x
    # Row-vector points: x R^T, so Rotate takes the transpose.
    posed = np.asarray(Rotate(jnp.swapaxes(R, 1, 2)).transform_points(jnp.asarray(v)))
    frames = [draw_wireframes([(p, "tab:blue")], faces, size)
              for p in tqdm(posed, desc="geodesic frames", leave=False)]
    # The end point of the geodesic is R1 = exp(log R1): its log gives log R1 back.
    end_error = float(jnp.max(jnp.abs(so3_log_map(R[-1]) - log_r1)))
    return frames, end_error


def print_round_trip(log_rot: np.ndarray, res: dict) -> None:
    np.set_printoptions(precision=6, suppress=False)
    print("log_rot", log_rot.shape, "\n", log_rot)
    print("hat(log_rot)", res["hat"].shape, "\n", np.asarray(res["hat"]))
    print("hat_inv(hat(log_rot))", res["hat_inv"].shape, "\n", np.asarray(res["hat_inv"]))
    print("so3_exp_map(log_rot)", res["R"].shape, "\n", np.asarray(res["R"]))
    print("so3_log_map(so3_exp_map(log_rot))", res["log"].shape, "\n", np.asarray(res["log"]))


def main(argv=None) -> dict:
    args = parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    log_rot = book_log_rotations()
    res = lie_round_trip(jnp.asarray(log_rot))
    print_round_trip(log_rot, res)
    sweep = accuracy_sweep(20 if args.quick else 200)
    plot_sweep(sweep, out / "log_map_accuracy.png")
    verts, faces, source = load_mesh()
    print(f"mesh from {source}: {len(verts)} verts, {len(faces)} faces")
    metrics = {key: float(res[key]) for key in res if key.endswith("error")}
    metrics.update(transform_demo(verts, faces, out))
    frames, end_error = geodesic_frames(verts, faces, 8 if args.quick else 48,
                                        120 if args.quick else 240)
    save_gif(out / "geodesic.gif", frames, fps=12)
    metrics.update(
        {
            "data_source": source,
            "sweep_max_error_jax3d": float(sweep["jax3d"].max()),
            "sweep_max_error_acos_below_pi": float(sweep["acos"][:-1].max()),
            "sweep_error_acos_at_pi": float(sweep["acos"][-1]),
            "geodesic_end_log_error": end_error,
            "seconds": time.perf_counter() - start,
        }
    )
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics, indent=2))
    return metrics


if __name__ == "__main__":
    enable_compilation_cache()  # compiled programs persist across runs
    main()
