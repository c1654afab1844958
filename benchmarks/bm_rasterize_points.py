"""Benchmark of point rasterization: 10k..1M random points at 256x256, K=8, fwd and fwd+bwd.

Points uniform in a cube seen by FoVPerspectiveCameras from look_at_view_transform(2.7, 10, 30),
radius 0.01 NDC, through PointsRasterizer; fwd+bwd differentiates zbuf and dists w.r.t. the
points. Median of >= 5 runs after a warm-up (``block_until_ready``), peak RSS, machine.

    python benchmarks/bm_rasterize_points.py [--repeats 5] [--sizes 10000 100000 1000000]
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
from jax3d.renderer.points import PointsRasterizationSettings, PointsRasterizer
from jax3d.structures import Pointclouds


def timeit(fn, repeats: int) -> dict:
    """Median / min / max milliseconds over ``repeats`` runs after one warm-up (compile)."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(1e3 * (time.perf_counter() - start))
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times)}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine() -> str:
    dev = jax.devices()[0]
    return (f"{platform.node()} {platform.machine()}, {os.cpu_count()} cpus, "
            f"jax {jax.__version__} on {dev.platform} ({dev.device_kind})")  # fmt: skip


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--image-size", type=int, default=256)
    args = parser.parse_args(argv)
    print(f"allocator: freed memory kept in the heap: {keep_freed_memory()}")
    print(f"machine: {machine()}")
    R, T = look_at_view_transform(2.7, 10.0, 30.0)
    rast = PointsRasterizer(
        FoVPerspectiveCameras(R=R, T=T),
        PointsRasterizationSettings(image_size=args.image_size, radius=0.01, points_per_pixel=8),
    )
    rng = np.random.default_rng(0)
    results = {}
    for n in args.sizes:
        pts = jnp.asarray(rng.uniform(-1, 1, (1, n, 3)), jnp.float32)
        clouds = Pointclouds(points=pts)

        def loss(p, clouds=clouds):
            f = rast(clouds.update_padded(p))
            return f.zbuf.sum() + f.dists.sum()

        grad = jax.grad(loss)
        fwd = lambda c=clouds: rast(c).zbuf  # noqa: E731
        bwd = lambda g=grad, p=pts: g(p)  # noqa: E731
        for kind, fn in (("fwd", fwd), ("fwd+bwd", bwd)):
            r = timeit(fn, args.repeats)
            r["peak_rss_mb"] = peak_rss_mb()
            results[f"P={n} {kind}"] = r
            print(f"points P={n:8d} {args.image_size}^2 K=8 {kind:8s}: median "
                  f"{r['median_ms']:8.1f} ms (min {r['min_ms']:.1f}, max {r['max_ms']:.1f}), "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB")  # fmt: skip
    return results


if __name__ == "__main__":
    from jax3d.utils import enable_compilation_cache

    enable_compilation_cache()  # compiled programs persist across runs (first-call
    # numbers: bm_first_call.py, which measures with and without the cache)
    main()
