"""Benchmark of mesh rendering: SoftPhong render and render + backward, ~6k faces, 256x256.

Scene: the textured cow (JAX3D_DATA's meshes/cow_mesh/cow.obj, 5856 faces, TexturesUV; an
ico_sphere(4) of 5120 faces with a UV checkerboard without data) seen from
look_at_view_transform(2.7, 10, -150); MeshRenderer(MeshRasterizer(K=50, blur_radius =
log(1/1e-4 - 1) 1e-4), SoftPhongShader(BlendParams(1e-4, 1e-4))), PointLights at (2, 2, -2).
"fwd" renders one frame; "fwd+bwd" differentiates the summed squared difference to a target
image w.r.t. the camera position (the ch04 pose-fitting step). Median of >= 5 runs after a
jit warm-up (``block_until_ready``), peak RSS, machine.

    python benchmarks/bm_render.py [--repeats 5] [--quick]
    python benchmarks/bm_render.py --silhouette [--size 128]

``--silhouette`` times one soft-silhouette pose step instead (ico_sphere(4), K = 50, sigma =
1e-4, the value and gradient of the squared difference to a target w.r.t. the camera
position) run eagerly and under ``jax.jit``: first call (compilation included) and median.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import statistics
import time

import jax
import jax.numpy as jnp
from harness import keep_freed_memory  # benchmarks/harness.py (run as a script)

from jax3d.datasets import data_path, has_data
from jax3d.io import load_objs_as_meshes
from jax3d.renderer import (
    BlendParams,
    FoVPerspectiveCameras,
    MeshRasterizer,
    MeshRenderer,
    PointLights,
    RasterizationSettings,
    SoftPhongShader,
    SoftSilhouetteShader,
    TexturesUV,
    look_at_rotation,
)
from jax3d.structures import Meshes
from jax3d.utils import checkerboard_image, ico_sphere_uvs, ico_sphere_verts_faces


def timeit(fn, repeats: int) -> dict:
    """Median / min / max milliseconds over ``repeats`` runs after one warm-up (compile)."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(1e3 * (time.perf_counter() - start))
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times)}


def machine() -> str:
    dev = jax.devices()[0]
    return (f"{platform.node()} {platform.machine()}, {os.cpu_count()} cpus, "
            f"jax {jax.__version__} on {dev.platform} ({dev.device_kind})")  # fmt: skip


def scene_mesh() -> tuple[Meshes, str]:
    if has_data("meshes/cow_mesh/cow.obj"):
        return load_objs_as_meshes([data_path("meshes/cow_mesh/cow.obj")]), "cow"
    verts, faces = ico_sphere_verts_faces(4)
    verts_uvs, faces_uvs = ico_sphere_uvs(4)
    tex = TexturesUV([checkerboard_image((256, 256), 8)], [faces_uvs], [verts_uvs])
    return Meshes([verts], [faces], textures=tex), "ico_sphere(4)"


def camera_at(position):
    R = look_at_rotation(position[None])
    return FoVPerspectiveCameras(R=R, T=-jnp.einsum("bji,bj->bi", R, position[None]))


def silhouette_step(size: int, repeats: int) -> None:
    """Eager vs jitted soft-silhouette pose step (value and gradient), first call and median."""
    verts, faces = ico_sphere_verts_faces(4)
    mesh = Meshes([verts], [faces])
    settings = RasterizationSettings(image_size=size, faces_per_pixel=50,
                                     blur_radius=math.log(1 / 1e-4 - 1) * 1e-4)  # fmt: skip
    renderer = MeshRenderer(MeshRasterizer(None, settings),
                            SoftSilhouetteShader(BlendParams(1e-4, 1e-4)))  # fmt: skip
    pos = jnp.asarray([-1.35, 0.47, -2.34])
    target = renderer(mesh, cameras=camera_at(pos + 0.05))[..., 3]

    def loss(q):
        return jnp.sum((renderer(mesh, cameras=camera_at(q))[..., 3] - target) ** 2)

    step = jax.value_and_grad(loss)
    print(f"machine: {machine()}")
    print(f"scene: ico_sphere(4), 5120 faces, {size}x{size}, K=50, soft silhouette step")
    for label, fn in [("eager", step), ("jit", jax.jit(step))]:
        start = time.perf_counter()
        jax.block_until_ready(fn(pos))
        first = time.perf_counter() - start
        t = timeit(lambda fn=fn: fn(pos), repeats)
        print(f"silhouette step {label:5s} first call {first:6.1f} s  median "
              f"{t['median_ms']:8.1f} ms (min {t['min_ms']:.1f}, max {t['max_ms']:.1f})")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="64x64, 2 repeats")
    p.add_argument("--silhouette", action="store_true",
                   help="eager vs jitted soft-silhouette pose step instead")
    p.add_argument("--size", type=int, default=128, help="image size of --silhouette")
    args = p.parse_args(argv)
    if args.silhouette:
        silhouette_step(args.size, max(args.repeats, 5))
        return
    size, repeats = (64, 2) if args.quick else (256, max(args.repeats, 5))
    mesh, name = scene_mesh()
    settings = RasterizationSettings(image_size=size, faces_per_pixel=50,
                                     blur_radius=math.log(1 / 1e-4 - 1) * 1e-4)  # fmt: skip
    shader = SoftPhongShader(lights=PointLights(location=((2.0, 2.0, -2.0),)),
                             blend_params=BlendParams(1e-4, 1e-4))  # fmt: skip
    renderer = MeshRenderer(MeshRasterizer(None, settings), shader)
    pos = jnp.asarray([-1.35, 0.47, -2.34])  # ~ (2.7, elev 10, azim -150)
    render = jax.jit(lambda m, q: renderer(m, cameras=camera_at(q)))
    target = render(mesh, pos + 0.05)

    @jax.jit
    def loss_and_grad(m, q):
        return jax.value_and_grad(lambda q: jnp.sum((render(m, q) - target) ** 2))(q)

    print(f"allocator: freed memory kept in the heap: {keep_freed_memory()}")
    print(f"machine: {machine()}")
    print(f"scene: {name}, {int(mesh.num_faces_per_mesh()[0])} faces, {size}x{size}, K=50")
    for label, fn in [("fwd", lambda: render(mesh, pos)),
                      ("fwd+bwd", lambda: loss_and_grad(mesh, pos))]:  # fmt: skip
        t = timeit(fn, repeats)
        print(f"SoftPhong {label:8s} median {t['median_ms']:9.1f} ms  "
              f"(min {t['min_ms']:.1f}, max {t['max_ms']:.1f}, {repeats} runs)")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    from jax3d.utils import enable_compilation_cache

    enable_compilation_cache()  # compiled programs persist across runs (first-call
    # numbers: bm_first_call.py, which measures with and without the cache)
    main()
