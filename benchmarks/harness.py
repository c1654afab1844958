"""Shared timing harness for benchmarks/bm_*.py (run them as scripts: `python benchmarks/bm_x.py`).

`timeit` reports the median, min and max of ``repeats`` timed runs after one warm-up call (which
compiles), with ``jax.block_until_ready`` so asynchronous dispatch is not mistaken for speed;
`peak_rss_mb` is the process's peak resident memory so far; `machine` names the host and device.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import time

import jax


def timeit(fn, repeats: int = 7) -> dict:
    """Milliseconds of ``fn()`` over ``repeats`` runs after one warm-up: median, min and max."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(1e3 * (time.perf_counter() - start))
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times)}


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine() -> str:
    """One line naming the host, its CPU count, and JAX's version and default device."""
    dev = jax.devices()[0]
    return (
        f"{platform.node()} {platform.machine()}, {os.cpu_count()} cpus, "
        f"jax {jax.__version__} on {dev.platform} ({dev.device_kind})"
    )
