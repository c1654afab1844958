"""Shared building pieces of `jax3d.nn`: initialiser, conv and norm factories, resampling.

The helpers that create modules (`conv2d`, `normalize`) must be called from inside a
`@nn.compact` method: the layers they create belong to the calling module.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from jax3d.nn.initializers import torch_kernel_init
from jax3d.nn.spectral_norm import SNConv

__all__ = [
    "NORMS",
    "activation_fn",
    "check_image",
    "check_norm",
    "conv2d",
    "normalize",
    "downsample_avg",
    "upsample_bilinear",
]

NORMS = ("none", "batch", "instance")

_ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu,
    "leaky_relu": lambda x: nn.leaky_relu(x, 0.2),
    "elu": nn.elu,
    "silu": nn.silu,
    "gelu": nn.gelu,
    "tanh": jnp.tanh,
    "sigmoid": nn.sigmoid,
}


def activation_fn(activation: str | Callable) -> Callable[[jax.Array], jax.Array]:
    """A callable, or one of the names "relu", "leaky_relu" (slope 0.2), "elu", "silu",
    "gelu", "tanh", "sigmoid"."""
    if callable(activation):
        return activation
    if activation not in _ACTIVATIONS:
        raise ValueError(
            f"activation must be a callable or one of {sorted(_ACTIVATIONS)}, got {activation!r}"
        )
    return _ACTIVATIONS[activation]


def check_norm(norm: str, allowed: tuple[str, ...] = NORMS) -> None:
    if norm not in allowed:
        raise ValueError(f"norm must be one of {allowed}, got {norm!r}")


def check_image(x: jax.Array, name: str = "x") -> None:
    if x.ndim != 4:
        raise ValueError(f"{name} must be (B, H, W, C) NHWC, got shape {tuple(x.shape)}")


def conv2d(
    x: jax.Array,
    features: int,
    kernel_size: int,
    stride: int = 1,
    padding: int | str = "SAME",
    *,
    spectral_norm: bool,
    train: bool,
    use_bias: bool = True,
    kernel_init: nn.initializers.Initializer = torch_kernel_init,
    name: str | None = None,
) -> jax.Array:
    """Square `kernel_size` conv, optionally spectrally normalised; int `padding` pads all sides
    by that many pixels (PyTorch's `padding=p`)."""
    pad = ((padding, padding), (padding, padding)) if isinstance(padding, int) else padding
    kw = dict(
        kernel_size=(kernel_size, kernel_size),
        strides=(stride, stride),
        padding=pad,
        use_bias=use_bias,
        kernel_init=kernel_init,
        name=name,
    )
    if spectral_norm:
        return SNConv(features, **kw)(x, update_stats=train)
    return nn.Conv(features, **kw)(x)


def normalize(x: jax.Array, norm: str, *, train: bool, name: str | None = None) -> jax.Array:
    """"none": identity; "batch": `nn.BatchNorm` with PyTorch's defaults (momentum 0.1, i.e.
    flax 0.9, eps 1e-5), batch statistics when `train` else running averages; "instance":
    per-sample, per-channel normalisation over (H, W) without affine parameters (PyTorch's
    `InstanceNorm2d` default)."""
    if norm == "none":
        return x
    if norm == "batch":
        return nn.BatchNorm(
            use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name
        )(x)
    if norm == "instance":
        return nn.InstanceNorm(epsilon=1e-5, use_scale=False, use_bias=False, name=name)(x)
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def downsample_avg(x: jax.Array, *, count_include_pad: bool = True) -> jax.Array:
    """3x3 average pool, stride 2, padding 1 (PyTorch's `AvgPool2d(3, 2, 1)`):
    `(B, H, W, C) -> (B, ceil(H / 2), ceil(W / 2), C)`."""
    return nn.avg_pool(
        x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)), count_include_pad=count_include_pad
    )


def upsample_bilinear(x: jax.Array, factor: int = 2) -> jax.Array:
    """Bilinear upsampling with half-pixel centres (PyTorch's
    `Upsample(scale_factor, mode="bilinear", align_corners=False)`):
    `(B, H, W, C) -> (B, factor H, factor W, C)`."""
    b, h, w, c = x.shape
    return jax.image.resize(x, (b, factor * h, factor * w, c), method="bilinear")
