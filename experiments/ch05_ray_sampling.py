"""Chapter 5, step 1: ray sampling. Ten FoV cameras at distance 2.7 around the origin (azimuths
spread over 360 degrees) cast one ray per pixel of a 64x64 image with 50 samples between depths
0.1 and 3.0 (NDCMultinomialRaysampler); the book's shapes are printed and the rays drawn.

    python experiments/ch05_ray_sampling.py --quick --out out/ch05_ray_sampling

Needs no data (the scene is only cameras and rays); runs the same with JAX3D_DATA.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from jax3d.renderer import FoVPerspectiveCameras, look_at_view_transform
from jax3d.renderer.implicit import NDCMultinomialRaysampler, ray_bundle_to_ray_points
from jax3d.utils import enable_compilation_cache

NUM_VIEWS, IMAGE_SIZE, N_PTS, MIN_DEPTH, MAX_DEPTH = 10, 64, 50, 0.1, 3.0


def book_cameras(num_views: int = NUM_VIEWS) -> FoVPerspectiveCameras:
    """``num_views`` cameras at distance 2.7, elevation 0, azimuths over 360 degrees."""
    azim = np.linspace(-180.0, 180.0, num_views, endpoint=False) + 180.0
    R, T = look_at_view_transform(dist=2.7, elev=np.zeros(num_views), azim=azim)
    return FoVPerspectiveCameras(R=R, T=T)


def book_raysampler() -> NDCMultinomialRaysampler:
    """64x64 rays, 50 points per ray between depths 0.1 and 3.0."""
    return NDCMultinomialRaysampler(image_width=IMAGE_SIZE, image_height=IMAGE_SIZE,
                                    n_pts_per_ray=N_PTS, min_depth=MIN_DEPTH,
                                    max_depth=MAX_DEPTH)


def plot_rays(path: Path, cameras, ray_bundle, stride: int) -> None:
    """Camera centres and every ``stride``-th ray's sample points, seen from above."""
    pts = np.asarray(ray_bundle_to_ray_points(ray_bundle))[:, ::stride, ::stride]
    centres = np.asarray(cameras.get_camera_center())
    fig = Figure(figsize=(10, 5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 2, 1, projection="3d")
    colours = np.linspace(0, 1, len(centres))
    for i in range(len(centres)):
        p = pts[i].reshape(-1, 3)
        ax.scatter(p[:, 0], p[:, 2], p[:, 1], s=0.3, color=(colours[i], 0.3, 1 - colours[i]))
    ax.scatter(centres[:, 0], centres[:, 2], centres[:, 1], c="k", s=20)
    ax.set(xlabel="x", ylabel="z", zlabel="y", title="ray points of the 10 cameras")
    ax2 = fig.add_subplot(1, 2, 2)
    xy = np.asarray(ray_bundle.xys[0])[::stride, ::stride].reshape(-1, 2)
    ax2.scatter(xy[:, 0], xy[:, 1], s=3)
    ax2.set(xlabel="NDC x (+ left)", ylabel="NDC y (+ up)", title="xys of camera 0",
            aspect="equal")
    ax2.invert_xaxis()
    fig.savefig(path, dpi=90)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="sparser figure (seconds)")
    parser.add_argument("--out", default="out/ch05_ray_sampling", help="output folder")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    cameras = book_cameras()
    ray_bundle = book_raysampler()(cameras)
    shapes = {name: list(getattr(ray_bundle, name).shape)
              for name in ("origins", "directions", "lengths", "xys")}
    for name, shape in shapes.items():
        print(f"{name} shape = {tuple(shape)}")
    plot_rays(out / "rays.png", cameras, ray_bundle, stride=16 if args.quick else 8)
    centres = np.asarray(cameras.get_camera_center())
    origins = np.asarray(ray_bundle.origins)
    metrics = {
        "shapes": shapes,
        "origin_to_camera_centre_max": float(np.abs(origins - centres[:, None, None]).max()),
        "depth_range": [float(ray_bundle.lengths.min()), float(ray_bundle.lengths.max())],
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


if __name__ == "__main__":
    enable_compilation_cache()  # compiled programs persist across runs
    main()
