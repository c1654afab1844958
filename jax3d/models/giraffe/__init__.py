"""GIRAFFE (Niemeyer & Geiger 2021), the book's chapter 7: compositional generative neural
feature fields rendered into images, trained as a GAN from unposed image collections."""

from jax3d.models.giraffe.composition import box_mask, composite, composite_max
from jax3d.models.giraffe.config import (
    BoundingBoxConfig,
    DataConfig,
    DecoderConfig,
    DiscriminatorConfig,
    GeneratorConfig,
    GiraffeConfig,
    ModelConfig,
    NeuralRendererConfig,
    TrainingConfig,
)
from jax3d.models.giraffe.field import FeatureField, positional_encoding
from jax3d.models.giraffe.generator import Generator, VolumeRenderOutput, render_rays
from jax3d.models.giraffe.neural_renderer import NeuralRenderer
from jax3d.models.giraffe.scene import (
    Latents,
    ObjectTransforms,
    Scene,
    camera_from_values,
    camera_position,
    interpolate_sphere,
    rotation_z,
    sample_latents,
    sample_object_mask,
    sample_scene,
    sample_transforms,
    scene_batch,
    transforms_from_values,
)

__all__ = [
    "BoundingBoxConfig",
    "DataConfig",
    "DecoderConfig",
    "DiscriminatorConfig",
    "FeatureField",
    "Generator",
    "GeneratorConfig",
    "GiraffeConfig",
    "Latents",
    "ModelConfig",
    "NeuralRenderer",
    "NeuralRendererConfig",
    "ObjectTransforms",
    "Scene",
    "TrainingConfig",
    "VolumeRenderOutput",
    "box_mask",
    "camera_from_values",
    "camera_position",
    "composite",
    "composite_max",
    "interpolate_sphere",
    "positional_encoding",
    "render_rays",
    "rotation_z",
    "sample_latents",
    "sample_object_mask",
    "sample_scene",
    "sample_transforms",
    "scene_batch",
    "transforms_from_values",
]
