"""The FID InceptionV3 (TensorFlow's 2015-12-05 graph as ported by pytorch-fid), in Flax.

FID numbers are only comparable when computed with this exact network: TensorFlow's
``inception-2015-12-05`` weights (``pt_inception-2015-12-05-6726825d.pth`` in pytorch-fid and
torch-fidelity) and its graph, which differs from torchvision's InceptionV3 in three places:

* the average pools inside the Inception A, C and E blocks exclude the zero padding from the
  average (TensorFlow's ``SAME`` average pooling; torchvision counts it);
* the last block (``Mixed_7c``) max-pools instead of average-pooling its pool branch;
* the classifier has 1008 outputs (unused here: FID takes the 2048-d average-pool features).

Module and parameter names follow PyTorch's (``Mixed_5b/branch1x1/conv``, ``.../bn``), so
`load_inception_params` is a renaming of the checkpoint read by `jax3d.io.load_torch_checkpoint`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jax3d.io import load_torch_checkpoint, state_dict_to_flax

__all__ = ["FID_INPUT_SIZE", "InceptionV3", "load_inception_params"]

FID_INPUT_SIZE = 299


def _pad(padding) -> tuple[tuple[int, int], tuple[int, int]]:
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    return (ph, ph), (pw, pw)


class BasicConv2d(nn.Module):
    """Convolution without bias, BatchNorm (eps 1e-3, running statistics) and ReLU."""

    features: int
    kernel_size: Sequence[int]
    strides: int = 1
    padding: int | Sequence[int] = 0

    @nn.compact
    def __call__(self, x):
        x = nn.Conv(
            self.features, tuple(self.kernel_size), strides=(self.strides,) * 2,
            padding=_pad(self.padding), use_bias=False, name="conv",
        )(x)  # fmt: skip
        x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name="bn")(x)
        return nn.relu(x)


def _avg_pool_same(x):
    """3x3 stride-1 average over the valid pixels only (TensorFlow's SAME average pool)."""
    return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_same(x):
    """3x3 stride-1 max over the valid pixels (padding never wins: it is -inf)."""
    return nn.max_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)))


def _max_pool_valid(x):
    """3x3 stride-2 max-pool without padding: n -> (n - 3) // 2 + 1."""
    return nn.max_pool(x, (3, 3), strides=(2, 2))


class InceptionA(nn.Module):
    """35 x 35 block: 1x1, 5x5, double 3x3 and pooled branches (64 + 64 + 96 + pool_features)."""

    pool_features: int

    @nn.compact
    def __call__(self, x):
        b1 = BasicConv2d(64, (1, 1), name="branch1x1")(x)
        b5 = BasicConv2d(48, (1, 1), name="branch5x5_1")(x)
        b5 = BasicConv2d(64, (5, 5), padding=2, name="branch5x5_2")(b5)
        b3 = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
        b3 = BasicConv2d(96, (3, 3), padding=1, name="branch3x3dbl_2")(b3)
        b3 = BasicConv2d(96, (3, 3), padding=1, name="branch3x3dbl_3")(b3)
        bp = BasicConv2d(self.pool_features, (1, 1), name="branch_pool")(_avg_pool_same(x))
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
    """35 -> 17 reduction (``Mixed_6a``): strided 3x3, double 3x3 and max-pool (384 + 96 + C)."""

    @nn.compact
    def __call__(self, x):
        b3 = BasicConv2d(384, (3, 3), strides=2, name="branch3x3")(x)
        bd = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
        bd = BasicConv2d(96, (3, 3), padding=1, name="branch3x3dbl_2")(bd)
        bd = BasicConv2d(96, (3, 3), strides=2, name="branch3x3dbl_3")(bd)
        return jnp.concatenate([b3, bd, _max_pool_valid(x)], axis=-1)


class InceptionC(nn.Module):
    """17 x 17 block with factorised 7x7 convolutions (4 x 192 channels)."""

    channels_7x7: int

    @nn.compact
    def __call__(self, x):
        c7 = self.channels_7x7
        b1 = BasicConv2d(192, (1, 1), name="branch1x1")(x)
        b7 = BasicConv2d(c7, (1, 1), name="branch7x7_1")(x)
        b7 = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
        b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
        bd = BasicConv2d(c7, (1, 1), name="branch7x7dbl_1")(x)
        bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
        bd = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
        bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
        bd = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
        bp = BasicConv2d(192, (1, 1), name="branch_pool")(_avg_pool_same(x))
        return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
    """17 -> 8 reduction (``Mixed_7a``): 320 + 192 + C channels."""

    @nn.compact
    def __call__(self, x):
        b3 = BasicConv2d(192, (1, 1), name="branch3x3_1")(x)
        b3 = BasicConv2d(320, (3, 3), strides=2, name="branch3x3_2")(b3)
        b7 = BasicConv2d(192, (1, 1), name="branch7x7x3_1")(x)
        b7 = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
        b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
        b7 = BasicConv2d(192, (3, 3), strides=2, name="branch7x7x3_4")(b7)
        return jnp.concatenate([b3, b7, _max_pool_valid(x)], axis=-1)


class InceptionE(nn.Module):
    """8 x 8 block (2048 channels); `max_pool=True` is the FID graph's ``Mixed_7c``."""

    max_pool: bool = False

    @nn.compact
    def __call__(self, x):
        b1 = BasicConv2d(320, (1, 1), name="branch1x1")(x)
        b3 = BasicConv2d(384, (1, 1), name="branch3x3_1")(x)
        b3 = jnp.concatenate([
            BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
            BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3),
        ], axis=-1)  # fmt: skip
        bd = BasicConv2d(448, (1, 1), name="branch3x3dbl_1")(x)
        bd = BasicConv2d(384, (3, 3), padding=1, name="branch3x3dbl_2")(bd)
        bd = jnp.concatenate([
            BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
            BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd),
        ], axis=-1)  # fmt: skip
        pooled = _max_pool_same(x) if self.max_pool else _avg_pool_same(x)
        bp = BasicConv2d(192, (1, 1), name="branch_pool")(pooled)
        return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class InceptionV3(nn.Module):
    """FID InceptionV3: images -> 2048-d pool features (pytorch-fid's ``dims=2048`` block).

    Attributes:
        resize_input: bilinearly resize to 299 x 299 first (half-pixel centres, no antialiasing:
            PyTorch's ``F.interpolate(..., mode="bilinear", align_corners=False)``, as
            pytorch-fid does). Without it, images must be at least 75 x 75.
        normalize_input: map [0, 1] to the network's [-1, 1] (`2 x - 1`).

    Call:
        images: (B, H, W, 3) RGB in [0, 1] (with the defaults).

    Returns:
        (B, 2048) float32 features: the global average of ``Mixed_7c``.

    Variables: ``params`` and ``batch_stats`` (BatchNorm running statistics), from
    `load_inception_params`; the module is inference-only (BatchNorm uses running statistics).
    """

    resize_input: bool = True
    normalize_input: bool = True

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        x = jnp.asarray(images, jnp.float32)
        if self.resize_input:
            shape = (x.shape[0], FID_INPUT_SIZE, FID_INPUT_SIZE, x.shape[-1])
            x = jax.image.resize(x, shape, method="linear", antialias=False)
        elif min(x.shape[1:3]) < 75:
            raise ValueError(f"InceptionV3: images must be at least 75 x 75, got {x.shape}")
        if self.normalize_input:
            x = 2.0 * x - 1.0
        x = BasicConv2d(32, (3, 3), strides=2, name="Conv2d_1a_3x3")(x)
        x = BasicConv2d(32, (3, 3), name="Conv2d_2a_3x3")(x)
        x = BasicConv2d(64, (3, 3), padding=1, name="Conv2d_2b_3x3")(x)
        x = _max_pool_valid(x)
        x = BasicConv2d(80, (1, 1), name="Conv2d_3b_1x1")(x)
        x = BasicConv2d(192, (3, 3), name="Conv2d_4a_3x3")(x)
        x = _max_pool_valid(x)
        x = InceptionA(32, name="Mixed_5b")(x)
        x = InceptionA(64, name="Mixed_5c")(x)
        x = InceptionA(64, name="Mixed_5d")(x)
        x = InceptionB(name="Mixed_6a")(x)
        for suffix, c7 in (("b", 128), ("c", 160), ("d", 160), ("e", 192)):
            x = InceptionC(c7, name=f"Mixed_6{suffix}")(x)
        x = InceptionD(name="Mixed_7a")(x)
        x = InceptionE(name="Mixed_7b")(x)
        x = InceptionE(max_pool=True, name="Mixed_7c")(x)
        return jnp.mean(x, axis=(1, 2))


def _flat_shapes(tree, prefix="") -> dict[str, tuple]:
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(_flat_shapes(v, f"{prefix}{k}/"))
        else:
            out[f"{prefix}{k}"] = tuple(v.shape)
    return out


@functools.lru_cache(maxsize=1)
def _expected_shapes() -> dict[str, dict[str, tuple]]:
    """{"params": {"Mixed_5b/branch1x1/conv/kernel": shape, ...}, "batch_stats": {...}}."""
    x = jax.ShapeDtypeStruct((1, 75, 75, 3), jnp.float32)
    expected = jax.eval_shape(InceptionV3(resize_input=False).init, jax.random.key(0), x)
    return {c: _flat_shapes(expected[c]) for c in ("params", "batch_stats")}


def load_inception_params(path, *, max_bytes: int = 1 << 30) -> dict:
    """Variables of `InceptionV3` from pytorch-fid's ``pt_inception-2015-12-05-*.pth``.

    The checkpoint is read without torch by `jax3d.io.load_torch_checkpoint` (no code runs),
    renamed by `jax3d.io.state_dict_to_flax` (kernels transposed to HWIO, BatchNorm weights to
    ``scale``/``bias`` and running statistics to ``batch_stats``) and checked: every parameter of
    the model must be present with its shape, and every tensor of the file used, except the
    classifier ``fc.*`` and ``*.num_batches_tracked``.

    Args:
        path: the weights file (get it from pytorch-fid's releases; jax3d downloads nothing).
        max_bytes: cap on the bytes read (the real file is 95 MB).

    Returns:
        ``{"params": ..., "batch_stats": ...}`` of float32 NumPy arrays, for
        ``InceptionV3().apply(variables, images)``.

    Raises:
        ValueError naming the file and the first missing, unexpected or misshapen tensor.
    """
    state = load_torch_checkpoint(path, max_bytes=max_bytes)
    state = {
        k: v for k, v in state.items()
        if not (k.startswith("fc.") or k.endswith(".num_batches_tracked"))
    }  # fmt: skip
    variables = state_dict_to_flax(state)
    for collection in ("params", "batch_stats"):
        want = _expected_shapes()[collection]
        got = _flat_shapes(variables[collection])
        for name in sorted(set(want) | set(got)):
            if name not in got:
                raise ValueError(f"{path}: missing {collection} {name}")
            if name not in want:
                raise ValueError(f"{path}: unexpected {collection} {name}")
            if got[name] != want[name]:
                raise ValueError(f"{path}: {name} has shape {got[name]}, expected {want[name]}")
    return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float32), variables)
