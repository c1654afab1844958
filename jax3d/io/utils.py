"""Shared helpers of the file readers: opening, safe path resolution, errors, images."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import IO

import numpy as np

from jax3d.io.files import (  # noqa: F401 - describe is re-exported for the readers
    MAX_FILE_BYTES,
    MAX_IMAGE_PIXELS,
    check_name,
    describe,
    read_limited,
)

PathOrFile = str | os.PathLike | IO

# Image formats a texture may use (PIL decoders outside this list are never tried).
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "TGA", "TIFF", "GIF", "PPM", "WEBP")


def no_path_manager(path_manager) -> None:
    """PyTorch3D's ``path_manager`` (iopath file systems): only None is accepted."""
    if path_manager is not None:
        raise ValueError("path_manager (iopath) is not supported: jax3d reads and writes local "
                         "paths and file objects")  # fmt: skip


def file_error(source: str, where: str, message: str) -> ValueError:
    """``ValueError("<source>, <where>: <message>")``; ``where`` is e.g. ``"line 12"``."""
    return ValueError(f"{source}, {where}: {message}")


def decode_text(data: bytes) -> str:
    """Bytes of a text file as ``str`` (UTF-8, undecodable bytes replaced), ``\\n`` line ends."""
    text = data.decode("utf-8", errors="replace")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def folder_of(f) -> Path:
    """The folder that relative paths inside ``f`` refer to (cwd for file objects)."""
    if isinstance(f, (str, os.PathLike)):
        return Path(os.path.abspath(os.fspath(f))).parent
    name = getattr(f, "name", None)
    if isinstance(name, str) and os.path.exists(name):
        return Path(os.path.abspath(name)).parent
    return Path.cwd()


def resolve_inside(folder: Path, name: str, *, allow_outside: bool, what: str) -> Path:
    """Resolve a path found inside a file (an MTL or texture name) against ``folder``.

    Args:
      folder: the folder of the file that names ``name``.
      name: the path as written in the file (relative or absolute).
      allow_outside: if False, a path that leaves ``folder`` (absolute, ``..``, or a symlink
        pointing elsewhere) is refused.
      what: "material file" / "texture file", for the message.

    Returns:
      The resolved absolute path (it may not exist).

    Raises:
      ValueError: the name is empty, contains NUL or is too long for a file system (see
        `jax3d.io.files.check_name`), cannot be resolved, or leaves ``folder`` while
        ``allow_outside`` is False.
    """
    check_name(name, what)
    try:
        root = Path(os.path.realpath(folder))
        path = Path(os.path.realpath(os.path.join(root, name)))
    except (OSError, ValueError) as err:
        raise ValueError(f"{what} {name!r} cannot be resolved: {err}") from None
    if not allow_outside and path != root and root not in path.parents:
        raise ValueError(
            f"{what} {name!r} leaves the mesh's folder {str(root)!r}; "
            "pass allow_outside=True to load it anyway"
        )
    return path


def read_image(
    path: Path, *, max_pixels: int = MAX_IMAGE_PIXELS, max_bytes: int = MAX_FILE_BYTES
) -> np.ndarray | None:
    """An image file as ``(H, W, 3) float32`` in [0, 1] (RGB), or None with a warning.

    The file must be a regular file of at most ``max_bytes``; its header's width * height
    must be at most ``max_pixels`` (checked before decoding, so a small file claiming a huge
    image costs nothing). Missing, undecodable, special or oversized images warn (naming the
    file) and give None, so a mesh still loads without its texture.
    """
    from PIL import Image

    try:
        data = read_limited(path, max_bytes=max_bytes, what="texture image")
    except FileNotFoundError:
        warnings.warn(f"texture file does not exist: {path}", stacklevel=3)
        return None
    except (OSError, ValueError) as err:
        warnings.warn(f"cannot read texture {path}: {err}", stacklevel=3)
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as im:
                w, h = im.size
                if w * h > max_pixels:
                    warnings.warn(
                        f"texture {path} is {w}x{h} pixels, more than max_image_pixels="
                        f"{max_pixels}; skipped (pass a larger max_image_pixels= to load it)",
                        stacklevel=3,
                    )
                    return None
                rgb = np.asarray(im.convert("RGB"))
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError,
            Image.DecompressionBombError) as err:  # fmt: skip
        warnings.warn(f"cannot decode texture {path}: {err}", stacklevel=3)
        return None
    out = rgb.astype(np.float32)
    out *= np.float32(1.0 / 255.0)
    return out


def write_image(path: Path, image: np.ndarray) -> None:
    """Write an ``(H, W, 3)`` float image in [0, 1] as 8-bit PNG (values are clipped)."""
    from PIL import Image

    arr = np.clip(np.rint(np.asarray(image, np.float64) * 255.0), 0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path)


def open_for_writing(f, binary: bool):
    """A context manager yielding a writable file for a path or a file object (left open)."""
    if isinstance(f, (str, os.PathLike)):
        return open(f, "wb" if binary else "w", encoding=None if binary else "utf-8")
    if not hasattr(f, "write"):
        raise TypeError(f"f must be a path or a writable file object, got {type(f).__name__}")
    return _NoClose(f)


class _NoClose:
    """Wraps a caller's file object so ``with`` does not close it."""

    def __init__(self, fh):
        self.fh = fh

    def __enter__(self):
        return self.fh

    def __exit__(self, *exc):
        return False


def format_rows(prefix: str, values: np.ndarray, decimal_places: int | None) -> str:
    """Lines ``"<prefix> a b c"`` for each row of a float array.

    ``decimal_places=None`` writes 9 significant digits, which round-trips float32 exactly.
    """
    fmt = "%.9g" if decimal_places is None else f"%.{int(decimal_places)}f"
    values = np.asarray(values, np.float32)
    if values.size == 0:
        return ""
    buf = io.StringIO()
    row_fmt = " ".join(([prefix] if prefix else []) + [fmt] * values.shape[1])
    np.savetxt(buf, values.astype(np.float64), fmt=row_fmt)
    return buf.getvalue()


def as_numpy(x, name: str, *, ndim: int, last: int | None, kind: str) -> np.ndarray:
    """``x`` as a NumPy array checked for ``ndim`` and last-axis size; ``kind`` 'f' or 'i'."""
    try:
        arr = np.asarray(x)
    except Exception as err:  # noqa: BLE001 - any conversion failure is a bad argument
        raise TypeError(f"{name} must be array-like, got {type(x).__name__}") from err
    if arr.ndim != ndim or (last is not None and arr.shape[-1] != last):
        want = "(" + ", ".join(["N"] * (ndim - 1) + [str(last) if last else "C"]) + ")"
        raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    if kind == "i":
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
        return arr.astype(np.int64)
    if arr.size and not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr
