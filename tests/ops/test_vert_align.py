"""vert_align against a float64 per-point port of torch.nn.functional.grid_sample's rules."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jax3d.ops import vert_align
from jax3d.structures import Meshes


def _reflect_naive(c, lo2, hi2):
    if lo2 == hi2:
        return 0.0
    lo, span = lo2 / 2, (hi2 - lo2) / 2
    c = abs(c - lo)
    flips = math.floor(c / span)
    extra = math.fmod(c, span)
    return extra + lo if flips % 2 == 0 else span - extra + lo


def _coord_naive(c, size, padding, align):
    c = (c + 1) / 2 * (size - 1) if align else ((c + 1) * size - 1) / 2
    if padding == "border":
        c = min(max(c, 0.0), size - 1.0)
    elif padding == "reflection":
        c = _reflect_naive(c, 0, 2 * (size - 1)) if align else _reflect_naive(c, -1, 2 * size - 1)
        c = min(max(c, 0.0), size - 1.0)
    return c


def grid_sample_naive(feat, xy, mode, padding, align):
    """feat (C, H, W), xy (V, 2) -> (V, C), float64."""
    C, H, W = feat.shape
    out = np.zeros((len(xy), C))
    for v, (x, y) in enumerate(np.asarray(xy, np.float64)):
        ix, iy = _coord_naive(x, W, padding, align), _coord_naive(y, H, padding, align)
        if mode == "nearest":
            taps = [(round(iy), round(ix), 1.0)]  # Python rounds half to even, as torch
        else:
            x0, y0 = math.floor(ix), math.floor(iy)
            dx, dy = ix - x0, iy - y0
            taps = [(y0, x0, (1 - dx) * (1 - dy)), (y0, x0 + 1, dx * (1 - dy)),
                    (y0 + 1, x0, (1 - dx) * dy), (y0 + 1, x0 + 1, dx * dy)]  # fmt: skip
        for yy, xx, w in taps:
            if 0 <= yy < H and 0 <= xx < W:
                out[v] += w * feat[:, yy, xx]
    return out


def _inputs(seed, N=2, C=3, H=5, W=7, V=40):
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(N, C, H, W)).astype(np.float32)
    verts = rng.uniform(-1.4, 1.4, size=(N, V, 3)).astype(np.float32)  # some outside
    return feats, verts


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [True, False])
def test_matches_grid_sample_naive(mode, padding, align):
    feats, verts = _inputs(0)
    out = vert_align(feats, verts, interp_mode=mode, padding_mode=padding, align_corners=align)
    for n in range(2):
        ref = grid_sample_naive(feats[n], verts[n, :, :2], mode, padding, align)
        np.testing.assert_allclose(out[n], ref, rtol=1e-5, atol=1e-5)


def test_pixel_centres_return_pixel_values():
    feats, _ = _inputs(1, N=1, H=4, W=6)
    ys, xs = np.meshgrid(np.arange(4), np.arange(6), indexing="ij")
    verts = np.stack([2 * xs.ravel() / 5 - 1, 2 * ys.ravel() / 3 - 1, np.zeros(24)], -1)[None]
    out = vert_align(feats, verts.astype(np.float32))
    np.testing.assert_allclose(out[0], feats[0].reshape(3, -1).T, atol=1e-5)


def test_list_of_maps_meshes_and_packed():
    feats, _ = _inputs(2)
    small = np.random.default_rng(3).normal(size=(2, 2, 3, 4)).astype(np.float32)
    v0 = np.random.default_rng(4).uniform(-1, 1, (5, 3)).astype(np.float32)
    v1 = np.random.default_rng(5).uniform(-1, 1, (3, 3)).astype(np.float32)
    meshes = Meshes([v0, v1], [np.zeros((0, 3), np.int32)] * 2)
    padded = vert_align([feats, small], meshes)
    assert padded.shape == (2, 5, 5)
    np.testing.assert_allclose(padded[..., :3], vert_align(feats, meshes.verts_padded()), atol=1e-6)
    packed = vert_align([feats, small], meshes, return_packed=True)
    np.testing.assert_allclose(packed, np.concatenate([padded[0, :5], padded[1, :3]]), atol=1e-6)
    plain = vert_align(feats, meshes.verts_padded(), return_packed=True)
    assert plain.shape == (10, 3)


def test_jit_and_grads():
    feats, verts = _inputs(6, N=1, C=2, H=3, W=4, V=6)
    verts = np.clip(verts, -0.9, 0.9)  # keep off the pixel grid's kinks for finite differences
    eager = vert_align(feats, verts)
    np.testing.assert_allclose(jax.jit(vert_align)(feats, verts), eager, atol=1e-6)
    with jax.enable_x64(True):
        f64 = jnp.asarray(feats, jnp.float64)
        v64 = jnp.asarray(verts, jnp.float64) + 0.013  # not on a pixel boundary
        check_grads(
            jax.jit(lambda f, v: vert_align(f, v)), (f64, v64), order=1, modes=["rev"], eps=1e-4
        )


def test_validation():
    feats, verts = _inputs(7)
    with pytest.raises(ValueError, match="interp_mode"):
        vert_align(feats, verts, interp_mode="bicubic")
    with pytest.raises(ValueError, match="padding_mode"):
        vert_align(feats, verts, padding_mode="wrap")
    with pytest.raises(ValueError, match="feats"):
        vert_align(feats[0], verts)
    with pytest.raises(ValueError, match="batch"):
        vert_align(feats[:1], verts)
    with pytest.raises(ValueError, match="verts"):
        vert_align(feats, verts[0])
