"""Named joint sets of SMPL: its 24 kinematic joints and the 14 LSP joints SMPLify fits.

SMPL's joint order (the rows of ``J_regressor``) and its kinematic tree are fixed by the model
files; the LSP order is that of the Leeds Sports Pose annotations. SMPLify (Bogo et al. 2016)
maps 12 SMPL joints to LSP's limbs, uses the neck joint for LSP's neck and a vertex of the
template (index 411, the top of the head) for LSP's head top, since SMPL has no such joint.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hand",
    "right_hand",
)

# parent of each SMPL joint (-1 for the root), the first row of the model's kintree_table.
SMPL_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)  # fmt: skip

LSP_JOINT_NAMES: tuple[str, ...] = (
    "right_ankle",
    "right_knee",
    "right_hip",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_wrist",
    "right_elbow",
    "right_shoulder",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "neck",
    "head_top",
)

# SMPL joint for each of the first 13 LSP joints (SMPLify's fit_3d.py mapping plus the neck).
LSP_SMPL_JOINT_IDS: tuple[int, ...] = (8, 5, 2, 1, 4, 7, 21, 19, 17, 16, 18, 20, 12)
# the template vertex that stands in for LSP's head top (SMPLify's ``head_id``).
LSP_HEAD_VERTEX: int = 411
# LSP indices of the torso joints (right hip, left hip, right shoulder, left shoulder).
LSP_TORSO: tuple[int, ...] = (2, 3, 8, 9)


def lsp_joints(vertices: jax.Array, joints: jax.Array) -> jax.Array:
    """The 14 LSP joints of posed SMPL bodies, in LSP order.

    Args:
        vertices: (B, V, 3) float32 posed vertices (``smpl_forward(...).vertices``), V > 411.
        joints: (B, 24, 3) float32 posed SMPL joints (``smpl_forward(...).joints``).

    Returns:
        (B, 14, 3) float32: ``out[b, i]`` is LSP joint ``LSP_JOINT_NAMES[i]``; rows 0-12 are SMPL
        joints ``LSP_SMPL_JOINT_IDS``, row 13 is vertex ``LSP_HEAD_VERTEX``.
    """
    vertices = jnp.asarray(vertices)
    joints = jnp.asarray(joints)
    if vertices.ndim != 3 or vertices.shape[-1] != 3 or vertices.shape[1] <= LSP_HEAD_VERTEX:
        raise ValueError(
            f"vertices must be (B, V, 3) with V > {LSP_HEAD_VERTEX}, got {vertices.shape}"
        )
    if joints.ndim != 3 or joints.shape[1:] != (24, 3) or joints.shape[0] != vertices.shape[0]:
        raise ValueError(f"joints must be (B, 24, 3) matching vertices, got {joints.shape}")
    limbs = joints[:, jnp.array(LSP_SMPL_JOINT_IDS)]
    return jnp.concatenate([limbs, vertices[:, LSP_HEAD_VERTEX][:, None]], axis=1)
