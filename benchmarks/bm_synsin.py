"""Benchmarks of SynSin: the neural point renderer at the authors' sizes and the full GAN step.

- splat: every pixel of a 256 x 256 image unprojected with a depth map, moved by the book's
  pose (theta -0.15, phi -0.1, tz 0.1), splatted with radius 4 px and K = 128 points per pixel
  (65,536 points, 64 feature channels, alpha compositing): forward, and forward + backward to
  the depths and the features.
- step: one jitted generator + discriminator update (`make_synsin_step`: SynSin's losses with
  VGG16) at `--size` (256: the authors' model, `SYNSIN_PAPER`; 64: the CPU model of
  experiments/ch09_synsin.py) and `--batch`.

Median and spread of `--repeats` timed calls after a jit warm-up (``block_until_ready``), the
peak resident memory and the machine.

    python benchmarks/bm_synsin.py [--what splat|step|all] [--size 256] [--batch 1]
        [--points-per-pixel 128] [--radius 4] [--repeats 5]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from harness import keep_freed_memory, machine, peak_rss_mb, timeit

from jax3d.models.synsin import (
    SYNSIN_PAPER,
    SplatSettings,
    SynSinTrainConfig,
    book_pose,
    cpu_config,
    init_gan_state,
    make_synsin_step,
    reproject,
    splat,
    transform_points,
    unproject,
)


def bench_splat(size: int, k: int, radius: float, channels: int, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    depth = jnp.asarray(rng.uniform(1.0, 5.0, (1, size, size)), jnp.float32)
    feats = jnp.asarray(rng.normal(size=(1, size * size, channels)), jnp.float32)
    K = jnp.eye(3)[None]
    RT = jnp.asarray(book_pose(-0.15, -0.1, 0.0, 0.0, 0.1))[None]
    settings = SplatSettings(radius=radius, points_per_pixel=k)

    def render(d, f):
        pts = transform_points(unproject(d, K).reshape(1, -1, 3), RT)
        return splat(reproject(pts, K, size, size), f, (size, size), settings)

    fwd = jax.jit(render)
    bwd = jax.jit(jax.grad(lambda d, f: jnp.sum(render(d, f) ** 2), (0, 1)))
    out = {"fwd": timeit(lambda: fwd(depth, feats), repeats),
           "fwd+bwd": timeit(lambda: bwd(depth, feats), repeats)}  # fmt: skip
    for name, r in out.items():
        print(f"splat {size}x{size}, {size * size} points, K={k}, r={radius}px, C={channels}, "
              f"{name}: median {r['median_ms']:.0f} ms (min {r['min_ms']:.0f}, "
              f"max {r['max_ms']:.0f})")  # fmt: skip
    return out


def bench_step(size: int, batch: int, repeats: int) -> dict:
    config = SYNSIN_PAPER.replace(image_size=size) if size >= 256 else cpu_config(size)
    tconfig = SynSinTrainConfig()
    state = init_gan_state(config, tconfig, jax.random.PRNGKey(0), batch_size=batch)
    step = make_synsin_step(config, tconfig)
    rng = np.random.default_rng(1)
    batch_arrays = {
        "src": jnp.asarray(rng.uniform(size=(batch, size, size, 3)), jnp.float32),
        "tgt": jnp.asarray(rng.uniform(size=(batch, size, size, 3)), jnp.float32),
        "K": jnp.broadcast_to(jnp.eye(3), (batch, 3, 3)),
        "RT": jnp.broadcast_to(jnp.asarray(book_pose(-0.15, -0.1, 0, 0, 0.1)), (batch, 4, 4)),
    }
    r = timeit(lambda: step(state, batch_arrays)[1]["g_loss"], repeats)
    print(f"GAN step (G + D, VGG16 loss), {size} px, batch {batch}, ngf {config.ngf}, "
          f"K={config.splat.points_per_pixel}: median {r['median_ms'] / 1e3:.2f} s "
          f"(min {r['min_ms'] / 1e3:.2f}, max {r['max_ms'] / 1e3:.2f})")  # fmt: skip
    return r


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--what", choices=("splat", "step", "all"), default="all")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--points-per-pixel", type=int, default=128)
    p.add_argument("--radius", type=float, default=4.0)
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    print(f"allocator: freed memory kept in the heap: {keep_freed_memory()}")
    print(f"machine: {machine()}")
    out = {}
    if args.what in ("splat", "all"):
        out["splat"] = bench_splat(args.size, args.points_per_pixel, args.radius, args.channels,
                                   args.repeats)  # fmt: skip
    if args.what in ("step", "all"):
        out["step"] = bench_step(args.size, args.batch, args.repeats)
    out["peak_rss_mb"] = peak_rss_mb()
    print(f"peak RSS {out['peak_rss_mb']:.0f} MB")
    return out


if __name__ == "__main__":
    from jax3d.utils import enable_compilation_cache

    enable_compilation_cache()  # compiled programs persist across runs (first-call
    # numbers: bm_first_call.py, which measures with and without the cache)
    main()
