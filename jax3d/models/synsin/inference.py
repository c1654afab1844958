"""Using a trained SynSin: the book's `synthesize` and `create_gif` loop, the naive renderer.

- `synthesize(variables, image, theta, phi, tx, ty, tz, config=...)`: one novel view of one
  image under the book's pose parameters (`geometry.book_pose`; default intrinsics the book's
  `K = I`, a 90 degree field of view), with the predicted depth.
- `synthesize_sequence(...)`: the book's `create_gif`: each output (rounded to 8 bits, as the
  book's PIL round trip does) is the next input, `num_frames` times.
- `naive_render(image, depth, K, RT)`: the book's "naive renderer": a hard z-buffer
  reprojection of the input's pixels (the nearest point whose `radius`-pixel disc covers a
  pixel gives its colour, black where none does), no learned features or refinement.

All run the generator in evaluation mode (running batch-norm statistics, noise code 0).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.models.synsin.config import SynSinConfig
from jax3d.models.synsin.geometry import (
    book_pose,
    check_intrinsics,
    check_pose,
    reproject,
    transform_points,
    unproject,
)
from jax3d.models.synsin.model import SynSin, SynSinOutput
from jax3d.renderer.points import rasterize_points_padded

__all__ = [
    "apply_eval",
    "naive_render",
    "predict_depth",
    "synthesize",
    "synthesize_sequence",
]


@functools.lru_cache(maxsize=8)
def _eval_fn(config: SynSinConfig):
    model = SynSin(config)

    def run(variables, image, K, RT, K_tgt):
        return model.apply(variables, image, K, RT, None, train=False, K_tgt=K_tgt)

    return jax.jit(run)


@functools.lru_cache(maxsize=8)
def _depth_fn(config: SynSinConfig):
    model = SynSin(config)
    return jax.jit(lambda v, x: model.apply(v, x, train=False, method=SynSin.predict_depth))


def apply_eval(variables, config: SynSinConfig, image, K, RT, K_tgt=None) -> SynSinOutput:
    """The generator in evaluation mode on a batch (one jitted function per config and shape).

    Args:
        variables: `{"params": ..., "batch_stats": ...}` of `SynSin(config)`.
        image: (B, H, W, 3) in [0, 1]; K: (B, 3, 3); RT: (B, 4, 4); K_tgt: optional (B, 3, 3).
    """
    image = jnp.asarray(image, jnp.float32)
    B = image.shape[0]
    K = check_intrinsics(K, B)
    K_tgt = K if K_tgt is None else check_intrinsics(K_tgt, B, "K_tgt")
    return _eval_fn(config)(variables, image, K, check_pose(RT, B), K_tgt)


def predict_depth(variables, config: SynSinConfig, image) -> jax.Array:
    """(B, H, W, 3) in [0, 1] -> (B, H, W, 1) predicted depth (evaluation mode)."""
    return _depth_fn(config)(variables, jnp.asarray(image, jnp.float32))


def _as_batch(image):
    image = np.asarray(image, np.float32)
    if image.ndim == 3:
        return image[None], True
    if image.ndim != 4 or image.shape[-1] != 3:
        raise ValueError(f"image must be (H, W, 3) or (B, H, W, 3), got {image.shape}")
    return image, False


def synthesize(variables, image, theta: float = -0.15, phi: float = -0.1, tx: float = 0.0,
               ty: float = 0.0, tz: float = 0.1, *, config: SynSinConfig, K=None):
    """The book's `inference`: a new view of `image` moved by `(theta, phi, tx, ty, tz)`.

    Args:
        variables: the trained generator's variables.
        image: (H, W, 3) or (B, H, W, 3) RGB in [0, 1] (H, W multiples of
            `2**config.unet_levels`; the book resizes photographs to 256 x 256).
        theta, phi: rotations (radians) about the vertical and horizontal axes; tx, ty, tz:
            translation, positive tz moves forward (`geometry.book_pose`).
        config: the model's `SynSinConfig`.
        K: (3, 3) or (B, 3, 3) normalised intrinsics (default: the book's identity).

    Returns:
        `(new_view, depth)`: (…, H, W, 3) in [0, 1] and (…, H, W, 1), without the batch axis
        when `image` had none.
    """
    batch, single = _as_batch(image)
    B = batch.shape[0]
    K = np.eye(3, dtype=np.float32) if K is None else np.asarray(K, np.float32)
    RT = np.broadcast_to(book_pose(theta, phi, tx, ty, tz), (B, 4, 4))
    out = apply_eval(variables, config, batch, K, RT)
    img, depth = np.asarray(out.image), np.asarray(out.depth)
    return (img[0], depth[0]) if single else (img, depth)


def synthesize_sequence(variables, image, theta: float = -0.15, phi: float = -0.1,
                        tx: float = 0.0, ty: float = 0.0, tz: float = 0.1, *,
                        config: SynSinConfig, num_frames: int = 5, K=None,
                        quantize: bool = True) -> list[np.ndarray]:
    """The book's `create_gif`: apply the same move `num_frames` times, each output feeding
    the next step (rounded to 8 bits first when `quantize`, like the book's PIL images).

    Returns:
        `num_frames` arrays (…, H, W, 3) in [0, 1]: the views after 1, 2, ... moves.
    """
    if not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f"num_frames must be an int >= 1, got {num_frames!r}")
    frames, current = [], np.asarray(image, np.float32)
    for _ in range(num_frames):
        current, _ = synthesize(variables, current, theta, phi, tx, ty, tz, config=config, K=K)
        if quantize:
            current = np.round(np.clip(current, 0.0, 1.0) * 255.0) / 255.0
        frames.append(current.astype(np.float32))
    return frames


@functools.partial(jax.jit, static_argnames=("radius",))
def _naive(image, depth, K, RT, K_tgt, *, radius: float):
    B, H, W, _ = image.shape
    points = transform_points(unproject(depth, K).reshape(B, H * W, 3), RT)
    ndc = reproject(points, K_tgt, H, W)
    r = 2.0 * radius / min(H, W)
    idx, _, _ = rasterize_points_padded(ndc, jnp.full((B,), H * W, jnp.int32), (H, W), r, 1)
    idx = idx[..., 0]  # (B, H, W) packed ids b * H * W + p
    colors = image.reshape(B * H * W, 3)[jnp.maximum(idx, 0)]
    return jnp.where((idx >= 0)[..., None], colors, 0.0)


def naive_render(image, depth, K, RT, K_tgt=None, *, radius: float = 1.0) -> jax.Array:
    """Hard z-buffer reprojection of an image into a new view (no refinement).

    Args:
        image: (B, H, W, 3) source image; depth: (B, H, W) or (B, H, W, 1) its z-depth.
        K: (B, 3, 3) normalised intrinsics; RT: (B, 4, 4) source-to-target pose; K_tgt:
            target intrinsics (default `K`).
        radius: the disc radius of each source pixel, in target pixels.

    Returns:
        (B, H, W, 3): the colour of the nearest reprojected pixel covering each target pixel,
        0 (black) in holes.
    """
    image = jnp.asarray(image, jnp.float32)
    if image.ndim != 4 or image.shape[-1] != 3:
        raise ValueError(f"image must be (B, H, W, 3), got {image.shape}")
    B = image.shape[0]
    depth = jnp.asarray(depth, jnp.float32).reshape(image.shape[:3])
    K = check_intrinsics(K, B)
    K_tgt = K if K_tgt is None else check_intrinsics(K_tgt, B, "K_tgt")
    return _naive(image, depth, K, check_pose(RT, B), K_tgt, radius=float(radius))
