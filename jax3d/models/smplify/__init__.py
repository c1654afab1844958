"""jax3d.models.smplify: SMPLify, fitting SMPL to 2D joints (Bogo et al. 2016)."""

from jax3d.models.smplify.angle_prior import ANGLE_PRIOR_TERMS, angle_prior_energy
from jax3d.models.smplify.camera import depth_from_torso, project_points, smplify_cameras
from jax3d.models.smplify.collisions import (
    BODY_PARTS,
    COLLISION_PAIRS,
    BodySpheres,
    body_spheres,
    interpenetration_energy,
)
from jax3d.models.smplify.fit import (
    SMPLIFY_JOINT_WEIGHTS,
    SMPLifyResult,
    SMPLifySettings,
    flip_orientation,
    lbfgs_minimize,
    smplify,
)
from jax3d.models.smplify.gmm_prior import (
    GMMPrior,
    gmm_pose_energy,
    gmm_prior_from_arrays,
    load_gmm_prior,
    synthetic_gmm_prior,
)
from jax3d.models.smplify.robust import geman_mcclure

__all__ = [
    "ANGLE_PRIOR_TERMS",
    "BODY_PARTS",
    "COLLISION_PAIRS",
    "SMPLIFY_JOINT_WEIGHTS",
    "BodySpheres",
    "GMMPrior",
    "SMPLifyResult",
    "SMPLifySettings",
    "angle_prior_energy",
    "body_spheres",
    "depth_from_torso",
    "flip_orientation",
    "geman_mcclure",
    "gmm_pose_energy",
    "gmm_prior_from_arrays",
    "interpenetration_energy",
    "lbfgs_minimize",
    "load_gmm_prior",
    "project_points",
    "smplify",
    "smplify_cameras",
    "synthetic_gmm_prior",
]
