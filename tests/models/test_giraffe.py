"""GIRAFFE: config, composition, box masking, scene sampling, module shapes, controls, one
training step.

Compiles are few and shared: shapes come from `jax.eval_shape`; one jitted evaluation render
of a tiny generator serves every control test; one toolkit step and one loss evaluation check
that a step lowers both losses.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml
from scipy.spatial.transform import Rotation
from scipy.stats import spearmanr

from jax3d.models.giraffe import (
    FeatureField,
    Generator,
    GiraffeConfig,
    Latents,
    NeuralRenderer,
    ObjectTransforms,
    Scene,
    box_mask,
    camera_from_values,
    camera_position,
    composite,
    composite_max,
    interpolate_sphere,
    rotation_z,
    sample_scene,
    scene_batch,
    transforms_from_values,
)
from jax3d.models.giraffe.controls import (
    PROGRAMS,
    background_code_isolation,
    object_code_isolation,
    program_scenes,
    spearman,
    translation_monotonicity,
)
from jax3d.models.giraffe.train import (
    build_discriminator,
    discriminator_loss_fn,
    generator_loss_fn,
    init_gan_state,
    init_params,
    make_giraffe_step,
    make_optimizer,
    torch_init,
)
from jax3d.train import key_for_step

PRESETS = Path(__file__).resolve().parents[2] / "experiments" / "configs" / "giraffe"

TINY = {
    "data": {"img_size": 8},
    "model": {
        "z_dim": 4,
        "z_dim_bg": 3,
        "decoder_kwargs": {"hidden_size": 8, "n_blocks": 2, "skips": [], "rgb_out_dim": 8,
                           "n_freq_posenc": 2, "n_freq_posenc_views": 1},
        "background_generator_kwargs": {"hidden_size": 8, "n_blocks": 1, "rgb_out_dim": 8,
                                        "n_freq_posenc": 2, "n_freq_posenc_views": 1},
        "bounding_box_generator_kwargs": {
            "n_boxes": 2, "scale_range_min": [0.4] * 3, "scale_range_max": [0.6] * 3,
            "translation_range_min": [-0.5, -0.5, 0.0], "translation_range_max": [0.5, 0.5, 0.0],
        },
        "generator_kwargs": {"resolution_vol": 4, "n_ray_samples": 6, "depth_range": [1.0, 4.5]},
        "neural_renderer_kwargs": {"n_feat": 8, "min_feat": 4},
        "discriminator_kwargs": {"n_feat": 8},
    },
    "training": {"batch_size": 2},
}  # fmt: skip


def _preset(name: str) -> dict:
    return yaml.safe_load((PRESETS / f"{name}.yaml").read_text())


@pytest.fixture(scope="module")
def tiny():
    """Tiny config and generator parameters whose objects are dense inside their boxes."""
    config = GiraffeConfig.from_dict(TINY).model
    g_params, _ = init_params(config, 0)
    g_params = jax.tree.map(np.asarray, g_params)
    g_params["decoder"]["sigma_out"]["bias"] = np.full((1,), 8.0, np.float32)
    # and a background with some density, so that its codes show
    g_params["background_generator"]["sigma_out"]["bias"] = np.full((1,), 1.0, np.float32)
    return config, g_params


@pytest.fixture(scope="module")
def render(tiny):
    """One jitted evaluation render `(scene, objects=True) -> (images, alpha, features)`."""
    config, params = tiny
    generator = Generator(config)

    def fn(p, scene, objects):
        images, out = generator.apply({"params": p}, scene, method=Generator.render)
        bg = generator.apply({"params": p}, scene, render_objects=False,
                             method=Generator.volume_render)  # fmt: skip
        return images, out.object_alpha, out.features, bg.features

    jitted = jax.jit(fn, static_argnums=2)
    return lambda scene: jax.tree.map(np.asarray, jitted(params, scene, True))


# ------------------------------------------------------------------------------ config


@pytest.mark.parametrize("name", sorted(p.stem for p in PRESETS.glob("*.yaml")))
def test_presets_load(name):
    config = GiraffeConfig.from_dict(_preset(name))
    m = config.model
    assert m.img_size == config.data.img_size == m.neural_renderer.img_size
    assert m.neural_renderer.input_dim == m.decoder.rgb_out_dim == m.background.rgb_out_dim
    assert GiraffeConfig.from_dict(config.to_dict()) == config  # round trip


def test_config_authors_defaults_and_errors():
    c = GiraffeConfig.from_dict({"data": {"img_size": 64}})
    m = c.model
    assert (m.decoder.hidden_size, m.decoder.n_blocks, m.decoder.skips) == (128, 8, (4,))
    assert (m.decoder.z_dim, m.decoder.downscale_p_by) == (256, 2.0)
    assert (m.background.hidden_size, m.background.n_blocks, m.background.z_dim) == (64, 4, 128)
    assert (m.background.downscale_p_by, m.background.skips) == (12.0, ())
    g = m.generator
    assert (g.resolution_vol, g.n_ray_samples, g.depth_range, g.range_radius) == (
        16, 64, (0.5, 6.0), (2.732, 2.732))
    assert m.n_upsampling_blocks == 2
    t = c.training
    assert (t.batch_size, t.learning_rate, t.learning_rate_d, t.optimizer) == (
        32, 5e-4, 1e-4, "RMSprop")
    assert (t.r1_weight, t.ema_decay) == (10.0, 0.999)
    cars256 = GiraffeConfig.from_dict(_preset("cars_256"))
    assert cars256.model.decoder.rgb_out_dim == 256 and cars256.training.learning_rate == 2.5e-4
    assert cars256.model.n_upsampling_blocks == 4
    # the authors' spellings of two keys are accepted
    typo = {"model": {"generator_kwargs": {"backround_rotation_range": [0, 0.25]},
                      "bounding_box_generator_kwargs": {"check_collison": True}}}
    typo_c = GiraffeConfig.from_dict(typo).model
    assert typo_c.generator.background_rotation_range == (0.0, 0.25)
    assert typo_c.bounding_box.check_collision
    with pytest.raises(ValueError, match="unknown key model.decoder_kwargs.hiden_size"):
        GiraffeConfig.from_dict({"model": {"decoder_kwargs": {"hiden_size": 3}}})
    with pytest.raises(ValueError, match="img_size / resolution_vol"):
        GiraffeConfig.from_dict({"data": {"img_size": 24}})
    with pytest.raises(ValueError, match="n_boxes_min"):
        GiraffeConfig.from_dict({"model": {"bounding_box_generator_kwargs": {"n_boxes_min": 3}}})


# ------------------------------------------------------------------------------ composition


def composite_naive(sigma, feat):
    """GIRAFFE's formula in float64 loops (1e-4 denominator where the total is 0)."""
    sigma, feat = np.asarray(sigma, np.float64), np.asarray(feat, np.float64)
    k = sigma.shape[0]
    total = sigma.sum(0)
    out = np.zeros(feat.shape[1:])
    for idx in np.ndindex(total.shape):
        denom = total[idx] if total[idx] != 0 else 1e-4
        out[idx] = sum(sigma[(i,) + idx] / denom * feat[(i,) + idx] for i in range(k))
    return total, out


@jax.jit
def _composite_and_grad(sigma, feat):
    out = composite(sigma, feat)
    grad = jax.grad(lambda s: jnp.sum(composite(s, feat)[1]))(sigma)
    return out, grad


def test_composite_matches_formula():
    for k in (1, 2, 3):
        rng = np.random.default_rng(k)
        sigma = np.maximum(rng.normal(size=(k, 5, 4)), 0.0).astype(np.float32)
        sigma[:, 0] = 0.0  # points with no density at all
        feat = rng.normal(size=(k, 5, 4, 3)).astype(np.float32)
        (total, f), grad = _composite_and_grad(sigma, feat)
        chex.assert_trees_all_close((total, f), composite_naive(sigma, feat), rtol=1e-5,
                                    atol=1e-6)  # fmt: skip
        assert np.all(np.isfinite(np.asarray(grad)))
        if k == 1:  # one field composites to itself where it has density
            dense = sigma[0] > 0
            np.testing.assert_allclose(np.asarray(f)[dense], feat[0][dense], rtol=1e-6)


def test_composite_empty_and_max():
    total, f = composite(np.zeros((0, 3)), np.zeros((0, 3, 2)))
    assert total.shape == (3,) and f.shape == (3, 2) and not np.any(np.asarray(f))
    sigma = np.array([[1.0, 0.0], [3.0, 0.5]], np.float32)
    feat = np.arange(8, dtype=np.float32).reshape(2, 2, 2)
    s, f = composite_max(sigma, feat)
    np.testing.assert_allclose(s, [3.0, 0.5])
    np.testing.assert_allclose(f, [feat[1, 0], feat[1, 1]])
    with pytest.raises(ValueError, match="densities.shape"):
        composite(np.zeros((2, 3)), np.zeros((2, 4, 1)))


def test_box_mask():
    p = np.array([[0.0, 0.0, 0.0], [1.1, 0.0, 0.0], [1.1001, 0, 0], [0, -1.05, 1.05],
                  [0, 0, -1.2]], np.float32)  # fmt: skip
    np.testing.assert_array_equal(box_mask(p, 0.1), [True, True, False, True, False])
    np.testing.assert_array_equal(box_mask(p, 0.0), [True, False, False, False, False])


# ------------------------------------------------------------------------------ scenes


def test_rotation_camera_and_transforms():
    frac = np.array([0.0, 0.1, 0.37, 0.8], np.float32)
    want = Rotation.from_euler("z", 2 * np.pi * frac[:, None]).as_matrix()
    np.testing.assert_allclose(jax.jit(rotation_z)(frac), want, atol=1e-6)
    gen = GiraffeConfig.from_dict(_preset("cpu")).model.generator
    zero = np.zeros(1, np.float32)
    eye = np.asarray(jax.jit(lambda u: camera_position(gen, u, u, u))(zero))[0]
    elevation = math.degrees(math.asin(eye[2] / np.linalg.norm(eye)))
    assert abs(elevation - 30.0) < 1e-3 and abs(np.linalg.norm(eye) - 2.732) < 1e-5
    assert eye[0] > 0 and abs(eye[1]) < 1e-6  # range_u = 0: on +x
    box = GiraffeConfig.from_dict(_preset("clevr2_256")).model.bounding_box
    t = jax.jit(lambda s, t, r: transforms_from_values(box, s, t, r))(
        np.full((1, 2, 3), 0.3, np.float32), np.ones((1, 2, 3), np.float32),
        np.zeros((1, 2), np.float32))  # fmt: skip
    np.testing.assert_allclose(t.scale, 0.17)
    np.testing.assert_allclose(t.translation[0, 0], [0.713, 0.713, 0.1665], atol=1e-6)


def test_sample_scene_ranges_and_collisions():
    raw = _preset("cpu")["model"]["bounding_box_generator_kwargs"]
    raw = {**raw, "n_boxes": 3}
    config = GiraffeConfig.from_dict(
        {**_preset("cpu"), "model": {**_preset("cpu")["model"],
                                     "bounding_box_generator_kwargs": raw}}).model  # fmt: skip
    scene = scene_batch(jax.random.PRNGKey(3), config, 64)
    box = config.bounding_box
    s, t = np.asarray(scene.transforms.scale), np.asarray(scene.transforms.translation)
    assert s.min() >= 0.22 - 1e-6 and s.max() <= 0.32 + 1e-6
    np.testing.assert_allclose(s[..., 0], s[..., 2])  # fix_scale_ratio
    assert np.all(np.abs(t[..., :2]) <= 0.6 + 1e-6)
    counts = np.asarray(scene.object_mask).sum(1)
    assert counts.min() >= box.n_boxes_min and counts.max() <= 3 and len(set(counts)) > 1
    # the authors' test: boxes are free when along some axis the centres are far enough apart;
    # 64 rounds of redraws leave (almost) no scene with overlapping boxes
    free = [all(np.any(np.abs(t[b, i] - t[b, j]) >= s[b, i] + s[b, j] + box.collision_padding)
                for i in range(3) for j in range(i)) for b in range(64)]  # fmt: skip
    assert np.mean(free) >= 0.9  # tightly packed: 3 boxes of up to 0.64 in a 1.2 square
    z = np.asarray(scene.latents.z_shape_obj)
    assert z.shape == (64, 3, 32) and abs(z.std() - 1.0) < 0.05
    r = np.asarray(scene.transforms.rotation)
    np.testing.assert_allclose(r @ r.transpose(0, 1, 3, 2), np.broadcast_to(np.eye(3), r.shape),
                               atol=1e-5)  # fmt: skip


def test_interpolate_sphere_and_spearman():
    z1, z2 = np.array([1.0, 0.0]), np.array([0.0, 2.0])
    np.testing.assert_allclose(interpolate_sphere(z1, z2, 0.0), z1, atol=1e-6)
    np.testing.assert_allclose(interpolate_sphere(z1, z2, 1.0), z2, atol=1e-6)
    np.testing.assert_allclose(interpolate_sphere(z1, z1, 0.5), z1, atol=1e-6)  # parallel
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=20), rng.normal(size=20)
    y[3] = y[4]  # a tie
    assert abs(spearman(x, y) - spearmanr(x, y).statistic) < 1e-9
    assert spearman(x, np.ones(20)) == 0.0


# ------------------------------------------------------------------------------ shapes


@pytest.mark.parametrize(
    "preset", ["cpu", pytest.param("clevr_synthetic_64", marks=pytest.mark.slow)]
)
def test_module_shapes(preset):
    """Every module at 32 px (the CPU preset) and at 64 px (the authors' size)."""
    config = GiraffeConfig.from_dict(_preset(preset)).model
    size, res, c = config.img_size, config.generator.resolution_vol, config.decoder.rgb_out_dim
    b, n, p = 2, config.bounding_box.n_boxes, 7
    key = jax.ShapeDtypeStruct((2,), jnp.uint32)
    f32 = jax.ShapeDtypeStruct
    scene = jax.eval_shape(lambda: sample_scene(jax.random.PRNGKey(0), config, b))
    gen = Generator(config)
    variables = jax.eval_shape(gen.init, key, scene)
    images = jax.eval_shape(lambda v, s, k: gen.apply(v, s, k), variables, scene, key)
    assert images.shape == (b, size, size, 3)
    out = jax.eval_shape(lambda v, s: gen.apply(v, s, method=Generator.volume_render),
                         variables, scene)  # fmt: skip
    assert out.features.shape == (b, res, res, c)
    assert out.object_alpha.shape == (b, n, res, res) and out.depth.shape == (b, res, res)
    field = FeatureField(config.decoder)
    args = (f32((b, p, 3), jnp.float32), f32((b, p, 3), jnp.float32),
            f32((b, config.z_dim), jnp.float32), f32((b, config.z_dim), jnp.float32))
    fv = jax.eval_shape(field.init, key, *args)
    sigma, feat = jax.eval_shape(field.apply, fv, *args)
    assert sigma.shape == (b, p) and feat.shape == (b, p, c)
    h = config.decoder.hidden_size
    assert fv["params"]["fc_in"]["kernel"].shape == (6 * config.decoder.n_freq_posenc, h)
    assert len([k for k in fv["params"] if k.startswith("blocks_")]) == config.decoder.n_blocks - 1
    nr = NeuralRenderer(config.neural_renderer, config.n_upsampling_blocks)
    x = f32((b, res, res, c), jnp.float32)
    rgb = jax.eval_shape(nr.apply, jax.eval_shape(nr.init, key, x), x)
    assert rgb.shape == (b, size, size, 3)
    disc = build_discriminator(config)
    img = f32((b, size, size, 3), jnp.float32)
    logits = jax.eval_shape(disc.apply, jax.eval_shape(disc.init, key, img), img)
    assert logits.shape == (b, 1)


def test_authors_parameter_layout():
    """The 64 px model has the authors' layers: 8 x 128 trunk with one skip, 128-d features,
    a 4 x 64 background without skips, two upsampling blocks 128 -> 64 -> 32."""
    config = GiraffeConfig.from_dict({"data": {"img_size": 64}}).model
    scene = jax.eval_shape(lambda: sample_scene(jax.random.PRNGKey(0), config, 1))
    params = jax.eval_shape(Generator(config).init, jax.ShapeDtypeStruct((2,), jnp.uint32),
                            scene)["params"]  # fmt: skip
    dec, bg, nr = params["decoder"], params["background_generator"], params["neural_renderer"]
    assert {"fc_z_skips_0", "fc_p_skips_0"} <= set(dec) and "fc_z_skips_1" not in dec
    def shape(tree, name):
        return tree[name]["kernel"].shape

    assert shape(dec, "fc_in") == (60, 128) and shape(dec, "fc_view") == (24, 128)
    assert shape(dec, "feat_out") == (128, 128) and shape(dec, "fc_z") == (256, 128)
    assert not any(k.startswith("fc_z_skips") for k in bg) and shape(bg, "fc_z") == (128, 64)
    assert nr["conv_layers_0"]["kernel"].shape == (3, 3, 128, 64)
    assert nr["conv_layers_1"]["kernel"].shape == (3, 3, 64, 32)
    assert {f"conv_rgb_{i}" for i in range(3)} <= set(nr) and "conv_in" not in nr


# ------------------------------------------------------------------------------ controls


@functools.cache
def _camera(generator_config, b):
    """(R, T) NumPy arrays of `b` cameras at the middle of the ranges (one small compile)."""
    half = np.full((b,), 0.5, np.float32)
    fn = jax.jit(lambda u: camera_from_values(generator_config, u, u, u))
    return tuple(np.asarray(x) for x in fn(half))


def _np_scene(config, seed=0, b=2):
    """A random `Scene` of NumPy arrays built on the host (no sampler to compile): codes
    N(0, 1), boxes uniform in their ranges, cameras at the middle of the ranges."""
    rng = np.random.default_rng(seed)
    box, n = config.bounding_box, config.bounding_box.n_boxes

    def lerp(lo, hi, u):
        return (np.asarray(lo) + u * (np.asarray(hi) - np.asarray(lo))).astype(np.float32)

    def normal(*shape):
        return rng.normal(size=shape).astype(np.float32)

    u_s = np.repeat(rng.uniform(size=(b, n, 1)), 3, -1)  # fix_scale_ratio
    angle = lerp(*box.rotation_range, rng.uniform(size=(b * n)))
    R, T = _camera(config.generator, b)
    return Scene(
        latents=Latents(normal(b, n, config.z_dim), normal(b, n, config.z_dim),
                        normal(b, config.z_dim_bg), normal(b, config.z_dim_bg)),
        transforms=ObjectTransforms(
            scale=lerp(box.scale_range_min, box.scale_range_max, u_s),
            translation=lerp(box.translation_range_min, box.translation_range_max,
                             rng.uniform(size=(b, n, 3))),
            rotation=Rotation.from_euler("z", 2 * np.pi * angle[:, None]).as_matrix()
            .reshape(b, n, 3, 3).astype(np.float32),
        ),
        object_mask=np.ones((b, n), np.float32),
        camera_R=R,
        camera_T=T,
        bg_rotation=np.broadcast_to(np.eye(3, dtype=np.float32), (b, 3, 3)).copy(),
    )  # fmt: skip


def _scene(config, seed=0, b=2):
    """A NumPy scene with slot 0 on and slot 1 off."""
    scene = _np_scene(config, seed, b)
    return scene.replace(object_mask=np.array([[1.0, 0.0]] * b, np.float32))


def _with(a, index, b):
    """`a` with `a[index] = b[index]` (NumPy copies)."""
    out = np.array(a)
    out[index] = b[index]
    return out


def _set(scene, **changes):
    """A copy of `scene` with latents / transforms / scene fields replaced by name."""
    lat = {k: v for k, v in changes.items() if hasattr(scene.latents, k)}
    tr = {k: v for k, v in changes.items() if hasattr(scene.transforms, k)}
    rest = {k: v for k, v in changes.items() if k not in lat and k not in tr}
    return scene.replace(latents=scene.latents.replace(**lat),
                         transforms=scene.transforms.replace(**tr), **rest)  # fmt: skip


def test_generator_depends_on_each_control_only(tiny, render):
    config, _ = tiny
    scene = _scene(config)
    images, alpha, feats, bg = render(scene)
    assert alpha[:, 0].max() > 0.5 and np.all(alpha[:, 1] == 0)  # the object is visible
    other = _np_scene(config, seed=9)
    lat, tr = other.latents, other.transforms
    moved_camera = dataclasses.replace(config.generator, range_u=(0.1, 0.1))
    R, T = jax.jit(lambda u: camera_from_values(moved_camera, u, u, u))(np.zeros(2, np.float32))

    def changes(**kw):
        return render(_set(scene, **kw))

    # Each control of the active object changes the image ...
    for kw in ({"z_shape_obj": lat.z_shape_obj}, {"z_app_obj": lat.z_app_obj},
               {"translation": tr.translation}, {"rotation": tr.rotation},
               {"z_shape_bg": lat.z_shape_bg}, {"z_app_bg": lat.z_app_bg},
               {"camera_R": np.asarray(R), "camera_T": np.asarray(T)}):  # fmt: skip
        assert np.abs(changes(**kw)[0] - images).max() > 1e-4, kw
    # ... the inactive slot's codes and box change nothing (exactly),
    slot1 = (slice(None), 1)
    inactive = changes(z_shape_obj=_with(scene.latents.z_shape_obj, slot1, lat.z_shape_obj),
                       translation=_with(scene.transforms.translation, slot1, tr.translation))
    np.testing.assert_array_equal(inactive[0], images)
    # the object's appearance code does not change any density (alpha) nor the background
    # alone; the background codes do not change the object's alpha,
    app = changes(z_app_obj=lat.z_app_obj)
    np.testing.assert_array_equal(app[1], alpha)
    np.testing.assert_array_equal(app[3], bg)
    bg_change = changes(z_shape_bg=lat.z_shape_bg, z_app_bg=lat.z_app_bg)
    np.testing.assert_array_equal(bg_change[1], alpha)
    # and the background alone ignores every object quantity.
    moved = changes(translation=tr.translation, rotation=tr.rotation, z_shape_obj=lat.z_shape_obj)
    np.testing.assert_array_equal(moved[3], bg)
    assert np.abs(moved[1] - alpha).max() > 1e-3  # while the object's alpha moves


def test_object_count_chosen_at_call_time(tiny, render):
    """N = 0 slots equals N = 2 slots switched off; masks switch objects off exactly."""
    config, params = tiny
    scene = _scene(config)
    off = scene.replace(object_mask=np.zeros_like(scene.object_mask))
    _, alpha_off, feat_off, bg = render(off)
    np.testing.assert_allclose(feat_off, bg, rtol=1e-6, atol=1e-7)  # the background alone
    assert not alpha_off.any()
    empty = _set(off, z_shape_obj=scene.latents.z_shape_obj[:, :0],
                 z_app_obj=scene.latents.z_app_obj[:, :0], scale=scene.transforms.scale[:, :0],
                 translation=scene.transforms.translation[:, :0],
                 rotation=scene.transforms.rotation[:, :0], object_mask=off.object_mask[:, :0])
    volume = jax.jit(lambda p, sc: Generator(config).apply({"params": p}, sc,
                                                           method=Generator.volume_render))
    out = volume(params, empty)
    np.testing.assert_allclose(out.features, feat_off, atol=1e-6)
    assert out.object_alpha.shape == (2, 0, 4, 4)


def test_control_measures_on_known_renders():
    """The measures on a synthetic renderer: an alpha blob that follows the translation, and
    image changes confined to where they should be."""
    config = GiraffeConfig.from_dict(TINY).model

    def fake(scene):
        t = np.asarray(scene.transforms.translation)[:, :1, 1]  # y of slot 0, (B, 1)
        cols = np.arange(8)[None, :]
        col = 3.5 + 3.0 * t / 0.5  # right with +y
        blob = np.exp(-((cols - col) ** 2))  # (B, 8)
        alpha = np.broadcast_to(blob[:, None, None, :], (len(t), 2, 8, 8)).copy()
        alpha[:, 1] = 0.0
        lat = scene.latents
        z = np.asarray(lat.z_app_obj)[:, 0, :1] + np.asarray(lat.z_app_bg)[:, :1]
        img = np.repeat((alpha[:, 0] > 0.5)[..., None] * z[:, None, None], 3, -1)
        return jnp.asarray(img), jnp.asarray(alpha)

    key = jax.random.PRNGKey(0)
    a = translation_monotonicity(fake, config, key, n_codes=3, n_steps=5)
    assert a["spearman_mean"] == 1.0 and a["fraction_above_0.9"] == 1.0
    b = object_code_isolation(fake, config, key, n_scenes=3)
    assert b["outside_mean_abs_change"] == 0.0 and b["inside_mean_abs_change"] > 0
    c = background_code_isolation(fake, config, key, n_scenes=3, threshold=0.5,
                                  profile=(0.5, 0.7, 1.5))  # fmt: skip
    assert c["inside_mean_abs_change"] > 0  # the fake leaks the background into the object
    p5, p7, none = c["profile"]
    assert p5["inside_mean_abs_change"] == c["inside_mean_abs_change"]
    assert p5["inside_fraction"] == c["inside_fraction"] >= p7["inside_fraction"] > 0
    assert none["inside_fraction"] == 0 and none["inside_mean_abs_change"] is None


@pytest.mark.parametrize("programs", [
    ("add_objects", "translation_object_horizontal"),
    pytest.param(PROGRAMS, marks=pytest.mark.slow),
])
def test_program_scenes(programs):
    config = GiraffeConfig.from_dict(TINY).model
    key = jax.random.PRNGKey(1)
    for name in programs:  # batch 3: the compiles of test_control_measures_on_known_renders
        scenes = program_scenes(name, config, key, batch_size=3, n_steps=4, n_keyframes=2,
                                max_objects=3)  # fmt: skip
        assert len(scenes) == (8 if name.startswith("interpolate") else
                               4 if "objects" not in name else 4), name  # fmt: skip
        first, last = scenes[0], scenes[-1]
        if name == "add_objects":
            assert float(first.object_mask.sum()) == 0 and float(last.object_mask.sum()) == 9
        if name == "rotation_camera":  # the centre C = -T R^T circles at a fixed distance
            centres = [-np.einsum("bj,bij->bi", sc.camera_T, sc.camera_R) for sc in scenes]
            radii = np.linalg.norm(np.stack(centres), axis=-1)
            np.testing.assert_allclose(radii, 2.732, rtol=1e-5)
            assert np.abs(centres[1] - centres[0]).max() > 0.5
        if name == "translation_object_horizontal":
            t0, t1 = first.transforms.translation[0, 0], last.transforms.translation[0, 0]
            np.testing.assert_allclose([t0[1], t1[1]], [-0.5, 0.5], atol=1e-6)
            assert t0[0] == t1[0]
    with pytest.raises(ValueError, match="program"):
        program_scenes("zoom", config, key)


# ------------------------------------------------------------------------------ training


def test_torch_init_and_rmsprop():
    """PyTorch's default init bounds; RMSprop as PyTorch's (alpha 0.99, eps outside the root)."""
    shapes = {"a": {"kernel": jax.ShapeDtypeStruct((3, 3, 4, 5), jnp.float32),
                    "bias": jax.ShapeDtypeStruct((5,), jnp.float32)},
              "b": {"c": {"kernel": jax.ShapeDtypeStruct((400, 2), jnp.float32)}}}  # fmt: skip
    p = torch_init(shapes, 0)
    bound = 1 / 6.0  # fan_in 36
    assert np.abs(p["a"]["kernel"]).max() <= bound and np.abs(p["a"]["bias"]).max() <= bound
    assert np.abs(p["a"]["kernel"]).max() > 0.8 * bound
    assert np.abs(p["b"]["c"]["kernel"]).max() <= 0.05 and "bias" not in p["b"]["c"]
    chex.assert_trees_all_equal(p, torch_init(shapes, 0))
    with pytest.raises(ValueError, match="params/norm/scale"):
        torch_init({"norm": {"scale": jax.ShapeDtypeStruct((3,), jnp.float32)}}, 0)
    training = GiraffeConfig().training
    tx = make_optimizer(training, 0.1)
    w, g = np.array([1.0, -2.0]), np.array([0.5, 0.02])
    state = tx.init(w)
    v = np.zeros(2)
    for _ in range(3):  # PyTorch: v = 0.99 v + 0.01 g^2; w -= lr g / (sqrt(v) + 1e-8)
        updates, state = tx.update(g, state, w)
        v = 0.99 * v + 0.01 * g**2
        np.testing.assert_allclose(updates, -0.1 * g / (np.sqrt(v) + 1e-8), rtol=1e-5)


def test_losses_descend_along_their_gradients():
    """The training signal: on a fixed batch (fixed scenes, real images and randomness), a small
    step against each player's gradient lowers its loss (one compile of both losses and
    gradients; the toolkit step itself is checked by the slow test below)."""
    config = GiraffeConfig.from_dict(TINY)
    m = config.model
    state = init_gan_state(config, jax.random.PRNGKey(0))
    real = np.random.default_rng(0).uniform(size=(2, 8, 8, 3)).astype(np.float32)
    batch = {"image": real, "scene_g": _np_scene(m, seed=1), "scene_d": _np_scene(m, seed=2)}
    g_loss, d_loss = generator_loss_fn(m), discriminator_loss_fn(m, 10.0)
    key = jax.random.PRNGKey(3)

    @jax.jit
    def losses_and_grads(g_params, d_params, batch):
        g_state = state.generator.replace(params=g_params)
        d_state = state.discriminator.replace(params=d_params)
        (g, _), g_grad = jax.value_and_grad(g_loss, has_aux=True)(g_params, batch, key, d_state)
        (d, aux), d_grad = jax.value_and_grad(d_loss, has_aux=True)(d_params, batch, key,
                                                                    g_state)  # fmt: skip
        return g, d, g_grad, d_grad, aux["r1"]

    def descend(params, grads, lr):
        norm = np.sqrt(sum(float(np.sum(np.square(x))) for x in jax.tree.leaves(grads)))
        assert np.isfinite(norm) and norm > 0
        return jax.tree.map(lambda p, g: np.asarray(p) - lr * np.asarray(g) / norm, params, grads)

    g_params, d_params = state.generator.params, state.discriminator.params
    g0, d0, g_grad, d_grad, r1 = losses_and_grads(g_params, d_params, batch)
    assert np.isfinite(float(r1)) and float(r1) > 0
    g1 = losses_and_grads(descend(g_params, g_grad, 1e-2), d_params, batch)[0]
    d1 = losses_and_grads(g_params, descend(d_params, d_grad, 1e-2), batch)[1]
    assert float(g1) < float(g0) and float(d1) < float(d0), (g0, g1, d0, d1)


@pytest.mark.slow  # compiles the whole GAN step (generator, discriminator, R1): minutes here
def test_one_step_lowers_both_losses():
    """One jitted toolkit step (G then D) on a fixed batch: the generator's loss at its new
    parameters (same discriminator, same randomness) is lower, and so is the discriminator's
    (against the updated generator, as in the step)."""
    config = GiraffeConfig.from_dict(TINY)
    m = config.model
    state = init_gan_state(config, jax.random.PRNGKey(0))
    k = jax.random.PRNGKey(1)
    real = np.random.default_rng(0).uniform(size=(2, 8, 8, 3)).astype(np.float32)
    batch = {"image": jnp.asarray(real), "scene_g": scene_batch(jax.random.fold_in(k, 0), m, 2),
             "scene_d": scene_batch(jax.random.fold_in(k, 1), m, 2)}  # fmt: skip
    g_loss, d_loss = generator_loss_fn(m), discriminator_loss_fn(m, 10.0)

    @jax.jit
    def evaluate(g_state, d_state, g_params, d_params, batch, key):
        g = g_loss(g_params, batch, jax.random.fold_in(key, 0), d_state)[0]
        d = d_loss(d_params, batch, jax.random.fold_in(key, 1), g_state)[0]
        return g, d

    def losses(*args):
        return evaluate(*args[:4], batch, args[4])

    key = key_for_step(state.key, state.step)
    new, metrics = make_giraffe_step(config)(state, batch)
    g0, _ = losses(state.generator, state.discriminator, state.generator.params,
                   state.discriminator.params, key)  # fmt: skip
    g1, _ = losses(state.generator, state.discriminator, new.generator.params,
                   state.discriminator.params, key)  # fmt: skip
    _, d0 = losses(new.generator, state.discriminator, new.generator.params,
                   state.discriminator.params, key)  # fmt: skip
    _, d1 = losses(new.generator, state.discriminator, new.generator.params,
                   new.discriminator.params, key)  # fmt: skip
    np.testing.assert_allclose(metrics["g_loss"], g0, rtol=1e-5)
    np.testing.assert_allclose(metrics["d_loss"], d0, rtol=1e-5)
    assert float(g1) < float(g0) and float(d1) < float(d0)
    assert int(new.generator.step) == int(new.discriminator.step) == 1
    # the EMA moved by 1 - 0.999 of the update
    w0 = state.generator.params["decoder"]["fc_in"]["kernel"]
    w1 = new.generator.params["decoder"]["fc_in"]["kernel"]
    np.testing.assert_allclose(new.generator.ema_params["decoder"]["fc_in"]["kernel"],
                               0.999 * w0 + 0.001 * w1, atol=1e-7)  # fmt: skip
