"""Benchmark of jax3d.io against trimesh: loading the cow OBJ / PLY, saving PLY and OBJ.

Median and spread of >= 5 timed runs after one warm-up run, peak traced memory (tracemalloc,
NumPy allocations included) and the machine. Uses JAX3D_DATA's cow when available, else a
procedural icosphere of similar size (written to a temporary folder).

    python benchmarks/bm_io.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import trimesh
from harness import keep_freed_memory  # benchmarks/harness.py (run as a script)

from jax3d.datasets import data_path, has_data
from jax3d.io import load_obj, load_ply, save_obj, save_ply


def timeit(fn, repeats: int) -> dict:
    """Median / min / max seconds over ``repeats`` runs after one warm-up, and peak memory."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"median": statistics.median(times), "min": min(times), "max": max(times),
            "peak_mb": peak / 2**20}  # fmt: skip


def assets(tmp: Path) -> tuple[Path, Path]:
    if has_data("meshes/cow_mesh/cow.obj") and has_data("ply/cow.ply"):
        return data_path("meshes/cow_mesh/cow.obj"), data_path("ply/cow.ply")
    from jax3d.utils import ico_sphere_verts_faces

    verts, faces = ico_sphere_verts_faces(4)
    save_obj(tmp / "sphere.obj", verts, faces)
    save_ply(tmp / "sphere.ply", verts, faces, ascii=True)
    return tmp / "sphere.obj", tmp / "sphere.ply"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    print(f"allocator: freed memory kept in the heap: {keep_freed_memory()}")
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}, numpy {np.__version__}, "
          f"trimesh {trimesh.__version__}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        obj, ply = assets(Path(tmp))
        verts, faces = load_ply(ply)
        cases = {
            "load_obj (no textures)": lambda: load_obj(obj, load_textures=False),
            "trimesh.load obj (process=False)": lambda: trimesh.load(obj, process=False),
            "load_obj (with texture image)": lambda: load_obj(obj),
            "load_ply ascii": lambda: load_ply(ply),
            "trimesh.load ply (process=False)": lambda: trimesh.load(ply, process=False),
            "save_ply binary": lambda: save_ply(io.BytesIO(), verts, faces),
            "save_ply ascii": lambda: save_ply(io.BytesIO(), verts, faces, ascii=True),
            "save_obj": lambda: save_obj(io.StringIO(), verts, faces),
        }
        print(f"asset: {obj.name} / {ply.name}")
        results = {name: timeit(fn, args.repeats) for name, fn in cases.items()}
    for name, r in results.items():
        print(
            f"{name:36s} median {1e3 * r['median']:8.2f} ms  "
            f"[{1e3 * r['min']:.2f}, {1e3 * r['max']:.2f}]  peak {r['peak_mb']:.1f} MiB"
        )
    ratio_obj = results["load_obj (no textures)"]["median"] / \
        results["trimesh.load obj (process=False)"]["median"]  # fmt: skip
    ratio_ply = results["load_ply ascii"]["median"] / \
        results["trimesh.load ply (process=False)"]["median"]  # fmt: skip
    print(f"ratio jax3d / trimesh: obj {ratio_obj:.2f}, ply {ratio_ply:.2f}")
    return {"results": results, "ratio_obj": ratio_obj, "ratio_ply": ratio_ply}


if __name__ == "__main__":
    from jax3d.utils import enable_compilation_cache

    enable_compilation_cache()  # compiled programs persist across runs (first-call
    # numbers: bm_first_call.py, which measures with and without the cache)
    main()
