"""jax3d.nn: shared Flax linen networks (NHWC images).

Residual blocks, a UNet, spectral normalisation, conditional batch norm and GAN
discriminators. Batch-norm running averages and spectral-norm power-iteration state both live
in the collection `STATS_COLLECTION` ("batch_stats"): apply with `train=True` and
`mutable=["batch_stats"]` while training, `train=False` to evaluate.
"""

from jax3d.nn.conditional_batch_norm import ConditionalBatchNorm
from jax3d.nn.discriminators import (
    DCGANDiscriminator,
    MultiScalePatchGAN,
    PatchGAN,
    PatchGANOutput,
)
from jax3d.nn.initializers import torch_kernel_init
from jax3d.nn.resnet_blocks import RESAMPLE_MODES, ResBlock
from jax3d.nn.spectral_norm import STATS_COLLECTION, SNConv, SNDense
from jax3d.nn.unet import UNet

__all__ = [
    "ConditionalBatchNorm",
    "DCGANDiscriminator",
    "MultiScalePatchGAN",
    "PatchGAN",
    "PatchGANOutput",
    "RESAMPLE_MODES",
    "ResBlock",
    "SNConv",
    "SNDense",
    "STATS_COLLECTION",
    "UNet",
    "torch_kernel_init",
]
