"""`smpl_forward`: shape and pose blend shapes, forward kinematics and linear blend skinning.

Per body: ``v_shaped = T + S(betas)``, rest joints ``J = J_regressor @ v_shaped``, pose
features ``(R_j - I)`` of joints 1..J-1 drive ``v_posed = v_shaped + P(features)``, the joint
transforms are chained along the kinematic tree and each vertex moves by its weighted blend of
the bone transforms (Loper et al. 2015). Rotations act on column vectors here, as in SMPL; the
outputs are points in the model's world frame.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jax3d.models.smpl.model import SMPLModel
from jax3d.transforms import axis_angle_to_matrix


class SMPLOutput(NamedTuple):
    """``vertices (B, V, 3)`` and ``joints (B, J, 3)`` float32 of posed bodies (world frame)."""

    vertices: jax.Array
    joints: jax.Array


def _check(name: str, x, shape: tuple) -> jax.Array:
    """float32 array with the given shape (None entries are free)."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{name} must be floating point, got {x.dtype}")
    ok = x.ndim == len(shape) and all(w is None or w == g for g, w in zip(x.shape, shape))
    if not ok:
        want = "(" + ", ".join("?" if w is None else str(w) for w in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {x.shape}")
    return x.astype(jnp.float32)


def _check_inputs(model, betas, body_pose, global_orient, transl):
    if not isinstance(model, SMPLModel):
        raise TypeError(f"model must be an SMPLModel, got {type(model).__name__}")
    n_body = model.num_joints - 1
    body_pose = jnp.asarray(body_pose)
    if body_pose.ndim == 2:  # (B, 3 (J - 1)) flat form, as in smplx's SMPL layer
        body_pose = body_pose.reshape(body_pose.shape[0], -1, 3)
    body_pose = _check("body_pose", body_pose, (None, n_body, 3))
    b = body_pose.shape[0]
    betas = _check("betas", betas, (b, None))
    if betas.shape[1] > model.num_betas:
        raise ValueError(f"betas has {betas.shape[1]} coefficients, the model {model.num_betas}")
    zeros = jnp.zeros((b, 3), jnp.float32)
    orient = zeros if global_orient is None else _check("global_orient", global_orient, (b, 3))
    transl = zeros if transl is None else _check("transl", transl, (b, 3))
    return betas, body_pose, orient, transl


def smpl_forward(
    model: SMPLModel,
    betas: jax.Array,
    body_pose: jax.Array,
    global_orient: jax.Array | None = None,
    transl: jax.Array | None = None,
) -> SMPLOutput:
    """Pose and shape a batch of SMPL bodies.

    Jittable (the model is a pytree argument), differentiable in every array input, and
    vmappable over an extra leading axis of the inputs.

    Args:
        model: an `SMPLModel` (J joints, S betas).
        betas: (B, S') float32 shape coefficients, S' <= S (the first S' directions are used).
        body_pose: (B, J - 1, 3) float32 axis-angle rotations of joints 1..J-1 relative to
            their parents (also accepted flat, (B, 3 (J - 1))).
        global_orient: (B, 3) float32 axis-angle rotation of the root; None for identity.
        transl: (B, 3) float32 translation added to every output point; None for zero.

    Returns:
        `SMPLOutput(vertices (B, V, 3), joints (B, J, 3))`: ``joints[b, j]`` is the posed
        position of joint j (the origin of its transform), ``transl`` included.

    Raises:
        ValueError / TypeError: inconsistent batch sizes, wrong shapes, too many betas.
    """
    betas, body_pose, orient, transl = _check_inputs(model, betas, body_pose, global_orient, transl)
    return _smpl_forward(model, betas, body_pose, orient, transl)


@jax.jit
def _smpl_forward(model, betas, body_pose, orient, transl) -> SMPLOutput:
    pose = jnp.concatenate([orient[:, None], body_pose], axis=1)  # (B, J, 3)
    verts, joints = jax.vmap(_forward_one, in_axes=(None, 0, 0))(model, betas, pose)
    return SMPLOutput(verts + transl[:, None], joints + transl[:, None])


def _forward_one(model: SMPLModel, betas: jax.Array, pose: jax.Array):
    """One body: betas (S',), pose (J, 3) axis-angle -> vertices (V, 3), joints (J, 3)."""
    n = betas.shape[0]
    v_shaped = model.v_template + model.shapedirs[..., :n] @ betas  # (V, 3)
    rest = model.J_regressor @ v_shaped  # (J, 3)
    rots = axis_angle_to_matrix(pose)  # (J, 3, 3)
    features = (rots[1:] - jnp.eye(3, dtype=rots.dtype)).reshape(-1)  # (9 (J - 1),)
    v_posed = v_shaped + model.posedirs @ features
    world = forward_kinematics(rots, rest, model.parents)  # (J, 4, 4)
    posed_joints = world[:, :3, 3]
    # skinning transforms move rest-pose points: A_j = G_j [I, -rest_j]
    offset = posed_joints - jnp.einsum("jab,jb->ja", world[:, :3, :3], rest)
    skin = jnp.concatenate([world[:, :3, :3], offset[..., None]], axis=-1)  # (J, 3, 4)
    per_vertex = (model.weights @ skin.reshape(-1, 12)).reshape(-1, 3, 4)  # (V, 3, 4)
    verts = jnp.einsum("vab,vb->va", per_vertex[..., :3], v_posed) + per_vertex[..., 3]
    return verts, posed_joints


def forward_kinematics(rots: jax.Array, rest_joints: jax.Array, parents) -> jax.Array:
    """World transforms of the joints along a kinematic tree.

    Args:
        rots: (J, 3, 3) float32 local rotations (column-vector convention).
        rest_joints: (J, 3) float32 rest-pose joint positions.
        parents: static sequence of J parent indices, -1 for the root, parents first.

    Returns:
        (J, 4, 4) float32: ``G[j] = G[parent(j)] @ [[R_j, rest_j - rest_parent(j)], [0, 1]]``.
    """
    n = len(parents)
    par = jnp.array([max(p, 0) for p in parents])
    rel = rest_joints - jnp.where(jnp.arange(n)[:, None] > 0, rest_joints[par], 0.0)
    local = jnp.concatenate([rots, rel[:, :, None]], axis=-1)  # (J, 3, 4)
    bottom = jnp.broadcast_to(jnp.array([0.0, 0.0, 0.0, 1.0], rots.dtype), (n, 1, 4))
    local = jnp.concatenate([local, bottom], axis=1)  # (J, 4, 4)

    # a scan along the (topologically ordered) joints keeps the traced graph small
    def link(world, j):
        return world.at[j].set(world[par[j]] @ local[j]), None

    world, _ = jax.lax.scan(link, local, jnp.arange(1, n))
    return world
