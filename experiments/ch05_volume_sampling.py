"""Chapter 5, step 2: volume sampling. A batch of ten 64^3 volumes (voxel size 0.1) is read at
the points of the book's rays (VolumeSampler, trilinear); the book's shapes are printed. The
book samples empty volumes; here the volume holds a procedural coloured torus and a ball, so the
samples can be seen: the figure shows, per camera, the densest sample along each ray.

    python experiments/ch05_volume_sampling.py --quick --out out/ch05_volume_sampling

Needs no data; runs the same with JAX3D_DATA.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ch05_ray_sampling import NUM_VIEWS, book_cameras, book_raysampler  # noqa: E402

from jax3d.renderer.implicit import VolumeSampler  # noqa: E402
from jax3d.structures import Volumes  # noqa: E402
from jax3d.utils import enable_compilation_cache
from jax3d.vis import image_grid, save_image  # noqa: E402

VOLUME_SIZE, VOXEL_SIZE = 64, 0.1


def procedural_volume(size: int = VOLUME_SIZE, voxel_size: float = VOXEL_SIZE):
    """``(densities (1, size, size, size), colours (3, size, size, size))``: a torus of radii
    (0.8, 0.25) around y and a ball of radius 0.35, opacities ~0.3 per voxel, colours varying
    with position. World coordinates of voxel (d, h, w) follow ``Volumes``."""
    r = (np.arange(size) - (size - 1) / 2) * voxel_size
    z, y, x = np.meshgrid(r, r, r, indexing="ij")
    torus = (np.sqrt(x**2 + z**2) - 0.8) ** 2 + y**2 < 0.25**2
    ball = x**2 + (y - 0.45) ** 2 + z**2 < 0.35**2
    dens = 0.3 * (torus | ball).astype(np.float32)
    colours = np.stack([0.5 + 0.5 * np.cos(3 * x), 0.5 + 0.5 * np.sin(4 * y + 1),
                        0.5 + 0.5 * np.cos(3 * z + 2)]).astype(np.float32)
    return dens[None], colours


def book_volumes(batch: int = NUM_VIEWS) -> Volumes:
    """The procedural volume repeated ``batch`` times (the book uses one volume per camera)."""
    dens, colours = procedural_volume()
    return Volumes(densities=jnp.broadcast_to(dens, (batch, *dens.shape)),
                   features=jnp.broadcast_to(colours, (batch, *colours.shape)),
                   voxel_size=VOXEL_SIZE)


@jax.jit
def sample(volumes: Volumes, ray_bundle):
    return VolumeSampler(volumes, sample_mode="bilinear")(ray_bundle)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="same sizes; a smaller figure")
    parser.add_argument("--out", default="out/ch05_volume_sampling", help="output folder")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    ray_bundle = book_raysampler()(book_cameras())
    rays_densities, rays_features = sample(book_volumes(), ray_bundle)
    print(f"rays_densities shape = {tuple(rays_densities.shape)}")
    print(f"rays_features shape = {tuple(rays_features.shape)}")
    # per ray, the colour of its densest sample (black where the ray misses everything)
    best = jnp.argmax(rays_densities[..., 0], axis=-1)
    colour = jnp.take_along_axis(rays_features, best[..., None, None], axis=-2)[..., 0, :]
    hit = jnp.max(rays_densities[..., 0], axis=-1, keepdims=True) > 0.05
    views = np.asarray(jnp.where(hit, colour, 0.0))
    save_image(out / "densest_samples.png", image_grid(views[:4] if args.quick else views,
                                                       rows=2, pad=2))
    metrics = {
        "rays_densities_shape": list(rays_densities.shape),
        "rays_features_shape": list(rays_features.shape),
        "fraction_of_rays_hitting": float(hit.mean()),
        "max_sampled_density": float(rays_densities.max()),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


if __name__ == "__main__":
    enable_compilation_cache()  # compiled programs persist across runs
    main()
