"""jax3d.models.smpl: the SMPL body model (arrays, loading, posing, a synthetic stand-in)."""

from jax3d.io.restricted_pickle import restricted_load
from jax3d.models.smpl.joints import (
    LSP_HEAD_VERTEX,
    LSP_JOINT_NAMES,
    LSP_SMPL_JOINT_IDS,
    LSP_TORSO,
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
    lsp_joints,
)
from jax3d.models.smpl.lbs import SMPLOutput, forward_kinematics, smpl_forward
from jax3d.models.smpl.model import (
    SMPLModel,
    parents_from_kintree,
    reduce_to_vertices,
    smpl_model_from_arrays,
    smpl_model_to_arrays,
)
from jax3d.models.smpl.smpl_io import load_smpl, save_smpl
from jax3d.models.smpl.synthetic import REST_JOINTS, capsule_mesh, synthetic_body_model

__all__ = [
    "LSP_HEAD_VERTEX",
    "LSP_JOINT_NAMES",
    "LSP_SMPL_JOINT_IDS",
    "LSP_TORSO",
    "REST_JOINTS",
    "SMPLModel",
    "SMPLOutput",
    "SMPL_JOINT_NAMES",
    "SMPL_PARENTS",
    "capsule_mesh",
    "forward_kinematics",
    "load_smpl",
    "lsp_joints",
    "parents_from_kintree",
    "reduce_to_vertices",
    "restricted_load",
    "save_smpl",
    "smpl_forward",
    "smpl_model_from_arrays",
    "smpl_model_to_arrays",
    "synthetic_body_model",
]
