"""Benchmark of volumetric rendering (jax3d.renderer.implicit).

1. VolumeRenderer: a 128x128 image, 150 points per ray, from a 128^3 volume (1 density + 3
   colour channels), forward and forward+backward (gradient w.r.t. the volume), unchunked and
   in chunks of rays (jax.checkpoint per chunk bounds the backward pass's memory).
2. ImplicitRenderer: a MonteCarloRaysampler batch of 6 cameras x 750 rays x 128 points through
   a 3-layer MLP on harmonic embeddings (NeRF-like), forward and forward+backward.

Median and spread of >= 5 timed runs after a jit warm-up (``block_until_ready``); memory is
XLA's compiled temporary buffer size (``memory_analysis``) and the process's peak RSS (CPU)
or the device's peak bytes (GPU); the machine is printed.

    python benchmarks/bm_volumetric.py [--repeats 5] [--size 128] [--volume 128] [--chunk 4096]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from harness import keep_freed_memory  # benchmarks/harness.py (run as a script)

from jax3d.renderer import FoVPerspectiveCameras, look_at_view_transform
from jax3d.renderer.implicit import (
    EmissionAbsorptionRaymarcher,
    HarmonicEmbedding,
    ImplicitRenderer,
    MonteCarloRaysampler,
    NDCMultinomialRaysampler,
    VolumeRenderer,
    ray_bundle_to_ray_points,
)
from jax3d.structures import Volumes


def timeit(fn, args, repeats: int) -> dict:
    """Median / min / max ms of the jitted ``fn(*args)`` after a warm-up, and its temp memory."""
    jitted = jax.jit(fn)
    compiled = jitted.lower(*args).compile()
    mem = compiled.memory_analysis()
    temp_mb = None if mem is None else mem.temp_size_in_bytes / 2**20
    jax.block_until_ready(compiled(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        times.append(1e3 * (time.perf_counter() - start))
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times),
            "xla_temp_mb": temp_mb}


def peak_memory_mb() -> float:
    dev = jax.devices()[0]
    stats = dev.memory_stats() if dev.platform != "cpu" else None
    if stats and "peak_bytes_in_use" in stats:
        return stats["peak_bytes_in_use"] / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine() -> str:
    dev = jax.devices()[0]
    return (f"{platform.node()} {platform.machine()}, {os.cpu_count()} cpus, "
            f"jax {jax.__version__} on {dev.platform} ({dev.device_kind})")  # fmt: skip


def report(name: str, r: dict) -> None:
    temp = "n/a" if r["xla_temp_mb"] is None else f"{r['xla_temp_mb']:.0f} MiB"
    print(f"{name:<44} median {r['median_ms']:9.1f} ms  [{r['min_ms']:.1f}, {r['max_ms']:.1f}]"
          f"  XLA temp {temp}  peak {peak_memory_mb():.0f} MiB")


def bench_volume(size: int, volume: int, n_pts: int, chunk: int, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    dens = jnp.asarray(rng.uniform(0, 0.05, (1, 1, volume, volume, volume)), jnp.float32)
    feats = jnp.asarray(rng.uniform(0, 1, (1, 3, volume, volume, volume)), jnp.float32)
    R, T = look_at_view_transform(dist=2.7, azim=30.0)
    cams = FoVPerspectiveCameras(R=R, T=T)
    rs = NDCMultinomialRaysampler(image_width=size, image_height=size, n_pts_per_ray=n_pts,
                                  min_depth=0.1, max_depth=3.0)
    results = {}
    for label, chunk_size in (("unchunked", None), (f"chunk {chunk}", chunk)):
        renderer = VolumeRenderer(rs, EmissionAbsorptionRaymarcher(), chunk_size=chunk_size)

        def render(d, f, renderer=renderer):
            return renderer(cams, Volumes(densities=d, features=f, voxel_size=3.0 / volume))[0]

        def loss_grad(d, f, render=render):
            return jax.grad(lambda d, f: jnp.mean(render(d, f) ** 2), argnums=(0, 1))(d, f)

        for kind, fn in (("forward", render), ("forward+backward", loss_grad)):
            key = f"volume {size}^2 x {n_pts} pts, {volume}^3, {label}, {kind}"
            results[key] = timeit(fn, (dens, feats), repeats)
            report(key, results[key])
    return results


def init_mlp(key, sizes) -> list:
    keys = jax.random.split(key, len(sizes) - 1)
    return [(jax.random.normal(k, (a, b)) * np.sqrt(2.0 / a), jnp.zeros(b))
            for k, a, b in zip(keys, sizes[:-1], sizes[1:])]


def bench_mlp(repeats: int, hidden: int = 128) -> dict:
    emb = HarmonicEmbedding(n_harmonic_functions=6)
    params = init_mlp(jax.random.key(0), [emb.get_output_dim(3), hidden, hidden, 4])

    def field(ray_bundle, params, **kwargs):
        h = emb(ray_bundle_to_ray_points(ray_bundle))
        for i, (w, b) in enumerate(params):
            h = h @ w + b
            h = jax.nn.relu(h) if i < len(params) - 1 else h
        return jax.nn.sigmoid(h[..., :1]), jax.nn.sigmoid(h[..., 1:])

    R, T = look_at_view_transform(dist=2.7, azim=np.linspace(0, 300, 6))
    cams = FoVPerspectiveCameras(R=R, T=T)
    rs = MonteCarloRaysampler(min_x=-1.0, max_x=1.0, min_y=-1.0, max_y=1.0, n_rays_per_image=750,
                              n_pts_per_ray=128, min_depth=0.1, max_depth=3.0)
    renderer = ImplicitRenderer(rs, EmissionAbsorptionRaymarcher())

    def render(params, key):
        return renderer(cams, lambda ray_bundle, **kw: field(ray_bundle, params), key)[0]

    def loss_grad(params, key):
        return jax.grad(lambda p: jnp.mean(render(p, key) ** 2))(params)

    results = {}
    for kind, fn in (("forward", render), ("forward+backward", loss_grad)):
        key = f"MonteCarlo 6 x 750 rays x 128 pts, MLP, {kind}"
        results[key] = timeit(fn, (params, jax.random.key(1)), repeats)
        report(key, results[key])
    return results


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=128, help="image side")
    parser.add_argument("--volume", type=int, default=128, help="voxels per side")
    parser.add_argument("--n-pts", type=int, default=150, help="points per ray")
    parser.add_argument("--chunk", type=int, default=4096, help="rays per chunk")
    args = parser.parse_args(argv)
    print(f"allocator: freed memory kept in the heap: {keep_freed_memory()}")
    print(f"machine: {machine()}")
    results = bench_volume(args.size, args.volume, args.n_pts, args.chunk, args.repeats)
    results.update(bench_mlp(args.repeats))
    return results


if __name__ == "__main__":
    from jax3d.utils import enable_compilation_cache

    enable_compilation_cache()  # compiled programs persist across runs (first-call
    # numbers: bm_first_call.py, which measures with and without the cache)
    main()
