"""SMPLify: energy terms against float64 references, projection vs PerspectiveCameras, and a
full fit recovering noise-free synthetic 2D joints."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jax3d.models.smpl import lsp_joints, smpl_forward, synthetic_body_model
from jax3d.models.smplify import (
    SMPLifySettings,
    angle_prior_energy,
    body_spheres,
    depth_from_torso,
    flip_orientation,
    geman_mcclure,
    gmm_pose_energy,
    gmm_prior_from_arrays,
    interpenetration_energy,
    load_gmm_prior,
    project_points,
    smplify,
    smplify_cameras,
    synthetic_gmm_prior,
)


def gmm_energy_naive(x, means, covars, weights):
    """SMPLify's max-mixture energy in float64 with scipy (log-densities of each component)."""
    from scipy.stats import multivariate_normal

    d = means.shape[1]
    dets = np.array([np.linalg.det(c) for c in covars])
    w = weights / ((2 * np.pi) ** (d / 2) * np.sqrt(dets / dets.min()))
    best = np.inf
    for m, c, wk in zip(means, covars, w):
        # -log N(x) = 0.5 maha + 0.5 log det(2 pi C); keep only SMPLify's 0.5 maha - log w'
        maha = -2 * (
            multivariate_normal(m, c).logpdf(x) + 0.5 * np.log(np.linalg.det(2 * np.pi * c))
        )
        best = min(best, 0.5 * maha - np.log(wk))
    return best


def test_gmm_energy_matches_float64_reference():
    rng = np.random.default_rng(0)
    means = rng.normal(size=(3, 69)) * 0.1
    a = rng.normal(size=(3, 69, 69)) / np.sqrt(69)
    covars = 0.1 * (0.5 * np.eye(69) + 0.5 * a @ np.swapaxes(a, 1, 2))
    weights = np.array([0.2, 0.5, 0.3])
    prior = gmm_prior_from_arrays(means, covars, weights)
    x = rng.normal(size=(4, 69)) * 0.3
    got = gmm_pose_energy(prior, jnp.asarray(x, jnp.float32).reshape(4, 23, 3))
    want = [gmm_energy_naive(xi, means, covars, weights) for xi in x]
    np.testing.assert_allclose(got, want, rtol=2e-4)


def test_real_gmm_file_matches_reference(data):
    path = data("smplify/gmm_08.pkl")
    prior = load_gmm_prior(path)
    import pickle

    with open(path, "rb") as f:
        raw = pickle.load(f, encoding="latin1")  # trusted test file, plain unpickler reference
    x = raw["means"][[0, 3]] + 0.05
    got = gmm_pose_energy(prior, jnp.asarray(x, jnp.float32))
    want = [gmm_energy_naive(xi, raw["means"], raw["covars"], raw["weights"]) for xi in x]
    np.testing.assert_allclose(got, want, rtol=1e-3)
    np.testing.assert_allclose(prior.mean_pose(), raw["weights"] @ raw["means"], atol=1e-6)


def test_gmm_gradient_is_best_component():
    prior = synthetic_gmm_prior(jax.random.PRNGKey(1), num_components=2)
    x = prior.means[1] + 0.01
    g = jax.grad(lambda v: gmm_pose_energy(prior, v))(x)
    l = np.asarray(prior.precision_chol[1], np.float64)
    np.testing.assert_allclose(
        g, l @ l.T @ (np.asarray(x, np.float64) - np.asarray(prior.means[1])), rtol=1e-3, atol=1e-4
    )


def test_energy_terms_jit_vmap_and_grads(model):
    prior = synthetic_gmm_prior(jax.random.PRNGKey(4))
    spheres = body_spheres(model)
    pose = 0.3 * jax.random.normal(jax.random.PRNGKey(5), (3, 23, 3))
    joints = smpl_forward(model, jnp.zeros((3, 10)), pose).joints
    for fn, x in (
        (lambda p: gmm_pose_energy(prior, p), pose),
        (angle_prior_energy, pose),
        (lambda j: interpenetration_energy(spheres, j), joints),
    ):
        batched = fn(x)
        np.testing.assert_allclose(jax.jit(fn)(x), batched, rtol=1e-5, atol=1e-6)
        loop = [jax.vmap(fn)(x[i : i + 1])[0] for i in range(3)]
        np.testing.assert_allclose(loop, batched, rtol=1e-5, atol=1e-6)
    check_grads(
        jax.jit(lambda p: gmm_pose_energy(prior, p)),
        (pose[0],),
        order=1,
        modes=["rev"],
        eps=1e-3,
        rtol=2e-2,
    )


def test_gmm_validation():
    with pytest.raises(ValueError, match="covars must be"):
        gmm_prior_from_arrays(np.zeros((2, 3)), np.zeros((2, 3, 2)), np.ones(2))
    with pytest.raises(ValueError, match="positive definite"):
        gmm_prior_from_arrays(np.zeros((1, 2)), -np.eye(2)[None], np.ones(1))


def test_geman_mcclure_and_angle_prior_closed_form():
    r = jnp.array([0.0, 1.0, 100.0, 1e4])
    np.testing.assert_allclose(
        geman_mcclure(r, 100.0), [0.0, 1e4 / 10001, 5e3, 1e4 * 1e8 / (1e4 + 1e8)], rtol=1e-6
    )
    assert np.isfinite(jax.grad(lambda x: geman_mcclure(x).sum())(jnp.zeros(3))).all()
    pose = np.zeros((23, 3), np.float32)
    pose[17, 1], pose[18, 1], pose[3, 0], pose[4, 0] = 0.3, -0.2, -0.1, 0.5
    want = 100 * (np.exp(0.6) + np.exp(0.4) + np.exp(0.2) + np.exp(-1.0))
    np.testing.assert_allclose(angle_prior_energy(pose), want, rtol=1e-6)
    check_grads(
        angle_prior_energy, (jnp.asarray(pose),), order=1, modes=["rev"], eps=1e-3, rtol=1e-2
    )


@pytest.fixture(scope="module")
def model():
    return synthetic_body_model(0)


def test_interpenetration_zero_at_rest_and_positive_when_legs_cross(model):
    spheres = body_spheres(model)
    rest = smpl_forward(model, jnp.zeros((1, 10)), jnp.zeros((1, 23, 3))).joints
    assert float(interpenetration_energy(spheres, rest)[0]) == 0.0
    pose = np.zeros((1, 23, 3), np.float32)
    pose[0, 0, 2] = -0.3  # the left leg swings across the right one: the calves overlap
    bent = smpl_forward(model, jnp.zeros((1, 10)), jnp.asarray(pose)).joints
    e = interpenetration_energy(spheres, bent)
    assert float(e[0]) > 1e-5
    g = jax.grad(lambda j: interpenetration_energy(spheres, j).sum())(bent)
    assert np.all(np.isfinite(g)) and np.abs(g).max() > 0


def test_projection_matches_perspective_cameras_and_pinhole():
    pts = jax.random.normal(jax.random.PRNGKey(2), (2, 5, 3)) + jnp.array([0.0, 0.0, 1.0])
    t = jnp.array([[0.1, -0.2, 20.0], [0.0, 0.3, 30.0]])
    size = jnp.array([[300.0, 200.0], [250.0, 250.0]])
    got = project_points(pts, t, size)
    cams = smplify_cameras(t, size)
    np.testing.assert_allclose(
        got, cams.transform_points_screen(pts)[..., :2], rtol=1e-5, atol=1e-3
    )
    view = np.asarray(pts, np.float64) + np.asarray(t)[:, None]
    u = np.asarray(size)[:, None, 1] / 2 - 5000 * view[..., 0] / view[..., 2]
    np.testing.assert_allclose(got[..., 0], u, rtol=1e-5, atol=1e-3)


def test_depth_from_torso_is_exact_for_a_fronto_parallel_torso():
    j3d = np.zeros((1, 14, 3), np.float32)
    j3d[0, [2, 3, 8, 9]] = [[-0.1, 0, 0], [0.1, 0, 0], [-0.2, 0.5, 0], [0.2, 0.5, 0]]
    j2d = project_points(
        jnp.asarray(j3d), jnp.array([[0.0, 0.0, 25.0]]), jnp.array([[400.0, 400.0]])
    )
    np.testing.assert_allclose(depth_from_torso(j3d, j2d), [25.0], rtol=1e-5)


def test_flip_orientation_turns_about_body_vertical():
    from scipy.spatial.transform import Rotation

    o = np.array([0.2, 2.9, -0.1], np.float32)
    flipped = flip_orientation(jnp.asarray(o))
    want = Rotation.from_rotvec(o) * Rotation.from_rotvec([0, np.pi, 0])
    np.testing.assert_allclose(
        Rotation.from_rotvec(np.asarray(flipped)).as_matrix(), want.as_matrix(), atol=1e-5
    )


def synthetic_targets(model, prior, key, b, size, yaw=0.0, tilt=0.1):
    """Prior-plausible bodies facing the camera (turned by ``yaw`` about the vertical) and
    their noise-free projected LSP joints."""
    k = jax.random.split(key, 3)
    pose = prior.mean_pose().reshape(23, 3) + 0.05 * jax.random.normal(k[0], (b, 23, 3))
    pose = (
        pose.at[:, 17, 1].set(-0.4).at[:, 18, 1].set(0.4).at[:, 3, 0].set(0.3).at[:, 4, 0].set(0.3)
    )
    betas = 0.5 * jax.random.normal(k[1], (b, 10))
    orient = jnp.array([0.0, np.pi + yaw, 0.0]) + tilt * jax.random.normal(k[2], (b, 3))
    transl = jnp.broadcast_to(jnp.array([0.0, 0.2, 20.0]), (b, 3))
    out = smpl_forward(model, betas, pose, orient, transl)
    lsp = lsp_joints(out.vertices, out.joints)
    return project_points(lsp, jnp.zeros((b, 3)), jnp.broadcast_to(size, (b, 2)))


# flip threshold 40 px: the side-on body's shoulders are about 31 px apart, the others ~95 px
SETTINGS = SMPLifySettings(
    camera_iters=30, stage_iters=60, joint_weights=(1.0,) * 14, flip_threshold_px=40.0
)


@pytest.fixture(scope="module")
def fitted(model):
    prior = synthetic_gmm_prior(jax.random.PRNGKey(1))
    size = jnp.array([600.0, 500.0])
    j2d = synthetic_targets(model, prior, jax.random.PRNGKey(2), 2, size)
    # item 1 repeats item 0: batching must not couple the items; item 2 is seen side-on
    side = synthetic_targets(model, prior, jax.random.PRNGKey(3), 1, size, yaw=np.pi / 2, tilt=0.0)
    j2d = jnp.concatenate([j2d.at[1].set(j2d[0]), side])
    result = smplify(model, prior, j2d, None, size, spheres=body_spheres(model), settings=SETTINGS)
    return j2d, result


def test_smplify_recovers_noise_free_joints(fitted):
    j2d, result = fitted
    err = np.linalg.norm(np.asarray(result.joints_2d - j2d), axis=-1)
    # frontal bodies: within 2 px on average (the priors keep a small bias), 5 px at worst
    assert err[:2].mean() < 2.0, err
    assert err[:2].max() < 5.0, err
    # the side-on body is harder (arms foreshortened, two orientations tried)
    assert err[2].mean() < 5.0, err
    assert np.all(np.isfinite(result.energy)) and not bool(result.ambiguous[0])
    np.testing.assert_allclose(result.camera_t[:, 2], 20.0, rtol=0.1)


def test_smplify_side_view_tries_both_orientations(fitted):
    j2d, result = fitted
    shoulders = np.linalg.norm(np.asarray(j2d[:, 8] - j2d[:, 9]), axis=-1)
    np.testing.assert_array_equal(result.ambiguous, shoulders < SETTINGS.flip_threshold_px)
    assert bool(result.ambiguous[2]) and not bool(result.ambiguous[0])


def test_smplify_batch_items_are_independent(fitted):
    _, r = fitted
    for field in ("betas", "body_pose", "global_orient", "camera_t", "joints_2d"):
        np.testing.assert_allclose(
            getattr(r, field)[0], getattr(r, field)[1], atol=1e-4, err_msg=field
        )


def test_smplify_reprojection_of_result(fitted, model):
    _, r = fitted
    out = smpl_forward(model, r.betas, r.body_pose, r.global_orient, r.camera_t)
    lsp = lsp_joints(out.vertices, out.joints)
    proj = project_points(lsp, jnp.zeros((3, 3)), jnp.array([[600.0, 500.0]] * 3))
    np.testing.assert_allclose(proj, r.joints_2d, atol=0.05)


def test_smplify_validates_inputs(model):
    prior = synthetic_gmm_prior(jax.random.PRNGKey(1))
    with pytest.raises(ValueError, match="joints_2d must be"):
        smplify(model, prior, np.zeros((2, 13, 2)), None, (100, 100))
    with pytest.raises(ValueError, match="confidence must be"):
        smplify(model, prior, np.zeros((2, 14, 2)), np.ones((2, 13)), (100, 100))
    with pytest.raises(ValueError, match="image_size"):
        smplify(model, prior, np.zeros((2, 14, 2)), None, (1, 100, 100))
    with pytest.raises(TypeError, match="prior"):
        smplify(model, None, np.zeros((2, 14, 2)), None, (100, 100))
