"""Benchmarks of GIRAFFE: the generator's forward pass and one G + D training step.

- generator: `jax3d.models.giraffe.train.generate` (evaluation mode: the feature field of every
  object and the background volume-rendered at the preset's feature resolution, composed, then
  the neural renderer) on a batch of sampled scenes;
- step: `make_giraffe_step` (the generator's non-saturating loss, then the discriminator's with
  R1 on the real batch, RMSprop, the generator EMA), one jitted call.

Presets are the YAML files of experiments/configs/giraffe: `cpu` (32 px, the CPU model of
experiments/ch07_giraffe.py) and `clevr_synthetic_64` (64 px, the authors' model size).
Median and spread of `--repeats` timed calls after a jit warm-up (``block_until_ready``), the
peak resident memory and the machine.

    python benchmarks/bm_giraffe.py [--preset cpu clevr_synthetic_64] [--batch 16] [--repeats 5]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import yaml
from harness import keep_freed_memory, machine, peak_rss_mb, timeit

from jax3d.models.giraffe import GiraffeConfig
from jax3d.models.giraffe.train import generate, init_gan_state, make_giraffe_step, scene_batch

PRESETS = Path(__file__).resolve().parents[1] / "experiments" / "configs" / "giraffe"


def load_config(name: str, batch: int) -> GiraffeConfig:
    """The preset `name` (a file stem in experiments/configs/giraffe) with batch size `batch`."""
    path = PRESETS / f"{name}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in PRESETS.glob("*.yaml"))
        raise SystemExit(f"no preset {path}; presets: {names}")
    raw = yaml.safe_load(path.read_text()) or {}
    raw.setdefault("training", {})["batch_size"] = batch
    return GiraffeConfig.from_dict(raw)


def bench_preset(name: str, batch: int, repeats: int) -> dict:
    config = load_config(name, batch)
    m = config.model
    state = init_gan_state(config, jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)
    scene = scene_batch(key, m, batch)
    gen = generate(m)
    params = state.generator.params
    n_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))
    out = {"img_size": m.img_size, "batch": batch, "generator_params": n_params,
           "generator": timeit(lambda: gen(params, scene), repeats)}  # fmt: skip
    step = make_giraffe_step(config)
    rng = np.random.default_rng(2)
    images = jnp.asarray(rng.uniform(size=(batch, m.img_size, m.img_size, 3)), jnp.float32)
    batch_arrays = {"image": images, "scene_g": scene,
                    "scene_d": scene_batch(jax.random.fold_in(key, 1), m, batch)}  # fmt: skip
    out["step"] = timeit(lambda: step(state, batch_arrays)[1]["g_loss"], repeats)
    for what in ("generator", "step"):
        r = out[what]
        print(f"{name} ({m.img_size} px, batch {batch}, {n_params} generator parameters) {what}: "
              f"median {r['median_ms']:.0f} ms (min {r['min_ms']:.0f}, max {r['max_ms']:.0f}; "
              f"CPU {r['cpu_ms']:.0f} ms)")  # fmt: skip
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", nargs="+", default=["cpu", "clevr_synthetic_64"])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    print(f"allocator: freed memory kept in the heap: {keep_freed_memory()}")
    print(f"machine: {machine()}")
    out = {name: bench_preset(name, args.batch, args.repeats) for name in args.preset}
    out["peak_rss_mb"] = peak_rss_mb()
    print(f"peak RSS {out['peak_rss_mb']:.0f} MB")
    return out


if __name__ == "__main__":
    from jax3d.utils import enable_compilation_cache

    enable_compilation_cache()  # compiled programs persist across runs (first-call
    # numbers: bm_first_call.py, which measures with and without the cache)
    main()
