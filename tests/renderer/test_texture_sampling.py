"""Texture sampling at fragments: TexturesVertex, TexturesUV (grid_sample semantics) and
TexturesAtlas against naive NumPy references, batching, jit and gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.renderer import Fragments, TexturesAtlas, TexturesUV, TexturesVertex, sample_textures
from jax3d.renderer.mesh.textures import pix_to_padded_face, sample_uv_maps
from jax3d.structures import Meshes


def _random_fragments(rng, num_faces, hw=(5, 6), k=2):
    """Fragments over meshes with ``num_faces`` (packed indices), some pixels empty."""
    first = np.concatenate([[0], np.cumsum(num_faces)[:-1]])
    local = np.stack([rng.integers(0, f, size=(*hw, k)) for f in num_faces])
    p2f = local + first[:, None, None, None]
    p2f = np.where(rng.random(p2f.shape) < 0.2, -1, p2f).astype(np.int32)
    bary = rng.dirichlet(np.ones(3), size=p2f.shape).astype(np.float32)
    zeros = np.zeros(p2f.shape, np.float32)
    return Fragments(jnp.asarray(p2f), jnp.asarray(zeros), jnp.asarray(bary), jnp.asarray(zeros))


def _meshes(rng, sizes):
    verts = [rng.normal(size=(v, 3)).astype(np.float32) for v, _ in sizes]
    faces = [rng.integers(0, v, size=(f, 3)).astype(np.int32) for v, f in sizes]
    return verts, faces


def grid_sample_naive(image, x, y, align_corners, padding, mode):
    """One sample of ``image (H, W, C)`` at normalized grid coords (x, y) in float64, as
    ``torch.nn.functional.grid_sample`` (x along W, y along H, -1 = first pixel side)."""
    h, w, _ = image.shape

    def unnorm(c, size):
        return (c + 1) / 2 * (size - 1) if align_corners else ((c + 1) * size - 1) / 2

    def pad(c, size):
        if padding == "border":
            return min(max(c, 0.0), size - 1.0)
        if padding == "reflection":
            lo, hi = (0.0, size - 1.0) if align_corners else (-0.5, size - 0.5)
            span = hi - lo
            d = abs(c - lo)
            flips, extra = int(d // span), d % span
            c = lo + extra if flips % 2 == 0 else hi - extra
            return min(max(c, 0.0), size - 1.0)
        return c

    ix, iy = pad(unnorm(x, w), w), pad(unnorm(y, h), h)

    def px(r, c):
        if 0 <= r < h and 0 <= c < w:
            return image[r, c].astype(np.float64)
        return np.zeros(image.shape[-1])

    if mode == "nearest":
        return px(int(np.round(iy)), int(np.round(ix)))
    x0, y0 = int(np.floor(ix)), int(np.floor(iy))
    wx, wy = ix - x0, iy - y0
    return (px(y0, x0) * (1 - wx) * (1 - wy) + px(y0, x0 + 1) * wx * (1 - wy)
            + px(y0 + 1, x0) * (1 - wx) * wy + px(y0 + 1, x0 + 1) * wx * wy)  # fmt: skip


def sample_uv_naive(tex_maps, uvs, align_corners, padding, mode):
    """PyTorch3D: grid_sample(flip(map, rows), 2 uv - 1) per item, loops in float64."""
    out = np.zeros(uvs.shape[:-1] + (tex_maps.shape[-1],))
    for idx in np.ndindex(*uvs.shape[:-1]):
        u, v = uvs[idx]
        flipped = tex_maps[idx[0]][::-1]
        out[idx] = grid_sample_naive(flipped, 2 * u - 1, 2 * v - 1, align_corners, padding, mode)
    return out


@pytest.mark.parametrize("align_corners", [True, False])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_sample_uv_maps_vs_grid_sample_naive(align_corners, padding, mode):
    rng = np.random.default_rng(0)
    maps = rng.random((2, 5, 7, 3)).astype(np.float32)
    uvs = rng.uniform(-0.6, 1.6, size=(2, 4, 3, 2)).astype(np.float32)
    got = sample_uv_maps(jnp.asarray(maps), jnp.asarray(uvs), align_corners=align_corners,
                         padding_mode=padding, sampling_mode=mode)  # fmt: skip
    want = sample_uv_naive(maps, uvs, align_corners, padding, mode)
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)


def test_uv_v_flip_convention():
    """v = 1 is image row 0 (top), u = 0 column 0: PyTorch3D's convention."""
    img = np.zeros((2, 2, 3), np.float32)
    img[0, 0] = (1, 0, 0)  # top-left
    img[1, 1] = (0, 0, 1)  # bottom-right
    uvs = jnp.asarray([[[0.0, 1.0], [1.0, 0.0]]])
    got = np.asarray(sample_uv_maps(jnp.asarray(img[None]), uvs))
    np.testing.assert_allclose(got[0], [[1, 0, 0], [0, 0, 1]], atol=1e-6)


def test_textures_uv_sample_vs_naive_heterogeneous_batch():
    rng = np.random.default_rng(1)
    verts, faces = _meshes(rng, [(6, 5), (8, 9)])
    verts_uvs = [rng.random((7, 2)).astype(np.float32), rng.random((4, 2)).astype(np.float32)]
    faces_uvs = [rng.integers(0, 7, (5, 3)), rng.integers(0, 4, (9, 3))]
    maps = [rng.random((6, 6, 3)).astype(np.float32), rng.random((6, 6, 3)).astype(np.float32)]
    tex = TexturesUV(maps, faces_uvs, verts_uvs)
    meshes = Meshes(verts, faces, textures=tex)
    frags = _random_fragments(rng, [5, 9])
    got = np.asarray(sample_textures(frags, meshes))
    p2f, bary = np.asarray(frags.pix_to_face), np.asarray(frags.bary_coords)
    want = np.zeros(got.shape)
    for idx in np.ndindex(*p2f.shape):
        f = p2f[idx]
        if f < 0:
            continue
        n = idx[0]
        local = f - (0 if n == 0 else 5)
        uv = bary[idx] @ verts_uvs[n][faces_uvs[n][local]].astype(np.float64)
        want[idx] = grid_sample_naive(maps[n][::-1], 2 * uv[0] - 1, 2 * uv[1] - 1, True,
                                      "border", "bilinear")  # fmt: skip
    np.testing.assert_allclose(got, want, atol=1e-5)
    # the method and jit agree with the function
    np.testing.assert_allclose(np.asarray(tex.sample_textures(frags)), got, atol=1e-6)
    jitted = jax.jit(sample_textures)(frags, meshes)
    np.testing.assert_allclose(np.asarray(jitted), got, atol=1e-6)


def test_textures_vertex_sample_vs_naive_and_packed_path():
    rng = np.random.default_rng(2)
    verts, faces = _meshes(rng, [(5, 4), (7, 6)])
    feats = [rng.random((5, 2)).astype(np.float32), rng.random((7, 2)).astype(np.float32)]
    meshes = Meshes(verts, faces, textures=TexturesVertex(feats))
    frags = _random_fragments(rng, [4, 6])
    got = np.asarray(sample_textures(frags, meshes))
    p2f, bary = np.asarray(frags.pix_to_face), np.asarray(frags.bary_coords)
    packed_faces = np.concatenate([faces[0], faces[1] + 5])
    packed_feats = np.concatenate(feats)
    want = np.zeros(got.shape)
    for idx in np.ndindex(*p2f.shape):
        if p2f[idx] >= 0:
            want[idx] = bary[idx] @ packed_feats[packed_faces[p2f[idx]]]
    np.testing.assert_allclose(got, want, atol=1e-6)
    via_packed = meshes.textures.sample_textures(frags, faces_packed=packed_faces)
    np.testing.assert_allclose(np.asarray(via_packed), want, atol=1e-6)
    with pytest.raises(ValueError, match="faces_packed"):
        meshes.textures.sample_textures(frags)


def atlas_naive(atlas_packed, p2f, bary):
    """PyTorch3D's TexturesAtlas rule in plain Python."""
    r = atlas_packed.shape[1]
    out = np.zeros(p2f.shape + (atlas_packed.shape[-1],))
    for idx in np.ndindex(*p2f.shape):
        f = p2f[idx]
        if f < 0:
            continue
        w0, w1 = bary[idx][:2]
        wx, wy = int(w0 * r), int(w1 * r)
        if (w0 + w1) * r - (wx + wy) > 1.0:
            wx, wy = r - 1 - wx, r - 1 - wy
        out[idx] = atlas_packed[f, min(max(wy, 0), r - 1), min(max(wx, 0), r - 1)]
    return out


def test_textures_atlas_sample_vs_naive():
    rng = np.random.default_rng(3)
    verts, faces = _meshes(rng, [(5, 3), (6, 4)])
    atlas = [rng.random((3, 4, 4, 3)).astype(np.float32),
             rng.random((4, 4, 4, 3)).astype(np.float32)]  # fmt: skip
    meshes = Meshes(verts, faces, textures=TexturesAtlas(atlas))
    frags = _random_fragments(rng, [3, 4], hw=(6, 6), k=3)
    got = np.asarray(sample_textures(frags, meshes))
    want = atlas_naive(np.concatenate(atlas), np.asarray(frags.pix_to_face),
                       np.asarray(frags.bary_coords))  # fmt: skip
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_join_batch_sampling_equals_per_item():
    rng = np.random.default_rng(4)
    items = []
    for v, f in [(5, 4), (6, 7)]:
        verts, faces = _meshes(rng, [(v, f)])
        uv = rng.random((v, 2)).astype(np.float32)
        tex = TexturesUV([rng.random((4, 4, 3)).astype(np.float32)], [faces[0]], [uv])
        items.append(Meshes(verts, faces, textures=tex))
    from jax3d.structures import join_meshes_as_batch

    batch = join_meshes_as_batch(items)
    frags = _random_fragments(rng, [4, 7])
    got = np.asarray(sample_textures(frags, batch))
    for n, item in enumerate(items):
        p2f = np.asarray(frags.pix_to_face[n : n + 1])
        p2f = np.where(p2f >= 0, p2f - (0 if n == 0 else 4), -1)
        single = Fragments(jnp.asarray(p2f), frags.zbuf[n : n + 1], frags.bary_coords[n : n + 1],
                           frags.dists[n : n + 1])  # fmt: skip
        np.testing.assert_allclose(got[n : n + 1], np.asarray(sample_textures(single, item)),
                                   atol=1e-6)  # fmt: skip


def test_pix_to_padded_face():
    p2f = jnp.asarray([[[[0, 2]]], [[[3, -1]]]], jnp.int32)  # meshes with 3 and 2 faces
    got = pix_to_padded_face(p2f, jnp.asarray([3, 2]), 4)
    np.testing.assert_array_equal(np.asarray(got), [[[[0, 2]]], [[[4, -1]]]])


def test_uv_gradient_finite_and_matches_finite_differences():
    rng = np.random.default_rng(5)
    maps = jnp.asarray(rng.random((1, 6, 6, 1)), jnp.float32)

    def f(uv):
        return jnp.sum(sample_uv_maps(maps, uv[None, None], padding_mode="zeros"))

    uv = jnp.asarray([0.31, 0.62])
    g = jax.grad(f)(uv)
    eps = 1e-3
    fd = [(f(uv + eps * e) - f(uv - eps * e)) / (2 * eps) for e in jnp.eye(2)]
    np.testing.assert_allclose(np.asarray(g), np.asarray(fd), rtol=1e-2, atol=1e-3)


def test_sample_textures_errors():
    rng = np.random.default_rng(6)
    verts, faces = _meshes(rng, [(4, 2)])
    frags = _random_fragments(rng, [2])
    with pytest.raises(ValueError, match="no textures"):
        sample_textures(frags, Meshes(verts, faces))
    tex = TexturesVertex(jnp.ones((2, 4, 3)))
    with pytest.raises(ValueError, match="2 meshes"):
        tex.sample_textures(frags, Meshes(verts * 2, faces * 2))
    with pytest.raises(ValueError, match="padding_mode"):
        sample_uv_maps(jnp.ones((1, 2, 2, 1)), jnp.zeros((1, 1, 2)), padding_mode="wrap")
