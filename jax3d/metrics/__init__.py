"""jax3d.metrics: image quality metrics (PSNR, SSIM)."""

from jax3d.metrics.psnr import psnr
from jax3d.metrics.ssim import ssim

__all__ = ["psnr", "ssim"]
