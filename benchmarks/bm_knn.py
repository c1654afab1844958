"""Benchmark of knn_points: 10k x 10k random points, K = 1..8, forward (and forward+backward).

Median and spread of >= 5 timed runs after a jit warm-up (``block_until_ready``), the peak
resident memory of the process, the achieved pair-distance GFLOP/s and the machine.
GFLOP/s counts ``3 D - 1`` flops per (query, reference) pair (D subtractions, D products,
D - 1 additions), i.e. the work of a brute-force search, whatever the algorithm does.
PyTorch3D (C++, 2 CPU cores) reference: about 280 ms for K = 8.

    python benchmarks/bm_knn.py [--points 10000] [--repeats 7] [--ks 1 2 4 8]
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

from jax3d.ops import knn_points


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 2, 4, 8])
    args = parser.parse_args(argv)
    print(f"allocator: freed memory kept in the heap: {keep_freed_memory()}")
    print(f"machine: {machine()}")
    rng = np.random.default_rng(0)
    n = args.points
    p1 = jnp.asarray(rng.normal(size=(1, n, 3)), jnp.float32)
    p2 = jnp.asarray(rng.normal(size=(1, n, 3)), jnp.float32)
    flops = n * n * (3 * 3 - 1)
    results = {}
    for k in args.ks:
        fwd = jax.jit(lambda a, b, k=k: knn_points(a, b, K=k).dists)
        grad = jax.jit(jax.grad(lambda a, b, k=k: knn_points(a, b, K=k).dists.sum(), (0, 1)))
        for name, fn in (("fwd", fwd), ("fwd+bwd", grad)):
            r = timeit(lambda fn=fn: fn(p1, p2), args.repeats)
            r["gflops"] = flops / (r["median_ms"] * 1e-3) / 1e9
            r["peak_rss_mb"] = peak_rss_mb()
            results[f"K={k} {name}"] = r
            print(f"knn_points {n}x{n} K={k} {name:8s}: median {r['median_ms']:8.1f} ms "
                  f"(min {r['min_ms']:.1f}, max {r['max_ms']:.1f}), "
                  f"{r['gflops']:.1f} GFLOP/s, peak RSS {r['peak_rss_mb']:.0f} MB")  # fmt: skip
    return results


if __name__ == "__main__":
    from jax3d.utils import enable_compilation_cache

    enable_compilation_cache()  # compiled programs persist across runs (first-call
    # numbers: bm_first_call.py, which measures with and without the cache)
    main()
