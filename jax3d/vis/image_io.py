"""Write float images and animations: PNG and GIF."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image


def _as_image_array(img, name: str) -> np.ndarray:
    """(H, W), (H, W, 1), (H, W, 3) or (H, W, 4) -> (H, W, C) with C in {1, 3, 4}."""
    img = np.asarray(img)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[-1] not in (1, 3, 4) or img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(
            f"{name} must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {img.shape}"
        )
    if not (np.issubdtype(img.dtype, np.floating) or img.dtype in (np.uint8, np.bool_)):
        raise TypeError(f"{name} must be float in [0, 1] or uint8, got {img.dtype}")
    return img


def to_uint8(img, *, name: str = "img") -> np.ndarray:
    """Quantise an image to uint8.

    Args:
        img: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); float in [0, 1] (values outside are
            clipped, as rendered images overshoot slightly), uint8 (kept) or bool.
        name: argument name used in error messages.

    Returns:
        (H, W, C) uint8 with C in {1, 3, 4}: `round(255 * clip(img, 0, 1))`.
    """
    img = _as_image_array(img, name)
    if img.dtype == np.uint8:
        return img
    img = img.astype(np.float64)
    if not np.all(np.isfinite(img)):
        raise ValueError(f"{name} must be finite (it has NaN or inf values)")
    return np.round(255.0 * np.clip(img, 0.0, 1.0)).astype(np.uint8)


def _pil_image(img_u8: np.ndarray) -> Image.Image:
    return Image.fromarray(img_u8[..., 0] if img_u8.shape[-1] == 1 else img_u8)


def save_image(path: str | os.PathLike, img) -> Path:
    """Save an image as PNG (grey, RGB or RGBA after its channel count).

    Args:
        path: destination file (parent folders are created).
        img: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) float in [0, 1] (clipped) or uint8;
            NumPy or JAX array.

    Returns:
        The path written.
    """
    img_u8 = to_uint8(img)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _pil_image(img_u8).save(path, format="PNG")
    return path


def _over_white(frame_u8: np.ndarray) -> np.ndarray:
    """(H, W, C) uint8 -> (H, W, 3) uint8, RGBA composited over white, grey repeated."""
    if frame_u8.shape[-1] == 1:
        return np.repeat(frame_u8, 3, axis=-1)
    if frame_u8.shape[-1] == 4:
        alpha = frame_u8[..., 3:].astype(np.float64) / 255.0
        rgb = frame_u8[..., :3].astype(np.float64) * alpha + 255.0 * (1.0 - alpha)
        return np.round(rgb).astype(np.uint8)
    return frame_u8


def save_gif(path: str | os.PathLike, frames, fps: float = 10.0, *, loop: int = 0) -> Path:
    """Save frames as an animated GIF (RGBA frames are composited over white).

    Args:
        path: destination file (parent folders are created).
        frames: (N, H, W[, C]) array or a sequence of N (H, W[, C]) images, N >= 1, all the
            same shape; float in [0, 1] (clipped) or uint8.
        fps: frames per second, > 0 (GIF stores durations in milliseconds).
        loop: number of repetitions, 0 = forever.

    Returns:
        The path written.
    """
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0:
        raise ValueError(f"fps must be a number > 0, got {fps!r}")
    frames = [to_uint8(f, name=f"frames[{i}]") for i, f in enumerate(frames)]
    if not frames:
        raise ValueError("frames must hold at least one image")
    if any(f.shape != frames[0].shape for f in frames):
        raise ValueError(f"frames must all have the same shape, got {[f.shape for f in frames]}")
    images = [Image.fromarray(_over_white(f)) for f in frames]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    duration_ms = max(int(round(1000.0 / fps)), 10)
    images[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=duration_ms,
        loop=loop,
        optimize=False,
        disposal=2,
    )
    return path
