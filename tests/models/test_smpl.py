"""SMPL layer: float64 NumPy reference, template identities, rotations, jit/vmap, gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads
from scipy.spatial.transform import Rotation

from jax3d.models.smpl import (
    LSP_HEAD_VERTEX,
    LSP_SMPL_JOINT_IDS,
    REST_JOINTS,
    SMPL_PARENTS,
    lsp_joints,
    reduce_to_vertices,
    smpl_forward,
    synthetic_body_model,
)


@pytest.fixture(scope="module")
def model():
    return synthetic_body_model(0, n_around=8, n_cap=2, n_mid=1)


def smpl_forward_naive(model, betas, body_pose, global_orient, transl):
    """One body in float64 NumPy, joint by joint (SMPL paper, eqs. 1-4)."""
    m = {k: np.asarray(getattr(model, k), np.float64) for k in
         ("v_template", "shapedirs", "posedirs", "J_regressor", "weights")}  # fmt: skip
    n = len(betas)
    v_shaped = m["v_template"] + np.einsum("vcs,s->vc", m["shapedirs"][..., :n], betas)
    rest = m["J_regressor"] @ v_shaped
    pose = np.concatenate([global_orient[None], body_pose])
    rots = Rotation.from_rotvec(pose).as_matrix()
    feats = np.concatenate([(r - np.eye(3)).ravel() for r in rots[1:]])
    v_posed = v_shaped + np.einsum("vcp,p->vc", m["posedirs"], feats)
    world = []
    for j, p in enumerate(SMPL_PARENTS):
        local = np.eye(4)
        local[:3, :3] = rots[j]
        local[:3, 3] = rest[j] - (rest[p] if p >= 0 else 0.0)
        world.append(local if p < 0 else world[p] @ local)
    verts = np.zeros_like(v_posed)
    for j, g in enumerate(world):
        a = g.copy()
        a[:3, 3] -= g[:3, :3] @ rest[j]
        verts += m["weights"][:, j : j + 1] * (v_posed @ a[:3, :3].T + a[:3, 3])
    joints = np.stack([g[:3, 3] for g in world])
    return verts + transl, joints + transl


def random_inputs(key, b, n_betas=10, scale=0.5):
    k = jax.random.split(key, 4)
    return (
        jax.random.normal(k[0], (b, n_betas)),
        jax.random.normal(k[1], (b, 23, 3)) * scale,
        jax.random.normal(k[2], (b, 3)),
        jax.random.normal(k[3], (b, 3)),
    )


def test_matches_float64_naive(model):
    betas, pose, orient, transl = random_inputs(jax.random.PRNGKey(0), 3, n_betas=7)
    out = smpl_forward(model, betas, pose, orient, transl)
    for i in range(3):
        args = [np.asarray(x[i], np.float64) for x in (betas, pose, orient, transl)]
        verts, joints = smpl_forward_naive(model, *args)
        np.testing.assert_allclose(out.vertices[i], verts, atol=2e-5)
        np.testing.assert_allclose(out.joints[i], joints, atol=2e-5)


def test_zero_pose_and_betas_give_template(model):
    out = smpl_forward(model, jnp.zeros((2, 10)), jnp.zeros((2, 23, 3)))
    np.testing.assert_allclose(
        out.vertices, np.broadcast_to(model.v_template, (2,) + model.v_template.shape), atol=1e-6
    )
    np.testing.assert_allclose(out.joints[0], REST_JOINTS, atol=1e-6)


def test_identity_pose_with_betas_gives_shaped_template(model):
    betas = jax.random.normal(jax.random.PRNGKey(1), (2, 4))
    out = smpl_forward(model, betas, jnp.zeros((2, 23, 3)))
    shaped = model.v_template + jnp.einsum("vcs,bs->bvc", model.shapedirs[..., :4], betas)
    np.testing.assert_allclose(out.vertices, shaped, atol=1e-5)
    np.testing.assert_allclose(
        out.joints, jnp.einsum("jv,bvc->bjc", model.J_regressor, shaped), atol=1e-5
    )
    assert np.abs(out.vertices - model.v_template).max() > 1e-3  # betas did move the surface


@given(st.floats(-3.0, 3.0), st.floats(-3.0, 3.0), st.floats(-3.0, 3.0))
def test_global_rotation_rotates_everything(model_hyp, x, y, z):
    model = model_hyp
    betas, pose, _, _ = random_inputs(jax.random.PRNGKey(2), 1)
    rotvec = np.array([[x, y, z]], np.float32)
    turned = smpl_forward(model, betas, pose, rotvec)
    still = smpl_forward(model, betas, pose, jnp.zeros((1, 3)))
    r = Rotation.from_rotvec(rotvec[0].astype(np.float64)).as_matrix()
    # the root joint is the pivot
    root = np.asarray(still.joints[0, 0], np.float64)
    want_v = (np.asarray(still.vertices[0], np.float64) - root) @ r.T + root
    want_j = (np.asarray(still.joints[0], np.float64) - root) @ r.T + root
    np.testing.assert_allclose(turned.vertices[0], want_v, atol=5e-5)
    np.testing.assert_allclose(turned.joints[0], want_j, atol=5e-5)


@pytest.fixture(scope="module")
def model_hyp(model):
    return model


def test_translation_shifts_everything(model):
    betas, pose, orient, transl = random_inputs(jax.random.PRNGKey(3), 2)
    a = smpl_forward(model, betas, pose, orient, transl)
    b = smpl_forward(model, betas, pose, orient)
    np.testing.assert_allclose(a.vertices - transl[:, None], b.vertices, atol=1e-5)


def test_skinning_weights_sum_to_one_and_rest_joints(model):
    np.testing.assert_allclose(np.asarray(model.weights).sum(1), 1.0, atol=1e-5)
    assert np.all(np.asarray(model.weights) >= 0)
    np.testing.assert_allclose(model.rest_joints(), REST_JOINTS, atol=1e-6)
    assert model.parents == SMPL_PARENTS and model.model_type == "smpl"


def test_jit_matches_eager_and_flat_pose(model):
    betas, pose, orient, transl = random_inputs(jax.random.PRNGKey(4), 2)
    eager = smpl_forward(model, betas, pose, orient, transl)
    jitted = jax.jit(smpl_forward)(model, betas, pose.reshape(2, 69), orient, transl)
    np.testing.assert_allclose(eager.vertices, jitted.vertices, atol=1e-5)
    np.testing.assert_allclose(eager.joints, jitted.joints, atol=1e-5)


def test_vmap_matches_loop(model):
    betas, pose, orient, transl = random_inputs(jax.random.PRNGKey(5), 6)
    shape = lambda x: x.reshape((3, 2) + x.shape[1:])  # noqa: E731
    args = [shape(x) for x in (betas, pose, orient, transl)]
    batched = jax.vmap(smpl_forward, in_axes=(None, 0, 0, 0, 0))(model, *args)
    for i in range(3):
        one = smpl_forward(model, *(a[i] for a in args))
        np.testing.assert_allclose(batched.vertices[i], one.vertices, atol=1e-5)
        np.testing.assert_allclose(batched.joints[i], one.joints, atol=1e-5)


def test_check_grads(model):
    small = reduce_to_vertices(model, [0, 5, LSP_HEAD_VERTEX])
    betas, pose, orient, transl = random_inputs(jax.random.PRNGKey(6), 1, n_betas=3, scale=0.3)

    def f(b, p, o, t):
        out = smpl_forward(small, b, p, o, t)
        return jnp.sum(out.vertices**2) + jnp.sum(jnp.sin(out.joints))

    with jax.enable_x64(False):
        check_grads(
            jax.jit(f),
            (betas, pose, orient, transl),
            order=1,
            modes=["rev"],
            eps=1e-2,
            atol=0.05,
            rtol=0.05,
        )


def test_gradient_finite_at_zero_pose(model):
    g = jax.grad(lambda p: jnp.sum(smpl_forward(model, jnp.zeros((1, 10)), p).vertices))(
        jnp.zeros((1, 23, 3))
    )
    assert np.all(np.isfinite(g)) and np.abs(g).max() > 0


def test_reduce_to_vertices_matches_full_model(model):
    betas, pose, orient, transl = random_inputs(jax.random.PRNGKey(7), 2)
    ids = [3, LSP_HEAD_VERTEX, 100]
    full = smpl_forward(model, betas, pose, orient, transl)
    small = smpl_forward(reduce_to_vertices(model, ids), betas, pose, orient, transl)
    np.testing.assert_allclose(small.joints, full.joints, atol=1e-5)
    np.testing.assert_allclose(small.vertices[:, :3], full.vertices[:, ids], atol=1e-5)


def test_lsp_joints_and_head_vertex(model):
    out = smpl_forward(model, jnp.zeros((1, 10)), jnp.zeros((1, 23, 3)))
    lsp = lsp_joints(out.vertices, out.joints)
    np.testing.assert_allclose(lsp[0, :13], REST_JOINTS[list(LSP_SMPL_JOINT_IDS)], atol=1e-6)
    # the synthetic body's vertex 411 is the top of its head: the highest vertex
    assert int(np.argmax(np.asarray(model.v_template)[:, 1])) == LSP_HEAD_VERTEX
    np.testing.assert_allclose(lsp[0, 13], model.v_template[LSP_HEAD_VERTEX], atol=1e-6)


def test_synthetic_mesh_is_closed_and_outward(model):
    v = np.asarray(model.v_template, np.float64)
    f = np.asarray(model.faces)
    tri = v[f]
    signed_volume = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6
    assert signed_volume > 0.02  # about a body's volume in m^3, positive = outward winding
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert np.all(counts == 2)  # every capsule is closed (each edge shared by two faces)


def test_synthetic_blend_shapes_orthonormal_and_small():
    m = synthetic_body_model(jax.random.PRNGKey(3), num_betas=4, n_around=8, n_cap=2, n_mid=1)
    d = np.asarray(m.shapedirs, np.float64).reshape(-1, 4)
    gram = d.T @ d
    np.testing.assert_allclose(gram / gram[0, 0], np.eye(4), atol=1e-4)
    assert 0.01 < np.sqrt(gram[0, 0] / m.num_verts) < 0.03
    assert m.posedirs.shape == (m.num_verts, 3, 207)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(betas=np.zeros((2, 11)), body_pose=np.zeros((2, 23, 3))), "betas has 11"),
        (
            dict(betas=np.zeros((2, 10)), body_pose=np.zeros((2, 22, 3))),
            "body_pose must have shape",
        ),
        (dict(betas=np.zeros((3, 10)), body_pose=np.zeros((2, 23, 3))), "betas must have shape"),
        (
            dict(betas=np.zeros((2, 10)), body_pose=np.zeros((2, 23, 3)), transl=np.zeros((2, 2))),
            "transl",
        ),
    ],
)
def test_bad_inputs_raise(model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        smpl_forward(model, **kwargs)


def test_integer_pose_is_rejected(model):
    with pytest.raises(TypeError, match="body_pose"):
        smpl_forward(model, np.zeros((1, 10)), np.zeros((1, 23, 3), np.int32))
