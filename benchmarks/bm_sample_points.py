"""Benchmark of sample_points_from_meshes: 10k points from a ~6k-face mesh, batches, grads.

Median and spread of >= 5 timed runs after a jit warm-up (``block_until_ready``), the peak
resident memory of the process and the device. Uses JAX3D_DATA's cow (5856 faces) when
available, else a procedural icosphere (level 4, 5120 faces).

    python benchmarks/bm_sample_points.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import platform
import resource

import jax
import jax.numpy as jnp
from harness import keep_freed_memory, timeit  # benchmarks/harness.py (run as a script)

from jax3d.datasets import data_path, has_data
from jax3d.ops import sample_points_from_meshes
from jax3d.structures import Meshes


def load_mesh() -> tuple[Meshes, str]:
    if has_data("meshes/cow_mesh/cow.obj"):
        from jax3d.io import load_obj

        verts, faces, _ = load_obj(data_path("meshes/cow_mesh/cow.obj"), load_textures=False)
        return Meshes([verts], [faces.verts_idx]), "cow.obj"
    from jax3d.utils import ico_sphere

    return ico_sphere(4), "ico_sphere(4)"




def cases(meshes: Meshes):
    key = jax.random.PRNGKey(0)
    batch8 = meshes.extend(8)
    sample = jax.jit(lambda k, m: sample_points_from_meshes(m, 10000, key=k))
    with_normals = jax.jit(
        lambda k, m: sample_points_from_meshes(m, 10000, return_normals=True, key=k)
    )

    def loss(x):  # gradient of a function of the samples w.r.t. the vertices
        return jnp.sum(sample_points_from_meshes(meshes.update_padded(x), 10000, key=key) ** 2)

    grad = jax.jit(jax.grad(loss))
    x = meshes.verts_padded()
    return {
        "10k points, 1 mesh (jit)": lambda: sample(key, meshes),
        "10k points, 1 mesh (eager call)": lambda: sample_points_from_meshes(
            meshes, 10000, key=key
        ),
        "10k points + normals, 1 mesh": lambda: with_normals(key, meshes),
        "10k points, batch of 8": lambda: sample(key, batch8),
        "grad w.r.t. verts, 10k points": lambda: grad(x),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    meshes, name = load_mesh()
    print(f"allocator: freed memory kept in the heap: {keep_freed_memory()}")
    print(
        f"machine: {platform.node()} {platform.processor() or platform.machine()}, "
        f"jax {jax.__version__} on {jax.devices()[0].device_kind} ({jax.default_backend()}), "
        f"mesh {name}: {int(meshes.num_verts_per_mesh()[0])} verts, "
        f"{int(meshes.num_faces_per_mesh()[0])} faces"
    )
    results = {}
    for label, fn in cases(meshes).items():
        results[label] = r = timeit(fn, max(args.repeats, 5))
        print(f"{label:34s} median {r['median_ms']:8.3f} ms  (min {r['min_ms']:.3f}, "
              f"max {r['max_ms']:.3f})")  # fmt: skip
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of the process: {peak_mb:.0f} MB")
    results["peak_rss_mb"] = peak_mb
    return results


if __name__ == "__main__":
    from jax3d.utils import enable_compilation_cache

    enable_compilation_cache()  # compiled programs persist across runs (first-call
    # numbers: bm_first_call.py, which measures with and without the cache)
    main()
