"""Benchmark of smpl_forward (forward, forward+backward) and of a full SMPLify fit.

Median and spread of >= 5 timed runs after a jit warm-up (``block_until_ready``), the peak
resident memory of the process and the machine. The default body is the synthetic capsule
model tessellated to SMPL's size (V = 6776, F = 13440, J = 24, 10 betas, 207 pose blend
shapes); pass ``--model`` for the official file. SMPLify uses SMPLify's iteration budget
(camera 50, 4 stages x 100 L-BFGS steps, both orientations) on synthetic LSP joints.

    python benchmarks/bm_smpl.py [--model SMPL.pkl] [--repeats 7] [--batches 1 64]
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

from jax3d.models.smpl import load_smpl, lsp_joints, smpl_forward, synthetic_body_model
from jax3d.models.smplify import (
    SMPLifySettings,
    body_spheres,
    project_points,
    smplify,
    synthetic_gmm_prior,
)


def timeit(fn, repeats: int) -> dict:
    """Median / min / max milliseconds over ``repeats`` runs after one warm-up (compile)."""
    start = time.perf_counter()
    jax.block_until_ready(fn())
    first = 1e3 * (time.perf_counter() - start)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(1e3 * (time.perf_counter() - start))
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times),
            "first_call_ms": first}  # fmt: skip


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine() -> str:
    dev = jax.devices()[0]
    return (f"{platform.node()} {platform.machine()}, {os.cpu_count()} cpus, "
            f"jax {jax.__version__} on {dev.platform} ({dev.device_kind})")  # fmt: skip


def report(name: str, r: dict) -> None:
    r["peak_rss_mb"] = peak_rss_mb()
    print(f"{name:34s}: median {r['median_ms']:9.2f} ms (min {r['min_ms']:.2f}, "
          f"max {r['max_ms']:.2f}; first call {r['first_call_ms']:.0f} ms), "
          f"peak RSS {r['peak_rss_mb']:.0f} MB")  # fmt: skip


def bench_forward(model, batches, repeats) -> dict:
    results = {}
    fwd = jax.jit(lambda b, p, o: smpl_forward(model, b, p, o).vertices)
    loss = lambda b, p, o: jnp.sum(smpl_forward(model, b, p, o).vertices ** 2)  # noqa: E731
    grad = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))
    for b in batches:
        k = jax.random.split(jax.random.PRNGKey(b), 3)
        betas = jax.random.normal(k[0], (b, model.num_betas))
        pose = 0.3 * jax.random.normal(k[1], (b, 23, 3))
        orient = jax.random.normal(k[2], (b, 3))
        for name, fn in ((f"smpl_forward B={b}", fwd), (f"smpl_forward fwd+bwd B={b}", grad)):
            results[name] = timeit(lambda fn=fn, a=(betas, pose, orient): fn(*a), repeats)
            report(name, results[name])
    return results


def bench_smplify(model, batch: int, repeats: int) -> dict:
    prior = synthetic_gmm_prior(jax.random.PRNGKey(1))
    k = jax.random.split(jax.random.PRNGKey(2), 2)
    pose = prior.mean_pose().reshape(23, 3) + 0.1 * jax.random.normal(k[0], (batch, 23, 3))
    orient = jnp.broadcast_to(jnp.array([0.0, np.pi, 0.0]), (batch, 3))
    transl = jnp.broadcast_to(jnp.array([0.0, 0.2, 25.0]), (batch, 3))
    out = smpl_forward(model, 0.5 * jax.random.normal(k[1], (batch, 10)), pose, orient, transl)
    size = jnp.broadcast_to(jnp.array([500.0, 500.0]), (batch, 2))
    j2d = project_points(lsp_joints(out.vertices, out.joints), jnp.zeros((batch, 3)), size)
    settings = SMPLifySettings(camera_iters=50, stage_iters=100)
    spheres = body_spheres(model)
    name = f"smplify B={batch} (2 starts each)"
    r = timeit(lambda: smplify(model, prior, j2d, None, size, spheres=spheres,
                               settings=settings), repeats)  # fmt: skip
    r["seconds_per_fit"] = r["median_ms"] / 1e3 / batch
    report(name, r)
    print(f"  -> {r['seconds_per_fit']:.3f} s per fit")
    return {name: r}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="SMPL .pkl/.npz (default: synthetic)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--smplify-batch", type=int, default=8)
    parser.add_argument("--smplify-repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"allocator: freed memory kept in the heap: {keep_freed_memory()}")
    print(f"machine: {machine()}")
    if args.model:
        model = load_smpl(args.model)
    else:
        model = synthetic_body_model(0, n_around=24, n_cap=4, n_mid=2)
    print(f"model: V={model.num_verts}, F={model.faces.shape[0]}, J={model.num_joints}")
    results = bench_forward(model, args.batches, args.repeats)
    results.update(bench_smplify(model, args.smplify_batch, max(5, args.smplify_repeats)))
    return results


if __name__ == "__main__":
    from jax3d.utils import enable_compilation_cache

    enable_compilation_cache()  # compiled programs persist across runs (first-call
    # numbers: bm_first_call.py, which measures with and without the cache)
    main()
