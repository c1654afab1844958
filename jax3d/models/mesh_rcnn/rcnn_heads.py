"""Mask R-CNN heads of the full Mesh R-CNN (Flax linen, channels-last, Detectron2's layouts).

`RPNHead`: a shared 3x3 convolution (ReLU) on every pyramid level, then 1x1 convolutions to A
objectness logits and 4 A box deltas per location (Detectron2's `StandardRPNHead`, normal(0.01)
weights); outputs are flattened in the order of `jax3d.ops.detection.AnchorGenerator`
(location-major, anchor-minor).

`BoxHead`: the flattened 7x7 ROI features through `num_fc` x (Dense(fc_dim), ReLU)
(`FastRCNNConvFCHead`, c2_xavier_fill), then `FastRCNNOutputLayers`: class logits (K + 1,
background last, normal(0.01)) and per-class deltas (4 K, normal(0.001)).

`ZHead`: the authors' depth head (`FastRCNNFCHead`): the same FC trunk on its own, then per-class
relative depth extents dz (K outputs, normal(0.001)).

`MaskHead`: `num_conv` x (3x3 conv, ReLU) and a 2x2 stride-2 transposed convolution (ReLU) to
(2 S, 2 S), then a 1x1 convolution to K per-class mask logits (`MaskRCNNConvUpsampleHead`,
c2_msra_fill, predictor normal(0.001)).
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from jax3d.models.mesh_rcnn.fpn import c2_xavier_fill

__all__ = ["BoxHead", "MaskHead", "RPNHead", "ZHead", "select_class"]

_msra = nn.initializers.variance_scaling(2.0, "fan_out", "normal")  # c2_msra_fill


class RPNHead(nn.Module):
    """Call: list of (B, H_l, W_l, C) maps -> (list of (B, H_l W_l A) objectness logits,
    list of (B, H_l W_l A, 4) deltas)."""

    num_anchors: int = 3

    @nn.compact
    def __call__(self, features):
        C = features[0].shape[-1]
        conv = nn.Conv(C, (3, 3), padding=1, kernel_init=nn.initializers.normal(0.01),
                       name="conv")  # fmt: skip
        obj = nn.Conv(self.num_anchors, (1, 1), kernel_init=nn.initializers.normal(0.01),
                      name="objectness_logits")  # fmt: skip
        dlt = nn.Conv(4 * self.num_anchors, (1, 1), kernel_init=nn.initializers.normal(0.01),
                      name="anchor_deltas")  # fmt: skip
        logits, deltas = [], []
        for f in features:
            t = nn.relu(conv(f))
            B = f.shape[0]
            logits.append(obj(t).reshape(B, -1))
            deltas.append(dlt(t).reshape(B, -1, 4))
        return logits, deltas


def _fc_trunk(x, num_fc, fc_dim):
    x = x.reshape(x.shape[:-3] + (-1,))
    for k in range(num_fc):
        x = nn.relu(nn.Dense(fc_dim, kernel_init=c2_xavier_fill, name=f"fc{k + 1}")(x))
    return x


class BoxHead(nn.Module):
    """Call: (..., S, S, C) ROI features -> class logits (..., K + 1), deltas (..., 4 K)."""

    num_classes: int
    num_fc: int = 2
    fc_dim: int = 1024

    @nn.compact
    def __call__(self, x):
        x = _fc_trunk(x, self.num_fc, self.fc_dim)
        K = self.num_classes
        logits = nn.Dense(K + 1, kernel_init=nn.initializers.normal(0.01), name="cls_score")(x)
        deltas = nn.Dense(4 * K, kernel_init=nn.initializers.normal(0.001), name="bbox_pred")(x)
        return logits, deltas


class ZHead(nn.Module):
    """Call: (..., S, S, C) ROI features -> per-class relative depth extents dz (..., K)."""

    num_classes: int
    num_fc: int = 2
    fc_dim: int = 1024

    @nn.compact
    def __call__(self, x):
        x = _fc_trunk(x, self.num_fc, self.fc_dim)
        return nn.Dense(self.num_classes, kernel_init=nn.initializers.normal(0.001),
                        name="z_pred")(x)  # fmt: skip


class MaskHead(nn.Module):
    """Call: (R, S, S, C) ROI features -> (R, 2 S, 2 S, K) per-class mask logits."""

    num_classes: int
    num_conv: int = 4
    conv_dim: int = 256

    @nn.compact
    def __call__(self, x):
        for k in range(self.num_conv):
            x = nn.relu(nn.Conv(self.conv_dim, (3, 3), padding=1, kernel_init=_msra,
                                name=f"mask_fcn{k + 1}")(x))  # fmt: skip
        x = nn.ConvTranspose(self.conv_dim, (2, 2), strides=(2, 2), padding="VALID",
                             kernel_init=_msra, name="deconv")(x)  # fmt: skip
        x = nn.relu(x)
        return nn.Conv(self.num_classes, (1, 1), kernel_init=nn.initializers.normal(0.001),
                       name="predictor")(x)  # fmt: skip


def select_class(values, classes):
    """The entries of `classes` (...,) along the class axis of `values` (..., K) or
    (..., K, D) (classes clipped to [0, K)): (...) or (..., D)."""
    n = classes.ndim
    c = jnp.clip(classes, 0, values.shape[n] - 1)
    idx = c.reshape(c.shape + (1,) * (values.ndim - n))
    return jnp.take_along_axis(values, idx, axis=n).squeeze(n)
