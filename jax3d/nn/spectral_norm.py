"""Spectrally normalised convolution and dense layers over `flax.linen.SpectralNorm`.

Spectral normalisation (Miyato et al. 2018) divides a layer's kernel by an estimate of its
largest singular value `sigma`, found by power iteration. Flax's `nn.SpectralNorm` keeps the
power-iteration state (the left singular vector estimate `u`, shape `(1, C_out)`, and the last
`sigma`) as variables of the collection `STATS_COLLECTION = "batch_stats"` (the same one
`nn.BatchNorm` uses). A convolution kernel `(kh, kw, C_in, C_out)` is normalised as the matrix
`(kh * kw * C_in, C_out)`, which has the same singular values as PyTorch's
`(C_out, C_in * kh * kw)` view.

Training loop contract: call with `update_stats=True` (modules of `jax3d.nn` take `train=True`)
and `mutable=[STATS_COLLECTION]`, and keep the returned collection, exactly as for batch norm:

    logits, updates = disc.apply({"params": p, "batch_stats": s}, x, train=True,
                                 mutable=["batch_stats"])
    s = updates["batch_stats"]

With `update_stats=False` (evaluation) the stored `u` seeds `n_steps` power iterations whose
result is used but not stored, so evaluation is deterministic. The iterated vectors are
`stop_gradient`-ed, so gradients flow through `W / sigma(W)` with `u` and `v` held fixed, as in
PyTorch's `torch.nn.utils.spectral_norm`.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax

from jax3d.nn.initializers import torch_kernel_init

__all__ = ["STATS_COLLECTION", "SNConv", "SNDense"]

STATS_COLLECTION = "batch_stats"


class SNConv(nn.Module):
    """`nn.Conv` with a spectrally normalised kernel (NHWC).

    Attributes:
        features: output channels `C_out`.
        kernel_size: `(kh, kw)`.
        strides: `(sh, sw)`.
        padding: flax padding: "SAME", "VALID" or `((top, bottom), (left, right))`.
        use_bias: add a bias (not normalised: 1-D variables are left alone).
        kernel_init: kernel initialiser (default: PyTorch's `Conv2d` default).
        n_steps: power iterations per call (PyTorch uses 1 per training forward pass).
        epsilon: added when l2-normalising the power-iteration vectors.
        collection_name: the collection holding `u` and `sigma`.

    Call: `(x: (B, H, W, C_in), *, update_stats: bool) -> (B, H', W', C_out)`.
    """

    features: int
    kernel_size: Sequence[int] = (3, 3)
    strides: Sequence[int] = (1, 1)
    padding: str | Sequence[tuple[int, int]] = "SAME"
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = torch_kernel_init
    n_steps: int = 1
    epsilon: float = 1e-12
    collection_name: str = STATS_COLLECTION

    @nn.compact
    def __call__(self, x: jax.Array, *, update_stats: bool) -> jax.Array:
        conv = nn.Conv(
            self.features,
            tuple(self.kernel_size),
            strides=tuple(self.strides),
            padding=self.padding,
            use_bias=self.use_bias,
            kernel_init=self.kernel_init,
            name="conv",
        )
        sn = nn.SpectralNorm(
            conv,
            n_steps=self.n_steps,
            epsilon=self.epsilon,
            collection_name=self.collection_name,
            name="spectral_norm",
        )
        return sn(x, update_stats=update_stats)


class SNDense(nn.Module):
    """`nn.Dense` with a spectrally normalised kernel `(C_in, C_out)`.

    Attributes as `SNConv` (no kernel size, strides or padding).

    Call: `(x: (..., C_in), *, update_stats: bool) -> (..., C_out)`.
    """

    features: int
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = torch_kernel_init
    n_steps: int = 1
    epsilon: float = 1e-12
    collection_name: str = STATS_COLLECTION

    @nn.compact
    def __call__(self, x: jax.Array, *, update_stats: bool) -> jax.Array:
        dense = nn.Dense(
            self.features, use_bias=self.use_bias, kernel_init=self.kernel_init, name="dense"
        )
        sn = nn.SpectralNorm(
            dense,
            n_steps=self.n_steps,
            epsilon=self.epsilon,
            collection_name=self.collection_name,
            name="spectral_norm",
        )
        return sn(x, update_stats=update_stats)
