"""SynSin's training recipe on `jax3d.train`: hinge GAN + feature matching + L1 + VGG loss.

Generator loss (SynSin's `SynthesisLoss` + `DiscriminatorLoss`, weights of its defaults):

    L_G = hinge_G(D(fake)) + 10 * FM(D(real), D(fake)) + 1 * L1(fake, real) + 10 * VGG(fake, real)

with the L1 on images in [-1, 1] (the networks' range), the VGG16 perceptual loss
(`jax3d.metrics.vgg_perceptual_loss`, SynSin's weights 1/32 ... 1 on five stages) on images in
[0, 1], and `L_D = hinge_D(D(real), D(fake))`; the discriminator sees the target image alone.

Optimisers: Adam with betas (0, 0.9) for both players. Learning rates: SynSin's `train.sh`
passes `--lr 0.0001`, but its optimisers read `--lr_g` and `--lr_d`, left at their defaults
5e-4 and 2e-3 (the `--lr` value is only stored), so the published models were trained with
those two-time-scale rates. `SynSinTrainConfig` defaults to them; the CPU runs of
`experiments/ch09_synsin.py` use lower rates (see its docstring for the measured reason).

Batches are dicts of arrays with a leading batch axis: `src`, `tgt` (B, H, W, 3) in [0, 1],
`K` (B, 3, 3) normalised intrinsics and `RT` (B, 4, 4) source-to-target poses (optionally
`K_tgt`), the layout of `jax3d.datasets.synsin` and the real-data loaders.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jax3d.loss import feature_matching_loss, hinge_discriminator_loss, hinge_generator_loss
from jax3d.metrics import PERCEPTUAL_WEIGHTS, load_vgg16_params, vgg_perceptual_loss
from jax3d.models.synsin.config import SynSinConfig
from jax3d.models.synsin.model import SynSin, make_discriminator, sample_noise
from jax3d.nn import STATS_COLLECTION
from jax3d.train import (
    GANState,
    TrainState,
    data_sharding,
    make_gan_step,
    replicated_sharding,
)

__all__ = [
    "BATCH_KEYS",
    "SynSinTrainConfig",
    "check_batch",
    "discriminator_loss_fn",
    "generator_loss_fn",
    "host_init",
    "init_gan_state",
    "make_synsin_step",
]

BATCH_KEYS = ("src", "tgt", "K", "RT")


@dataclasses.dataclass(frozen=True)
class SynSinTrainConfig:
    """SynSin's losses and optimisers.

    Attributes:
        lr_g, lr_d: Adam learning rates (SynSin's effective 5e-4 and 2e-3, see the module).
        beta1, beta2: Adam betas (SynSin: 0, 0.9).
        lambda_gan, lambda_feat, lambda_l1, lambda_vgg: loss weights (1, 10, 1, 10).
        use_gan: train against the discriminator (False: L1 + VGG only, the discriminator
            is not updated; SynSin's `--discriminator_losses ''`).
    """

    lr_g: float = 5e-4
    lr_d: float = 2e-3
    beta1: float = 0.0
    beta2: float = 0.9
    lambda_gan: float = 1.0
    lambda_feat: float = 10.0
    lambda_l1: float = 1.0
    lambda_vgg: float = 10.0
    use_gan: bool = True


def check_batch(batch: dict) -> None:
    """Raise ValueError unless `batch` has SynSin's keys and shapes."""
    missing = [k for k in BATCH_KEYS if k not in batch]
    if missing:
        raise ValueError(f"batch lacks {missing}; needs {BATCH_KEYS}")
    src, tgt = batch["src"], batch["tgt"]
    if src.ndim != 4 or src.shape[-1] != 3 or tgt.shape != src.shape:
        raise ValueError(f"src and tgt must be equal (B, H, W, 3), got {src.shape}, {tgt.shape}")
    B = src.shape[0]
    if batch["K"].shape != (B, 3, 3):
        raise ValueError(f"K must be ({B}, 3, 3), got {batch['K'].shape}")
    if batch["RT"].shape not in ((B, 4, 4), (B, 3, 4)):
        raise ValueError(f"RT must be ({B}, 4, 4), got {batch['RT'].shape}")


def _generate(model, variables, batch, key, *, train: bool):
    """Run the generator in training mode; returns (output, new batch_stats)."""
    B = batch["src"].shape[0]
    noise = sample_noise(key, B, model.config.noise_dim) if model.config.noise_dim else None
    out, updates = model.apply(
        variables, batch["src"], batch["K"], batch["RT"], noise, train=train,
        K_tgt=batch.get("K_tgt"), mutable=[STATS_COLLECTION],
    )  # fmt: skip
    return out, updates


def generator_loss_fn(model: SynSin, disc, tconfig: SynSinTrainConfig, vgg_params=None):
    """`g_loss(g_params, batch, key, disc_state, g_mutable) -> (loss, (aux, new_mutable))`.

    `vgg_params`: `jax3d.metrics.load_vgg16_params()` (loaded when None and `lambda_vgg > 0`;
    with `lambda_vgg == 0` the VGG term is skipped)."""
    if tconfig.lambda_vgg > 0 and vgg_params is None:
        vgg_params = jax.device_put(load_vgg16_params())

    def g_loss(params, batch, key, disc_state, mutable):
        out, updates = _generate(model, {"params": params, **mutable}, batch, key, train=True)
        fake, real = out.image, batch["tgt"]
        l1 = jnp.mean(jnp.abs(fake - real)) * 2.0  # on [-1, 1] images, as SynSin
        loss = tconfig.lambda_l1 * l1
        aux = {"l1": l1}
        if tconfig.lambda_vgg > 0:
            vgg = vgg_perceptual_loss(fake, real, vgg_params, weights=PERCEPTUAL_WEIGHTS)
            loss = loss + tconfig.lambda_vgg * vgg
            aux["vgg"] = vgg
        if tconfig.use_gan:
            both = jnp.concatenate([fake, real], 0) * 2.0 - 1.0
            d_out, _ = disc.apply(disc_state.variables(), both, train=True,
                                  mutable=[STATS_COLLECTION])  # fmt: skip
            B = fake.shape[0]
            fake_logits = [x[:B] for x in d_out.logits]
            fake_f = [[f[:B] for f in fs] for fs in d_out.features]
            real_f = [[f[B:] for f in fs] for fs in d_out.features]
            gan = hinge_generator_loss(fake_logits)
            feat = feature_matching_loss(real_f, fake_f)
            loss = loss + tconfig.lambda_gan * gan + tconfig.lambda_feat * feat
            aux.update(gan=gan, feat=feat)
        return loss, (aux, dict(updates))

    return g_loss


def discriminator_loss_fn(model: SynSin, disc, tconfig: SynSinTrainConfig):
    """`d_loss(d_params, batch, key, gen_state, d_mutable) -> (loss, (aux, new_mutable))`:
    the hinge loss on the target image (real) and the generator's output (fake, no gradient
    to the generator; the generator's batch-norm updates of this pass are discarded)."""

    def d_loss(params, batch, key, gen_state, mutable):
        if not tconfig.use_gan:  # nothing to learn: skip the generator's forward pass
            zero = jnp.zeros((), jnp.float32)
            return zero, ({"real": zero, "fake": zero}, mutable)
        out, _ = _generate(model, gen_state.variables(), batch, key, train=True)
        fake = jax.lax.stop_gradient(out.image)
        both = jnp.concatenate([fake, batch["tgt"]], 0) * 2.0 - 1.0
        d_out, updates = disc.apply({"params": params, **mutable}, both, train=True,
                                    mutable=[STATS_COLLECTION])  # fmt: skip
        B = fake.shape[0]
        fake_logits = [x[:B] for x in d_out.logits]
        real_logits = [x[B:] for x in d_out.logits]
        loss = hinge_discriminator_loss(real_logits, fake_logits)
        aux = {
            "real": jnp.mean(jnp.stack([jnp.mean(x) for x in real_logits])),
            "fake": jnp.mean(jnp.stack([jnp.mean(x) for x in fake_logits])),
        }
        return loss, (aux, dict(updates))

    return d_loss


def _adam(lr: float, tconfig: SynSinTrainConfig):
    return optax.adam(lr, b1=tconfig.beta1, b2=tconfig.beta2)


def host_init(module, *args, seed: int = 0, **kwargs) -> dict:
    """Variables of `module.init(key, *args, **kwargs)` drawn on the host with NumPy.

    The same distributions as the Flax initialisers of `jax3d.nn`'s layers: kernels
    `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` (`torch_kernel_init`, PyTorch's default), zero
    biases, unit batch-norm scales, running means 0 and variances 1, spectral-norm vectors
    `u ~ N(0, 1)` and `sigma = 1`. Only the shapes are traced (`jax.eval_shape`): Flax's own
    init compiles a random-number program per kernel, about 90 s of CPU for SynSin's networks
    on a shared 2-core machine, where this takes well under a second.

    Raises ValueError on a variable these rules do not cover.
    """
    shapes = jax.eval_shape(lambda *a: module.init(jax.random.key(0), *a, **kwargs), *args)
    rng = np.random.default_rng([int(seed), 5])

    def leaf(path, spec):
        collection = str(getattr(path[0], "key", path[0]))
        name = str(getattr(path[-1], "key", path[-1])).split("/")[-1]
        shape = spec.shape
        if collection == "params" and name == "kernel":
            bound = 1.0 / np.sqrt(max(1, int(np.prod(shape[:-1]))))
            value = rng.uniform(-bound, bound, shape)
        elif (collection, name) in (("params", "bias"), ("batch_stats", "mean")):
            value = np.zeros(shape)
        elif (collection, name) in (("params", "scale"), ("batch_stats", "var"),
                                    ("batch_stats", "sigma")):  # fmt: skip
            value = np.ones(shape)
        elif (collection, name) == ("batch_stats", "u"):
            value = rng.standard_normal(shape)
        else:
            raise ValueError(f"host_init: no rule for variable {jax.tree_util.keystr(path)}")
        return jnp.asarray(value, spec.dtype)

    return jax.tree_util.tree_map_with_path(leaf, shapes)


def init_gan_state(config: SynSinConfig, tconfig: SynSinTrainConfig, key, *,
                   batch_size: int = 1, ema_decay: float | None = None) -> GANState:
    """A fresh `GANState` (generator `SynSin(config)`, discriminator `make_discriminator`).

    Parameters follow the layers' initialisers (`host_init`: PyTorch's conv init, drawn with
    NumPy from `key`); the spectral-norm and batch-norm state sits in each player's
    `mutable["batch_stats"]`; `key` also seeds the GAN state's own key.
    """
    S = config.image_size
    img = jax.ShapeDtypeStruct((batch_size, S, S, 3), jnp.float32)
    key = jnp.asarray(key)
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    ks = key.astype(jnp.uint32).reshape(-1)[:2]
    seed = [int(x) for x in np.asarray(ks)]
    noise = None
    if config.noise_dim:
        noise = jax.ShapeDtypeStruct((batch_size, config.noise_dim), jnp.float32)
    g_vars = host_init(SynSin(config), img, noise, seed=seed[0] * 2 + 0,
                       method=SynSin.init_networks)  # fmt: skip
    d_vars = host_init(make_discriminator(config), img, seed=seed[1] * 2 + 1, train=False)
    gen = TrainState.create(params=g_vars["params"], tx=_adam(tconfig.lr_g, tconfig),
                            key=jax.random.fold_in(ks, 0),
                            mutable={STATS_COLLECTION: g_vars[STATS_COLLECTION]},
                            ema_decay=ema_decay)  # fmt: skip
    dis = TrainState.create(params=d_vars["params"], tx=_adam(tconfig.lr_d, tconfig),
                            key=jax.random.fold_in(ks, 1),
                            mutable={STATS_COLLECTION: d_vars[STATS_COLLECTION]})  # fmt: skip
    return GANState.create(gen, dis, ks)


def make_synsin_step(config: SynSinConfig, tconfig: SynSinTrainConfig, *, mesh=None,
                     accum_steps: int = 1, vgg_params=None):
    """The jitted GAN step `step(gan_state, batch) -> (gan_state, metrics)`.

    `batch` holds `src`, `tgt`, `K`, `RT` (optionally `K_tgt`), sharded over `mesh` when
    given. The frozen VGG16 weights of the perceptual loss (`vgg_params`, default
    `load_vgg16_params()`, 14.7 M floats) enter the compiled program as an argument, never as
    closed-over constants: XLA constant-folds captured arrays, and folding VGG16's transposed
    convolution kernels of the backward pass took seconds per layer (minutes per compile on a
    shared CPU). The returned function binds them, so it keeps the toolkit's `(state, batch)`
    signature for `jax3d.train.fit`; `step.jitted(state, batch, vgg_params)` is the underlying
    jitted function. Metrics: `g_loss`, `g_l1`, `g_vgg`, `g_gan`, `g_feat`, `d_loss`,
    `d_real`, `d_fake` (the discriminator's mean logits).
    """
    model, disc = SynSin(config), make_discriminator(config)
    d_loss = discriminator_loss_fn(model, disc, tconfig)
    if tconfig.lambda_vgg > 0 and vgg_params is None:
        vgg_params = load_vgg16_params()
    if tconfig.lambda_vgg <= 0:
        vgg_params = {}

    def step(state, batch, vgg):
        # `vgg` is a tracer of this jit: the loss closes over an argument, not a constant
        g_loss = generator_loss_fn(model, disc, tconfig, vgg if tconfig.lambda_vgg > 0 else None)
        return make_gan_step(g_loss, d_loss, accum_steps=accum_steps)(state, batch)

    if mesh is None:
        jitted = jax.jit(step)
        vgg_params = jax.device_put(vgg_params)
    else:
        rep, dat = replicated_sharding(mesh), data_sharding(mesh)
        jitted = jax.jit(step, in_shardings=(rep, dat, rep), out_shardings=(rep, rep))
        vgg_params = jax.device_put(vgg_params, rep)

    def bound(state, batch):
        return jitted(state, batch, vgg_params)

    bound.jitted = jitted
    return bound
