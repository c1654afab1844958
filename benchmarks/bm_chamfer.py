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

import jax
import jax.numpy as jnp
import numpy as np
from harness import (  # benchmarks/harness.py (run as a script)
    keep_freed_memory,
    machine,
    peak_rss_mb,
    timeit,
)

from jax3d.loss import chamfer_distance


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"allocator: freed memory kept in the heap: {keep_freed_memory()}")
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
    from jax3d.utils import enable_compilation_cache

    enable_compilation_cache()  # compiled programs persist across runs (first-call
    # numbers: bm_first_call.py, which measures with and without the cache)
    main()
