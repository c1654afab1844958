"""Tests of the full Mesh R-CNN (jax3d.models.mesh_rcnn: ResNetFPN, detector, training, inference).

Default tests trace (jax.eval_shape) or run small pure functions; the compiled forward passes and
training steps are marked slow.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.models.mesh_rcnn import (
    MeshRCNNDetector,
    MeshRCNNDetectorConfig,
    ResNetFPN,
    check_detector_batch,
    detection_postprocess,
    detector_learning_rate,
    init_detector,
    make_detector_inference,
    make_detector_loss_fn,
    make_detector_optimizer,
    paste_masks,
    roi_normals,
    with_pretrained_resnet,
)
from jax3d.transforms.roi_frustum import camera_to_roi, roi_to_camera


def _count(tree):
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def test_config_validation():
    with pytest.raises(ValueError, match="image_size"):
        MeshRCNNDetectorConfig.tiny(image_size=48)
    with pytest.raises(ValueError, match="norm"):
        MeshRCNNDetectorConfig(norm="batch")
    with pytest.raises(ValueError, match="mesh_rois_per_image"):
        MeshRCNNDetectorConfig.tiny(mesh_rois_per_image=100)
    with pytest.raises(ValueError, match="voxel_pooler_resolution"):
        MeshRCNNDetectorConfig(voxel_pooler_resolution=7)


def test_fpn_shapes_tiny():
    c = MeshRCNNDetectorConfig.tiny()
    fpn = ResNetFPN(c.resnet_depth, c.norm, c.resnet_width, c.resnet_blocks, c.fpn_dim)
    x = jax.ShapeDtypeStruct((2, 64, 96, 3), jnp.float32)
    variables = jax.eval_shape(fpn.init, jax.random.key(0), x)
    outs = jax.eval_shape(fpn.apply, variables, x)
    expected = [(2, -(-64 // s), -(-96 // s), 32) for s in (4, 8, 16, 32, 64)]  # P6: ceil
    assert [o.shape for o in outs] == expected
    names = set(variables["params"])
    assert {"bottom_up", "fpn_lateral2", "fpn_output5"} <= names
    with pytest.raises(ValueError, match="multiples of 32"):
        jax.eval_shape(
            fpn.init, jax.random.key(0), jax.ShapeDtypeStruct((1, 40, 64, 3), jnp.float32)
        )


def test_fpn_params_resnet50():
    """ResNet-50 trunk (torchvision: 23,508,032 weights without fc; FrozenBN adds running
    mean / var, 53,120 each) + Detectron2's FPN (3,344,384)."""
    fpn = ResNetFPN(50, "frozen")
    x = jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.float32)
    params = jax.eval_shape(fpn.init, jax.random.key(0), x)["params"]
    trunk = _count(params["bottom_up"])
    assert trunk == 23_508_032 + 2 * 26_560
    assert _count(params) - trunk == 3_344_384


def test_with_pretrained_resnet_replaces_the_trunk():
    """A torchvision-format ResNet-50 state dict lands in backbone/bottom_up (the detector's
    backbone is a `ResNetFPN`); the other parameters are kept."""
    from jax3d.models.mesh_rcnn import resnet_variables_from_torchvision
    from jax3d.models.mesh_rcnn.backbones import _resnet_expected

    images = jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.float32)
    shapes = jax.eval_shape(ResNetFPN(50, "frozen").init, jax.random.key(0), images)["params"]
    params = {"backbone": jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes),
              "box_head": {"fc1": {"kernel": np.ones((2, 2))}}}  # fmt: skip
    sd = {}
    for module, (kind, shape) in _resnet_expected(50).items():
        leaves = ["weight"] + ([] if kind == "conv" else ["bias", "running_mean", "running_var"])
        for leaf in leaves:
            sd[f"{module}.{leaf}"] = np.ones(shape, np.float32)
    sd["conv1.weight"] = np.random.default_rng(0).normal(size=(64, 3, 7, 7)).astype(np.float32)
    resnet = resnet_variables_from_torchvision(sd, 50, "frozen")["params"]
    out = with_pretrained_resnet(params, resnet)
    np.testing.assert_array_equal(out["backbone"]["bottom_up"]["conv1"]["kernel"],
                                  sd["conv1.weight"].transpose(2, 3, 1, 0))  # fmt: skip
    assert out["box_head"] is params["box_head"]
    with pytest.raises(ValueError, match="does not match"):
        with_pretrained_resnet(params, resnet_variables_from_torchvision(sd, 50, "group")["params"])


def test_check_detector_batch():
    c = MeshRCNNDetectorConfig.tiny()
    B, M, P, S, G = 1, 2, 5, 64, 24
    batch = {
        "images": np.zeros((B, S, S, 3), np.float32),
        "K": np.eye(3)[None],
        "valid": np.ones((B, M), bool),
        "boxes": np.zeros((B, M, 4)),
        "classes": np.zeros((B, M), np.int32),
        "masks": np.zeros((B, M, S, S), bool),
        "voxels": np.zeros((B, M, G, G, G), bool),
        "zrange": np.ones((B, M, 2)),
        "points": np.zeros((B, M, P, 3)),
        "normals": np.zeros((B, M, P, 3)),
    }
    assert set(check_detector_batch(batch, c)) >= {"images", "normals"}
    with pytest.raises(ValueError, match="voxels"):
        check_detector_batch({**batch, "voxels": np.zeros((B, M, 8, 8, 8))}, c)
    with pytest.raises(ValueError, match="missing"):
        check_detector_batch({k: v for k, v in batch.items() if k != "zrange"}, c)


# ------------------------------------------------------------------------------------------------
# The detector.
# ------------------------------------------------------------------------------------------------


def _toy_batch(B=2, M=2, S=64, G=24, P=256, seed=0):
    """Rectangles on grey: per image 2 slots (one padded in image 1), boxes, masks, a central
    voxel block, points on a cube in each box's ROI frame taken to the camera frame."""
    rng = np.random.default_rng(seed)
    images = np.full((B, S, S, 3), 0.5, np.float32)
    boxes = np.zeros((B, M, 4), np.float32)
    masks = np.zeros((B, M, S, S), bool)
    classes = rng.integers(0, 8, (B, M)).astype(np.int32)
    valid = np.ones((B, M), bool)
    valid[1, 1] = False
    K = np.tile(np.array([[64.0, 0, 32], [0, 64.0, 32], [0, 0, 1]], np.float32), (B, 1, 1))
    zr = np.tile(np.array([2.0, 3.0], np.float32), (B, M, 1))
    vox = np.zeros((B, M, G, G, G), bool)
    vox[:, :, 6:18, 6:18, 6:18] = True
    for b in range(B):
        for m in range(M):
            x0, y0, w, h = 4 + 30 * m, 6 + 20 * b, 24 + 4 * b, 28 - 4 * m
            boxes[b, m] = (x0, y0, x0 + w, y0 + h)
            masks[b, m, y0 : y0 + h, x0 : x0 + w] = True
            images[b, y0 : y0 + h, x0 : x0 + w] = rng.uniform(0, 1, 3)
    face = rng.integers(0, 6, (B, M, P))
    u = rng.uniform(-0.5, 0.5, (B, M, P, 3))
    ax, sign = face % 3, np.where(face < 3, -0.5, 0.5)
    np.put_along_axis(u, ax[..., None], sign[..., None], -1)
    nrm = np.zeros_like(u)
    np.put_along_axis(nrm, ax[..., None], np.sign(sign)[..., None], -1)
    pts = roi_to_camera(u, boxes, K[:, None], zr).astype(np.float32)
    return dict(images=images, K=K, valid=valid, boxes=boxes, classes=classes, masks=masks,
                voxels=vox, zrange=zr, points=pts, normals=nrm.astype(np.float32))  # fmt: skip


def _spec(batch):
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), batch)


def test_detector_output_and_loss_shapes_tiny():
    c = MeshRCNNDetectorConfig.tiny()
    model = MeshRCNNDetector(c)
    images = jax.ShapeDtypeStruct((2, 64, 64, 3), jnp.float32)
    variables = jax.eval_shape(model.init, jax.random.key(0), images)
    assert set(variables) == {"params"}
    heads = {"backbone", "rpn_head", "box_head", "z_head", "mask_head", "voxel_head"}
    assert heads | {"mesh_stages_0"} == set(variables["params"])
    d = jax.eval_shape(model.apply, variables, images)
    D, V, F, G, K = 8, c.max_verts, c.max_faces, 24, 8
    expected = {"boxes": (2, D, 4), "classes": (2, D), "scores": (2, D), "valid": (2, D),
                "masks": (2, D, 64, 64), "mask_probs": (2, D, 28, 28), "dz": (2, D),
                "zrange": (2, D, 2), "voxel_scores": (2, D, G, G, G), "verts": (2, D, V, 3),
                "faces": (2, D, F, 3), "num_verts": (2, D), "num_faces": (2, D),
                "roi_verts": (2, D, V, 3), "cubify_overflow": (2, D)}  # fmt: skip
    assert {k: getattr(d, k).shape for k in expected} == expected
    assert d.masks.dtype == jnp.bool_ and d.valid.dtype == jnp.bool_
    mask_logits = jax.eval_shape(
        lambda v, x: model.apply(v, x, method=lambda m, x: m.mask_head(jnp.zeros((3, 14, 14, 32)))),
        variables, images,
    )  # fmt: skip
    assert mask_logits.shape == (3, 28, 28, K)
    loss, aux = jax.eval_shape(make_detector_loss_fn(c), variables["params"],
                               _spec(_toy_batch()), jax.random.key(1))  # fmt: skip
    assert loss.shape == ()
    terms = {"loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg", "loss_mask", "loss_z",
             "loss_voxel", "loss_mesh", "chamfer_0", "normal_0", "edge_0"}  # fmt: skip
    assert terms <= set(aux) and all(v.shape == () for v in aux.values())


def test_detector_params_authors_config():
    """ResNet-50-FPN Mesh R-CNN at the authors' sizes (Pix3D, 9 classes), counted without
    allocating (jax.eval_shape); each head checked against its layer formula."""
    c = MeshRCNNDetectorConfig.authors()
    images = jax.ShapeDtypeStruct((1, 512, 512, 3), jnp.float32)
    params = jax.eval_shape(MeshRCNNDetector(c).init, jax.random.key(0), images)["params"]
    conv = lambda k, cin, cout: k * k * cin * cout + cout  # noqa: E731
    fc = lambda cin, cout: cin * cout + cout  # noqa: E731
    heads = {
        "rpn_head": conv(3, 256, 256) + conv(1, 256, 3) + conv(1, 256, 12),
        "box_head": fc(7 * 7 * 256, 1024) + fc(1024, 1024) + fc(1024, 10) + fc(1024, 36),
        "z_head": fc(7 * 7 * 256, 1024) + fc(1024, 1024) + fc(1024, 9),
        "mask_head": 4 * conv(3, 256, 256) + conv(2, 256, 256) + conv(1, 256, 9),
        "voxel_head": 4 * conv(3, 256, 256) + conv(2, 256, 256) + conv(1, 256, 24),
        # bottleneck 256 -> 128, 3 GraphConv (two linears each; input + xyz), offsets
        "mesh_stages_0": fc(256, 128) + 3 * 2 * fc(131, 128) + fc(131, 3),
        "mesh_stages_1": fc(256, 128) + 2 * fc(259, 128) + 2 * 2 * fc(131, 128) + fc(131, 3),
    }  # fmt: skip
    for name, expected in heads.items():
        assert _count(params[name]) == expected, name
    assert _count(params["backbone"]) == 23_508_032 + 2 * 26_560 + 3_344_384
    assert _count(params) == 61_070_667


def test_detector_learning_rate_schedule():
    c = MeshRCNNDetectorConfig.authors()
    lr = detector_learning_rate(c)
    got = [float(lr(t)) for t in (0, 500, 1000, 7999, 8000, 10000, 10999)]
    np.testing.assert_allclose(got, [0.002, 0.011, 0.02, 0.02, 0.002, 0.0002, 0.0002], rtol=1e-5)
    opt = make_detector_optimizer(c)
    p = {"w": jnp.ones(3)}
    upd, _ = opt.update({"w": jnp.zeros(3)}, opt.init(p), p)
    np.testing.assert_allclose(upd["w"], -0.002 * 1e-4 * np.ones(3), rtol=1e-5)  # decay only


def test_detection_postprocess_hand_made():
    """Two proposals per image, K = 2: scores, per-class NMS, the threshold, only_highest."""
    big = 10.0
    # image 0: proposals 0 and 1 overlap; both say class 0 (0.9 / 0.6 after softmax-ish
    # logits); proposal 1 also says class 1. Image 1: nothing above the threshold.
    logits = np.full((2, 2, 3), -big, np.float32)
    logits[0, 0] = [big, -big, 0.0]  # class 0, score ~1
    logits[0, 1] = [big - 0.5, big - 0.5, -big]  # classes 0 and 1, ~0.5 each
    logits[1] = [-big, -big, big]  # background
    props = np.array([[[10, 10, 30, 30], [11, 11, 31, 31]]] * 2, np.float32)
    deltas = np.zeros((2, 2, 8), np.float32)
    valid = np.ones((2, 2), bool)
    kw = dict(score_thresh=0.05, nms_thresh=0.5, max_detections=4)
    boxes, scores, classes, ok, src = detection_postprocess(logits, deltas, props, valid, 64, **kw)
    assert ok.shape == (2, 4)
    np.testing.assert_array_equal(ok, [[True, True, False, False], [False] * 4])
    np.testing.assert_array_equal(classes[0, :2], [0, 1])  # same-class overlap suppressed
    np.testing.assert_array_equal(src[0, :2], [0, 1])
    np.testing.assert_allclose(boxes[0, :2], props[0], atol=1e-4)
    assert scores[0, 0] > 0.99 and 0.4 < scores[0, 1] < 0.6
    assert np.all(np.asarray(scores)[~np.asarray(ok)] == 0)
    _, _, _, ok1, _ = detection_postprocess(logits, deltas, props, valid, 64, only_highest=True,
                                            **kw)  # fmt: skip
    np.testing.assert_array_equal(ok1, [[True, False, False, False], [False] * 4])


def test_paste_masks_matches_grid_sample_reference():
    rng = np.random.default_rng(0)
    probs = rng.uniform(0, 1, (2, 7, 7)).astype(np.float32)
    boxes = np.array([[3.2, 5.0, 17.5, 11.0], [0.0, 0.0, 20.0, 16.0]], np.float32)
    out = np.asarray(paste_masks(probs, boxes, 16, 20))

    def ref(p, box):  # torch.grid_sample(align_corners=False, zeros) at pixel centres, by loops
        M = p.shape[0]
        res = np.zeros((16, 20))
        for i in range(16):
            for j in range(20):
                y = (i + 0.5 - box[1]) / (box[3] - box[1]) * M - 0.5
                x = (j + 0.5 - box[0]) / (box[2] - box[0]) * M - 0.5
                y0, x0 = int(np.floor(y)), int(np.floor(x))
                for yy in (y0, y0 + 1):
                    for xx in (x0, x0 + 1):
                        if 0 <= yy < M and 0 <= xx < M:
                            res[i, j] += (1 - abs(y - yy)) * (1 - abs(x - xx)) * p[yy, xx]
        return res

    for k in range(2):
        np.testing.assert_allclose(out[k], ref(probs[k], boxes[k]), atol=1e-5)


def test_roi_normals_match_jacobian():
    """Normals mapped by J^{-T} (closed form) against jax.jacfwd of camera_to_roi: the mapped
    normal is orthogonal to the image of every tangent vector."""
    rng = np.random.default_rng(1)
    p = np.array([[0.3, -0.2, 2.5], [-0.4, 0.1, 3.1]], np.float32)
    n = rng.normal(size=(2, 3)).astype(np.float32)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    box, K = np.array([10.0, 12.0, 40.0, 50.0]), np.array([[60.0, 0, 32], [0, 70.0, 30], [0, 0, 1]])
    zr = np.array([2.0, 3.5])
    out = np.asarray(roi_normals(jnp.asarray(p), jnp.asarray(n), jnp.asarray(box),
                                 jnp.asarray(K), jnp.asarray(zr)))  # fmt: skip
    f = lambda q: camera_to_roi(q[None], jnp.asarray(box), jnp.asarray(K), jnp.asarray(zr))[0]  # noqa: E731
    jac = jax.jit(jax.jacfwd(f))
    for k in range(2):
        J = np.asarray(jac(jnp.asarray(p[k])))
        tangents = np.linalg.svd(n[k][None])[2][1:]  # two vectors orthogonal to n
        for t in tangents:
            assert abs(out[k] @ (J @ t)) < 1e-5
        np.testing.assert_allclose(np.linalg.norm(out[k]), 1.0, atol=1e-6)


@pytest.mark.slow
def test_detector_training_lowers_the_loss_and_inference():
    """Tiny config, 64 px: five Adam steps of jax3d.train's jitted step lower the loss on a
    fixed batch; inference gives static shapes, masks only for valid detections, finite
    camera-frame meshes, and only_highest keeps exactly the best detection of each image."""
    import optax

    from jax3d.models.mesh_rcnn.train_step import QUICK_COMPILE
    from jax3d.train import TrainState, make_train_step

    c = MeshRCNNDetectorConfig.tiny()
    batch = _toy_batch()
    params = init_detector(c, jax.random.key(0), compiler_options=QUICK_COMPILE)["params"]
    state = TrainState.create(params=params, tx=optax.adam(1e-3), key=jax.random.PRNGKey(0))
    step = make_train_step(make_detector_loss_fn(c))  # jax3d.train's jitted step
    losses = []
    for _ in range(5):
        state, metrics = step(state, batch)
        losses.append(float(metrics["loss"]))
        assert all(np.isfinite(float(v)) for v in metrics.values())
    assert losses[-1] < 0.9 * losses[0], losses
    params = state.params
    dets = {}
    for only in (False, True):
        d = make_detector_inference(c, only_highest=only)(params, batch["images"], batch["K"],
                                                          2.5)  # fmt: skip
        dets[only] = d
        assert d.boxes.shape == (2, 8, 4) and d.verts.shape == (2, 8, c.max_verts, 3)
        assert d.masks.shape == (2, 8, 64, 64) and d.faces.shape == (2, 8, c.max_faces, 3)
        valid = np.asarray(d.valid)
        assert not np.asarray(d.masks)[~valid].any()
        assert np.isfinite(np.asarray(d.verts)).all() and np.isfinite(np.asarray(d.boxes)).all()
        z = np.asarray(d.zrange)[valid]
        assert np.all((z[:, 0] < 2.5) & (z[:, 1] > 2.5))
        scores = np.asarray(d.scores)
        assert np.all(np.diff(scores, axis=1)[valid[:, 1:]] <= 0)  # best first
    top, every = dets[True], dets[False]
    assert not np.asarray(top.valid)[:, 1:].any()
    np.testing.assert_array_equal(top.valid[:, 0], every.valid[:, 0])
    np.testing.assert_allclose(top.boxes[:, 0], every.boxes[:, 0], atol=1e-5)
    np.testing.assert_allclose(top.verts[:, 0], every.verts[:, 0], atol=1e-4)
