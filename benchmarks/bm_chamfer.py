"""Benchmark of chamfer_distance forward+backward: two random clouds of 1k / 10k / 100k points.

Median and spread of >= 5 timed runs after a jit warm-up (``block_until_ready``), the peak
resident memory of the process (the 100k case shows that memory stays bounded: P1 x P2
distances would need 40 GB), the achieved pair-distance GFLOP/s (``2 P^2 (3 D - 1)`` flops
for the two directions) and the machine. PyTorch3D (C++, 2 CPU cores) reference: about 6 ms
(1k) and 520 ms (10k).

    python benchmarks/bm_chamfer.py [--sizes 1000 10000 100000] [--repeats 5]
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

from jax3d.loss import chamfer_distance


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
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    loss_and_grad = jax.jit(
        jax.value_and_grad(lambda x, y: chamfer_distance(x, y)[0], argnums=(0, 1))
    )
    rng = np.random.default_rng(0)
    results = {}
    for n in args.sizes:
        x = jnp.asarray(rng.normal(size=(1, n, 3)), jnp.float32)
        y = jnp.asarray(rng.normal(size=(1, n, 3)), jnp.float32)
        r = timeit(lambda x=x, y=y: loss_and_grad(x, y), max(5, args.repeats))
        r["gflops"] = 2 * n * n * (3 * 3 - 1) / (r["median_ms"] * 1e-3) / 1e9
        r["peak_rss_mb"] = peak_rss_mb()
        results[n] = r
        print(f"chamfer fwd+bwd {n:>6d} points: median {r['median_ms']:9.1f} ms "
              f"(min {r['min_ms']:.1f}, max {r['max_ms']:.1f}), {r['gflops']:.1f} GFLOP/s, "
              f"peak RSS {r['peak_rss_mb']:.0f} MB")  # fmt: skip
    return results


if __name__ == "__main__":
    main()
