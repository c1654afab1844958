"""GIRAFFE's GAN training on `jax3d.train`: the losses, the optimisers and the states.

The recipe is the authors' (`im2scene/giraffe/training.py`): per step, one generator update
with the non-saturating loss `softplus(-D(G(z)))`, then one discriminator update with
`softplus(-D(x)) + softplus(D(G(z'))) + 10 E||grad_x D(x)||^2` (R1 on the real batch), both
with RMSprop (PyTorch's: decay 0.99, eps 1e-8 outside the root), generator learning rate 5e-4
(2.5e-4 at 256 px), discriminator 1e-4, and an exponential moving average of the generator
(decay 0.999) used for evaluation. The generated scenes of both updates are part of the batch
(`scene_g`, `scene_d`: fresh draws, as the authors'), so they split over devices with the real
images; the training-mode randomness (stratified depths, density noise) comes from the step key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jax3d.loss import (
    nonsaturating_discriminator_loss,
    nonsaturating_generator_loss,
    r1_penalty,
)
from jax3d.models.giraffe.config import GiraffeConfig, ModelConfig, TrainingConfig
from jax3d.models.giraffe.generator import Generator
from jax3d.models.giraffe.scene import Scene, sample_scene, scene_batch
from jax3d.nn import DCGANDiscriminator
from jax3d.train import GANState, TrainState, make_gan_step

__all__ = [
    "build_discriminator",
    "build_generator",
    "discriminator_loss_fn",
    "generate",
    "generator_loss_fn",
    "init_gan_state",
    "init_params",
    "make_giraffe_step",
    "make_optimizer",
    "scene_batch",
    "torch_init",
]


def build_generator(config: ModelConfig) -> Generator:
    """The generator module of `config`."""
    return Generator(config)


def build_discriminator(config: ModelConfig) -> DCGANDiscriminator:
    """GIRAFFE's DCGAN-like discriminator at `config.img_size`."""
    return DCGANDiscriminator(image_size=config.img_size, n_feat=config.discriminator.n_feat)


def make_optimizer(training: TrainingConfig, learning_rate: float) -> optax.GradientTransformation:
    """RMSprop as PyTorch's default (`alpha=0.99`, `eps=1e-8` added to the root), or Adam."""
    if training.optimizer == "RMSprop":
        return optax.rmsprop(learning_rate, decay=0.99, eps=1e-8, eps_in_sqrt=False)
    return optax.adam(learning_rate, b1=0.9, b2=0.999, eps=1e-8)


def torch_init(shapes: Any, seed: int) -> Any:
    """Parameters with PyTorch's default initialisation, drawn on the host with NumPy.

    Every layer (a dict with a `kernel` and an optional `bias`) gets `kernel, bias ~
    U(-1/sqrt(fan_in), 1/sqrt(fan_in))` with `fan_in = prod(kernel.shape[:-1])`, as PyTorch's
    `nn.Linear` and `nn.Conv2d`, which the authors' recipe was tuned with. Drawing on the host
    avoids compiling the model's forward pass and the random-number kernels just to initialise.

    Args:
        shapes: the `params` tree of `jax.eval_shape(module.init, ...)` (shapes and dtypes).
        seed: NumPy seed (non-negative int).

    Returns:
        The same tree of float32 `jax.Array`s.

    Raises:
        ValueError: a parameter is neither a `kernel` nor a `bias`.
    """
    rng = np.random.default_rng(seed)

    def layer(node, where):
        if not isinstance(node, dict):
            raise ValueError(f"{where}: a parameter outside a layer has no PyTorch default")
        if "kernel" not in node:
            return {k: layer(v, f"{where}/{k}") for k, v in sorted(node.items())}
        extra = set(node) - {"kernel", "bias"}
        if extra:
            raise ValueError(f"{where}: parameters {sorted(extra)} have no PyTorch default")
        shape = node["kernel"].shape
        bound = 1.0 / np.sqrt(float(np.prod(shape[:-1])))
        out = {"kernel": rng.uniform(-bound, bound, shape)}
        if "bias" in node:
            out["bias"] = rng.uniform(-bound, bound, node["bias"].shape)
        return {k: jnp.asarray(v, jnp.float32) for k, v in out.items()}

    return layer(dict(shapes), "params")


def init_params(config: ModelConfig, seed: int) -> tuple[Any, Any]:
    """`(generator params, discriminator params)` with `torch_init` (seeds `seed`, `seed + 1`)."""
    scene = jax.eval_shape(lambda: sample_scene(jax.random.PRNGKey(0), config, 1))
    image = jax.ShapeDtypeStruct((1, config.img_size, config.img_size, 3), jnp.float32)
    key = jax.ShapeDtypeStruct((2,), jnp.uint32)
    g = jax.eval_shape(build_generator(config).init, key, scene)["params"]
    d = jax.eval_shape(build_discriminator(config).init, key, image)["params"]
    return torch_init(g, seed), torch_init(d, seed + 1)


def init_gan_state(config: GiraffeConfig, key: jax.Array, *, seed: int = 0) -> GANState:
    """Initial generator (with EMA) and discriminator states.

    Args:
        config: the run's settings.
        key: PRNG key of the run's steps.
        seed: host seed of the parameters (`init_params`).
    """
    m, t = config.model, config.training
    k_run = jax.random.fold_in(key, 0)
    g_params, d_params = init_params(m, seed)
    gen = TrainState.create(params=g_params, tx=make_optimizer(t, t.learning_rate),
                            key=jax.random.fold_in(k_run, 0), ema_decay=t.ema_decay)  # fmt: skip
    disc = TrainState.create(params=d_params, tx=make_optimizer(t, t.learning_rate_d),
                             key=jax.random.fold_in(k_run, 1))  # fmt: skip
    return GANState.create(gen, disc, k_run)


def generator_loss_fn(config: ModelConfig) -> Callable:
    """`g_loss(g_params, batch, key, disc_state) -> (loss, aux)` for `make_gan_step`.

    `batch["scene_g"]` (a `Scene`) is rendered in training mode with `key`; the loss is
    `nonsaturating_generator_loss(D(G(scene)))`.
    """
    generator, discriminator = build_generator(config), build_discriminator(config)

    def g_loss(g_params, batch, key, disc_state: TrainState):
        fake = generator.apply({"params": g_params}, batch["scene_g"], key)
        logits = discriminator.apply(disc_state.variables(), fake)
        return nonsaturating_generator_loss(logits), {"fake_logit": jnp.mean(logits)}

    return g_loss


def discriminator_loss_fn(config: ModelConfig, r1_weight: float = 10.0) -> Callable:
    """`d_loss(d_params, batch, key, gen_state) -> (loss, aux)` for `make_gan_step`.

    `bce = softplus(-D(x)) + softplus(D(G(scene_d)))` on `batch["image"]` and fakes rendered
    (without gradient) from `batch["scene_d"]` by the current generator; the loss adds
    `r1_weight * r1_penalty(D, x)` (the authors' 10 E||grad||^2). Aux: `bce`, `r1`, the mean
    real and fake logits.
    """
    generator, discriminator = build_generator(config), build_discriminator(config)

    def d_loss(d_params, batch, key, gen_state: TrainState):
        real = batch["image"]

        def d_real(x):
            logits = discriminator.apply({"params": d_params}, x)
            return logits, logits

        r1, real_logits = r1_penalty(d_real, real, has_aux=True)
        fake = jax.lax.stop_gradient(generator.apply(gen_state.variables(), batch["scene_d"], key))
        fake_logits = discriminator.apply({"params": d_params}, fake)
        bce = nonsaturating_discriminator_loss(real_logits, fake_logits)
        aux = {"bce": bce, "r1": r1, "real_logit": jnp.mean(real_logits),
               "fake_logit": jnp.mean(fake_logits)}  # fmt: skip
        return bce + r1_weight * r1, aux

    return d_loss


def make_giraffe_step(config: GiraffeConfig, *, mesh=None, accum_steps: int = 1) -> Callable:
    """One jitted GIRAFFE step `(GANState, batch) -> (GANState, metrics)`.

    `batch = {"image": (B, H, W, 3) float32 in [0, 1], "scene_g": Scene, "scene_d": Scene}`
    (scenes of B images, e.g. `scene_batch`); the generator updates first, as the authors'.
    Metrics: `g_loss`, `g_fake_logit`, `d_loss`, `d_bce`, `d_r1`, `d_real_logit`,
    `d_fake_logit`.
    """
    m = config.model
    return make_gan_step(
        generator_loss_fn(m), discriminator_loss_fn(m, config.training.r1_weight),
        order=("generator", "discriminator"), mesh=mesh, accum_steps=accum_steps,
    )  # fmt: skip


def generate(config: ModelConfig) -> Callable[[Any, Scene], jax.Array]:
    """A jitted `(params, scene) -> images (B, H, W, 3)` in evaluation mode."""
    generator = build_generator(config)
    return jax.jit(lambda params, scene: generator.apply({"params": params}, scene))
