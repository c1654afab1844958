"""Benchmark of the Mask R-CNN detection ops at Detectron2's sizes (an 800 x 1216 image).

- `nms`: N random boxes, K = 1000 kept at most, IoU 0.7;
- `find_top_rpn_proposals`: P2..P6 logits and boxes of one image, 1000 pre-NMS per level,
  1000 post-NMS (Detectron2's test setting);
- `multilevel_roi_align`: the box head's 7 x 7 (sampling ratio 2) from P2..P5, C = 256,
  B = 2 images x R = 512 sampled proposals, forward and forward+backward (w.r.t. features).

Median and spread of timed runs after a jit warm-up (``block_until_ready``), CPU time per call,
the peak resident memory of the process and the machine.

    python benchmarks/bm_detection.py [--repeats 5] [--quick]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from harness import keep_freed_memory, machine, peak_rss_mb, timeit

from jax3d.ops.detection import (
    AnchorGenerator,
    find_top_rpn_proposals,
    multilevel_roi_align,
    nms,
)


def _boxes(rng, shape, size=(800, 1216)):
    xy = rng.uniform(0, 1, shape + (2,)) * np.array(size[::-1])
    wh = rng.uniform(8, 300, shape + (2,))
    return jnp.asarray(np.concatenate([xy, xy + wh], -1), jnp.float32)


def _report(results, name, r):
    r["peak_rss_mb"] = peak_rss_mb()
    results[name] = r
    print(f"{name:48s}: median {r['median_ms']:8.1f} ms (min {r['min_ms']:.1f}, max "
          f"{r['max_ms']:.1f}), cpu {r['cpu_ms']:.1f} ms, "
          f"peak RSS {r['peak_rss_mb']:.0f} MB")  # fmt: skip


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    args = parser.parse_args(argv)
    print(f"allocator: freed memory kept in the heap: {keep_freed_memory()}")
    print(f"machine: {machine()}")
    rng = np.random.default_rng(0)
    results = {}
    for n in (1000, 2000) if args.quick else (2000, 5000, 10000):
        boxes, scores = _boxes(rng, (n,)), jnp.asarray(rng.uniform(size=n), jnp.float32)
        fn = jax.jit(lambda b, s: nms(b, s, 0.7, max_output_size=1000).indices)
        _report(results, f"nms N={n} K=1000", timeit(lambda fn=fn, b=boxes, s=scores: fn(b, s),
                                                      args.repeats))  # fmt: skip

    size = (256, 384) if args.quick else (800, 1216)
    shapes = [(size[0] // s, size[1] // s) for s in (4, 8, 16, 32, 64)]
    anchors = AnchorGenerator()(shapes)
    props = [_boxes(rng, (1, a.shape[0]), size) for a in anchors]
    logits = [jnp.asarray(rng.normal(size=(1, a.shape[0])), jnp.float32) for a in anchors]
    sizes = jnp.asarray([size], jnp.float32)
    top = jax.jit(lambda p, lg: find_top_rpn_proposals(p, lg, sizes).boxes)
    _report(results, f"find_top_rpn_proposals {sum(a.shape[0] for a in anchors)} anchors",
            timeit(lambda: top(props, logits), args.repeats))  # fmt: skip

    B, R, C = (1, 128, 64) if args.quick else (2, 512, 256)
    feats = [jnp.asarray(rng.normal(size=(B,) + s + (C,)), jnp.float32) for s in shapes[:4]]
    rois = _boxes(rng, (B, R), size)
    scales = (1 / 4, 1 / 8, 1 / 16, 1 / 32)
    fwd = jax.jit(lambda f, b: multilevel_roi_align(f, b, 7, scales, 2))
    grad = jax.jit(jax.grad(lambda f, b: jnp.sum(multilevel_roi_align(f, b, 7, scales, 2) ** 2)))
    for name, fn in (("fwd", fwd), ("fwd+bwd", grad)):
        _report(results, f"multilevel_roi_align B={B} R={R} C={C} 7x7 {name}",
                timeit(lambda fn=fn: fn(feats, rois), args.repeats))  # fmt: skip
    return results


if __name__ == "__main__":
    from jax3d.utils import enable_compilation_cache

    enable_compilation_cache()  # compiled programs persist across runs (first-call
    # numbers: bm_first_call.py, which measures with and without the cache)
    main()
