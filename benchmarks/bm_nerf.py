"""Benchmark of one NeRF train step (forward + backward + Adam) at the book's batch.

The book's recipe: 6 cameras x 750 Monte Carlo rays x 128 points through
`NeuralRadianceField` (60 harmonics, 256 hidden units) and the emission-absorption raymarcher.
Median and spread of >= 5 timed steps after a jit warm-up (``block_until_ready``), the
throughput in ray points per second, the peak resident memory and the machine. `--paper`
times `PaperNeRF` (8 x 256, 64 coarse + 128 fine samples) at the same rays instead.

    python benchmarks/bm_nerf.py [--batch 6] [--rays 750] [--points 128] [--repeats 5]
        [--devices N]   # data-parallel (jax3d.train); see bm_train_scaling.py
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

from jax3d.models.nerf import (
    NeRFTrainConfig,
    NeuralRadianceField,
    PaperNeRF,
    init_train_state,
    make_train_step,
    view_batches,
)
from jax3d.renderer.cameras import FoVPerspectiveCameras, look_at_view_transform
from jax3d.train import make_data_mesh, replicate, shard_batch


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--rays", type=int, default=750)
    parser.add_argument("--points", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--paper", action="store_true")
    parser.add_argument("--devices", type=int, default=1,
                        help="data-parallel over this many devices (the batch must divide)")
    args = parser.parse_args(argv)
    print(f"allocator: freed memory kept in the heap: {keep_freed_memory()}")
    print(f"machine: {machine()}")
    n_views = max(args.batch, 8)
    R, T = look_at_view_transform(dist=2.7, azim=jnp.linspace(-180, 180, n_views))
    cams = FoVPerspectiveCameras(R=R, T=T, znear=0.1)
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.uniform(size=(n_views, 128, 128, 3)), jnp.float32)
    sil = jnp.asarray(rng.uniform(size=(n_views, 128, 128)), jnp.float32)
    if args.paper:
        model, n_pts = PaperNeRF(width=args.hidden), 64
    else:
        model, n_pts = NeuralRadianceField(n_hidden_neurons=args.hidden), args.points
    config = NeRFTrainConfig(batch_size=args.batch, n_rays_per_image=args.rays,
                             n_pts_per_ray=n_pts, stratified_sampling=args.paper)  # fmt: skip
    state = init_train_state(model, config, jax.random.PRNGKey(0), cams)
    mesh = make_data_mesh(args.devices) if args.devices > 1 else None
    step = make_train_step(model.apply, config, mesh)
    batch = view_batches(cams, images, sil, config, jax.random.PRNGKey(1))(0)
    if mesh is not None:
        state, batch = replicate(state, mesh), shard_batch(batch, mesh)
    r = timeit(lambda: step(state, batch)[1]["loss"], args.repeats)
    samples = args.batch * args.rays * (n_pts + (128 if args.paper else 0))
    r["ray_points_per_s"] = samples / (r["median_ms"] * 1e-3)
    r["peak_rss_mb"] = peak_rss_mb()
    name = "PaperNeRF" if args.paper else "NeuralRadianceField"
    r["devices"] = args.devices
    print(f"{name} train step on {args.devices} device(s) {args.batch}x{args.rays}x{n_pts}: "
          f"median {r['median_ms']:.0f} ms "
          f"(min {r['min_ms']:.0f}, max {r['max_ms']:.0f}), "
          f"{r['ray_points_per_s'] / 1e6:.2f} M ray points/s, "
          f"peak RSS {r['peak_rss_mb']:.0f} MB")  # fmt: skip
    return r


if __name__ == "__main__":
    from jax3d.utils import enable_compilation_cache

    enable_compilation_cache()  # compiled programs persist across runs (first-call
    # numbers: bm_first_call.py, which measures with and without the cache)
    main()
