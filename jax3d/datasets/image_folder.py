"""An image-folder dataset (GIRAFFE's `ImagesDataset`): a glob of image files decoded with
Pillow into fixed-size float32 NHWC batches, deterministic per (seed, epoch), robust to bad
files, with an optional prefetch thread that places batches on devices."""

from __future__ import annotations

import glob
import threading
import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from jax3d.datasets.prefetch import Prefetcher, prefetch

__all__ = ["DEFAULT_FORMATS", "DEFAULT_MAX_PIXELS", "ImageFolder", "ImageSkippedWarning"]

DEFAULT_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF", "PPM")
DEFAULT_MAX_PIXELS = 2**26  # 67 Mpx, e.g. 8192 x 8192

# Modes Pillow converts to RGB directly; alpha is dropped (Pillow's `convert("RGB")`, what
# GIRAFFE does); palette images go through RGBA so transparency-by-index is understood.
_RGB_MODES = {"1", "L", "LA", "RGB", "RGBA", "RGBX", "RGBa", "La", "CMYK", "YCbCr", "LAB", "HSV"}
_PALETTE_MODES = {"P", "PA"}
_WIDE_GREY_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N"}


class ImageSkippedWarning(UserWarning):
    """An image file could not be used and was skipped (the message names it and says why)."""


class _Unreadable(Exception):
    pass


class ImageFolder:
    """Images matched by a glob, as batches `{"image": (B, H, W, 3) float32, "index": (B,)}`.

    Files: `sorted(glob(pattern, recursive=True))` (e.g. "data/cars/images/*.jpg" as in the
    GIRAFFE configs, or "root/**/*.png"); `index` refers to `files`.

    Each image is decoded with Pillow (formats `formats` only), converted to RGB (modes "1",
    "L", "LA", "RGBA", "CMYK", ... by Pillow, alpha dropped; palette "P"/"PA" via RGBA;
    16-bit greyscale "I;16"/"I" scaled to 8 bits by 1/257), then, at `image_size = (H, W)`:

    1. `center_crop_size=c`: crop the central `c x c` square (clipped to the image) first
       (GIRAFFE's `celebA_center_crop`, c = 108 for CelebA, 650 for CelebA-HQ).
    2. resize (bilinear, Pillow's antialiased filter, as torchvision on PIL images):
       - default: straight to `(H, W)`, ignoring the aspect ratio (GIRAFFE's default,
         `Resize((size, size))`);
       - `random_crop=True`: scale so the image covers `(H, W)` keeping its aspect ratio
         (for square outputs: shorter side to `H`), then crop a uniformly random `H x W`
         window (GIRAFFE's `random_crop`: `Resize(size)` then `RandomCrop(size)`);
       - `keep_aspect=True`: the same scaling, then the central `H x W` window.
    3. `hflip=True`: mirror left-right with probability 1/2 (GIRAFFE always flips).
    4. float32 in `value_range`: (0, 1) by default; (-1, 1) is GIRAFFE's `use_tanh_range`.

    Determinism: the epoch's order is a permutation drawn from `(seed, epoch)`, and each
    image's crop offset and flip from `(seed, epoch, file index)`, so the batches depend only
    on `(seed, epoch, batch_size)`, not on threads or prefetching; different epochs shuffle
    differently. Batches are full (`drop_last`): the last partial batch is dropped.

    Bad files never crash an epoch: a file that fails to open or decode (truncated JPEG,
    zero-byte file, not an image, a format outside `formats`, an unsupported mode such as
    float "F", more than `max_pixels` pixels) is skipped with an `ImageSkippedWarning` naming
    it and the reason, once; it is remembered (`bad_files`) and skipped silently afterwards,
    and the batch is filled with the next good files. An epoch that cannot fill one batch
    raises `ValueError`.

    Decoding is bounded: the size in the file's header is checked against `max_pixels`
    before any pixel is decoded (a per-dataset limit; Pillow's process-wide
    `Image.MAX_IMAGE_PIXELS` check also applies and is not modified).

    Args:
        pattern: glob pattern of the image files.
        image_size: output `H = W` (int) or `(H, W)`.
        random_crop, keep_aspect: see step 2 (at most one).
        hflip: random horizontal flips.
        center_crop_size: optional square crop before resizing.
        value_range: `(low, high)` that pixel values 0 and 255 map to.
        max_pixels: largest `width * height` decoded.
        formats: Pillow format names accepted.
        num_workers: decoding threads (Pillow releases the GIL while decoding); 0 decodes in
            the iterating thread.
    """

    def __init__(
        self,
        pattern: str | Path,
        *,
        image_size: int | Sequence[int],
        random_crop: bool = False,
        keep_aspect: bool = False,
        hflip: bool = False,
        center_crop_size: int | None = None,
        value_range: tuple[float, float] = (0.0, 1.0),
        max_pixels: int = DEFAULT_MAX_PIXELS,
        formats: Sequence[str] = DEFAULT_FORMATS,
        num_workers: int = 0,
    ):
        self.pattern = str(pattern)
        self.image_size = _check_size(image_size)
        if random_crop and keep_aspect:
            raise ValueError("random_crop and keep_aspect are exclusive; choose one")
        if center_crop_size is not None and int(center_crop_size) < 1:
            raise ValueError(f"center_crop_size must be >= 1, got {center_crop_size}")
        if len(value_range) != 2 or not value_range[0] < value_range[1]:
            raise ValueError(f"value_range must be (low, high) with low < high, got {value_range}")
        if max_pixels < 1:
            raise ValueError(f"max_pixels must be >= 1, got {max_pixels}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        self.random_crop = bool(random_crop)
        self.keep_aspect = bool(keep_aspect)
        self.hflip = bool(hflip)
        self.center_crop_size = None if center_crop_size is None else int(center_crop_size)
        self.value_range = (float(value_range[0]), float(value_range[1]))
        self.max_pixels = int(max_pixels)
        self.formats = tuple(formats)
        self.num_workers = int(num_workers)
        self.files = tuple(
            f for f in sorted(glob.glob(self.pattern, recursive=True)) if Path(f).is_file()
        )
        if not self.files:
            raise ValueError(f"pattern {self.pattern!r} matches no files")
        self._bad: dict[str, str] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.files)

    def __repr__(self) -> str:
        return (
            f"ImageFolder({self.pattern!r}, {len(self)} files, image_size={self.image_size}, "
            f"random_crop={self.random_crop}, hflip={self.hflip})"
        )

    @property
    def bad_files(self) -> dict[str, str]:
        """`{path: reason}` of the files skipped so far."""
        with self._lock:
            return dict(self._bad)

    # ---------------------------------------------------------------- one image

    def load(self, index: int, *, seed: int = 0, epoch: int = 0) -> np.ndarray:
        """File `index` decoded and transformed with the randomness of `(seed, epoch)`.

        Returns:
            `(H, W, 3)` float32 in `value_range`.

        Raises:
            ValueError: the file cannot be used (the message names it and says why).
            IndexError: `index` is not in `[0, len(self))`.
        """
        index = int(index)
        if not 0 <= index < len(self.files):
            raise IndexError(f"index {index} out of range for {len(self.files)} files")
        try:
            return self._load(index, _image_rng(seed, epoch, index))
        except _Unreadable as err:
            raise ValueError(str(err)) from err

    def _load(self, index: int, rng: np.random.Generator) -> np.ndarray:
        path = self.files[index]
        img = _decode_rgb(path, self.max_pixels, self.formats)
        img = self._geometry(img, rng)
        lo, hi = self.value_range
        return np.asarray(img, np.float32) * np.float32((hi - lo) / 255.0) + np.float32(lo)

    def _geometry(self, img: Image.Image, rng: np.random.Generator) -> Image.Image:
        out_h, out_w = self.image_size
        if self.center_crop_size is not None:
            w, h = img.size
            cw, ch = min(self.center_crop_size, w), min(self.center_crop_size, h)
            left, top = int(round((w - cw) / 2)), int(round((h - ch) / 2))
            img = img.crop((left, top, left + cw, top + ch))
        if self.random_crop or self.keep_aspect:
            w, h = img.size
            scale = max(out_h / h, out_w / w)
            rw, rh = max(out_w, int(w * scale)), max(out_h, int(h * scale))
            img = img.resize((rw, rh), Image.Resampling.BILINEAR)
            if self.random_crop:
                top = int(rng.integers(0, rh - out_h + 1))
                left = int(rng.integers(0, rw - out_w + 1))
            else:
                top, left = int(round((rh - out_h) / 2)), int(round((rw - out_w) / 2))
            img = img.crop((left, top, left + out_w, top + out_h))
        else:
            img = img.resize((out_w, out_h), Image.Resampling.BILINEAR)
        if self.hflip and rng.random() < 0.5:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return img

    def _load_or_skip(self, index: int, seed: int, epoch: int) -> np.ndarray | None:
        path = self.files[index]
        with self._lock:
            if path in self._bad:
                return None
        try:
            return self._load(index, _image_rng(seed, epoch, index))
        except _Unreadable as err:
            with self._lock:
                first = path not in self._bad
                self._bad[path] = str(err)
            if first:
                warnings.warn(f"skipping {err}", ImageSkippedWarning, stacklevel=1)
            return None

    # ---------------------------------------------------------------- epochs and batches

    def epoch_order(self, *, seed: int, epoch: int) -> np.ndarray:
        """`(N,)` int64: the permutation of file indices visited in epoch `epoch`."""
        return np.random.default_rng(_entropy(seed, epoch)).permutation(len(self.files))

    def batches(self, batch_size: int, *, seed: int, epoch: int) -> Iterator[dict[str, Any]]:
        """The batches of one epoch, decoded in the calling thread (and `num_workers`).

        Yields:
            `{"image": (batch_size, H, W, 3) float32, "index": (batch_size,) int32}` NumPy
            arrays; `index` are positions in `files`.

        Raises:
            ValueError: when fewer than `batch_size` images of the epoch are readable.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        images, indices, n_good, n_batches = [], [], 0, 0
        for index, image in self._decoded(self.epoch_order(seed=seed, epoch=epoch), seed, epoch):
            if image is None:
                continue
            n_good += 1
            images.append(image)
            indices.append(index)
            if len(images) == batch_size:
                n_batches += 1
                yield {"image": np.stack(images), "index": np.asarray(indices, np.int32)}
                images, indices = [], []
        if n_batches == 0:
            bad = self.bad_files
            shown = "; ".join(list(bad.values())[:3])
            raise ValueError(
                f"{self.pattern!r}: only {n_good} of {len(self.files)} files are readable "
                f"images, fewer than batch_size={batch_size}"
                + (f"; skipped: {shown}" + (" ..." if len(bad) > 3 else "") if bad else "")
            )

    def iterate(
        self,
        batch_size: int,
        *,
        seed: int,
        epoch: int,
        prefetch_size: int = 2,
        sharding: Any | None = None,
    ) -> Prefetcher:
        """`batches(batch_size, seed=seed, epoch=epoch)` run by a prefetch thread.

        Args:
            batch_size: images per batch.
            seed, epoch: the randomness (see the class docstring).
            prefetch_size: batches decoded ahead (the queue bound).
            sharding: optional `jax.sharding.Sharding` for `jax.device_put` of each batch in
                the thread, e.g. `NamedSharding(mesh, PartitionSpec("data"))`
                (`batch_size` must divide over the sharded axis).

        Returns:
            A `Prefetcher`: iterate it; close it (or use `with`) to stop early. Errors raised
            while producing (e.g. the `ValueError` of an unreadable folder) surface in `next`.
        """
        return prefetch(
            self.batches(batch_size, seed=seed, epoch=epoch),
            buffer_size=prefetch_size,
            sharding=sharding,
        )

    def _decoded(self, order: np.ndarray, seed: int, epoch: int):
        """Yields `(index, image or None)` in `order`, decoding up to 2 x num_workers ahead."""
        if self.num_workers == 0:
            for index in order:
                yield int(index), self._load_or_skip(int(index), seed, epoch)
            return
        pool = ThreadPoolExecutor(self.num_workers, thread_name_prefix="jax3d-decode")
        try:
            pending = deque()
            todo = iter(int(i) for i in order)
            for index in todo:
                pending.append((index, pool.submit(self._load_or_skip, index, seed, epoch)))
                if len(pending) == 2 * self.num_workers:
                    break
            while pending:
                index, future = pending.popleft()
                nxt = next(todo, None)
                if nxt is not None:
                    pending.append((nxt, pool.submit(self._load_or_skip, nxt, seed, epoch)))
                yield index, future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _check_size(image_size) -> tuple[int, int]:
    size = (image_size, image_size) if np.ndim(image_size) == 0 else tuple(image_size)
    if len(size) != 2 or any(int(s) != s or s < 1 for s in size):
        raise ValueError(f"image_size must be a positive int or (H, W), got {image_size!r}")
    return int(size[0]), int(size[1])


def _entropy(seed: int, epoch: int, *more: int) -> list[int]:
    values = [seed, epoch, *more]
    if any(int(v) != v or v < 0 for v in values):
        raise ValueError(
            f"seed and epoch must be non-negative ints, got seed={seed}, epoch={epoch}"
        )
    return [int(v) for v in values]


def _image_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    # A stream distinct from the permutation's (entropy of 3 words, not 2).
    return np.random.default_rng(_entropy(seed, epoch, index))


def _decode_rgb(path: str, max_pixels: int, formats: tuple[str, ...]) -> Image.Image:
    """The file as a loaded RGB uint8 Pillow image, or `_Unreadable` naming it and why."""
    try:
        with Image.open(path, formats=formats) as img:
            w, h = img.size
            if w * h > max_pixels:
                raise _Unreadable(f"{path}: {w} x {h} pixels exceed max_pixels={max_pixels}")
            img.load()
            return _to_rgb(img, path)
    except _Unreadable:
        raise
    except Exception as err:  # noqa: BLE001 - malformed files raise many kinds of errors
        raise _Unreadable(f"{path}: {type(err).__name__}: {err}") from err


def _to_rgb(img: Image.Image, path: str) -> Image.Image:
    if img.mode in _RGB_MODES:
        return img.convert("RGB")
    if img.mode in _PALETTE_MODES:
        return img.convert("RGBA").convert("RGB")
    if img.mode in _WIDE_GREY_MODES:
        grey = np.clip(np.asarray(img, np.float64), 0, 65535) / 257.0
        return Image.fromarray(np.round(grey).astype(np.uint8)).convert("RGB")
    raise _Unreadable(f"{path}: unsupported image mode {img.mode!r}")
