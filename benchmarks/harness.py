"""Shared timing harness for benchmarks/bm_*.py (run them as scripts: `python benchmarks/bm_x.py`).

`timeit` reports the median, min and max of ``repeats`` timed runs after one warm-up call (which
compiles), with ``jax.block_until_ready`` so asynchronous dispatch is not mistaken for speed;
`peak_rss_mb` is the process's peak resident memory so far; `machine` names the host and device.

`keep_freed_memory` sets glibc's malloc so that freed blocks stay in the heap. XLA's CPU runtime
allocates each call's temporaries with malloc; by default glibc serves blocks above its mmap
threshold with fresh ``mmap`` pages and returns them on free, so a small kernel with a few MB of
temporaries pays page faults on every call (chamfer fwd+bwd at 1k points: ~4.5-10 ms instead of
~1.8 ms). PyTorch's CPU allocator caches in the same way. The same effect from the shell:
``MALLOC_MMAP_THRESHOLD_=2147483647 MALLOC_TRIM_THRESHOLD_=2147483647``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import resource
import statistics
import time

import jax

from jax3d.utils import enable_compilation_cache

# Benchmarks are scripts: their compiled programs persist across runs (JAX's persistent cache,
# see jax3d.utils.enable_compilation_cache; JAX3D_COMPILATION_CACHE=off disables it). Warm-up
# calls are never timed, so the cache changes first-run wall time only.
COMPILATION_CACHE = enable_compilation_cache()

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters (malloc.h)


def keep_freed_memory() -> bool:
    """Keep freed memory in the heap (glibc's mallopt); True when it applied (glibc only).

    Raises the mmap and trim thresholds to 2 GiB so that buffers freed by one call are reused
    by the next instead of being unmapped and faulted in again.
    """
    name = ctypes.util.find_library("c")
    if platform.system() != "Linux" or not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        big = ctypes.c_int(2**31 - 1)  # mallopt takes an int; caps at the 32-bit maximum
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, big) and libc.mallopt(_M_TRIM_THRESHOLD, big))
    except (OSError, AttributeError):
        return False


def timeit(fn, repeats: int = 7) -> dict:
    """Milliseconds of ``fn()`` over ``repeats`` runs after one warm-up: median, min and max.

    Also ``cpu_ms``: the median process CPU time (user + system, all threads) per call, which
    a loaded machine inflates far less than the wall time.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    jax.block_until_ready(fn())
    times, cpu = [], []
    for _ in range(repeats):
        c0, start = time.process_time(), time.perf_counter()
        jax.block_until_ready(fn())
        times.append(1e3 * (time.perf_counter() - start))
        cpu.append(1e3 * (time.process_time() - c0))
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times),
            "cpu_ms": statistics.median(cpu)}


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
