"""SynSin: camera geometry, the splatting renderer against a naive per-point reference (values
and gradients), the naive z-buffer renderer, module shapes."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.models.synsin import (
    SplatSettings,
    SynSin,
    SynSinConfig,
    book_pose,
    make_discriminator,
    naive_render,
    normalize_intrinsics,
    pixel_grid,
    relative_pose,
    reproject,
    splat,
    to_ndc,
    transform_points,
    unproject,
)

# ----------------------------------------------------------------------------------- geometry


def _rot(axis, angle):
    c, s = np.cos(angle), np.sin(angle)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    R = np.eye(3)
    R[i, i], R[i, j], R[j, i], R[j, j] = c, -s, s, c
    return R


def _K(f=1.3, cx=0.05, cy=-0.02):
    return np.array([[f, 0, cx], [0, f * 1.1, cy], [0, 0, 1]], np.float32)


def test_unproject_reproject_identity_round_trip():
    rng = np.random.default_rng(0)
    H, W = 5, 7
    depth = rng.uniform(0.5, 4.0, (2, H, W)).astype(np.float32)
    K = np.stack([_K(), _K(0.9, 0.0, 0.1)])
    pts = unproject(depth, K)
    # the z coordinate is the depth, and K projects every point back onto its pixel centre
    chex.assert_trees_all_close(pts[..., 2], depth, rtol=1e-6)
    out = reproject(transform_points(pts.reshape(2, -1, 3), np.eye(4)), K, H, W)
    grid = pixel_grid(H, W).reshape(-1, 2)
    chex.assert_trees_all_close(out[..., :2], jnp.broadcast_to(to_ndc(grid, H, W), (2, H * W, 2)),
                                atol=1e-5)  # fmt: skip
    chex.assert_trees_all_close(out[..., 2], depth.reshape(2, -1), rtol=1e-6)


def test_pixel_grid_and_ndc_match_the_rasterizer_pixel_centres():
    from jax3d.renderer.binning import pixel_centers_ndc

    H, W = 4, 6
    ndc = np.asarray(to_ndc(pixel_grid(H, W), H, W))
    xs, ys = pixel_centers_ndc(H, W)
    np.testing.assert_allclose(ndc[0, :, 0], xs, atol=1e-6)
    np.testing.assert_allclose(ndc[:, 0, 1], ys, atol=1e-6)


def test_relative_pose_maps_source_points_to_target_points():
    rng = np.random.default_rng(1)
    P = []
    for k in range(2):
        R = _rot(1, 0.3 * k + 0.1) @ _rot(0, -0.2)
        M = np.eye(4)
        M[:3, :3], M[:3, 3] = R, rng.normal(size=3)
        P.append(M)
    X = rng.normal(size=(5, 3))
    Xs = (P[0][:3, :3] @ X.T).T + P[0][:3, 3]
    Xt = (P[1][:3, :3] @ X.T).T + P[1][:3, 3]
    RT = relative_pose(P[0][None], P[1][None])
    chex.assert_trees_all_close(transform_points(Xs[None], RT)[0], Xt.astype(np.float32),
                                atol=1e-5)  # fmt: skip


def test_book_pose_is_the_book_move_in_the_opencv_frame():
    theta, phi, t = -0.15, -0.1, np.array([0.02, 0.03, 0.1])
    RT = book_pose(theta, phi, *t)
    F = np.diag([1.0, -1.0, -1.0])
    # the book's matrix: rotation vector (phi, theta, 0) in SynSin's OpenGL-like frame
    v = np.array([phi, theta, 0.0])
    a = np.linalg.norm(v)
    k = v / a
    Kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    R_gl = np.eye(3) + np.sin(a) * Kx + (1 - np.cos(a)) * Kx @ Kx
    np.testing.assert_allclose(RT[:3, :3], F @ R_gl @ F, atol=1e-6)
    np.testing.assert_allclose(RT[:3, 3], F @ t, atol=1e-7)
    # positive tz moves the camera forward: a point ahead gets nearer
    assert (RT @ np.array([0, 0, 2.0, 1]))[2] < 2.0


def test_normalize_intrinsics_and_bad_input():
    K = np.array([[100.0, 0, 64], [0, 100.0, 48], [0, 0, 1]])
    Kn = normalize_intrinsics(K, 96, 128)
    np.testing.assert_allclose(Kn, [[200 / 128, 0, 0], [0, 200 / 96, 0], [0, 0, 1]], atol=1e-6)
    with pytest.raises(ValueError, match="depth"):
        unproject(np.ones((2, 3)), np.eye(3)[None])
    with pytest.raises(ValueError, match="RT"):
        transform_points(np.ones((1, 4, 3)), np.eye(3)[None])


# --------------------------------------------------------------- splatting vs a naive reference


def splat_naive(points, features, H, W, settings):
    """Every pixel against every point: the K nearest (in z) points whose disc covers the pixel
    centre, SynSin's alphas, front-to-back alpha compositing (dense jnp, differentiable)."""
    grid = to_ndc(pixel_grid(H, W), H, W)  # (H, W, 2)
    r = settings.radius_ndc(H, W)
    d2 = ((grid[None, :, :, None, :] - points[:, None, None, :, :2]) ** 2).sum(-1)  # (B,H,W,P)
    valid = (d2 < r * r) & (points[:, None, None, :, 2] >= 0)
    key = jnp.where(valid, jax.lax.stop_gradient(points[:, None, None, :, 2]), jnp.inf)
    order = jnp.argsort(key, axis=-1, stable=True)[..., : settings.points_per_pixel]
    d2k = jnp.take_along_axis(d2, order, -1)
    ok = jnp.take_along_axis(valid, order, -1)
    alpha = (1.0 - jnp.sqrt(jnp.clip(d2k / (r * r), 1e-3, 1.0))) ** settings.tau
    alpha = jnp.where(ok, alpha, 0.0)
    trans = jnp.cumprod(1.0 - alpha, -1)
    trans = jnp.concatenate([jnp.ones_like(trans[..., :1]), trans[..., :-1]], -1)
    feats = jax.vmap(lambda f, o: f[o])(features, order)  # (B, H, W, K, C)
    return ((alpha * trans)[..., None] * feats).sum(-2)


@pytest.fixture(scope="module")
def cloud_case():
    rng = np.random.default_rng(3)
    B, H, W, C = 2, 8, 8, 3
    depth = rng.uniform(1.0, 2.0, (B, H, W)).astype(np.float32)
    feats = rng.normal(size=(B, H * W, C)).astype(np.float32)
    K = np.broadcast_to(np.float32([[1.2, 0, 0], [0, 1.2, 0], [0, 0, 1]]), (B, 3, 3))
    RT = np.stack([book_pose(0.1, -0.05, 0.05, 0.0, 0.1), book_pose(-0.08, 0.0, -0.1, 0.05, 0)])
    w = rng.normal(size=(B, H, W, C)).astype(np.float32)
    settings = SplatSettings(radius=1.5, points_per_pixel=4, tau=1.0)
    return depth, feats, K, RT, w, settings


def _pipeline(render, K, RT, settings, H, W):
    def f(depth, feats):
        B = depth.shape[0]
        pts = transform_points(unproject(depth, K).reshape(B, -1, 3), RT)
        return render(reproject(pts, K, H, W), feats)

    return f


def test_splat_equals_naive_reference_values_and_gradients(cloud_case):
    depth, feats, K, RT, w, settings = cloud_case
    H = W = 8
    fast = _pipeline(lambda p, f: splat(p, f, (H, W), settings), K, RT, settings, H, W)
    slow = _pipeline(lambda p, f: splat_naive(p, f, H, W, settings), K, RT, settings, H, W)

    def loss(render):
        return jax.jit(jax.value_and_grad(lambda d, f: jnp.sum(render(d, f) * w), (0, 1)))

    (v1, (gd1, gf1)), (v2, (gd2, gf2)) = loss(fast)(depth, feats), loss(slow)(depth, feats)
    chex.assert_trees_all_close(v1, v2, rtol=1e-5, atol=1e-5)
    chex.assert_trees_all_close(gf1, gf2, rtol=1e-4, atol=1e-5)
    chex.assert_trees_all_close(gd1, gd2, rtol=1e-3, atol=1e-4)
    # gradients reach the depths (through the disc distances) and the features
    assert float(jnp.abs(gd1).sum()) > 1e-3 and float(jnp.abs(gf1).sum()) > 1e-3


def test_naive_render_identity_pose_returns_the_image():
    rng = np.random.default_rng(4)
    img = rng.uniform(size=(1, 6, 6, 3)).astype(np.float32)
    depth = rng.uniform(1.0, 3.0, (1, 6, 6)).astype(np.float32)
    out = naive_render(img, depth, np.eye(3)[None], np.eye(4)[None], radius=0.5)
    chex.assert_trees_all_close(out, img, atol=1e-6)


def test_splat_settings_validate():
    with pytest.raises(ValueError, match="compositor"):
        SplatSettings(compositor="max")
    with pytest.raises(ValueError, match="radius"):
        SplatSettings(radius=0.0)
    with pytest.raises(ValueError, match="features"):
        splat(np.zeros((1, 4, 3)), np.zeros((1, 5, 2)), (2, 2), SplatSettings())


# ----------------------------------------------------------------------------- module shapes


def test_module_shapes():
    c = SynSinConfig(image_size=16, ngf=4, feature_channels=6, depth_features=2, depth_levels=2,
                     noise_dim=3, splat=SplatSettings(radius=1.0, points_per_pixel=2), ndf=4)
    B, S = 2, 16
    img = jax.ShapeDtypeStruct((B, S, S, 3), jnp.float32)
    K = jax.ShapeDtypeStruct((B, 3, 3), jnp.float32)
    RT = jax.ShapeDtypeStruct((B, 4, 4), jnp.float32)
    noise = jax.ShapeDtypeStruct((B, 3), jnp.float32)
    key = jax.random.key(0)
    model = SynSin(c)
    # one trace: the model's variables and outputs (feature, depth and refinement networks)
    out, variables = jax.eval_shape(
        lambda *a: model.init_with_output(key, *a, train=False), img, K, RT, noise
    )
    assert out.image.shape == (B, S, S, 3) and out.depth.shape == (B, S, S, 1)
    assert out.projected.shape == (B, S, S, 6) and out.coverage.shape == (B, S, S, 1)
    assert set(variables) == {"params", "batch_stats"}
    params = variables["params"]
    assert set(params) == {"features", "depth_net", "refine_net"}
    assert len(params["features"]["blocks"]) == 8 and len(params["refine_net"]["blocks"]) == 8
    # channel widths: feature net 3 -> ngf/2 (x3) -> ngf (x4) -> C; refinement C -> ... -> 3
    feat = params["features"]["blocks"]
    assert feat["block_0"]["conv_a"]["conv"]["kernel"].shape == (3, 3, 3, 2)
    assert feat["block_7"]["conv_b"]["conv"]["kernel"].shape == (3, 3, 6, 6)
    ref = params["refine_net"]["blocks"]
    assert ref["block_2"]["conv_b"]["conv"]["kernel"].shape == (3, 3, 16, 16)
    assert ref["block_7"]["conv_b"]["conv"]["kernel"].shape == (3, 3, 3, 3)
    disc = make_discriminator(c)
    d_out, _ = jax.eval_shape(lambda i: disc.init_with_output(key, i, train=False), img)
    assert len(d_out.logits) == 2 and len(d_out.features[0]) == 4
    with pytest.raises(ValueError, match="multiples"):
        jax.eval_shape(lambda v: model.apply(v, jnp.zeros((1, 10, 10, 3)), jnp.eye(3)[None],
                                             jnp.eye(4)[None], train=False), variables)


def test_authors_options_rgb_features_and_unet_refinement():
    # SynSin's --use_rgb_features (the points carry the image) and --refine_model_type unet
    c = SynSinConfig(image_size=16, ngf=4, depth_features=2, depth_levels=2, noise_dim=0,
                     splat=SplatSettings(radius=1.0, points_per_pixel=4), refine="unet",
                     use_rgb_features=True)  # fmt: skip
    assert c.unet_refine_levels == 2  # 16 px: coarsest level 4 x 4
    assert SynSinConfig(refine="unet").unet_refine_levels == 6  # UNetDecoder64 at 256 px
    model = SynSin(c)
    img = jax.random.uniform(jax.random.key(1), (2, 16, 16, 3))
    K = jnp.broadcast_to(jnp.asarray(_K()), (2, 3, 3))
    RT = jnp.broadcast_to(jnp.eye(4), (2, 4, 4))
    variables = model.init(jax.random.key(0), img, K, RT, train=False)
    assert set(variables["params"]) == {"depth_net", "refine_net"}  # no feature network
    assert set(variables["params"]["refine_net"]) == {"unet"}
    out = model.apply(variables, img, K, RT, train=False)
    assert out.image.shape == (2, 16, 16, 3) and out.projected.shape == (2, 16, 16, 3)
    # identity pose, 1 px discs: each pixel sees only its own point (opacity 1 - sqrt(1e-3)),
    # so the splatted features are the signed image scaled by the coverage
    cov = np.asarray(out.coverage)
    np.testing.assert_allclose(cov, 1 - np.sqrt(1e-3), atol=1e-5)
    np.testing.assert_allclose(np.asarray(out.projected) / cov, np.asarray(img * 2 - 1),
                               atol=1e-4)  # fmt: skip
    for bad in (dict(refine="vgg"), dict(refine="unet", refine_levels=0),
                dict(image_size=24, refine="unet", refine_levels=4, depth_levels=3)):
        with pytest.raises(ValueError, match="refine"):
            SynSinConfig(**bad)


def test_host_init_follows_the_layer_initialisers():
    from jax3d.models.synsin import host_init
    from jax3d.nn import ResBlock

    block = ResBlock(8, resample="down", norm="conditional_batch", spectral_norm=True)
    x = jax.ShapeDtypeStruct((2, 8, 8, 16), jnp.float32)
    cond = jax.ShapeDtypeStruct((2, 5), jnp.float32)
    v = host_init(block, x, cond, seed=3, train=False)
    flax_tree = jax.eval_shape(lambda *a: block.init(jax.random.key(0), *a, train=False), x, cond)
    assert jax.tree_util.tree_structure(v) == jax.tree_util.tree_structure(flax_tree)
    k = np.asarray(v["params"]["conv_a"]["conv"]["kernel"])  # (3, 3, 16, 8): fan_in 144
    assert np.abs(k).max() <= 1 / 12 and np.abs(k).max() > 0.9 / 12
    assert np.all(np.asarray(v["params"]["conv_a"]["conv"]["bias"]) == 0)
    stats = jax.tree_util.tree_flatten_with_path(v["batch_stats"])[0]
    names = {jax.tree_util.keystr(p).split("/")[-1].strip("']"): np.asarray(a) for p, a in stats}
    assert names["sigma"] == 1.0 and names["u"].std() > 0.5
    again = host_init(block, x, cond, seed=3, train=False)
    chex.assert_trees_all_equal(v, again)
