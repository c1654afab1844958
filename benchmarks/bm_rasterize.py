"""Benchmark of mesh rasterization: cow (~5.9k faces) at 256x256, hard and soft, fwd and fwd+bwd.

Scene: the cow (JAX3D_DATA's meshes/cow_mesh/cow.obj via load_obj; an ico_sphere(4) of 5120
faces without data) seen from look_at_view_transform(2.7, 10, -150) by FoVPerspectiveCameras,
through MeshRasterizer (perspective-correct barycentrics). Hard: K=1, blur 0. Soft: K=50,
blur_radius = log(1/1e-4 - 1) * 1e-4. fwd+bwd differentiates zbuf, bary_coords and dists
w.r.t. the vertices. Each is timed called eagerly (the rasterizer sizes its work from concrete
counts), inside an outer ``jax.jit`` ("jit fwd", as in a jitted training step: planned from
the settings) and jitted with a plan computed once eagerly ("jit+plan", ``MeshRasterizer.plan``).
Median of >= 5 runs after a warm-up (``block_until_ready``), peak RSS,
machine. Also a scaling table (hard fwd) over ico_sphere levels and image sizes.
PyTorch3D's C++ CPU rasterizer (2 cores): 990 ms hard fwd, 1,230 ms hard fwd+bwd, 1,130 ms
soft fwd, 11,100 ms soft fwd+bwd.

    python benchmarks/bm_rasterize.py [--repeats 5] [--quick]
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

from jax3d.renderer import (
    FoVPerspectiveCameras,
    MeshRasterizer,
    RasterizationSettings,
    look_at_view_transform,
)
from jax3d.structures import Meshes
from jax3d.utils.ico_sphere import ico_sphere_verts_faces

PYTORCH3D_MS = {"hard fwd": 990, "hard fwd+bwd": 1230, "soft fwd": 1130, "soft fwd+bwd": 11100}


def timeit(fn, repeats: int) -> dict:
    """Median / min / max wall milliseconds over ``repeats`` runs after one warm-up (compile),
    and the median process CPU time (all threads; steadier than wall on a shared machine)."""
    jax.block_until_ready(fn())
    times, cpu = [], []
    for _ in range(repeats):
        start, cpu0 = time.perf_counter(), time.process_time()
        jax.block_until_ready(fn())
        times.append(1e3 * (time.perf_counter() - start))
        cpu.append(1e3 * (time.process_time() - cpu0))
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times),
            "cpu_median_ms": statistics.median(cpu)}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine() -> str:
    dev = jax.devices()[0]
    return (f"{platform.node()} {platform.machine()}, {os.cpu_count()} cpus, "
            f"jax {jax.__version__} on {dev.platform} ({dev.device_kind})")  # fmt: skip


def load_scene_mesh() -> tuple[Meshes, str]:
    """The cow when JAX3D_DATA has it, else an ico_sphere(4) (5120 faces)."""
    try:
        from jax3d.datasets import data_path
        from jax3d.io import load_obj

        verts, faces, _ = load_obj(data_path("meshes/cow_mesh/cow.obj"), load_textures=False)
        return Meshes(verts=[verts], faces=[faces.verts_idx]), "cow"
    except Exception as err:  # no data (or no OBJ reader): procedural fallback
        print(f"(cow unavailable: {err}; using ico_sphere(4))")
        v, f = ico_sphere_verts_faces(4)
        return Meshes(verts=[jnp.asarray(v)], faces=[jnp.asarray(f)]), "ico_sphere(4)"


def bench_mode(meshes, cameras, size, blur, K, repeats) -> dict:
    settings = RasterizationSettings(image_size=size, blur_radius=blur, faces_per_pixel=K)
    rast = MeshRasterizer(cameras, settings)
    verts = meshes.verts_padded()

    def loss(v):
        return _fragment_sum(rast(meshes.update_padded(v)))

    grad = jax.grad(loss)
    jit_fwd = jax.jit(lambda v: rast(meshes.update_padded(v)))
    jit_grad = jax.jit(grad)
    # The same jitted step with the plan computed once eagerly (MeshRasterizer.plan): the
    # search runs the data's bin tiers, as the eager call does.
    plan = rast.plan(meshes)
    jit_plan_fwd = jax.jit(lambda v: rast(meshes.update_padded(v), plan=plan))
    jit_plan_grad = jax.jit(jax.grad(lambda v: _fragment_sum(rast(meshes.update_padded(v),
                                                                  plan=plan))))
    return {
        "fwd": timeit(lambda: rast(meshes).zbuf, repeats),
        "fwd+bwd": timeit(lambda: grad(verts), repeats),
        # Inside an outer jax.jit (how a training step runs): counts are traced, so the search
        # is the data-dependent loop and the recompute a switched capacity.
        "jit fwd": timeit(lambda: jit_fwd(verts).zbuf, repeats),
        "jit fwd+bwd": timeit(lambda: jit_grad(verts), repeats),
        "jit+plan fwd": timeit(lambda: jit_plan_fwd(verts).zbuf, repeats),
        "jit+plan fwd+bwd": timeit(lambda: jit_plan_grad(verts), repeats),
    }


def _fragment_sum(f):
    return f.zbuf.sum() + f.bary_coords.sum() + f.dists.sum()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small scaling table only")
    parser.add_argument("--no-scaling", action="store_true", help="skip the scaling table")
    args = parser.parse_args(argv)
    print(f"allocator: freed memory kept in the heap: {keep_freed_memory()}")
    print(f"machine: {machine()}")
    meshes, name = load_scene_mesh()
    R, T = look_at_view_transform(2.7, 10.0, -150.0)
    cameras = FoVPerspectiveCameras(R=R, T=T)
    results = {}
    soft_blur = float(np.log(1.0 / 1e-4 - 1.0) * 1e-4)
    for mode, blur, K in (("hard", 0.0, 1), ("soft", soft_blur, 50)):
        for kind, r in bench_mode(meshes, cameras, 256, blur, K, args.repeats).items():
            key = f"{mode} {kind}"
            r["peak_rss_mb"] = peak_rss_mb()
            r["speedup_vs_pytorch3d"] = PYTORCH3D_MS[f"{mode} {kind.split()[-1]}"] / r["median_ms"]
            results[key] = r
            print(f"{name} 256x256 {key:17s}: median {r['median_ms']:8.1f} ms "
                  f"(min {r['min_ms']:.1f}, max {r['max_ms']:.1f}, "
                  f"CPU {r['cpu_median_ms']:.1f}), "
                  f"{r['speedup_vs_pytorch3d']:.1f}x PyTorch3D CPU, "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB")  # fmt: skip
    if args.no_scaling:
        return results
    levels = (2, 3, 4) if args.quick else (2, 3, 4, 5, 6)
    sizes = (64, 128) if args.quick else (64, 128, 256, 512)
    R2, T2 = look_at_view_transform(2.7, 10.0, 30.0)
    sphere_cams = FoVPerspectiveCameras(R=R2, T=T2)
    print("hard fwd (ms): ico_sphere level x image size")
    print("level  faces " + " ".join(f"{s:>8d}" for s in sizes))
    for level in levels:
        v, f = ico_sphere_verts_faces(level)
        sphere = Meshes(verts=[jnp.asarray(v)], faces=[jnp.asarray(f)])
        row = []
        for s in sizes:
            rast = MeshRasterizer(sphere_cams, RasterizationSettings(image_size=s))
            r = timeit(lambda rast=rast, m=sphere: rast(m).zbuf, max(args.repeats, 5))
            results[f"scaling level={level} size={s}"] = r
            row.append(r["median_ms"])
        print(f"{level:5d} {len(f):6d} " + " ".join(f"{t:8.1f}" for t in row))
    return results


if __name__ == "__main__":
    from jax3d.utils import enable_compilation_cache

    enable_compilation_cache()  # compiled programs persist across runs (first-call
    # numbers: bm_first_call.py, which measures with and without the cache)
    main()
