"""Training logs: metrics as JSON lines and TensorBoard event files, images, a tqdm bar."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

__all__ = ["MetricLogger", "ProgressBar", "image_grid", "read_jsonl"]


def _scalar(v) -> float:
    return float(np.asarray(v))


class MetricLogger:
    """Writes scalars to `metrics.jsonl` and TensorBoard (`tensorboardX`), images to both.

    `metrics.jsonl` holds one JSON object per logged step: `{"step": i, "time": seconds since
    the logger started, "<name>": value, ...}`; a resumed run appends to it (entries past the
    resumed step are dropped first, so the file never holds two histories). TensorBoard files
    go to `directory/tensorboard` (`tensorboard --logdir DIR/tensorboard`); no TensorFlow is
    needed. Images are also saved as PNG under `directory/images/<name>_<step>.png`.

    Args:
        directory: the run folder.
        tensorboard: write TensorBoard event files (needs `tensorboardX`).
        resume_step: the step a resumed run starts from (truncate later JSONL entries).
    """

    def __init__(self, directory, *, tensorboard: bool = True, resume_step: int | None = None):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "metrics.jsonl"
        self._t0 = time.perf_counter()
        self._offset = 0.0
        if resume_step is not None and self.path.exists():
            kept = [r for r in read_jsonl(self.path) if r["step"] <= resume_step]
            self._offset = kept[-1]["time"] if kept else 0.0
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        elif self.path.exists() and resume_step is None:
            self.path.unlink()
        self._file = self.path.open("a")
        self._writer = None
        if tensorboard:
            from tensorboardX import SummaryWriter

            self._writer = SummaryWriter(str(self.directory / "tensorboard"))

    def elapsed(self) -> float:
        """Seconds of training so far (continuing a resumed run's clock)."""
        return self._offset + time.perf_counter() - self._t0

    def log(self, step: int, metrics: dict) -> dict:
        """Record `metrics` (name -> scalar) at `step`; returns the plain-float dict written."""
        row = {"step": int(step), "time": round(self.elapsed(), 3)}
        for k, v in metrics.items():
            value = _scalar(v)
            row[k] = value if math.isfinite(value) else str(value)
            if self._writer is not None:
                self._writer.add_scalar(k, value, int(step))
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        return row

    def log_images(self, step: int, name: str, images) -> Path:
        """Record `images: (H, W, 3)` or `(N, H, W, 3)` floats in [0, 1] (a grid when N > 1)."""
        from PIL import Image

        grid = image_grid(np.asarray(images, np.float32))
        pixels = (np.clip(grid, 0.0, 1.0) * 255).round().astype(np.uint8)
        folder = self.directory / "images"
        folder.mkdir(exist_ok=True)
        path = folder / f"{name}_{int(step):07d}.png"
        Image.fromarray(pixels).save(path)
        if self._writer is not None:
            self._writer.add_image(name, pixels, int(step), dataformats="HWC")
        return path

    def close(self):
        self._file.close()
        if self._writer is not None:
            self._writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def image_grid(images: np.ndarray, cols: int | None = None, pad: int = 2) -> np.ndarray:
    """`(N, H, W, C)` -> one `(rows * (H + pad) - pad, cols * (W + pad) - pad, C)` image."""
    if images.ndim == 3:
        return images
    if images.ndim != 4:
        raise ValueError(f"images must be (H, W, C) or (N, H, W, C), got {images.shape}")
    n, h, w, c = images.shape
    cols = cols or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    out = np.ones((rows * (h + pad) - pad, cols * (w + pad) - pad, c), images.dtype)
    for i in range(n):
        r, q = divmod(i, cols)
        out[r * (h + pad): r * (h + pad) + h, q * (w + pad): q * (w + pad) + w] = images[i]
    return out


def read_jsonl(path) -> list[dict]:
    """The rows of a `metrics.jsonl` file."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class ProgressBar:
    """A tqdm bar over steps showing chosen losses, elapsed time and throughput.

    `update(step, metrics)` after every step; throughput is `items_per_step` (e.g. images or
    rays per step) times steps per second, measured since the bar's first update (so the
    first step's compilation is excluded).
    """

    def __init__(self, total: int, *, initial: int = 0, desc: str = "train",
                 items_per_step: int | None = None, item_name: str = "it",
                 keys: tuple[str, ...] | None = None, disable: bool = False):  # fmt: skip
        self._bar = tqdm(total=total, initial=initial, desc=desc, disable=disable,
                         dynamic_ncols=True)  # fmt: skip
        self._items = items_per_step
        self._item_name = item_name
        self._keys = keys
        self._first: tuple[float, int] | None = None
        self._last = initial

    def update(self, step: int, metrics: dict):
        now = time.perf_counter()
        if self._first is None:
            self._first = (now, step)
        post = {}
        names = self._keys if self._keys is not None else list(metrics)[:4]
        for k in names:
            if k in metrics:
                post[k] = f"{_scalar(metrics[k]):.4g}"
        t0, s0 = self._first
        if step > s0 and self._items:
            post[f"{self._item_name}/s"] = f"{self._items * (step - s0) / (now - t0):.4g}"
        self._bar.set_postfix(post, refresh=False)
        self._bar.update(step - self._last)
        self._last = step

    def throughput(self) -> float | None:
        """Items per second since the first update, or None."""
        if self._first is None or not self._items or self._last <= self._first[1]:
            return None
        return self._items * (self._last - self._first[1]) / (time.perf_counter() - self._first[0])

    def close(self):
        self._bar.close()
