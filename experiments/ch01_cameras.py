"""Chapter 1: cameras. A batch of 8 screen-space PerspectiveCameras looks at the 100-unit
camera cube; the world-to-view and world-to-screen vertices are printed and the 8 projected
cubes are drawn. Also writes the coordinate-conventions figure used in docs/conventions.md and
a small orbit GIF.

    python experiments/ch01_cameras.py --quick --out out/ch01_cameras
    python experiments/ch01_cameras.py --docs-images docs/images   # refresh the docs figure

Works without data (a procedural copy of meshes/camera_cube/cube.obj) and with JAX3D_DATA.
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from tqdm import tqdm

from jax3d.datasets import data_path, has_data
from jax3d.io import load_obj, save_obj
from jax3d.renderer import (
    FoVPerspectiveCameras,
    PerspectiveCameras,
    get_screen_to_ndc_transform,
    look_at_view_transform,
)
from jax3d.transforms import euler_angles_to_matrix
from jax3d.utils import enable_compilation_cache
from jax3d.vis import save_gif

CUBE_NAME = "meshes/camera_cube/cube.obj"
# The same cube as meshes/camera_cube/cube.obj: side 100, x, y in [-50, 50], z in [10, 20]
# (a box 100 x 100 x 10, as in the book's file), with the file's face order.
CUBE_VERTS = np.array(
    [
        [-50, -50, 20],
        [-50, -50, 10],
        [-50, 50, 10],
        [-50, 50, 20],
        [50, -50, 20],
        [50, -50, 10],
        [50, 50, 10],
        [50, 50, 20],
    ],
    np.float32,
)
CUBE_FACES = (
    np.array(
        [
            [1, 2, 3],
            [6, 5, 8],
            [7, 3, 2],
            [4, 8, 5],
            [8, 4, 3],
            [6, 2, 1],
            [1, 3, 4],
            [6, 8, 7],
            [7, 2, 6],
            [4, 5, 1],
            [8, 3, 7],
            [6, 1, 5],
        ],
        np.int32,
    )
    - 1
)
IMAGE_SIZE = (1024, 512)  # (height, width), PyTorch3D's order
FOCAL = (1200.0, 300.0)
PRINCIPAL = (512.0, 256.0)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small GIF, seconds to run")
    p.add_argument("--out", type=Path, default=Path("out/ch01_cameras"))
    p.add_argument(
        "--docs-images",
        type=Path,
        default=None,
        help="also write conventions_spaces.png into this folder",
    )
    return p.parse_args(argv)


def load_camera_cube() -> tuple[np.ndarray, np.ndarray, str]:
    """(8, 3) verts, (12, 3) faces and where they came from (JAX3D_DATA or procedural)."""
    if has_data(CUBE_NAME):
        verts, faces, _ = load_obj(data_path(CUBE_NAME), load_textures=False)
        return np.asarray(verts), np.asarray(faces.verts_idx), "JAX3D_DATA"
    return CUBE_VERTS.copy(), CUBE_FACES.copy(), "procedural"


def extrinsic_zyx_to_matrix(angles_deg) -> jnp.ndarray:
    """Rotation matrices of extrinsic Euler angles ``(z, y, x)`` in degrees (scipy's
    ``Rotation.from_euler('zyx', ...)``): rotate about world z, then y, then x, i.e.
    ``Rx @ Ry @ Rz``, which is PyTorch3D's ``euler_angles_to_matrix((x, y, z), "XYZ")``."""
    angles = jnp.deg2rad(jnp.asarray(angles_deg, jnp.float32))
    return euler_angles_to_matrix(angles[:, ::-1], "XYZ")


def book_cameras() -> PerspectiveCameras:
    """The book's 8 cameras: angles (5n, n, n) degrees and T = (n, 0, 0) for n in -4..3."""
    n = np.arange(-4, 4, dtype=np.float32)
    angles = np.stack([5 * n, n, n], axis=1)
    T = np.stack([n, np.zeros_like(n), np.zeros_like(n)], axis=1)
    return PerspectiveCameras(
        focal_length=(FOCAL,),
        principal_point=(PRINCIPAL,),
        in_ndc=False,
        image_size=(IMAGE_SIZE,),
        R=extrinsic_zyx_to_matrix(angles),
        T=T,
    )


def _edges(faces: np.ndarray) -> np.ndarray:
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.unique(np.sort(e, axis=1), axis=0)


def plot_projected_cubes(screen: np.ndarray, faces: np.ndarray, path: Path) -> None:
    """One panel per camera: the projected cube edges inside the image frame (pixels)."""
    h, w = IMAGE_SIZE
    fig = Figure(figsize=(12, 6.2), dpi=80)
    FigureCanvasAgg(fig)
    edges = _edges(faces)
    for i, pts in enumerate(screen):
        ax = fig.add_subplot(2, 4, i + 1)
        ax.add_patch(_frame(w, h))
        for a, b in edges:
            ax.plot(pts[[a, b], 0], pts[[a, b], 1], color="tab:blue", lw=1)
        ax.plot(pts[:, 0], pts[:, 1], ".", color="tab:red", ms=4)
        # the frame plus the projected points, at most 4 image sizes away from the frame
        lo = np.maximum(np.minimum(pts[:, :2].min(0), 0), [-4 * w, -4 * h]) - 0.05 * h
        hi = np.minimum(np.maximum(pts[:, :2].max(0), [w, h]), [5 * w, 5 * h]) + 0.05 * h
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(hi[1], lo[1])  # image rows grow downwards
        ax.set_aspect("equal")
        ax.set_title(f"camera {i} (n = {i - 4})", fontsize=9)
        ax.tick_params(labelsize=7)
    fig.suptitle("camera cube seen by 8 PerspectiveCameras (screen pixels, 1024 x 512)")
    fig.tight_layout()
    fig.savefig(path)


def _frame(w: float, h: float) -> Rectangle:
    return Rectangle((0, 0), w, h, fill=False, ec="0.4", lw=1.0)


def _arrow(ax, start, end, label, color="tab:red") -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "->", "color": color})
    ax.text(
        end[0],
        end[1],
        label,
        color=color,
        fontsize=9,
        ha="center",
        va="center",
        bbox={"fc": "white", "ec": "none", "pad": 1},
    )


def _image_axes(ax, w: float, h: float, title: str) -> None:
    ax.add_patch(_frame(w, h))
    ax.set_xlim(-0.25 * w, 1.25 * w)
    ax.set_ylim(1.25 * h, -0.25 * h)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=10)


def _panel_view(ax) -> None:
    """View space as the camera sees it: axis tips projected by an identity camera."""
    size = 100
    cams = FoVPerspectiveCameras()
    tips = jnp.array([[0.0, 0.0, 3.0], [1.2, 0.0, 3.0], [0.0, 1.2, 3.0]])
    o, x, y = np.asarray(cams.transform_points_screen(tips, image_size=(size, size)))[:, :2]
    _image_axes(ax, size, size, "view: +X left, +Y up, +Z in")
    _arrow(ax, o, x, "+X")
    _arrow(ax, o, y, "+Y")
    ax.plot(*o, marker="$\\otimes$", ms=14, color="tab:red")
    ax.text(o[0] + 6, o[1] + 12, "+Z into the screen", fontsize=8, color="tab:red")


@partial(jax.jit, static_argnames=("h", "w"))
def _screen_to_ndc(points: jax.Array, h: int, w: int) -> jax.Array:
    """(P, 3) image points (+X right, +Y down) -> PyTorch3D NDC for an h x w image."""
    to_ndc = get_screen_to_ndc_transform(
        FoVPerspectiveCameras(), with_xyflip=True, image_size=(h, w)
    )
    return to_ndc.transform_points(points)


def _panel_ndc(ax, h: int, w: int) -> None:
    """NDC corners of an H x W image, computed with the screen-to-NDC transform."""
    corners = jnp.array([[0.0, 0.0, 1.0], [w, h, 1.0], [w / 2, h / 2, 1.0]])
    ndc = np.asarray(_screen_to_ndc(corners, h, w))
    kind = "square" if h == w else f"W = {w / h:g} H"
    _image_axes(ax, w, h, f"NDC, {kind}: shorter side in [-1, 1]")
    for (sx, sy, _), (nx, ny, _) in zip(np.asarray(corners), ndc):
        ax.plot(sx, sy, "o", color="tab:blue", ms=4)
        ax.text(sx, sy + 0.08 * h, f"({nx:+.0f}, {ny:+.0f})", fontsize=8, ha="center")
    c = np.array([w / 2, h / 2])
    _arrow(ax, c, c + [-0.3 * h, 0], "+X")
    _arrow(ax, c, c + [0, -0.3 * h], "+Y")


def _panel_screen(ax, h: int = 4, w: int = 6) -> None:
    """Screen pixels: origin at the top-left corner, pixel centres at half-integers."""
    _image_axes(ax, w, h, "screen: pixels, +X right, +Y down")
    for i in range(h + 1):
        ax.plot([0, w], [i, i], color="0.8", lw=0.8)
    for j in range(w + 1):
        ax.plot([j, j], [0, h], color="0.8", lw=0.8)
    jj, ii = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    ax.plot(jj.ravel(), ii.ravel(), ".", color="tab:blue", ms=5)
    nx, ny, _ = np.asarray(_screen_to_ndc(jnp.array([[0.5, 0.5, 1.0]]), h, w))[0]
    ax.text(
        w / 2,
        h + 0.6,
        f"pixel (0, 0) centre: (0.5, 0.5) = NDC ({nx:.2f}, {ny:.2f})",
        fontsize=8,
        ha="center",
    )
    _arrow(ax, (0, 0), (2.2, 0), "+X", color="tab:green")
    _arrow(ax, (0, 0), (0, 2.2), "+Y", color="tab:green")


def draw_conventions(path: Path) -> None:
    """The four spaces of docs/conventions.md, drawn from the library's own transforms."""
    fig = Figure(figsize=(13, 3.5), dpi=72)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 4)
    _panel_view(axes[0])
    _panel_ndc(axes[1], 64, 64)
    _panel_ndc(axes[2], 64, 128)
    _panel_screen(axes[3])
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


@jax.jit
def _view_and_screen(cameras: PerspectiveCameras, verts: jax.Array):
    """World-to-view and world-to-screen vertices, (N, V, 3) each."""
    view = cameras.get_world_to_view_transform().transform_points(verts)
    return view, cameras.transform_points_screen(verts)


@jax.jit
def _roundtrip_error(cameras: PerspectiveCameras, verts: jax.Array, screen: jax.Array):
    view = cameras.get_world_to_view_transform().transform_points(verts)
    ndc = get_screen_to_ndc_transform(cameras, with_xyflip=True).transform_points(screen)
    xyd = jnp.concatenate([ndc[..., :2], view[..., 2:]], axis=-1)
    back = cameras.unproject_points(xyd, world_coordinates=True, from_ndc=True)
    return jnp.max(jnp.abs(back - verts[None]))


def roundtrip_error(cameras: PerspectiveCameras, verts: np.ndarray, screen: np.ndarray) -> float:
    """Max |world - unproject(screen)| over all cameras and vertices (one compiled kernel)."""
    return float(_roundtrip_error(cameras, jnp.asarray(verts), jnp.asarray(screen)))


def orbit_frames(verts, faces, num_frames: int, size: int) -> list[np.ndarray]:
    """Wireframe frames of the cube seen by FoV cameras orbiting its centre."""
    centre = verts.mean(axis=0)
    azim = np.linspace(0.0, 360.0, num_frames, endpoint=False)
    R, T = look_at_view_transform(dist=250.0, elev=25.0, azim=azim, at=centre[None])
    cams = FoVPerspectiveCameras(fov=50.0, znear=10.0, zfar=1000.0, R=R, T=T)
    screen = np.asarray(cams.transform_points_screen(verts, image_size=(size, size)))
    edges, frames = _edges(faces), []
    for pts in tqdm(screen, desc="orbit frames", leave=False):
        fig = Figure(figsize=(size / 50, size / 50), dpi=50)
        canvas = FigureCanvasAgg(fig)
        ax = fig.add_axes([0, 0, 1, 1])
        for a, b in edges:
            ax.plot(pts[[a, b], 0], pts[[a, b], 1], color="tab:blue", lw=1.5)
        ax.set_xlim(0, size)
        ax.set_ylim(size, 0)
        ax.axis("off")
        canvas.draw()
        frames.append(np.asarray(canvas.buffer_rgba())[..., :3].copy())
    return frames


def main(argv=None) -> dict:
    args = parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    verts, faces, source = load_camera_cube()
    cameras = book_cameras()
    world_to_view, world_to_screen = map(np.asarray, _view_and_screen(cameras, verts))
    np.set_printoptions(precision=2, suppress=True)
    print(f"cube from {source}: {len(verts)} verts, {len(faces)} faces")
    print("world-to-view vertices, (cameras, verts, xyz):\n", world_to_view)
    print(
        "world-to-screen vertices (pixels; z = 1 / depth), (cameras, verts, 3):\n", world_to_screen
    )
    plot_projected_cubes(world_to_screen, faces, out / "cubes_screen.png")
    save_obj(out / "cube_view_camera0.obj", world_to_view[0], faces)
    draw_conventions(out / "conventions_spaces.png")
    if args.docs_images is not None:
        draw_conventions(Path(args.docs_images) / "conventions_spaces.png")
    frames = orbit_frames(verts, faces, 8 if args.quick else 36, 96 if args.quick else 200)
    save_gif(out / "orbit.gif", frames, fps=8)
    metrics = {
        "data_source": source,
        "num_cameras": len(cameras),
        "num_verts": int(len(verts)),
        "screen_xy_min": world_to_screen[..., :2].min(axis=(0, 1)).tolist(),
        "screen_xy_max": world_to_screen[..., :2].max(axis=(0, 1)).tolist(),
        "view_depth_range": [
            float(world_to_view[..., 2].min()),
            float(world_to_view[..., 2].max()),
        ],
        "roundtrip_max_abs_error": roundtrip_error(cameras, verts, world_to_screen),
        "seconds": time.perf_counter() - start,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics, indent=2))
    return metrics


if __name__ == "__main__":
    enable_compilation_cache()  # compiled programs persist across runs
    main()
