"""jax3d: a JAX-native, functional library for 3D deep learning.

Subpackages (imported on first access, so ``import jax3d`` stays cheap)::

    jax3d.structures  Meshes, Pointclouds, Volumes and padded/packed helpers
    jax3d.io          OBJ / PLY loading and saving
    jax3d.transforms  rotations, Lie groups, Transform3d
    jax3d.renderer    cameras, rasterizers, shaders, implicit renderers
    jax3d.ops         nearest neighbours, sampling, Laplacians, ...
    jax3d.loss        chamfer, mesh regularisers, point-mesh distances, GAN losses
    jax3d.models      NeRF, SMPL / SMPLify, ...
    jax3d.datasets    data paths, image folders, prefetching, generated datasets
    jax3d.metrics     PSNR, SSIM, ...
    jax3d.nn          shared Flax networks: ResNet blocks, UNet, spectral norm, discriminators
    jax3d.vis         figures and turntables
    jax3d.utils       procedural assets (ico_sphere, torus, teapot, ...)
"""

import importlib

__version__ = "0.1.0"

_SUBPACKAGES = (
    "structures",
    "io",
    "transforms",
    "renderer",
    "ops",
    "loss",
    "models",
    "datasets",
    "metrics",
    "nn",
    "vis",
    "utils",
)

__all__ = ["__version__", *_SUBPACKAGES]


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"jax3d.{name}")
    raise AttributeError(f"module 'jax3d' has no attribute {name!r}")
