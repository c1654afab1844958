"""jax3d.models.nerf: the book's neural radiance field, the NeRF paper's model, training."""

from jax3d.models.nerf.model import NeuralRadianceField
from jax3d.models.nerf.paper import NeRFMLP, PaperNeRF, PaperNeRFOutput
from jax3d.models.nerf.render import batched_forward, render_image, render_rays
from jax3d.models.nerf.train import (
    NeRFTrainConfig,
    NeRFTrainState,
    huber,
    init_train_state,
    load_checkpoint,
    make_train_step,
    nerf_loss_fn,
    sample_images_at_xys,
    train,
    view_batches,
)

__all__ = [
    "NeRFTrainConfig",
    "NeRFTrainState",
    "NeRFMLP",
    "NeuralRadianceField",
    "PaperNeRF",
    "PaperNeRFOutput",
    "batched_forward",
    "huber",
    "init_train_state",
    "load_checkpoint",
    "make_train_step",
    "render_image",
    "render_rays",
    "nerf_loss_fn",
    "sample_images_at_xys",
    "train",
    "view_batches",
]
