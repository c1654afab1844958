"""jax3d.renderer.implicit: ray sampling, volume sampling, ray marching and implicit rendering."""

from jax3d.renderer.implicit.harmonic_embedding import HarmonicEmbedding
from jax3d.renderer.implicit.raybundle import (
    HeterogeneousRayBundle,
    RayBundle,
    ray_bundle_to_ray_points,
    ray_bundle_variables_to_ray_points,
)
from jax3d.renderer.implicit.raymarching import (
    AbsorptionOnlyRaymarcher,
    AlphaCompositeOutput,
    EmissionAbsorptionRaymarcher,
    alpha_composite,
)
from jax3d.renderer.implicit.raysampling import (
    GridRaysampler,
    MonteCarloRaysampler,
    MultinomialRaysampler,
    NDCGridRaysampler,
    NDCMultinomialRaysampler,
)
from jax3d.renderer.implicit.renderer import (
    ImplicitRenderer,
    VolumeRenderer,
    march_rays,
    march_rays_chunked,
)
from jax3d.renderer.implicit.sample_pdf import importance_sample_ray_bundle, sample_pdf
from jax3d.renderer.implicit.volume_sampler import VolumeSampler, grid_sample_3d

__all__ = [
    "AbsorptionOnlyRaymarcher",
    "AlphaCompositeOutput",
    "EmissionAbsorptionRaymarcher",
    "GridRaysampler",
    "HarmonicEmbedding",
    "HeterogeneousRayBundle",
    "ImplicitRenderer",
    "MonteCarloRaysampler",
    "MultinomialRaysampler",
    "NDCGridRaysampler",
    "NDCMultinomialRaysampler",
    "RayBundle",
    "VolumeRenderer",
    "VolumeSampler",
    "alpha_composite",
    "grid_sample_3d",
    "importance_sample_ray_bundle",
    "march_rays",
    "march_rays_chunked",
    "ray_bundle_to_ray_points",
    "ray_bundle_variables_to_ray_points",
    "sample_pdf",
]
