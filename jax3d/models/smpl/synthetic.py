"""`synthetic_body_model`: an SMPL-format body made of capsules, for use without the licensed file.

Same keys, shapes and kinematic tree as SMPL (J = 24, 10 betas, 207 pose blend shapes); the
surface is one closed tessellated capsule per bone (plus head, hands and feet), skinning
weights fall off with the distance to the bones, the joint regressor averages the vertex ring
of each capsule that is centred on the joint (so it reproduces the rest joints exactly), the
head-top vertex sits at SMPL's index 411 (LSP's head for SMPLify), and the shape and pose
blend shapes are random orthonormal directions of small magnitude.
"""

from __future__ import annotations

import jax
import numpy as np

from jax3d.models.smpl.joints import LSP_HEAD_VERTEX, SMPL_PARENTS
from jax3d.models.smpl.model import SMPLModel, kintree_from_parents, smpl_model_from_arrays

# plausible rest joints (metres; +X is the body's left, +Y up, the body faces +Z)
REST_JOINTS = np.array(
    [
        [0.000, -0.225, 0.025], [0.060, -0.320, 0.010], [-0.060, -0.320, 0.010],
        [0.000, -0.110, 0.000], [0.105, -0.715, 0.015], [-0.105, -0.715, 0.015],
        [0.000, 0.020, 0.010], [0.090, -1.130, -0.030], [-0.090, -1.130, -0.030],
        [0.000, 0.075, 0.030], [0.120, -1.185, 0.095], [-0.120, -1.185, 0.095],
        [0.000, 0.285, -0.015], [0.075, 0.180, -0.005], [-0.075, 0.180, -0.005],
        [0.000, 0.355, 0.035], [0.190, 0.228, -0.025], [-0.190, 0.228, -0.025],
        [0.450, 0.220, -0.040], [-0.450, 0.220, -0.040], [0.715, 0.230, -0.045],
        [-0.715, 0.230, -0.045], [0.800, 0.222, -0.058], [-0.800, 0.222, -0.058],
    ],
    np.float64,
)  # fmt: skip
# radius of the capsule on the bone that ends at each joint (index = child joint)
_BONE_RADIUS = (
    0.0,
    0.075,
    0.075,
    0.10,
    0.06,
    0.06,
    0.11,
    0.045,
    0.045,
    0.12,
    0.04,
    0.04,
    0.05,
    0.05,
    0.05,
    0.045,
    0.055,
    0.055,
    0.045,
    0.045,
    0.038,
    0.038,
    0.03,
    0.03,
)
# capsules beyond the leaf joints: (joint, end offset, radius); head top first
_END_CAPS = (
    (15, (0.0, 0.19, 0.0), 0.095),
    (10, (0.0, -0.03, 0.08), 0.04),
    (11, (0.0, -0.03, 0.08), 0.04),
    (22, (0.09, 0.0, 0.0), 0.03),
    (23, (-0.09, 0.0, 0.0), 0.03),
)


def _frame(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors orthogonal to the unit ``axis`` and to each other."""
    helper = np.array([1.0, 0, 0]) if abs(axis[0]) < 0.9 else np.array([0, 1.0, 0])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u)
    return u, np.cross(axis, u)


def capsule_mesh(a, b, radius: float, n_around: int = 12, n_cap: int = 3, n_mid: int = 2):
    """A closed capsule around the segment a -> b, outward winding.

    Returns:
        verts (N, 3), faces (M, 3), and the vertex indices of the two rings centred on a and b.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    length = np.linalg.norm(b - a)
    axis = (b - a) / length
    u, w = _frame(axis)
    phis = np.linspace(-np.pi / 2, 0.0, n_cap + 1)[1:]  # start cap rings, last one at a
    rings = [(radius * np.sin(p), radius * np.cos(p)) for p in phis]
    rings += [(length * t, radius) for t in np.linspace(0, 1, n_mid + 2)[1:-1]]
    rings += [(length + radius * np.sin(p), radius * np.cos(p)) for p in -phis[::-1]]
    theta = 2 * np.pi * np.arange(n_around) / n_around
    circle = np.cos(theta)[:, None] * u + np.sin(theta)[:, None] * w  # (n, 3)
    verts = [a - radius * axis]
    verts += [a + z * axis + r * circle for z, r in rings]
    verts += [b + radius * axis]
    verts = np.vstack([np.atleast_2d(v) for v in verts])
    n, k = n_around, len(rings)
    ring = lambda i: 1 + i * n + (np.arange(n) % n)  # noqa: E731
    faces = [np.stack([np.zeros(n, int), ring(0)[(np.arange(n) + 1) % n], ring(0)], 1)]
    for i in range(k - 1):
        r0, r1 = ring(i), ring(i + 1)
        r0n, r1n = np.roll(r0, -1), np.roll(r1, -1)
        faces += [np.stack([r0, r0n, r1], 1), np.stack([r0n, r1n, r1], 1)]
    top = len(verts) - 1
    last = ring(k - 1)
    faces.append(np.stack([np.full(n, top), last, np.roll(last, -1)], 1))
    return verts, np.vstack(faces), ring(n_cap - 1), ring(n_cap + n_mid)


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distances of points p (N, 3) to the segment a -> b."""
    ab = b - a
    t = np.clip(((p - a) @ ab) / max(ab @ ab, 1e-12), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


def _capsules(joints: np.ndarray, **tess):
    """Tessellate every capsule; returns verts, faces, joint rings {joint: idx}, head-top idx."""
    caps = [
        (SMPL_PARENTS[j], joints[SMPL_PARENTS[j]], joints[j], _BONE_RADIUS[j], j)
        for j in range(1, 24)
    ]
    caps += [(j, joints[j], joints[j] + np.array(off), r, None) for j, off, r in _END_CAPS]
    verts, faces, rings, head_top, offset = [], [], {}, None, 0
    for start_joint, a, b, r, end_joint in caps:
        v, f, ring_a, ring_b = capsule_mesh(a, b, r, **tess)
        rings.setdefault(start_joint, ring_a + offset)
        if end_joint is not None:
            rings.setdefault(end_joint, ring_b + offset)
        elif head_top is None:
            head_top = offset + len(v) - 1  # the far pole of the head capsule
        verts.append(v)
        faces.append(f + offset)
        offset += len(v)
    return np.vstack(verts), np.vstack(faces), rings, head_top


def _bone_segments(joints: np.ndarray) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """For each joint, the segments of the body part its transform drives."""
    segs: list[list] = [[] for _ in range(24)]
    for j in range(1, 24):
        segs[SMPL_PARENTS[j]].append((joints[SMPL_PARENTS[j]], joints[j]))
    for j, off, _ in _END_CAPS:
        segs[j].append((joints[j], joints[j] + np.array(off)))
    for j in range(24):
        if not segs[j]:
            segs[j].append((joints[j], joints[j]))
    return segs


def _skinning_weights(verts: np.ndarray, joints: np.ndarray, falloff: float) -> np.ndarray:
    """(V, 24) weights, softmax of minus the distance to each joint's bones (rows sum to 1)."""
    dist = np.stack(
        [
            np.min([_segment_distance(verts, a, b) for a, b in s], axis=0)
            for s in _bone_segments(joints)
        ],
        axis=1,
    )
    logits = -(dist - dist.min(axis=1, keepdims=True)) / falloff
    w = np.exp(logits)
    return w / w.sum(axis=1, keepdims=True)


def _orthonormal_dirs(
    rng: np.random.Generator, n_verts: int, n_dirs: int, smooth: np.ndarray, magnitude: float
) -> np.ndarray:
    """(V, 3, n_dirs) orthonormal columns (over the 3V entries) with RMS vertex offset
    ``magnitude`` per unit coefficient; mostly smooth (blended by ``smooth`` (V, J))."""
    coarse = smooth @ rng.normal(size=(smooth.shape[1], 3 * n_dirs))
    raw = coarse.reshape(n_verts * 3, n_dirs) + 0.05 * rng.normal(size=(n_verts * 3, n_dirs))
    chol = np.linalg.cholesky(raw.T @ raw)  # raw = q chol^T with orthonormal q
    q = np.linalg.solve(chol, raw.T).T
    return (q * magnitude * np.sqrt(n_verts)).reshape(n_verts, 3, n_dirs)


def synthetic_body_arrays(
    seed: int,
    *,
    num_betas: int = 10,
    shape_scale: float = 0.02,
    pose_scale: float = 0.002,
    n_around: int = 12,
    n_cap: int = 3,
    n_mid: int = 2,
    falloff: float = 0.015,
) -> dict[str, np.ndarray]:
    """The synthetic model as a dict of float64 arrays in the official layout (see
    `synthetic_body_model`)."""
    rng = np.random.default_rng(seed)
    verts, faces, rings, head_top = _capsules(
        REST_JOINTS, n_around=n_around, n_cap=n_cap, n_mid=n_mid
    )
    # put the head top at SMPL's head vertex index
    perm = np.arange(len(verts))
    perm[[LSP_HEAD_VERTEX, head_top]] = perm[[head_top, LSP_HEAD_VERTEX]]
    inverse = np.argsort(perm)
    verts, faces = verts[perm], inverse[faces]
    regressor = np.zeros((24, len(verts)))
    for j in range(24):
        idx = inverse[rings[j]]
        regressor[j, idx] = 1.0 / len(idx)
    weights = _skinning_weights(verts, REST_JOINTS, falloff)
    n_v = len(verts)
    return {
        "v_template": verts,
        "shapedirs": _orthonormal_dirs(rng, n_v, num_betas, weights, shape_scale),
        "posedirs": _orthonormal_dirs(rng, n_v, 9 * 23, weights, pose_scale),
        "J_regressor": regressor,
        "weights": weights,
        "kintree_table": np.array(kintree_from_parents(SMPL_PARENTS), np.int64),
        "f": faces.astype(np.int64),
    }


def synthetic_body_model(
    key: jax.Array | int,
    *,
    num_betas: int = 10,
    shape_scale: float = 0.02,
    pose_scale: float = 0.002,
    n_around: int = 12,
    n_cap: int = 3,
    n_mid: int = 2,
    falloff: float = 0.015,
) -> SMPLModel:
    """An SMPL-format model (J = 24, SMPL's tree) built from capsules around the bones.

    Args:
        key: a `jax.random` key (or an int seed) for the random blend shapes.
        num_betas: S, the number of shape directions.
        shape_scale: RMS vertex offset (metres) of one unit of each beta.
        pose_scale: RMS vertex offset (metres) of one unit of each pose feature.
        n_around, n_cap, n_mid: tessellation (vertices around a capsule, rings per end cap,
            rings along the cylinder); the defaults give V = 28 x 98 = 2744 vertices.
        falloff: distance scale (metres) of the skinning weights' softmax.

    Returns:
        An `SMPLModel`; its rest joints (``model.rest_joints()``) equal `REST_JOINTS`.
    """
    if isinstance(key, int):
        seed = key
    else:
        seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
    if num_betas < 1:
        raise ValueError(f"num_betas must be >= 1, got {num_betas}")
    if n_around < 3 or n_cap < 1 or n_mid < 0:
        raise ValueError(f"bad tessellation n_around={n_around}, n_cap={n_cap}, n_mid={n_mid}")
    n_verts = (len(_END_CAPS) + 23) * (2 + n_around * (2 * n_cap + n_mid))
    if n_verts <= LSP_HEAD_VERTEX:
        raise ValueError(f"the tessellation gives {n_verts} vertices; SMPL's head needs > 411")
    arrays = synthetic_body_arrays(
        seed,
        num_betas=num_betas,
        shape_scale=shape_scale,
        pose_scale=pose_scale,
        n_around=n_around,
        n_cap=n_cap,
        n_mid=n_mid,
        falloff=falloff,
    )
    return smpl_model_from_arrays(arrays)
