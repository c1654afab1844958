"""Chapter 2: rendering the textured cow under different lights and materials.

The book's six renders at 512 x 512 with a hard Phong shader (``JAX3D_DATA``'s cow, else the
procedural UV-checkerboard teapot), camera ``look_at_view_transform(2.7, 0, 180)``:

    light_at_front.png  point light at (0, 0, -3)
    light_at_back.png   point light at (0, 0, 1)
    dark.png            light at the back, material ambient colour 0.01
    green.png           camera (2.7, elev 10, azim -150), light at (2, 2, -2), green specular,
                        shininess 10
    red.png             as green with red specular, shininess 20
    blue.png            as green with blue specular, shininess 0 (no highlight: the specular
                        colour tints the whole lit side)

All six are rendered by one jitted call with per-call ``cameras``, ``lights`` and
``materials`` overrides (``renderer(mesh, cameras=..., lights=..., materials=...)``).
``metrics.json`` holds each image's mean RGB over the object and its coverage.

    python experiments/ch02_rendering.py --quick --out out/ch02_rendering
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ch04_pose_common import cow_mesh  # noqa: E402

from jax3d.renderer import (  # noqa: E402
    FoVPerspectiveCameras,
    HardPhongShader,
    Materials,
    MeshRasterizer,
    MeshRenderer,
    PointLights,
    RasterizationSettings,
    look_at_view_transform,
)
from jax3d.utils import enable_compilation_cache
from jax3d.vis import save_image  # noqa: E402


def scenes() -> dict:
    """name -> (camera (dist, elev, azim), light location, Materials)."""
    front, side = (2.7, 0.0, 180.0), (2.7, 10.0, -150.0)
    return {
        "light_at_front": (front, (0.0, 0.0, -3.0), Materials()),
        "light_at_back": (front, (0.0, 0.0, 1.0), Materials()),
        "dark": (front, (0.0, 0.0, 1.0), Materials(ambient_color=((0.01, 0.01, 0.01),))),
        "green": (side, (2.0, 2.0, -2.0),
                  Materials(specular_color=((0.0, 1.0, 0.0),), shininess=10.0)),
        "red": (side, (2.0, 2.0, -2.0),
                Materials(specular_color=((1.0, 0.0, 0.0),), shininess=20.0)),
        "blue": (side, (2.0, 2.0, -2.0),
                 Materials(specular_color=((0.0, 0.0, 1.0),), shininess=0.0)),
    }  # fmt: skip


def make_render(image_size: int):
    """Jitted ``render(mesh, cameras, lights, materials) -> (H, W, 4)``."""
    settings = RasterizationSettings(image_size=image_size, blur_radius=0.0, faces_per_pixel=1)
    renderer = MeshRenderer(MeshRasterizer(None, settings), HardPhongShader())

    @jax.jit
    def render(mesh, cameras, lights, materials):
        return renderer(mesh, cameras=cameras, lights=lights, materials=materials)[0]

    return render


def image_stats(image: np.ndarray) -> dict:
    mask = image[..., 3] > 0
    mean = image[..., :3][mask].mean(0) if mask.any() else np.zeros(3)
    return {"coverage": float(mask.mean()), "mean_rgb": [float(c) for c in mean]}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="render 128 x 128")
    p.add_argument("--out", type=Path, default=Path("out/ch02_rendering"))
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    size = 128 if args.quick else 512
    mesh, source = cow_mesh(args.quick)
    render = make_render(size)
    metrics = {"data": source, "image_size": size, "images": {}}
    t0 = time.perf_counter()
    for name, (view, light, materials) in tqdm(scenes().items(), desc="renders"):
        R, T = look_at_view_transform(*view)
        image = np.asarray(render(mesh, FoVPerspectiveCameras(R=R, T=T),
                                  PointLights(location=[light]), materials))  # fmt: skip
        save_image(args.out / f"{name}.png", np.clip(image[..., :3], 0.0, 1.0))
        metrics["images"][name] = image_stats(image)
    metrics["seconds"] = time.perf_counter() - t0
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics["images"], indent=1))
    return metrics


if __name__ == "__main__":
    enable_compilation_cache()  # compiled programs persist across runs
    main()
