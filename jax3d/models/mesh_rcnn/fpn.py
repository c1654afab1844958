"""ResNet-FPN backbone of Mask R-CNN / Mesh R-CNN (Detectron2's `build_resnet_fpn_backbone`).

The ResNet of `backbones.ResNet` (torchvision's layout and parameter names, so a torchvision
checkpoint loads into `bottom_up` with `resnet_variables_from_torchvision`) gives C2..C5
(strides 4..32); the feature pyramid network adds a 1x1 lateral convolution per level
(`fpn_lateral2..5`), a top-down pathway (the coarser map upsampled x2, nearest, and added) and a
3x3 output convolution per level (`fpn_output2..5`), all with bias and Detectron2's
`c2_xavier_fill` initialisation; P6 is P5 max-pooled with kernel 1 and stride 2
(`LastLevelMaxPool`), used by the RPN only.
"""

from __future__ import annotations

import flax.linen as nn
import jax

from jax3d.models.mesh_rcnn.backbones import ResNet, imagenet_normalize

__all__ = ["FPN_STRIDES", "ResNetFPN"]

FPN_STRIDES = (4, 8, 16, 32, 64)  # P2..P6

# Detectron2's c2_xavier_fill: kaiming_uniform with a = 1, i.e. U(+-sqrt(3 / fan_in)).
c2_xavier_fill = nn.initializers.variance_scaling(1.0, "fan_in", "uniform")


class ResNetFPN(nn.Module):
    """ResNet + FPN, returning P2..P6.

    Attributes:
        depth, norm, width, blocks: the ResNet's (see `backbones.ResNet`; norm "frozen" or
            "group" for the detector).
        fpn_dim: the channels of every pyramid level (256).

    Call:
        images: (B, H, W, 3) RGB in [0, 1] (ImageNet normalisation inside), H and W multiples
            of 32.

    Returns:
        list of 5 maps (B, H / s, W / s, fpn_dim) for s = 4, 8, 16, 32, 64 (P2..P6).
    """

    depth: int = 50
    norm: str = "frozen"
    width: int = 64
    blocks: tuple[int, ...] | None = None
    fpn_dim: int = 256

    @nn.compact
    def __call__(self, images):
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be (B, H, W, 3), got {images.shape}")
        H, W = images.shape[1:3]
        if H % 32 or W % 32:
            raise ValueError(f"images must have H and W multiples of 32, got {(H, W)}")
        c = ResNet(self.depth, self.norm, self.width, self.blocks, name="bottom_up")(
            imagenet_normalize(images), False
        )
        prev = None
        outs = []
        for level in range(5, 1, -1):  # C5 -> C2
            lateral = nn.Conv(self.fpn_dim, (1, 1), kernel_init=c2_xavier_fill,
                              name=f"fpn_lateral{level}")(c[level - 2])  # fmt: skip
            if prev is not None:
                B, h, w, C = prev.shape
                lateral = lateral + jax.image.resize(prev, (B, 2 * h, 2 * w, C), "nearest")
            prev = lateral
            outs.insert(0, nn.Conv(self.fpn_dim, (3, 3), padding=1, kernel_init=c2_xavier_fill,
                                   name=f"fpn_output{level}")(lateral))  # fmt: skip
        outs.append(outs[-1][:, ::2, ::2])  # P6: max_pool(P5, kernel 1, stride 2)
        return outs
