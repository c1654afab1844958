"""First-call time (compilation + one run) of the rasterizer, the shaded render and the NeRF
train step, without and with JAX's persistent compilation cache.

Each measurement is a fresh Python process that builds its inputs (untimed) and times its
first call to a jitted function, ``block_until_ready`` included:

- ``no cache``: the cache is off (what a new user saw before the cache);
- ``cold cache``: an empty cache folder (compile, then write the programs);
- ``cached``: the same folder again (programs loaded from disk instead of compiled).

The cases: ``raster``, an eager call of ``MeshRasterizer`` on ico_sphere(4) (5120 faces),
256 x 256, one face per pixel; ``render``, an eager call of ``MeshRenderer`` with
``SoftPhongShader`` on the same sphere, 128 x 128, K = 50; ``nerf``, one jitted NeRF train step
of the book's model (60 harmonics, 256 hidden) on 6 x 128 rays x 64 points (the program, so its
compile time, is that of the book's 6 x 750 x 128 batch, whose step takes 16 s and 6.6 GB on a
2-core CPU; ``--nerf-batch 6,750,128`` runs it). The eager rasterizer's compiled pieces hold no
host callback (its overflow warning is issued in Python from a returned report), so the cache
stores them; under a user's ``jax.jit`` the warning is a ``jax.debug.callback`` in the user's
program, which JAX does not persist.

    python benchmarks/bm_first_call.py [--cases raster,render,nerf] [--nerf-batch 6,750,128]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CASES = ("raster", "render", "nerf")


def _raster():
    import jax.numpy as jnp

    from jax3d.renderer import (
        FoVPerspectiveCameras,
        MeshRasterizer,
        RasterizationSettings,
        look_at_view_transform,
    )
    from jax3d.utils import ico_sphere

    mesh = ico_sphere(4)
    R, T = look_at_view_transform(2.7, 10.0, 20.0)
    rast = MeshRasterizer(FoVPerspectiveCameras(R=R, T=T),
                          RasterizationSettings(image_size=256, faces_per_pixel=1))  # fmt: skip
    return lambda: jnp.sum(rast(mesh).zbuf)  # eager call: exact binning plan, jitted kernel


def _render():
    import math

    import jax.numpy as jnp

    from jax3d.renderer import (
        BlendParams,
        FoVPerspectiveCameras,
        MeshRasterizer,
        MeshRenderer,
        PointLights,
        RasterizationSettings,
        SoftPhongShader,
        TexturesVertex,
        look_at_view_transform,
    )
    from jax3d.structures import Meshes
    from jax3d.utils import ico_sphere_verts_faces

    verts, faces = ico_sphere_verts_faces(4)
    mesh = Meshes([verts], [faces], textures=TexturesVertex([0.5 * (verts + 1.0)]))
    R, T = look_at_view_transform(2.7, 10.0, 20.0)
    settings = RasterizationSettings(image_size=128, faces_per_pixel=50,
                                     blur_radius=math.log(1 / 1e-4 - 1) * 1e-4)  # fmt: skip
    cameras = FoVPerspectiveCameras(R=R, T=T)
    renderer = MeshRenderer(
        MeshRasterizer(cameras, settings),
        SoftPhongShader(cameras=cameras, lights=PointLights(location=((2.0, 2.0, -2.0),)),
                        blend_params=BlendParams(1e-4, 1e-4)),
    )  # fmt: skip
    return lambda: jnp.sum(renderer(mesh))  # eager call, as PyTorch3D code writes it


def _nerf(batch=(6, 128, 64)):
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jax3d.models.nerf import (
        NeRFTrainConfig,
        NeuralRadianceField,
        init_train_state,
        make_train_step,
        view_batches,
    )
    from jax3d.renderer import FoVPerspectiveCameras, look_at_view_transform

    R, T = look_at_view_transform(dist=2.7, azim=jnp.linspace(-180, 180, 8))
    cams = FoVPerspectiveCameras(R=R, T=T, znear=0.1)
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.uniform(size=(8, 128, 128, 3)), jnp.float32)
    sil = jnp.asarray(rng.uniform(size=(8, 128, 128)), jnp.float32)
    model = NeuralRadianceField()
    views, rays, points = batch
    config = NeRFTrainConfig(batch_size=views, n_rays_per_image=rays, n_pts_per_ray=points)
    state = init_train_state(model, config, jax.random.PRNGKey(0), cams)
    step = make_train_step(model.apply, config)
    batch = view_batches(cams, images, sil, config, jax.random.PRNGKey(1))(0)
    jax.block_until_ready((state, batch))
    return lambda: step(state, batch)[1]["loss"]


def child(case: str, cache: str | None, nerf_batch=(6, 128, 64)) -> dict:
    """Set up ``case`` (untimed) and time its first call, in this (fresh) process."""
    start = time.perf_counter()
    import jax

    from jax3d.utils import enable_compilation_cache

    if cache:
        enable_compilation_cache(cache)
    fn = _raster() if case == "raster" else _render() if case == "render" else _nerf(nerf_batch)
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    second = time.perf_counter() - t0
    return {"first_call_s": first, "second_call_s": second,
            "process_s": time.perf_counter() - start}  # fmt: skip


def _run(case: str, cache: str | None, nerf_batch: str) -> dict:
    cmd = [sys.executable, __file__, "--child", case, "--nerf-batch", nerf_batch]
    cmd += ["--cache", cache] if cache else []
    env = {**os.environ, "JAX3D_COMPILATION_CACHE": "off"}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default=",".join(_CASES))
    p.add_argument("--nerf-batch", default="6,128,64", help="views,rays,points of the NeRF step")
    p.add_argument("--child", choices=_CASES, help=argparse.SUPPRESS)
    p.add_argument("--cache", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        batch = tuple(int(v) for v in args.nerf_batch.split(","))
        print(json.dumps(child(args.child, args.cache, batch)))
        return {}
    from harness import machine  # benchmarks/harness.py (run as a script)

    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.1f}")
    results = {}
    for case in args.cases.split(","):
        with tempfile.TemporaryDirectory() as folder:
            runs = {"no cache": _run(case, None, args.nerf_batch),
                    "cold cache": _run(case, folder, args.nerf_batch),
                    "cached": _run(case, folder, args.nerf_batch)}  # fmt: skip
            size = sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())
        results[case] = runs
        print(f"{case:7s} first call: " + ", ".join(
            f"{k} {v['first_call_s']:.2f} s" for k, v in runs.items()
        ) + f" (second call {runs['cached']['second_call_s']:.2f} s; cache {size / 1e6:.1f} MB)")
    return results


if __name__ == "__main__":
    main()
