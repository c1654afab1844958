"""A simplified interpenetration penalty: body parts as chains of spheres along the bones.

SMPLify approximates the body by capsules, and capsules by spheres, and penalises overlap
between parts that should not intersect (torso and forearms/hands, the two calves, feet,
hands). Here each listed part is a fixed number of spheres evenly spaced on the bone from its
joint to its child; the spheres follow the posed joints exactly (a rigid bone keeps the
relative position of its child), their radii are measured once on the rest-pose template.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jax3d.models.smpl.model import SMPLModel
from jax3d.safe_math import safe_norm

# parts as (joint driving the part, child joint that ends the bone)
BODY_PARTS: tuple[tuple[int, int], ...] = (
    (0, 3), (3, 6), (6, 9), (9, 12),  # pelvis, spine, spine1, spine2 (torso)
    (18, 20), (19, 21), (20, 22), (21, 23),  # left/right forearm, left/right hand
    (4, 7), (5, 8), (7, 10), (8, 11),  # left/right calf, left/right foot
    (13, 16), (14, 17),  # left/right collar
)  # fmt: skip
# pairs of BODY_PARTS indices that must not overlap (SMPLify's capsule collision list)
COLLISION_PAIRS: tuple[tuple[int, int], ...] = tuple(
    [(t, a) for t in range(4) for a in range(4, 8)]
    + [(8, 9), (10, 9), (11, 10), (11, 8), (12, 4), (13, 5), (6, 7)]
)


@struct.dataclass
class BodySpheres:
    """Spheres along the bones of `BODY_PARTS`.

    Fields:
        radii: (P, N) float32 radius of sphere n of part p (metres).
        parts: static tuple of (joint, child) per part.
        pairs: static tuple of part index pairs to keep apart.
    """

    radii: jax.Array
    parts: tuple = struct.field(pytree_node=False, default=BODY_PARTS)
    pairs: tuple = struct.field(pytree_node=False, default=COLLISION_PAIRS)

    @property
    def spheres_per_part(self) -> int:
        return int(self.radii.shape[1])

    def centers(self, joints: jax.Array) -> jax.Array:
        """(..., P, N, 3) sphere centres for posed SMPL joints (..., 24, 3)."""
        t = jnp.linspace(0.0, 1.0, self.spheres_per_part)[:, None]  # (N, 1)
        a = joints[..., jnp.array([p[0] for p in self.parts]), None, :]  # (..., P, 1, 3)
        b = joints[..., jnp.array([p[1] for p in self.parts]), None, :]
        return (1.0 - t) * a + t * b


def body_spheres(
    model: SMPLModel, *, spheres_per_part: int = 3, shrink: float = 0.8
) -> BodySpheres:
    """Measure sphere radii on the rest-pose template.

    The radius of a part is ``shrink`` times the median distance to its bone of the vertices
    that the part's joint dominates in the skinning weights.

    Args:
        model: an SMPL-format model with SMPL's 24 joints.
        spheres_per_part: N, spheres spaced evenly from the joint to the child (both included).
        shrink: scale of the radii (< 1 tolerates contact that is not interpenetration).
    """
    if model.num_joints != 24:
        raise ValueError(f"body_spheres needs SMPL's 24 joints, model has {model.num_joints}")
    if spheres_per_part < 2:
        raise ValueError(f"spheres_per_part must be >= 2, got {spheres_per_part}")
    verts = np.asarray(model.v_template, np.float64)
    joints = np.asarray(model.rest_joints(), np.float64)
    owner = np.argmax(np.asarray(model.weights), axis=1)
    radii = []
    for j, c in BODY_PARTS:
        pts = verts[owner == j]
        a, ab = joints[j], joints[c] - joints[j]
        t = np.clip((pts - a) @ ab / max(ab @ ab, 1e-12), 0.0, 1.0)
        dist = np.linalg.norm(pts - (a + t[:, None] * ab), axis=1)
        radii.append(shrink * (np.median(dist) if len(dist) else 0.0))
    radii = np.repeat(np.asarray(radii, np.float32)[:, None], spheres_per_part, axis=1)
    return BodySpheres(radii=jnp.asarray(radii))


def interpenetration_energy(spheres: BodySpheres, joints: jax.Array) -> jax.Array:
    """Sum of squared sphere overlaps ``relu(r_a + r_b - |c_a - c_b|)^2`` over colliding parts.

    Args:
        spheres: `BodySpheres` of the model.
        joints: (..., 24, 3) float32 posed SMPL joints.

    Returns:
        (...) float32 energy in square metres; 0 when no listed parts overlap.
    """
    joints = jnp.asarray(joints, jnp.float32)
    if joints.shape[-2:] != (24, 3):
        raise ValueError(f"joints must be (..., 24, 3), got {joints.shape}")
    centers = spheres.centers(joints)  # (..., P, N, 3)
    ia = jnp.array([p[0] for p in spheres.pairs])
    ib = jnp.array([p[1] for p in spheres.pairs])
    ca, cb = centers[..., ia, :, None, :], centers[..., ib, None, :, :]  # (..., Q, N, N, 3)
    dist = safe_norm(ca - cb, axis=-1)
    reach = spheres.radii[ia][:, :, None] + spheres.radii[ib][:, None, :]
    overlap = jax.nn.relu(reach - dist)
    return jnp.sum(jnp.square(overlap), axis=(-3, -2, -1))
