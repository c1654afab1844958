"""Weight initialisers shared by `jax3d.nn` layers."""

from __future__ import annotations

import flax.linen as nn

__all__ = ["torch_kernel_init"]

# PyTorch's default `Conv2d` / `Linear` weight init, kaiming_uniform(a=sqrt(5)), which is
# U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the GAN recipes ported to jax3d were tuned with it.
torch_kernel_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")
