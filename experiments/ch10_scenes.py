"""Chapter 10: the multi-object training data of Mesh R-CNN, rendered by jax3d.

Shows and caches `jax3d.datasets.FurnitureScenes` (procedural furniture in a room corner, with
per-instance classes, visible-mask boxes, masks, ROI voxels and camera-frame meshes):

    python experiments/ch10_scenes.py --figure scenes.png --figure-scenes 5 --seed 3
    python experiments/ch10_scenes.py --cache out/scenes_train.npz --num-scenes 2048
    python experiments/ch10_scenes.py --preset authors --cache out/scenes_320.npz

`--figure` writes a grid: the images on the top row, the instance masks and boxes below;
`--cache` renders a whole split into an `.npz` that `jax3d.datasets.NpzFurnitureScenes` reads
(and prints the generation speed).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from jax3d.datasets import FurnitureSceneConfig, FurnitureScenes, cache_furniture_scenes
from jax3d.utils import enable_compilation_cache
from jax3d.vis import draw_instances, save_image


def scene_figure(batch: dict, scale: int = 2) -> np.ndarray:
    """(2 S scale, B S scale, 3): images above their instance overlays, nearest-upscaled."""
    top = np.concatenate(list(batch["images"]), 1)
    bottom = np.concatenate([
        draw_instances(img, m, b, v)
        for img, m, b, v in zip(batch["images"], batch["masks"], batch["boxes"], batch["valid"])
    ], 1)  # fmt: skip
    grid = np.concatenate([top, bottom], 0)
    return np.repeat(np.repeat(grid, scale, 0), scale, 1)


def main(argv=None) -> dict:
    enable_compilation_cache()  # compiled programs persist across runs
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", choices=("cpu", "authors"), default="cpu")
    p.add_argument("--split", default="train", choices=("train", "val", "test"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-scenes", type=int, default=None)
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--figure", default=None, help="PNG of the first --figure-scenes scenes")
    p.add_argument("--figure-scenes", type=int, default=8)
    p.add_argument("--cache", default=None, help=".npz of the whole split")
    args = p.parse_args(argv)
    changes = {"seed": args.seed, "split": args.split}
    if args.num_scenes:
        changes["num_scenes"] = args.num_scenes
    if args.image_size:
        changes["image_size"] = args.image_size
    config = (FurnitureSceneConfig.authors(**changes) if args.preset == "authors"
              else FurnitureSceneConfig(**changes))  # fmt: skip
    out = {"config": config.__dict__ | {"classes": list(config.classes)}}
    if args.figure:
        t0 = time.perf_counter()
        n = min(args.figure_scenes, config.num_scenes)
        batch = FurnitureScenes(config.replace(num_points=0)).get_batch(range(n))
        save_image(args.figure, scene_figure(batch))
        out["figure"] = {"path": args.figure, "seconds": time.perf_counter() - t0,
                         "instances": batch["valid"].sum(1).tolist()}  # fmt: skip
    if args.cache:
        out["cache"] = cache_furniture_scenes(
            config, args.cache, log=lambda done, total: print(f"{done}/{total}", flush=True))
    print(json.dumps(out, indent=1, default=str))
    return out


if __name__ == "__main__":
    main()
