"""SMPLify's exponential prior against unnatural bending of elbows and knees."""

from __future__ import annotations

import jax
import jax.numpy as jnp

# (body-pose joint row, axis, sign): left elbow +y, right elbow -y, left knee -x, right knee -x
# (SMPLify's pose[55], -pose[58], -pose[12], -pose[15] of the 72-vector, minus the 3 global).
ANGLE_PRIOR_TERMS: tuple[tuple[int, int, float], ...] = (
    (17, 1, 1.0),
    (18, 1, -1.0),
    (3, 0, -1.0),
    (4, 0, -1.0),
)


def angle_prior_energy(body_pose: jax.Array, alpha: float = 10.0) -> jax.Array:
    """``sum_i (alpha exp(s_i theta_i))^2`` over the elbow and knee angles that bend the wrong way.

    Args:
        body_pose: (..., 23, 3) float32 SMPL body pose (axis-angle per joint 1..23).
        alpha: the scale of each residual (SMPLify: 10).

    Returns:
        (...) float32 energies; they grow exponentially as an elbow or knee hyper-extends.
    """
    body_pose = jnp.asarray(body_pose, jnp.float32)
    if body_pose.shape[-2:] != (23, 3):
        raise ValueError(f"body_pose must be (..., 23, 3), got {body_pose.shape}")
    angles = jnp.stack([s * body_pose[..., j, a] for j, a, s in ANGLE_PRIOR_TERMS], axis=-1)
    return jnp.sum(jnp.square(alpha * jnp.exp(angles)), axis=-1)
