"""GIRAFFE's generative feature field: an MLP from a point, a direction and two codes to a
density and a feature vector (the authors' `Decoder`)."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jax3d.models.giraffe.config import DecoderConfig
from jax3d.nn import torch_kernel_init
from jax3d.renderer.implicit import HarmonicEmbedding

__all__ = ["FeatureField", "positional_encoding", "torch_dense"]


def _torch_bias_init(fan_in: int):
    bound = 1.0 / math.sqrt(fan_in)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def torch_dense(features: int, fan_in: int, name: str) -> nn.Dense:
    """`nn.Dense` initialised as PyTorch's `nn.Linear` (weights and bias
    U(-1/sqrt(fan_in), 1/sqrt(fan_in))), the initialisation the authors' recipe was tuned with.
    """
    return nn.Dense(features, kernel_init=torch_kernel_init,
                    bias_init=_torch_bias_init(fan_in), name=name)  # fmt: skip


def positional_encoding(x: jax.Array, n_frequencies: int) -> jax.Array:
    """`sin(2^k pi x), cos(2^k pi x)` for `k < n_frequencies`: `(..., D) -> (..., 2 D n)`.

    The authors' encoding up to the order of the channels (jax3d's `HarmonicEmbedding`
    layout: all sines, then all cosines), which a following dense layer does not see.
    """
    embed = HarmonicEmbedding(n_harmonic_functions=n_frequencies, omega_0=math.pi,
                              append_input=False)  # fmt: skip
    return embed(x)


def _normalize(v: jax.Array) -> jax.Array:
    sq = jnp.sum(v * v, axis=-1, keepdims=True)
    small = sq < 1e-24
    return jnp.where(small, 0.0, v / jnp.sqrt(jnp.where(small, 1.0, sq)))


class FeatureField(nn.Module):
    """`(points, directions, z_shape, z_app) -> (densities, features)`.

    With `e(p) = positional_encoding(p / downscale_p_by, n_freq_posenc)` the density trunk is
    `h_0 = relu(W_in e(p) + W_z z_shape)`, `h_k = relu(W_k h_{k-1})` for `k = 1 .. n_blocks-1`,
    plus `W'_z z_shape + W'_p e(p)` after the layers listed in `skips`; the density is
    `sigma = w_sigma . h` (raw: the generator adds noise, masks and rectifies it). The feature
    head is `g = W_f h + W_a z_app (+ W_v e'(d / |d|)`, then a ReLU, with view directions),
    `f = W_out g` (a sigmoid on it with `final_sigmoid_activation`).

    Attributes:
        config: `DecoderConfig`.

    Call:
        points: (B, P, 3) float32 in the field's frame.
        directions: (B, P, 3) float32 ray directions (any length), or None.
        z_shape, z_app: (B, z_dim) codes (one per batch element, broadcast over P).

    Returns:
        `(densities (B, P), features (B, P, rgb_out_dim))`.
    """

    config: DecoderConfig

    @nn.compact
    def __call__(self, points, directions, z_shape, z_app):
        c = self.config
        if points.ndim != 3 or points.shape[-1] != 3:
            raise ValueError(f"points must be (B, P, 3), got {points.shape}")
        b = points.shape[0]
        for name, z in (("z_shape", z_shape), ("z_app", z_app)):
            if z.shape != (b, c.z_dim):
                raise ValueError(f"{name} must be ({b}, {c.z_dim}), got {z.shape}")
        h = c.hidden_size
        enc = positional_encoding(points / c.downscale_p_by, c.n_freq_posenc)
        dim_enc = enc.shape[-1]
        net = torch_dense(h, dim_enc, "fc_in")(enc)
        net = nn.relu(net + torch_dense(h, c.z_dim, "fc_z")(z_shape)[:, None])
        skip = 0
        for idx in range(c.n_blocks - 1):
            net = nn.relu(torch_dense(h, h, f"blocks_{idx}")(net))
            if (idx + 1) in c.skips and idx < c.n_blocks - 2:
                net = net + torch_dense(h, c.z_dim, f"fc_z_skips_{skip}")(z_shape)[:, None]
                net = net + torch_dense(h, dim_enc, f"fc_p_skips_{skip}")(enc)
                skip += 1
        sigma = torch_dense(1, h, "sigma_out")(net)[..., 0]
        net = torch_dense(h, h, "feat_view")(net)
        net = net + torch_dense(h, c.z_dim, "fc_z_view")(z_app)[:, None]
        if c.use_viewdirs and directions is not None:
            if directions.shape != points.shape:
                raise ValueError(f"directions must be {points.shape}, got {directions.shape}")
            enc_d = positional_encoding(_normalize(directions), c.n_freq_posenc_views)
            net = nn.relu(net + torch_dense(h, enc_d.shape[-1], "fc_view")(enc_d))
        feat = torch_dense(c.rgb_out_dim, h, "feat_out")(net)
        if c.final_sigmoid_activation:
            feat = jax.nn.sigmoid(feat)
        return sigma, feat
