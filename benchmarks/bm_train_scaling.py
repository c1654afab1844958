"""Data-parallel scaling of the NeRF train step with the number of devices.

Each device count runs `bm_nerf.py --devices N` in a fresh process (on a CPU the N devices are
forced with `XLA_FLAGS=--xla_force_host_platform_device_count=N`; they share the machine's
cores, so this measures the overhead of the sharded program rather than a speed-up; on a
multi-GPU host the same command uses the real devices). The global batch is fixed, so perfect
scaling divides the step time by N. The CPU time per step (all threads) is printed too: on a
shared or loaded machine it is the steadier measure of the sharded program's overhead.

    python benchmarks/bm_train_scaling.py [--devices 1 2 4] [--batch 8] [--rays 750]
        [--points 128] [--hidden 256] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SNIPPET = """
import json, sys
sys.path.insert(0, {here!r})
import bm_nerf
r = bm_nerf.main({argv!r})
print("RESULT " + json.dumps(r))
"""


def run(devices: int, argv: list[str], force_cpu: bool) -> dict:
    env = dict(os.environ)
    if force_cpu:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    code = SNIPPET.format(here=str(HERE), argv=argv + ["--devices", str(devices)])
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    print(proc.stdout.strip().splitlines()[-2])
    return json.loads(proc.stdout.strip().splitlines()[-1][len("RESULT "):])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rays", type=int, default=750)
    parser.add_argument("--points", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    force_cpu = os.environ.get("JAX_PLATFORMS", "cpu") == "cpu"
    common = ["--batch", str(args.batch), "--rays", str(args.rays), "--points",
              str(args.points), "--hidden", str(args.hidden), "--repeats", str(args.repeats)]
    load = os.getloadavg()
    rows = [run(n, common, force_cpu) for n in args.devices]
    base, base_cpu = rows[0]["median_ms"], rows[0]["cpu_ms"]
    print(f"load average before / after: {load[0]:.1f} / {os.getloadavg()[0]:.1f}")
    print("| devices | step median (ms) | min - max | speed-up | CPU ms / step | CPU vs 1 device |")
    print("| --- | --- | --- | --- | --- | --- |")
    for n, r in zip(args.devices, rows):
        print(f"| {n} | {r['median_ms']:.0f} | {r['min_ms']:.0f} - {r['max_ms']:.0f} | "
              f"{base / r['median_ms']:.2f}x | {r['cpu_ms']:.0f} | "
              f"{r['cpu_ms'] / base_cpu:.2f}x |")
    return rows


if __name__ == "__main__":
    from jax3d.utils import enable_compilation_cache

    enable_compilation_cache()  # compiled programs persist across runs (first-call
    # numbers: bm_first_call.py, which measures with and without the cache)
    main()
