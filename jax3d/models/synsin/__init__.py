"""jax3d.models.synsin: SynSin (Wiles et al. 2020), the book's chapter 9 view-synthesis model.

A feature network and a depth network lift one image to a point cloud of learned features;
the cloud is moved by the relative camera pose and splatted into the new view with a
differentiable soft z-buffer (`jax3d.renderer` point rasterization), and a refinement network
turns the splatted features into the image, trained with a GAN, L1 and VGG losses.
See docs/synsin.md.
"""

from jax3d.models.synsin.config import SYNSIN_PAPER, SynSinConfig, cpu_config
from jax3d.models.synsin.evaluate import METHODS, METRICS, evaluate_pairs, score_images
from jax3d.models.synsin.geometry import (
    book_pose,
    normalize_intrinsics,
    pixel_grid,
    pose_matrix,
    relative_pose,
    reproject,
    to_ndc,
    transform_points,
    unproject,
)
from jax3d.models.synsin.inference import (
    apply_eval,
    naive_render,
    predict_depth,
    synthesize,
    synthesize_sequence,
)
from jax3d.models.synsin.model import (
    DepthNet,
    FeatureNet,
    RefineNet,
    SynSin,
    SynSinOutput,
    depth_from_logits,
    make_discriminator,
    sample_noise,
)
from jax3d.models.synsin.splatting import COMPOSITORS, SplatSettings, splat, splat_alphas
from jax3d.models.synsin.train import (
    BATCH_KEYS,
    SynSinTrainConfig,
    check_batch,
    discriminator_loss_fn,
    generator_loss_fn,
    host_init,
    init_gan_state,
    make_synsin_step,
)

__all__ = [
    "BATCH_KEYS",
    "COMPOSITORS",
    "METHODS",
    "METRICS",
    "SYNSIN_PAPER",
    "DepthNet",
    "FeatureNet",
    "RefineNet",
    "SplatSettings",
    "SynSin",
    "SynSinConfig",
    "SynSinOutput",
    "SynSinTrainConfig",
    "apply_eval",
    "book_pose",
    "check_batch",
    "cpu_config",
    "depth_from_logits",
    "discriminator_loss_fn",
    "evaluate_pairs",
    "generator_loss_fn",
    "host_init",
    "init_gan_state",
    "make_discriminator",
    "make_synsin_step",
    "naive_render",
    "normalize_intrinsics",
    "pixel_grid",
    "pose_matrix",
    "predict_depth",
    "relative_pose",
    "reproject",
    "sample_noise",
    "score_images",
    "splat",
    "splat_alphas",
    "synthesize",
    "synthesize_sequence",
    "to_ndc",
    "transform_points",
    "unproject",
]
