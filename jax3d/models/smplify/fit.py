"""SMPLify (Bogo et al. 2016): fit SMPL to 2D LSP joints, jitted and batched with vmap.

Per image: the camera depth comes from the torso by similar triangles; camera translation and
global orientation are fitted on the four torso joints; then betas, body pose and orientation
are fitted in four stages of decreasing prior weights, minimising

    sum_j (w_j c_j)^2 GM(r_j; sigma) + w_p^2 E_gmm + (0.317 w_p)^2 E_angle + w_b^2 |betas|^2
        + w_c^2 E_collision

(the squared weights are those of SMPLify's least-squares residuals). When the shoulders are
closer than 25 px in the image both the fitted orientation and its 180-degree flip about the
body's vertical axis are fitted, keeping the lower reprojection energy. Each minimisation is a
fixed number of `optax.lbfgs` steps under `lax.scan`.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jax3d.models.smpl import SMPLModel, reduce_to_vertices, smpl_forward
from jax3d.models.smpl.joints import LSP_HEAD_VERTEX, LSP_SMPL_JOINT_IDS, LSP_TORSO
from jax3d.models.smplify.angle_prior import angle_prior_energy
from jax3d.models.smplify.camera import depth_from_torso, project_points
from jax3d.models.smplify.collisions import BodySpheres, interpenetration_energy
from jax3d.models.smplify.gmm_prior import GMMPrior, gmm_pose_energy
from jax3d.models.smplify.robust import geman_mcclure
from jax3d.transforms import axis_angle_to_matrix, matrix_to_axis_angle

# SMPLify ignores the hips (SMPL's and LSP's differ) and the neck
SMPLIFY_JOINT_WEIGHTS = (1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0)


@dataclasses.dataclass(frozen=True)
class SMPLifySettings:
    """Static settings of `smplify` (hashable; every field fixes compiled code).

    Attributes:
        focal_length: pixels (SMPLify: 5000).
        sigma: Geman-McClure scale in pixels (100).
        pose_prior_weights, shape_weights: per-stage weights (404, 404, 57.4, 4.78) and
            (100, 50, 10, 5).
        angle_prior_scale: angle prior weight relative to the pose prior (0.317).
        collision_weight: weight of the sphere interpenetration term (1e3; 0 disables it).
        camera_depth_weight: weight keeping the camera depth near its initial guess (100).
        joint_weights: (14,) per-LSP-joint weights, multiplied by the confidences.
        camera_iters, stage_iters: L-BFGS steps of the camera fit and of each stage.
        flip_threshold_px: shoulder distance below which the flipped orientation is tried.
        try_flip: False never compiles the second (flipped) start.
        num_betas: shape coefficients fitted.
        lbfgs_memory: L-BFGS history length.
    """

    focal_length: float = 5000.0
    sigma: float = 100.0
    pose_prior_weights: tuple[float, ...] = (404.0, 404.0, 57.4, 4.78)
    shape_weights: tuple[float, ...] = (100.0, 50.0, 10.0, 5.0)
    angle_prior_scale: float = 0.317
    collision_weight: float = 1e3
    camera_depth_weight: float = 100.0
    joint_weights: tuple[float, ...] = SMPLIFY_JOINT_WEIGHTS
    camera_iters: int = 40
    stage_iters: int = 40
    flip_threshold_px: float = 25.0
    try_flip: bool = True
    num_betas: int = 10
    lbfgs_memory: int = 10


class SMPLifyResult(NamedTuple):
    """Fitted parameters, batch B. ``vertices = smpl_forward(model, betas, body_pose,
    global_orient, transl=camera_t).vertices`` are in the camera frame (R = I).

    Fields: betas (B, S), body_pose (B, 23, 3), global_orient (B, 3), camera_t (B, 3),
    joints_2d (B, 14, 2) projected LSP joints, energy (B,) final objective, data_energy (B,)
    its reprojection part, flipped (B,) bool (the flipped orientation won), ambiguous (B,)
    bool (the shoulders were closer than the threshold).
    """

    betas: jax.Array
    body_pose: jax.Array
    global_orient: jax.Array
    camera_t: jax.Array
    joints_2d: jax.Array
    energy: jax.Array
    data_energy: jax.Array
    flipped: jax.Array
    ambiguous: jax.Array


def lbfgs_minimize(fun, params, num_iters: int, memory: int = 10):
    """Run ``num_iters`` steps of `optax.lbfgs` (backtracking line search) on ``fun(params)``.

    Returns:
        (params, values (num_iters,)) — the final parameters and the objective before each step.
    """
    search = optax.scale_by_backtracking_linesearch(max_backtracking_steps=20, store_grad=True)
    opt = optax.lbfgs(memory_size=memory, linesearch=search)
    value_and_grad = optax.value_and_grad_from_state(fun)

    def step(carry, _):
        p, state = carry
        value, grad = value_and_grad(p, state=state)
        updates, state = opt.update(grad, state, p, value=value, grad=grad, value_fn=fun)
        return (optax.apply_updates(p, updates), state), value

    (params, _), values = jax.lax.scan(step, (params, opt.init(params)), None, length=num_iters)
    return params, values


def _lsp(head_model, betas, body_pose, orient):
    """LSP (14, 3) and SMPL (24, 3) joints of one body in the model frame; ``head_model`` is
    ``reduce_to_vertices(model, [LSP_HEAD_VERTEX])``."""
    out = smpl_forward(head_model, betas[None], body_pose[None], orient[None])
    joints = out.joints[0]
    return jnp.concatenate([joints[jnp.array(LSP_SMPL_JOINT_IDS)], out.vertices[0, :1]]), joints


def _data_energy(proj, j2d, conf, settings):
    w = jnp.square(jnp.asarray(settings.joint_weights, jnp.float32) * conf)  # (14,)
    return jnp.sum(w[:, None] * geman_mcclure(j2d - proj, settings.sigma))


def _fit_camera(model, init_pose, orient, j2d, image_size, settings):
    """Camera translation and global orientation from the torso joints (SMPLify's
    `initialize_camera`)."""
    betas = jnp.zeros((model.num_betas,), jnp.float32)[: settings.num_betas]
    lsp, _ = _lsp(model, betas, init_pose, orient)
    depth = depth_from_torso(lsp[None], j2d[None], settings.focal_length)[0]
    torso_lsp = jnp.array(LSP_TORSO)
    torso_smpl = jnp.array([LSP_SMPL_JOINT_IDS[i] for i in LSP_TORSO])

    def energy(p):
        _, joints = _lsp(model, betas, init_pose, p["orient"])
        proj = project_points(
            joints[None, torso_smpl], p["t"][None], image_size[None], settings.focal_length
        )[0]
        reg = settings.camera_depth_weight * (p["t"][2] - depth)
        return jnp.sum(jnp.square(j2d[torso_lsp] - proj)) + reg * reg

    start = {"t": jnp.array([0.0, 0.0, 1.0]) * depth, "orient": orient}
    params, _ = lbfgs_minimize(energy, start, settings.camera_iters, settings.lbfgs_memory)
    return params["t"], params["orient"]


def _body_energy(model, prior, spheres, ctx, settings, w_pose, w_betas):
    """The staged SMPLify objective as a function of {betas, body_pose, orient}."""
    j2d, conf, camera_t, image_size = ctx

    def energy(p, with_parts=False):
        lsp, joints = _lsp(model, p["betas"], p["body_pose"], p["orient"])
        proj = project_points(lsp[None], camera_t[None], image_size[None], settings.focal_length)[0]
        data = _data_energy(proj, j2d, conf, settings)
        e = data + jnp.square(w_pose) * gmm_pose_energy(prior, p["body_pose"])
        e += jnp.square(settings.angle_prior_scale * w_pose) * angle_prior_energy(p["body_pose"])
        e += jnp.square(w_betas) * jnp.sum(jnp.square(p["betas"]))
        if spheres is not None and settings.collision_weight > 0:
            e += settings.collision_weight**2 * interpenetration_energy(spheres, joints)
        return (e, data, proj) if with_parts else e

    return energy


def _fit_body(model, prior, spheres, ctx, init_pose, orient, settings):
    """The four prior-weight stages from one starting orientation."""
    params = {
        "betas": jnp.zeros((settings.num_betas,), jnp.float32),
        "body_pose": init_pose,
        "orient": orient,
    }
    stages = jnp.stack(
        [
            jnp.asarray(settings.pose_prior_weights, jnp.float32),
            jnp.asarray(settings.shape_weights, jnp.float32),
        ],
        axis=1,
    )

    def stage(p, weights):
        fun = _body_energy(model, prior, spheres, ctx, settings, weights[0], weights[1])
        p, _ = lbfgs_minimize(fun, p, settings.stage_iters, settings.lbfgs_memory)
        return p, None

    params, _ = jax.lax.scan(stage, params, stages)
    last = _body_energy(model, prior, spheres, ctx, settings, stages[-1, 0], stages[-1, 1])
    energy, data, proj = last(params, with_parts=True)
    return params, energy, data, proj


def flip_orientation(orient: jax.Array) -> jax.Array:
    """(..., 3) axis-angle ``R_orient R_y(pi)``: the body turned 180 degrees about its own
    vertical axis (SMPLify's flipped start)."""
    ry = axis_angle_to_matrix(jnp.array([0.0, jnp.pi, 0.0], jnp.float32))
    return matrix_to_axis_angle(axis_angle_to_matrix(orient) @ ry)


def _fit_one(model, prior, spheres, j2d, conf, image_size, settings):
    init_pose = prior.mean_pose().reshape(-1, 3)
    facing = jnp.array([0.0, jnp.pi, 0.0], jnp.float32)  # upright, facing the camera
    camera_t, orient = _fit_camera(model, init_pose, facing, j2d, image_size, settings)
    ctx = (j2d, conf, camera_t, image_size)
    starts = orient[None]
    if settings.try_flip:
        starts = jnp.stack([orient, flip_orientation(orient)])
    fit = jax.vmap(lambda o: _fit_body(model, prior, spheres, ctx, init_pose, o, settings))
    params, energy, data, proj = fit(starts)
    ambiguous = jnp.linalg.norm(j2d[8] - j2d[9]) < settings.flip_threshold_px
    pick = jnp.where(ambiguous & (data[-1] < data[0]), data.shape[0] - 1, 0)
    take = lambda x: x[pick]  # noqa: E731
    return SMPLifyResult(
        betas=take(params["betas"]),
        body_pose=take(params["body_pose"]),
        global_orient=take(params["orient"]),
        camera_t=camera_t,
        joints_2d=take(proj),
        energy=take(energy),
        data_energy=take(data),
        flipped=pick > 0,
        ambiguous=ambiguous,
    )


@jax.jit(static_argnames=("settings",))
def _smplify_batch(model, prior, spheres, joints_2d, confidence, image_size, settings):
    model = reduce_to_vertices(model, [LSP_HEAD_VERTEX])
    fit = lambda j, c, s: _fit_one(model, prior, spheres, j, c, s, settings)  # noqa: E731
    return jax.vmap(fit)(joints_2d, confidence, image_size)


def _check_fit_inputs(model, prior, joints_2d, confidence, image_size, settings):
    if not isinstance(model, SMPLModel) or model.num_joints != 24:
        raise TypeError("model must be an SMPLModel with SMPL's 24 joints")
    if not isinstance(prior, GMMPrior) or prior.means.shape[-1] != 69:
        raise TypeError("prior must be a GMMPrior over the 69 body-pose parameters")
    if not isinstance(settings, SMPLifySettings):
        raise TypeError(f"settings must be SMPLifySettings, got {type(settings).__name__}")
    if not 0 < settings.num_betas <= model.num_betas:
        raise ValueError(f"settings.num_betas must be in [1, {model.num_betas}]")
    if len(settings.joint_weights) != 14:
        raise ValueError("settings.joint_weights must have 14 entries (LSP joints)")
    j2d = jnp.asarray(joints_2d, jnp.float32)
    if j2d.ndim != 3 or j2d.shape[1:] != (14, 2):
        raise ValueError(f"joints_2d must be (B, 14, 2), got {j2d.shape}")
    b = j2d.shape[0]
    conf = jnp.ones((b, 14), jnp.float32) if confidence is None else jnp.asarray(confidence)
    if conf.shape != (b, 14):
        raise ValueError(f"confidence must be ({b}, 14), got {conf.shape}")
    size = jnp.asarray(image_size, jnp.float32)
    size = jnp.broadcast_to(size, (b, 2)) if size.shape == (2,) else size
    if size.shape != (b, 2):
        raise ValueError(f"image_size must be (2,) or ({b}, 2) (height, width), got {size.shape}")
    return j2d, conf.astype(jnp.float32), size


def smplify(
    model: SMPLModel,
    prior: GMMPrior,
    joints_2d: jax.Array,
    confidence: jax.Array | None,
    image_size,
    *,
    spheres: BodySpheres | None = None,
    settings: SMPLifySettings = SMPLifySettings(),
) -> SMPLifyResult:
    """Fit SMPL bodies to 2D LSP joints (SMPLify), one image per batch item, all jitted together.

    Args:
        model: an `SMPLModel` with SMPL's 24 joints (real or synthetic).
        prior: the `GMMPrior` over the 69 body-pose parameters (`load_gmm_prior`).
        joints_2d: (B, 14, 2) float32 detected LSP joints in pixels (+x right, +y down).
        confidence: (B, 14) float32 detection confidences, or None for all ones.
        image_size: (2,) or (B, 2) ``(height, width)`` in pixels; the camera is centred on it.
        spheres: `BodySpheres` for the interpenetration term (`body_spheres(model)`), or None
            to leave the term out.
        settings: static `SMPLifySettings`.

    Returns:
        `SMPLifyResult` with (B, ...) fields.

    Raises:
        ValueError / TypeError: bad shapes or types (the message names the argument).
    """
    j2d, conf, size = _check_fit_inputs(model, prior, joints_2d, confidence, image_size, settings)
    return _smplify_batch(model, prior, spheres, j2d, conf, size, settings)
