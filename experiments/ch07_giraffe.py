"""Chapter 7: GIRAFFE, compositional generative neural feature fields, trained as a GAN.

A preset (a YAML file with the book's config keys, `experiments/configs/giraffe/*.yaml`, or a
path) says what to train on: image folders (CompCars, CelebA-HQ, LSUN church, CLEVR-2,
chairs; put them under `data/` or edit `data.path`) or the CLEVR-like scenes jax3d renders
itself (`data.dataset_name: clevr_synthetic`; rendered once into an `.npz` cache, with a
held-out split). `cpu` is a small model that learns the synthetic scenes on a CPU.

Training runs on `jax3d.train` (`fit`: checkpoints under OUT/run/checkpoints, resumed with
`--resume`; metrics.jsonl, TensorBoard, sample grids OUT/run/images/samples_<step>.png), one
jitted step (generator then discriminator, the authors' order), data-parallel over `--devices`.
A Frechet distance against held-out real images is logged every `--eval-every` steps: the
FID with InceptionV3 when `--inception-weights` gives pytorch-fid's weights, else the Frechet
distance on VGG16 features (labelled so; `--fd-input-size` sets VGG16's input size).

At the end OUT holds: metrics.json (the Frechet distance at initialisation, after training and
between two real sets, the "floor"; the three control measures of
`jax3d.models.giraffe.controls`), curves.png (losses, logits, Frechet distance), and in
OUT/render/ a PNG grid and a GIF per control of the authors' `render.py`
(interpolate_app, interpolate_shape, interpolate_bg_app, translation_object_depth,
translation_object_horizontal, rotation_object, translation_object_circle, add_objects,
remove_objects).

    python experiments/ch07_giraffe.py --quick --out out/ch07_giraffe
    python experiments/ch07_giraffe.py --preset cpu --out out/giraffe_cpu --resume
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import resource
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jax
import numpy as np
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from jax3d.datasets import ImageFolder
from jax3d.datasets.clevr import ClevrConfig, ClevrScenes, NpzClevrScenes, cache_clevr_npz
from jax3d.models.giraffe import GiraffeConfig
from jax3d.models.giraffe.controls import (
    PROGRAMS,
    background_code_isolation,
    compiled_render,
    make_render_fn,
    object_code_isolation,
    program_scenes,
    render_program,
    translation_monotonicity,
    upsample_alpha,
    with_camera_azimuth,
)
from jax3d.models.giraffe.evaluation import ImageSetMeasure, generated_batches
from jax3d.models.giraffe.train import init_gan_state, make_giraffe_step, scene_batch
from jax3d.train import FitConfig, fit, make_data_mesh, read_jsonl
from jax3d.utils import enable_compilation_cache
from jax3d.vis import image_grid, save_gif, save_image

PRESET_DIR = Path(__file__).resolve().parent / "configs" / "giraffe"

# --quick: a few steps of a tiny model on a few tiny synthetic scenes.
QUICK = {
    "data": {"dataset_name": "clevr_synthetic", "img_size": 16,
             "synthetic": {"num_samples": 16, "heldout_samples": 8, "max_objects": 1,
                           "size_range": [0.3, 0.4], "translation_range": 0.5,
                           "supersample": 1}},
    "model": {"z_dim": 4, "z_dim_bg": 3,
              "decoder_kwargs": {"hidden_size": 8, "n_blocks": 2, "skips": [], "rgb_out_dim": 8,
                                 "n_freq_posenc": 2, "n_freq_posenc_views": 1},
              "background_generator_kwargs": {"hidden_size": 8, "n_blocks": 1, "rgb_out_dim": 8,
                                              "n_freq_posenc": 2, "n_freq_posenc_views": 1},
              "bounding_box_generator_kwargs": {"n_boxes": 1, "scale_range_min": [0.3] * 3,
                                                "scale_range_max": [0.4] * 3,
                                                "translation_range_min": [-0.5, -0.5, 0.35],
                                                "translation_range_max": [0.5, 0.5, 0.35]},
              "generator_kwargs": {"resolution_vol": 8, "n_ray_samples": 4},
              "neural_renderer_kwargs": {"n_feat": 8, "min_feat": 4},
              "discriminator_kwargs": {"n_feat": 8}},
    "training": {"batch_size": 4, "n_steps": 6, "print_every": 1, "checkpoint_every": 3,
                 "visualize_every": 3, "validate_every": 3, "n_eval_images": 8},
}  # fmt: skip


# ------------------------------------------------------------------------------ configuration


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for k, v in override.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_preset(name: str) -> dict:
    """The raw dict of a preset: a name in configs/giraffe/ or a YAML path."""
    path = Path(name)
    if not path.suffix:
        path = PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))
        raise SystemExit(f"preset {name!r}: no file {path}; presets: {names}")
    with open(path) as f:
        return yaml.safe_load(f) or {}


# ------------------------------------------------------------------------------ data


def step_indices(n: int, batch_size: int, step: int, seed: int) -> np.ndarray:
    """Sorted indices of step `step`'s batch: epochs are seeded permutations of `n` items,
    cut into `n // batch_size` full batches (a pure function of the step: exact resume)."""
    per_epoch = n // batch_size
    if per_epoch < 1:
        raise ValueError(f"{n} training images are fewer than batch_size={batch_size}")
    epoch, i = divmod(step, per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return np.sort(order[i * batch_size : (i + 1) * batch_size])


class SyntheticData:
    """CLEVR-like scenes cached as uint8 `.npz` files (train and held-out splits)."""

    def __init__(self, config: GiraffeConfig, cache_dir: Path, seed: int):
        settings = dict(config.data.synthetic)
        heldout = int(settings.pop("heldout_samples", max(8, settings.get("num_samples", 0) // 10)))
        settings = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
        base = ClevrConfig(image_size=config.data.img_size, **settings)
        render_batch = min(64, heldout, base.num_samples)  # one rasterizer compile for both
        self.train = self._cached(base, cache_dir, render_batch)
        self.heldout = self._cached(base.replace(split="val", num_samples=heldout), cache_dir,
                                    render_batch)  # fmt: skip
        self.images = self.train.images_uint8
        self.seed = seed

    @staticmethod
    def _cached(cfg: ClevrConfig, cache_dir: Path, batch_size: int) -> NpzClevrScenes:
        digest = hashlib.sha1(json.dumps(dataclasses.asdict(cfg), sort_keys=True).encode())
        path = cache_dir / f"clevr{cfg.image_size}_{cfg.split}_{digest.hexdigest()[:10]}.npz"
        if not path.exists():
            cache_dir.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            cache_clevr_npz(ClevrScenes(cfg), path, batch_size=batch_size)
            rate = cfg.num_samples / (time.perf_counter() - t0)
            print(f"rendered {cfg.num_samples} {cfg.split} scenes ({rate:.1f} images/s) -> {path}")
        return NpzClevrScenes(path)

    def batch(self, step: int, batch_size: int) -> np.ndarray:
        """(B, H, W, 3) float32 of step `step`: epochs of a per-epoch permutation."""
        idx = step_indices(len(self.images), batch_size, step, self.seed)
        return self.images[idx].astype(np.float32) / 255.0

    def real_sets(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(held-out images, training images) of n each: the reference and the floor's (the
        training images are the first n of the set, not the ones of a particular step)."""
        held = self.heldout.images_uint8[:n].astype(np.float32) / 255.0
        train = self.images[:n].astype(np.float32) / 255.0
        return held, train


class FolderData:
    """An image folder (GIRAFFE's `ImagesDataset`: resize or random crop, random flips)."""

    def __init__(self, config: GiraffeConfig, seed: int, workers: int = 4):
        d = config.data
        self.folder = ImageFolder(d.path, image_size=d.img_size, random_crop=d.random_crop,
                                  hflip=True, center_crop_size=d.center_crop_size,
                                  num_workers=0)  # fmt: skip
        self.plain = ImageFolder(d.path, image_size=d.img_size, random_crop=False, hflip=False,
                                 center_crop_size=d.center_crop_size)  # fmt: skip
        self.seed = seed
        self.pool = ThreadPoolExecutor(workers)
        self.ahead: dict[int, object] = {}

    def _load(self, step: int, batch_size: int) -> np.ndarray:
        n = len(self.folder)
        epoch, i = divmod(step, n // batch_size)
        order = self.folder.epoch_order(seed=self.seed, epoch=epoch)
        idx = order[i * batch_size : (i + 1) * batch_size]
        return np.stack([self.folder.load(int(j), seed=self.seed, epoch=epoch) for j in idx])

    def batch(self, step: int, batch_size: int) -> np.ndarray:
        """Step `step`'s batch (decoded two steps ahead in threads; a pure function of step)."""
        for s in (step, step + 1, step + 2):
            if s not in self.ahead:
                self.ahead[s] = self.pool.submit(self._load, s, batch_size)
        for s in [s for s in self.ahead if s < step]:
            del self.ahead[s]
        return self.ahead.pop(step).result()

    def real_sets(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        order = self.plain.epoch_order(seed=12345, epoch=0)
        if len(order) < 2 * n:
            raise SystemExit(f"{self.plain.pattern}: {len(order)} images, fewer than 2 x {n}")
        load = self.plain.load
        return (np.stack([load(int(i)) for i in order[:n]]),
                np.stack([load(int(i)) for i in order[n : 2 * n]]))  # fmt: skip


# ------------------------------------------------------------------------------ figures


def _curves(rows: list[dict], path: Path, labels: tuple[str, str], references: dict):
    """Losses, logits, and the Frechet distance and KID of the EMA generator against the
    references (`{name: {"frechet": .., "kid": ..}}`, dashed lines)."""
    fig = Figure(figsize=(18, 4))
    FigureCanvasAgg(fig)
    train = [r for r in rows if "g_loss" in r]
    panels = [
        ("losses", [("g_loss", "G: softplus(-D(G(z)))"), ("d_bce", "D: BCE"),
                    ("d_r1", "D: R1 E||grad||^2")]),
        ("discriminator logits", [("d_real_logit", "real"), ("d_fake_logit", "fake")]),
    ]  # fmt: skip
    for i, (title, keys) in enumerate(panels):
        ax = fig.add_subplot(1, 4, i + 1)
        for key, label in keys:
            pts = [(r["step"], r[key]) for r in train if key in r]
            if pts:
                steps, vals = zip(*pts)
                ax.plot(steps, _smooth(np.asarray(vals)), label=label)
        ax.set_xlabel("step")
        ax.set_title(title)
        ax.legend()
    colours = {"untrained": "red", "mean image": "orange", "real-vs-real floor": "grey"}
    for i, (key, label) in enumerate(zip(("frechet", "kid"), labels)):
        ax = fig.add_subplot(1, 4, 3 + i)
        evals = [(r["step"], r[f"eval/{key}"]) for r in rows if f"eval/{key}" in r]
        if evals:
            steps, vals = zip(*evals)
            ax.plot(steps, vals, "o-", label="generator (EMA)")
        for name, ref in references.items():
            ax.axhline(ref[key], linestyle="--", color=colours.get(name, "black"), label=name)
        ax.set_xlabel("step")
        ax.set_title(label, fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def _upscale(image: np.ndarray, min_size: int = 128) -> np.ndarray:
    """Nearest-neighbour enlargement by an integer factor to at least `min_size` pixels high
    (small renders stay visible in a viewer)."""
    f = max(1, -(-min_size // image.shape[0]))
    return np.repeat(np.repeat(image, f, axis=0), f, axis=1)


def _smooth(values: np.ndarray, width: int = 9) -> np.ndarray:
    if len(values) < width:
        return values
    kernel = np.ones(width) / width
    padded = np.pad(values, (width // 2, width - 1 - width // 2), mode="edge")
    return np.convolve(padded, kernel, mode="valid")


def _save_program(frames: np.ndarray, folder: Path, name: str, columns: int = 6):
    """frames (T, B, H, W, 3): a GIF of the whole batch and a PNG grid (rows: images,
    columns: `columns` frames spread over the sequence)."""
    folder.mkdir(parents=True, exist_ok=True)
    t, b = frames.shape[:2]
    frames = np.stack([np.stack([_upscale(im, 96) for im in f]) for f in frames])
    gif = [image_grid(f, cols=min(b, 4), pad=1) for f in frames]
    save_gif(folder / f"{name}.gif", gif, fps=8)
    pick = np.linspace(0, t - 1, min(columns, t)).round().astype(int)
    rows = frames[pick].transpose(1, 0, 2, 3, 4)  # (B, columns, H, W, 3)
    grid = image_grid(rows[: min(b, 6)].reshape(-1, *frames.shape[2:]), cols=len(pick), pad=1)
    save_image(folder / f"{name}.png", grid)


# ------------------------------------------------------------------------------ main


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="cpu", help="a name in configs/giraffe or a YAML path")
    p.add_argument("--quick", action="store_true", help="a tiny model for a few steps (seconds)")
    p.add_argument("--out", type=Path, default=Path("out/ch07_giraffe"))
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest checkpoint in OUT/run/checkpoints")
    p.add_argument("--devices", type=int, default=1, help="data-parallel over this many devices")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="override training.n_steps")
    p.add_argument("--max-minutes", type=float, default=None, help="stop training after this")
    p.add_argument("--eval-every", type=int, default=None, help="Frechet-distance interval")
    p.add_argument("--eval-images", type=int, default=None,
                   help="generated images per Frechet distance at the start and the end "
                        "(default training.n_eval_images, at most the held-out set)")  # fmt: skip
    p.add_argument("--curve-images", type=int, default=None,
                   help="generated images per Frechet distance during training")
    p.add_argument("--fd-input-size", type=int, default=None,
                   help="VGG16 input size of the Frechet distance (default: 224; 64 in --quick)")
    p.add_argument("--inception-weights", default=None,
                   help="pytorch-fid's pt_inception-2015-12-05 weights: report the FID")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="where synthetic datasets are rendered once (default OUT/cache)")
    p.add_argument("--no-render", action="store_true", help="skip the control renders")
    p.add_argument("--illustrate", type=Path, default=None, metavar="DIR",
                   help="only write pictures of the controls' mechanics to DIR: the untrained "
                        "generator with opaque objects (density bias raised), and real images")
    return p.parse_args(argv)


def _settings(args, raw: dict) -> tuple[GiraffeConfig, dict]:
    if args.quick:
        raw = _merge(raw, QUICK)
    config = GiraffeConfig.from_dict(raw)
    t = config.training
    n_steps = args.steps if args.steps is not None else t.n_steps
    n_eval = args.eval_images or (8 if args.quick else t.n_eval_images)
    st = {
        "n_steps": n_steps,
        "eval_every": args.eval_every or t.validate_every,
        "eval_images": n_eval,
        "curve_images": args.curve_images or n_eval,
        "fd_input_size": args.fd_input_size or (32 if args.quick else 224),
        "render_batch": 4 if args.quick else 6,
        "render_steps": 4 if args.quick else 16,
        "control_codes": 4 if args.quick else 16,
        "control_scenes": 4 if args.quick else 16,
        "programs": list((raw.get("rendering") or {}).get("render_program") or PROGRAMS),
    }
    return config, st


_ALPHA_COLOURS = np.array([[0.85, 0.3, 0.2], [0.2, 0.5, 0.9], [0.3, 0.75, 0.3],
                           [0.9, 0.75, 0.2]], np.float32)  # fmt: skip


def _alpha_frames(render_fn, scenes, size: int) -> np.ndarray:
    """(T, B, size, size, 3): each object's alpha map (its own opacity along each ray) in its
    colour over white, bilinearly enlarged from the volume render's resolution."""
    frames = []
    for scene in scenes:
        alpha = upsample_alpha(render_fn(scene)[1], size)  # (B, N, size, size)
        img = np.ones(alpha.shape[:1] + (size, size, 3), np.float32)
        for n in range(alpha.shape[1]):
            a = alpha[:, n, ..., None]
            img = img * (1.0 - a) + a * _ALPHA_COLOURS[n % len(_ALPHA_COLOURS)]
        frames.append(img)
    return np.stack(frames)


def illustrate(raw: dict, folder: Path, data, seed: int) -> list[str]:
    """Pictures of what the geometric controls change, before any training: the objects'
    alpha maps of the untrained generator (PyTorch's initialisation) whose object density is
    raised by 5 inside the boxes (opaque boxes), volume-rendered at 32 x 32 with 48 samples
    per ray (the preset's model otherwise); written as giraffe_init_<program>.gif / .png,
    plus giraffe_real.png (held-out real images). Returns the programs drawn."""
    from jax3d.models.giraffe.train import init_params

    raw = _merge(raw, {"data": {"img_size": 64},
                       "model": {"generator_kwargs": {"resolution_vol": 32,
                                                      "n_ray_samples": 48}}})  # fmt: skip
    m = GiraffeConfig.from_dict(raw).model
    g_params, _ = init_params(m, seed)
    bias = g_params["decoder"]["sigma_out"]["bias"]
    g_params["decoder"]["sigma_out"]["bias"] = bias + 5.0
    render_fn = make_render_fn(m, g_params)
    folder.mkdir(parents=True, exist_ok=True)
    key = jax.random.PRNGKey(seed)
    names = ("translation_object_horizontal", "translation_object_depth", "rotation_object",
             "rotation_camera", "add_objects")  # fmt: skip
    for i, name in enumerate(names):
        scenes = program_scenes(name, m, jax.random.fold_in(key, i), batch_size=4,
                                n_steps=12, max_objects=4)  # fmt: skip
        if name == "rotation_camera":  # orbit a scene of 4 objects (add_objects' last frame)
            four = program_scenes("add_objects", m, key, batch_size=4, max_objects=4)[-1]
            scenes = [with_camera_azimuth(m, four, t) for t in np.arange(12) / 12]
        frames = _alpha_frames(render_fn, scenes, 64)
        _save_program(frames, folder, f"giraffe_init_{name}", columns=6)
    real = data.real_sets(16)[0]
    save_image(folder / "giraffe_real.png", _upscale(image_grid(real, cols=8, pad=1), 256))
    return list(names)


def main(argv=None) -> dict:
    args = _parse(argv)
    raw = load_preset(args.preset)
    config, st = _settings(args, raw)
    if args.illustrate is not None:
        cache = args.cache_dir or args.out / "cache"
        data = SyntheticData(config, cache, args.seed)
        return {"illustrated": illustrate(raw, args.illustrate, data, args.seed)}
    m, t = config.model, config.training
    out = args.out
    run_dir = out / "run"
    if not args.resume and run_dir.exists():
        shutil.rmtree(run_dir)  # a fresh run: no stale checkpoints to resume from
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    t_start = time.perf_counter()
    if config.data.dataset_name == "clevr_synthetic":
        data = SyntheticData(config, args.cache_dir or out / "cache", args.seed)
    else:
        data = FolderData(config, args.seed)
    b = t.batch_size
    key = jax.random.PRNGKey(args.seed)
    k_init, k_scenes, k_eval, k_render = jax.random.split(key, 4)
    state = init_gan_state(config, k_init, seed=args.seed)
    mesh = make_data_mesh(args.devices) if args.devices > 1 else None
    step_fn = make_giraffe_step(config, mesh=mesh)

    def batch_fn(step):
        k = jax.random.fold_in(k_scenes, step)
        return {"image": data.batch(step, b),
                "scene_g": scene_batch(jax.random.fold_in(k, 0), m, b),
                "scene_d": scene_batch(jax.random.fold_in(k, 1), m, b)}  # fmt: skip

    render = compiled_render(m)  # one compile per scene shape, shared with the controls

    def generate_fn(params, k):
        return render(params, scene_batch(k, m, b))[0]

    # Sample quality: features of the held-out real images, and the reference numbers (a
    # training subset against them: the measure's floor; the mean training image repeated:
    # a generator that learnt only the average colour; the untrained generator), computed
    # once per run folder and reused on --resume.
    measure = ImageSetMeasure(args.inception_weights, input_size=st["fd_input_size"],
                              batch_size=b)  # fmt: skip
    ref_path, feats_path = out / "reference.json", out / "real_features.npy"
    reference = json.loads(ref_path.read_text()) if args.resume and ref_path.exists() else None
    if reference is None or not feats_path.exists() or reference["label"] != measure.label:
        t0 = time.perf_counter()
        held, other = data.real_sets(st["eval_images"])
        real_feats = measure.features(held)
        np.save(feats_path, real_feats)
        mean_image = np.broadcast_to(other.mean(axis=0), (2,) + other.shape[1:])
        mean_feats = np.repeat(measure.features(mean_image)[:1], len(held), axis=0)
        init_feats = measure.features(generated_batches(
            lambda k: generate_fn(state.generator.params, k), k_eval, len(held), b))
        reference = {
            "label": measure.label, "kid_label": measure.kid_label, "n_images": len(held),
            "real_vs_real_floor": measure.compare(measure.features(other), real_feats),
            "mean_image": measure.compare(mean_feats, real_feats),
            "init": measure.compare(init_feats, real_feats),
            "seconds": time.perf_counter() - t0,
        }  # fmt: skip
        ref_path.write_text(json.dumps(reference, indent=2))
    real_feats = np.load(feats_path)
    n_eval = reference["n_images"]

    def fmt(r):
        return f"FD {r['frechet']:.2f}, KID {r['kid']:.4f}"

    print(f"{measure.label} / KID ({n_eval} held-out images): untrained "
          f"{fmt(reference['init'])}; mean image {fmt(reference['mean_image'])}; "
          f"real-vs-real floor {fmt(reference['real_vs_real_floor'])}")  # fmt: skip

    def quality(params, n):
        feats = measure.features(generated_batches(lambda k: generate_fn(params, k), k_eval,
                                                   n, b))  # fmt: skip
        return measure.compare(feats, real_feats)

    def eval_fn(state, step):
        r = quality(state.generator.ema_params, min(st["curve_images"], n_eval))
        return {"frechet": r["frechet"], "kid": r["kid"]}

    # 16 samples drawn in batches of the training size (the compiled shapes), codes scaled
    # to std 0.65 (the authors' truncation for figures)
    def truncated(scene):
        return scene.replace(latents=jax.tree.map(lambda z: 0.65 * z, scene.latents))

    vis_scenes = [truncated(scene_batch(jax.random.fold_in(k_eval, 10**6 + i), m, b))
                  for i in range(-(-16 // b))]  # fmt: skip

    def images_fn(state, step):
        images = [render(state.generator.ema_params, s)[0] for s in vis_scenes]
        return {"samples": np.clip(np.concatenate(images)[:16], 0.0, 1.0)}

    minutes = float("inf") if args.max_minutes is None else args.max_minutes
    fit_config = FitConfig(
        num_steps=st["n_steps"], log_every=t.print_every, checkpoint_every=t.checkpoint_every,
        eval_every=st["eval_every"], images_every=t.visualize_every,
        max_seconds=60.0 * minutes, items_per_step=b, item_name="img", desc="giraffe",
    )  # fmt: skip
    t0 = time.perf_counter()
    state, _ = fit(step_fn, state, batch_fn, fit_config, run_dir, eval_fn=eval_fn,
                   images_fn=images_fn)  # fmt: skip
    train_seconds = time.perf_counter() - t0
    steps_done = int(state.step)
    params = state.generator.ema_params
    final = quality(params, n_eval)
    final_raw = quality(state.generator.params, n_eval)
    print(f"after {steps_done} steps: {fmt(final)} (untrained {fmt(reference['init'])}, floor "
          f"{fmt(reference['real_vs_real_floor'])})")  # fmt: skip

    # What a person looks at first: generated samples (EMA generator, codes std 0.65, the
    # authors' truncation for figures) next to held-out real images.
    samples = images_fn(state, steps_done)["samples"]
    save_image(out / "samples.png", _upscale(image_grid(samples, cols=8, pad=1)))
    real = data.real_sets(len(samples))[0]
    save_image(out / "real.png", _upscale(image_grid(real, cols=8, pad=1)))

    render_fn = make_render_fn(m, params)
    nc = st["control_codes"]
    controls = {
        "a_translation_monotonicity": translation_monotonicity(render_fn, m, k_render,
                                                               n_codes=nc),
        "b_object_code_isolation": object_code_isolation(render_fn, m, k_render,
                                                         n_scenes=st["control_scenes"]),
        "c_background_code_isolation": background_code_isolation(
            render_fn, m, k_render, n_scenes=st["control_scenes"]),
    }  # fmt: skip
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "per_code"}
                      for k, v in controls.items()}))  # fmt: skip
    rendered = []
    if not args.no_render:
        for name in st["programs"]:
            scenes = program_scenes(name, m, jax.random.fold_in(k_render, len(rendered)),
                                    batch_size=st["render_batch"], n_steps=st["render_steps"])
            _save_program(render_program(render_fn, scenes), out / "render", name)
            rendered.append(name)
    rows = read_jsonl(run_dir / "metrics.jsonl") if (run_dir / "metrics.jsonl").exists() else []
    _curves(rows, out / "curves.png", (measure.label, measure.kid_label),
            {"untrained": reference["init"], "mean image": reference["mean_image"],
             "real-vs-real floor": reference["real_vs_real_floor"]})  # fmt: skip
    train_rows = [r for r in rows if "g_loss" in r]
    metrics = {
        "preset": args.preset,
        "quick": args.quick,
        "steps": steps_done,
        "batch_size": b,
        "devices": args.devices,
        "quality": {
            "label": measure.label, "kid_label": measure.kid_label, "n_images": n_eval,
            "reference": "held-out real images",
            "final_ema": final, "final_raw": final_raw, "init": reference["init"],
            "mean_image": reference["mean_image"],
            "real_vs_real_floor": reference["real_vs_real_floor"],
            "frechet_final_over_init": final["frechet"] / reference["init"]["frechet"],
        },  # fmt: skip
        "controls": controls,
        "last_losses": {k: float(np.mean([r[k] for r in train_rows[-10:]]))
                        for k in ("g_loss", "d_bce", "d_r1") if train_rows},  # fmt: skip
        "train_seconds_this_call": train_seconds,
        "seconds_per_step": (train_rows[-1]["time"] - train_rows[0]["time"])
        / max(1, train_rows[-1]["step"] - train_rows[0]["step"]) if len(train_rows) > 1 else None,
        "wall_seconds_this_call": time.perf_counter() - t_start,
        "rendered": rendered,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


if __name__ == "__main__":
    enable_compilation_cache()  # compiled programs persist across runs
    main()
