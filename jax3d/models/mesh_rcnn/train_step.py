"""Mesh R-CNN's ShapeNet losses and a jitted optax training step.

`make_loss_fn(config)` returns the loss in the convention of `jax3d.train`:
`loss_fn(params, batch, key) -> (loss, aux)`, or, for norm="batch" (BatchNorm statistics),
`loss_fn(params, batch, key, mutable) -> (loss, (aux, new_mutable))`. The loss is the authors'
`MeshLoss`: the voxel BCE (times `voxel_loss_weight`) plus, averaged over the refinement
stages, `chamfer_weight * chamfer + normal_weight * normal + edge_weight * edge` between
`pred_num_samples` points (with normals) sampled on each predicted mesh and the batch's
ground-truth points. `voxel_only=True` gives the warm-up loss of the first `voxel_only_iters`
iterations (voxel BCE only; the mesh head is not run).

A batch is a dict of arrays with a leading batch axis B (as `jax3d.datasets.ShapeRenders` and
`ShapeNetR2N2` give them):
    images (B, H, W, 3) float in [0, 1];
    voxels (B, G, G, G) bool/float occupancy [z, y, x] (needed with the voxel branch);
    points, normals (B, P, 3) ground-truth surface samples in camera coordinates, or instead
    verts (B, V, 3), faces (B, F, 3), num_verts, num_faces (B,): the ground-truth meshes, on
    which `gt_num_samples` points are sampled.

`init_variables`, `make_optimizer` and `make_train_step` make a plain optax loop:
`params, opt_state, metrics = step(params, opt_state, batch, key)` (plus `mutable` for
norm="batch").
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import optax

from jax3d.loss.chamfer import chamfer_distance
from jax3d.loss.mesh_edge_loss import mesh_edge_loss
from jax3d.models.mesh_rcnn.config import MeshRCNNConfig
from jax3d.models.mesh_rcnn.model import MeshRCNN, MeshRCNNOutput
from jax3d.ops.sample_points_from_meshes import sample_points_from_meshes
from jax3d.structures import Meshes

__all__ = [
    "QUICK_COMPILE",
    "fast_key",
    "init_variables",
    "make_loss_fn",
    "make_optimizer",
    "make_train_step",
    "mesh_rcnn_losses",
]


# XLA CPU options trading run time for compile time (LLVM without optimisation).
QUICK_COMPILE = {"xla_backend_optimization_level": 0}


def fast_key(key: jax.Array) -> jax.Array:
    """A typed key of JAX's "rbg" generator seeded from `key` (a raw (2,) uint32 key or a
    typed key); typed rbg keys pass through.

    The losses and the initialisation sample with it: XLA compiles rbg's RngBitGenerator much
    faster than threefry's hash on CPU (the train step of the test config compiles about 1.5x
    faster), and the randomness stays a pure function of `key`.
    """
    key = jnp.asarray(key) if not isinstance(key, jax.Array) else key
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if jax.random.key_impl(key) == jax.random.key_impl(jax.random.key(0, impl="rbg")):
            return key
        key = jax.random.key_data(key)
    data = jnp.asarray(key, jnp.uint32).reshape(-1)
    if data.shape != (2,):
        raise ValueError(f"key must be a raw (2,) uint32 PRNG key or a typed key, got {key.shape}")
    salt = jnp.asarray(0x9E3779B9, jnp.uint32)
    return jax.random.wrap_key_data(jnp.concatenate([data, data ^ salt]), impl="rbg")


def _ground_truth_points(batch, num_samples: int, key):
    if "points" in batch and "normals" in batch:
        return jnp.asarray(batch["points"]), jnp.asarray(batch["normals"])
    if "verts" not in batch:
        raise ValueError("the batch needs points and normals, or the meshes (verts, faces, ...)")
    gt = Meshes(jnp.asarray(batch["verts"]), jnp.asarray(batch["faces"]),
                num_verts=batch["num_verts"], num_faces=batch["num_faces"])  # fmt: skip
    return sample_points_from_meshes(gt, num_samples, return_normals=True, key=key)


def mesh_rcnn_losses(
    output: MeshRCNNOutput, batch: dict, key: jax.Array, config: MeshRCNNConfig
) -> tuple[jax.Array, dict]:
    """The authors' `MeshLoss` of a model output (see the module docstring).

    Returns:
        total () float32 and a dict of () values: "voxel", "chamfer_s", "normal_s", "edge_s"
        for each stage s, and "cubify_overflow" (share of truncated cubified meshes) and
        "cubify_faces_needed" (the largest cubified mesh of the batch, in faces).
    """
    c = config
    key = fast_key(key)
    aux = {}
    total = jnp.zeros((), jnp.float32)
    if output.voxel_scores is not None:
        labels = jnp.asarray(batch["voxels"], jnp.float32)
        voxel = jnp.mean(optax.sigmoid_binary_cross_entropy(output.voxel_scores, labels))
        total = total + c.voxel_loss_weight * voxel
        aux["voxel"] = voxel
    if output.meshes:
        k_gt, k_pred = jax.random.split(key)
        points_gt, normals_gt = _ground_truth_points(batch, c.gt_num_samples, k_gt)
        stage_keys = jax.random.split(k_pred, len(output.meshes))
        for s, (meshes, k) in enumerate(zip(output.meshes, stage_keys)):
            points, normals = sample_points_from_meshes(meshes, c.pred_num_samples,
                                                        return_normals=True, key=k)  # fmt: skip
            cham, normal = chamfer_distance(points, points_gt, x_normals=normals,
                                            y_normals=normals_gt)  # fmt: skip
            edge = mesh_edge_loss(meshes)
            stage = c.chamfer_weight * cham + c.normal_weight * normal + c.edge_weight * edge
            total = total + stage / len(output.meshes)
            aux.update({f"chamfer_{s}": cham, f"normal_{s}": normal, f"edge_{s}": edge})
    aux["cubify_overflow"] = jnp.mean(output.cubify_overflow.astype(jnp.float32))
    aux["cubify_faces_needed"] = jnp.max(output.cubify_faces_needed).astype(jnp.float32)
    return total, aux


def make_loss_fn(config: MeshRCNNConfig, *, voxel_only: bool = False) -> Callable:
    """`loss_fn(params, batch, key) -> (loss, aux)` of `MeshRCNN(config)` in training mode.

    For `config.norm == "batch"` the signature is
    `loss_fn(params, batch, key, mutable) -> (loss, (aux, new_mutable))` with
    `mutable = {"batch_stats": ...}` (the convention of `jax3d.train`).

    Args:
        config: the model's settings.
        voxel_only: the warm-up loss (voxel BCE only; needs the voxel branch).
    """
    if voxel_only and not config.voxel_on:
        raise ValueError("voxel_only needs the voxel branch (voxel_on=True)")
    model = MeshRCNN(config)

    def losses(variables, batch, key, mutable):
        kwargs = {"mutable": ["batch_stats"]} if mutable else {}
        out = model.apply(variables, batch["images"], train=True, voxel_only=voxel_only,
                          **kwargs)  # fmt: skip
        output, new_mutable = out if mutable else (out, None)
        loss, aux = mesh_rcnn_losses(output, batch, key, config)
        return loss, aux, new_mutable

    if config.norm == "batch":

        def loss_fn(params, batch, key, mutable):
            loss, aux, new = losses({"params": params, **mutable}, batch, key, True)
            return loss, (aux, {**mutable, **new})

    else:

        def loss_fn(params, batch, key):
            loss, aux, _ = losses({"params": params}, batch, key, False)
            return loss, aux

    return loss_fn


def init_variables(
    config: MeshRCNNConfig, key: jax.Array, batch_size: int = 1, *, compiler_options=None
) -> dict:
    """`MeshRCNN(config).init` on a zero image batch: `{"params": ...}` (+ "batch_stats").

    The initialisers draw from `fast_key(key)` (JAX's rbg generator: the ResNet's init
    compiles about 2x faster on CPU than with threefry). `compiler_options` go to `jax.jit`
    (e.g. `QUICK_COMPILE`)."""
    images = jnp.zeros((batch_size, config.image_size, config.image_size, 3), jnp.float32)
    init = jax.jit(MeshRCNN(config).init, compiler_options=compiler_options)
    return dict(init(fast_key(key), images))


def make_optimizer(config: MeshRCNNConfig, learning_rate=None) -> optax.GradientTransformation:
    """The authors' solver: Adam (or SGD with momentum) at `base_lr`, constant schedule."""
    lr = config.base_lr if learning_rate is None else learning_rate
    if config.optimizer == "adam":
        return optax.adam(lr)
    return optax.sgd(lr, momentum=config.momentum)


def make_train_step(
    config: MeshRCNNConfig,
    optimizer: optax.GradientTransformation,
    *,
    voxel_only: bool = False,
    compiler_options: dict | None = None,
) -> Callable:
    """A jitted optax step of `make_loss_fn(config, voxel_only=...)`.

    `compiler_options` go to `jax.jit`: `QUICK_COMPILE` halves the CPU compile time of a step
    (about 1 minute on 2 shared cores for the test config) for slower steps, which suits
    tests and short runs.

    Returns:
        `step(params, opt_state, batch, key) -> (params, opt_state, metrics)`, or for
        norm="batch" `step(params, opt_state, batch, key, mutable) -> (params, opt_state,
        metrics, mutable)`; metrics hold "loss" and the aux values.
    """
    loss_fn = make_loss_fn(config, voxel_only=voxel_only)
    if config.norm == "batch":

        @partial(jax.jit, compiler_options=compiler_options)
        def step_bn(params, opt_state, batch, key, mutable):
            grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
            (loss, (aux, mutable)), grads = grad_fn(params, batch, key, mutable)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, {"loss": loss, **aux}, mutable

        return step_bn

    @partial(jax.jit, compiler_options=compiler_options)
    def step(params, opt_state, batch, key):
        (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch, key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, {"loss": loss, **aux}

    return step
