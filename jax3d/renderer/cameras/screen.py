"""NDC <-> screen conversions as ``Transform3d``s (PyTorch3D's ``get_ndc_to_screen_transform``
and ``get_screen_to_ndc_transform``)."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from jax3d.renderer.cameras import matrices
from jax3d.renderer.cameras.base import CamerasBase, as_transform
from jax3d.renderer.cameras.batching import batch_image_size


@partial(jax.jit, static_argnames="n")
def _broadcast_matrix(m, n: int):
    return jnp.broadcast_to(m, (n, 4, 4))


def _image_size_for(cameras: CamerasBase, image_size):
    if not isinstance(cameras, CamerasBase):
        raise TypeError(f"cameras must be a jax3d camera, got {type(cameras).__name__}")
    size = batch_image_size(image_size) if image_size is not None else cameras.get_image_size()
    if size is None:
        raise ValueError("NDC/screen conversion needs image_size=(height, width)")
    if size.shape[0] not in (1, len(cameras)):
        n = len(cameras)
        raise ValueError(f"image_size has batch {size.shape[0]} but there are {n} cameras")
    return size


def get_ndc_to_screen_transform(cameras: CamerasBase, with_xyflip: bool = False, image_size=None):
    """``Transform3d`` (N, 4, 4) from PyTorch3D NDC to screen pixels.

    ``x_screen = W / 2 - s x_ndc``, ``y_screen = H / 2 - s y_ndc`` with ``s = min(H, W) / 2``
    when ``with_xyflip`` (image axes: +X right, +Y down, origin top-left); without the flip
    the signs of the NDC terms and offsets change (``x = s x_ndc - W / 2``). Depth unchanged.

    Args:
      cameras: the cameras (sets the batch size N, and the image size when not given).
      with_xyflip: static; flip to image axes.
      image_size: ``(H, W)``, ``((H, W),)`` or (N, 2); defaults to ``cameras.image_size``.
    """
    size = _image_size_for(cameras, image_size)
    m = matrices.ndc_to_screen_matrix(size, with_xyflip=with_xyflip)
    return as_transform(_broadcast_matrix(m, len(cameras)))


def get_screen_to_ndc_transform(cameras: CamerasBase, with_xyflip: bool = False, image_size=None):
    """``Transform3d`` (N, 4, 4): the inverse of :func:`get_ndc_to_screen_transform`."""
    size = _image_size_for(cameras, image_size)
    m = matrices.screen_to_ndc_matrix(size, with_xyflip=with_xyflip)
    return as_transform(_broadcast_matrix(m, len(cameras)))
