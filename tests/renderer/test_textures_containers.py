"""TexturesVertex / TexturesUV / TexturesAtlas: construction, batching, pytree behaviour."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.renderer import TexturesAtlas, TexturesUV, TexturesVertex
from jax3d.renderer.mesh.textures import resize_map
from jax3d.structures import Meshes

RNG = np.random.default_rng(0)


def feats(n, c=3):
    return RNG.random((n, c)).astype(np.float32)


def resize_naive(image, size, align_corners):
    """Loop bilinear resize, as torch.nn.functional.interpolate(mode="bilinear")."""
    h, w = image.shape[:2]
    out = np.zeros(size + image.shape[2:])

    def src(i, n_in, n_out):
        if align_corners:
            return i * (n_in - 1) / max(n_out - 1, 1)
        return min(max((i + 0.5) * n_in / n_out - 0.5, 0.0), n_in - 1)

    for y in range(size[0]):
        for x in range(size[1]):
            sy, sx = src(y, h, size[0]), src(x, w, size[1])
            y0, x0 = int(np.floor(sy)), int(np.floor(sx))
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            ay, ax = sy - y0, sx - x0
            out[y, x] = ((1 - ay) * ((1 - ax) * image[y0, x0] + ax * image[y0, x1]) +
                         ay * ((1 - ax) * image[y1, x0] + ax * image[y1, x1]))  # fmt: skip
    return out


# ----------------------------------------------------------------------------- TexturesVertex


def test_vertex_list_and_padded():
    items = [feats(3), feats(5)]
    t = TexturesVertex(items)
    assert t.verts_features.shape == (2, 5, 3) and t.num_verts.tolist() == [3, 5]
    np.testing.assert_array_equal(t.verts_features[0, 3:], 0)
    for got, want in zip(t.verts_features_list(), items):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(t.verts_features_packed(), np.concatenate(items))
    p = TexturesVertex(np.stack([feats(4), feats(4)]))
    assert p.num_verts.tolist() == [4, 4]


def test_vertex_batching():
    t = TexturesVertex([feats(3), feats(5), feats(2)])
    sub = t[[2, 0]]
    assert sub.num_verts.tolist() == [2, 3] and sub.verts_features.shape == (2, 5, 3)
    np.testing.assert_array_equal(sub.verts_features[0], t.verts_features[2])
    assert t[1].num_verts.tolist() == [5]
    assert t.extend(2).num_verts.tolist() == [3, 3, 5, 5, 2, 2]
    joined = t.join_batch([TexturesVertex([feats(7)])])
    assert joined.num_verts.tolist() == [3, 5, 2, 7] and joined.verts_features.shape[1] == 7
    scene = t.join_scene()
    assert scene.num_verts.tolist() == [10]
    np.testing.assert_array_equal(scene.verts_features[0], t.verts_features_packed())


def test_vertex_pytree_jit_vmap():
    t = TexturesVertex([feats(3), feats(5)])
    out = jax.jit(lambda x: x.replace(verts_features=x.verts_features * 2))(t)
    np.testing.assert_allclose(out.verts_features, 2 * t.verts_features)
    assert isinstance(out, TexturesVertex) and out.num_verts.tolist() == [3, 5]
    sums = jax.vmap(lambda x: jnp.sum(x.verts_features))(t)
    np.testing.assert_allclose(sums, t.verts_features.sum(axis=(1, 2)), rtol=1e-6)
    grad = jax.grad(lambda x: jnp.sum(x.verts_features**2), allow_int=True)(t)
    np.testing.assert_allclose(grad.verts_features, 2 * t.verts_features)


def test_vertex_validation():
    with pytest.raises(ValueError, match="verts_features must have 3 dimensions"):
        TexturesVertex(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="agree beyond"):
        TexturesVertex([feats(3, 3), feats(3, 4)])
    with pytest.raises(TypeError, match="numbers"):
        TexturesVertex(np.array([[["a"]]]))
    with pytest.raises(TypeError, match="TexturesVertex"):
        TexturesVertex([feats(3)]).join_batch([TexturesAtlas(np.zeros((1, 1, 2, 2, 3)))])


# --------------------------------------------------------------------------------- TexturesUV


def make_uv():
    maps = [RNG.random((4, 6, 3)).astype(np.float32), RNG.random((4, 6, 3)).astype(np.float32)]
    faces = [np.array([[0, 1, 2]]), np.array([[0, 1, 2], [1, 2, 3]])]
    verts = [RNG.random((3, 2)), RNG.random((4, 2))]
    return TexturesUV(maps, faces, verts), maps, faces, verts


def test_uv_lists_and_padding():
    t, maps, faces, verts = make_uv()
    assert t.maps.shape == (2, 4, 6, 3) and t.faces_uvs.shape == (2, 2, 3)
    assert t.faces_uvs[0, 1].tolist() == [-1, -1, -1] and t.num_faces.tolist() == [1, 2]
    assert t.num_verts_uvs.tolist() == [3, 4]
    assert (t.padding_mode, t.align_corners, t.sampling_mode) == ("border", True, "bilinear")
    for got, want in zip(t.faces_uvs_list(), faces):
        np.testing.assert_array_equal(got, want)
    padded = TexturesUV(t.maps, t.faces_uvs, t.verts_uvs)
    assert padded.num_faces.tolist() == [1, 2] and padded.num_verts_uvs.tolist() == [4, 4]


@pytest.mark.parametrize("align_corners", [True, False])
def test_resize_matches_naive(align_corners):
    image = RNG.random((3, 5, 2)).astype(np.float32)
    got = resize_map(jnp.asarray(image), (7, 4), align_corners)
    np.testing.assert_allclose(got, resize_naive(image, (7, 4), align_corners), atol=1e-5)


def test_uv_maps_of_different_sizes_are_resized():
    small = RNG.random((2, 3, 3)).astype(np.float32)
    t = TexturesUV([small, np.zeros((5, 6, 3))], [np.zeros((1, 3), int)] * 2,
                   [np.zeros((1, 2))] * 2)  # fmt: skip
    assert t.maps.shape == (2, 5, 6, 3)
    np.testing.assert_allclose(t.maps[0], resize_naive(small, (5, 6), True), atol=1e-5)


def test_uv_batching_and_scene():
    t, maps, faces, verts = make_uv()
    assert t[1].num_faces.tolist() == [2] and t.extend(3).num_faces.tolist() == [1] * 3 + [2] * 3
    joined = t.join_batch([t[0]])
    assert joined.num_faces.tolist() == [1, 2, 1] and joined.maps.shape == (3, 4, 6, 3)
    scene = t.join_scene()
    assert scene.maps.shape == (1, 4, 12, 3) and scene.num_faces.tolist() == [3]
    np.testing.assert_array_equal(scene.faces_uvs[0], [[0, 1, 2], [3, 4, 5], [4, 5, 6]])
    # sample positions are unchanged: item b's uv (u, v) lands at column b W + u (W - 1)
    vu = np.asarray(scene.verts_uvs[0])
    for b, v in enumerate(verts):
        rows = slice(0, 3) if b == 0 else slice(3, 7)
        np.testing.assert_allclose(vu[rows, 0] * 11, b * 6 + v[:, 0] * 5, atol=1e-5)
        np.testing.assert_allclose(vu[rows, 1], v[:, 1], atol=1e-6)


def test_uv_with_meshes():
    t, *_ = make_uv()
    mesh = Meshes([feats(3), feats(4)], [np.array([[0, 1, 2]]), np.array([[0, 1, 2], [1, 2, 3]])],
                  textures=t)  # fmt: skip
    assert mesh[1].textures.num_faces.tolist() == [2]
    assert mesh.extend(2).textures.num_faces.tolist() == [1, 1, 2, 2]
    out = jax.jit(lambda m: m.textures.maps.sum())(mesh)
    np.testing.assert_allclose(out, t.maps.sum(), rtol=1e-5)


def test_uv_validation():
    _, maps, faces, verts = make_uv()
    with pytest.raises(ValueError, match="padding_mode"):
        TexturesUV(maps, faces, verts, padding_mode="wrap")
    with pytest.raises(ValueError, match="sampling_mode"):
        TexturesUV(maps, faces, verts, sampling_mode="cubic")
    with pytest.raises(ValueError, match="batch size"):
        TexturesUV(maps[:1], faces, verts)
    with pytest.raises(ValueError, match="outside"):
        TexturesUV(maps, [np.array([[0, 1, 3]]), faces[1]], verts)
    with pytest.raises(ValueError, match="maps must have 4"):
        TexturesUV(maps[0], faces, verts)
    with pytest.raises(TypeError, match="integers"):
        TexturesUV(maps, [np.zeros((1, 3))] * 2, verts)


# ------------------------------------------------------------------------------ TexturesAtlas


def test_atlas():
    items = [RNG.random((2, 3, 3, 3)), RNG.random((4, 3, 3, 3))]
    t = TexturesAtlas(items)
    assert t.atlas.shape == (2, 4, 3, 3, 3) and t.num_faces.tolist() == [2, 4]
    np.testing.assert_array_equal(t.atlas[0, 2:], 0)
    np.testing.assert_allclose(t.atlas_packed(), np.concatenate(items), rtol=1e-6)
    assert t[1].num_faces.tolist() == [4] and t.extend(2).num_faces.tolist() == [2, 2, 4, 4]
    assert t.join_batch([t]).num_faces.tolist() == [2, 4, 2, 4]
    assert t.join_scene().atlas.shape == (1, 6, 3, 3, 3)
    assert TexturesAtlas(np.zeros((1, 5, 2, 2, 3))).num_faces.tolist() == [5]
    with pytest.raises(ValueError, match="R, R"):
        TexturesAtlas(np.zeros((1, 5, 2, 3, 3)))
    with pytest.raises(ValueError, match="5 dimensions"):
        TexturesAtlas(np.zeros((5, 2, 2, 3)))
