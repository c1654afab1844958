"""PyTorch3D renderer names added for porting: camera aliases and utilities, ndc_grid_sample,
TensorProperties, Textures and texture methods, heterogeneous ray bundles, checkerboard,
cubify colours."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.ops import cubify
from jax3d.renderer import (
    CamerasBase,
    FoVOrthographicCameras,
    FoVPerspectiveCameras,
    HarmonicEmbedding,
    HeterogeneousRayBundle,
    MonteCarloRaysampler,
    NDCMultinomialRaysampler,
    OpenGLOrthographicCameras,
    OpenGLPerspectiveCameras,
    PerspectiveCameras,
    SfMPerspectiveCameras,
    TensorProperties,
    Textures,
    TexturesAtlas,
    TexturesUV,
    TexturesVertex,
    convert_to_tensors_and_broadcast,
    join_cameras_as_batch,
    look_at_view_transform,
    ndc_grid_sample,
    ndc_to_grid_sample_coords,
    ray_bundle_to_ray_points,
    rotate_on_spot,
)
from jax3d.structures import Meshes
from jax3d.utils import checkerboard

PTS = np.random.default_rng(0).uniform(-1, 1, (5, 3)).astype(np.float32)


def test_deprecated_camera_names():
    R, T = look_at_view_transform(3.0, 20.0, 30.0)
    with pytest.warns(DeprecationWarning, match="FoVPerspectiveCameras"):
        old = OpenGLPerspectiveCameras(0.5, 10.0, 1.0, 40.0, True, R, T)
    new = FoVPerspectiveCameras(znear=0.5, zfar=10.0, fov=40.0, R=R, T=T)
    np.testing.assert_allclose(old.transform_points(PTS), new.transform_points(PTS), atol=1e-6)
    with pytest.warns(DeprecationWarning):
        ortho = OpenGLOrthographicCameras(top=2.0, bottom=-1.0, left=-3.0, right=1.0)
    assert isinstance(ortho, FoVOrthographicCameras)
    assert float(ortho.max_y[0]) == 2.0 and float(ortho.min_x[0]) == -3.0
    with pytest.warns(DeprecationWarning):
        sfm = SfMPerspectiveCameras(focal_length=2.0)
    assert isinstance(sfm, PerspectiveCameras) and sfm.in_ndc()


def _rotations_z(degrees) -> np.ndarray:
    t = np.deg2rad(np.asarray(degrees, np.float64))
    c, s, z, o = np.cos(t), np.sin(t), np.zeros_like(t), np.ones_like(t)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1),
                     np.stack([z, z, o], -1)], -2).astype(np.float32)  # fmt: skip


def test_join_cameras_and_rotate_on_spot():
    R = _rotations_z([10.0, 20.0, 30.0])
    T = np.array([[0.1, 0.2, 3.0], [0.0, 0.0, 3.0], [-0.1, 0.3, 2.5]], np.float32)
    a = FoVPerspectiveCameras(fov=50.0, R=R[:1], T=T[:1])
    b = FoVPerspectiveCameras(fov=[40.0, 30.0], R=R[1:], T=T[1:])
    joined = join_cameras_as_batch([a, b])
    assert isinstance(joined, FoVPerspectiveCameras) and len(joined) == 3
    np.testing.assert_array_equal(joined.fov, [50.0, 40.0, 30.0])
    np.testing.assert_array_equal(joined.R, R)
    with pytest.raises(TypeError, match="one type"):
        join_cameras_as_batch([a, PerspectiveCameras()])
    with pytest.raises(ValueError, match="degrees"):
        radians = FoVPerspectiveCameras(fov=np.deg2rad(50.0), degrees=False, R=R[:1], T=T[:1])
        join_cameras_as_batch([a, radians])
    rotation = _rotations_z(25.0)
    R2, T2 = rotate_on_spot(R, T, rotation)
    centre = lambda R, T: -np.einsum("ni,nji->nj", T, R)  # noqa: E731 (-T R^T, rows)
    np.testing.assert_allclose(centre(np.asarray(R2), np.asarray(T2)), centre(R, T), atol=1e-5)
    np.testing.assert_allclose(R2, R @ rotation.T, atol=1e-6)  # turned in place


def test_ndc_grid_sample_reads_pixels_at_their_ndc_centres():
    h, w = 4, 6
    image = np.arange(2 * h * w, dtype=np.float32).reshape(1, 2, h, w)
    ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    s = min(h, w) / 2.0  # PyTorch3D NDC: +X left, +Y up, the shorter side spans [-1, 1]
    ndc = np.stack([-(xs + 0.5 - w / 2) / s, -(ys + 0.5 - h / 2) / s], -1)[None]
    out = np.asarray(ndc_grid_sample(image, ndc.astype(np.float32)))
    np.testing.assert_allclose(out, image, atol=1e-4)
    near = ndc_grid_sample(image, ndc.astype(np.float32) * 0.99, mode="nearest")
    np.testing.assert_array_equal(np.asarray(near), image)
    np.testing.assert_allclose(ndc_to_grid_sample_coords(np.array([[1.0, 1.0]]), (4, 8)),
                               [[-0.5, -1.0]])  # fmt: skip
    with pytest.raises(TypeError, match="unsupported"):
        ndc_grid_sample(image, ndc, antialias=True)


def test_tensor_properties():
    props = TensorProperties(color=((1.0, 0.5, 0.0),), scale=[1.0, 2.0, 3.0], name="x")
    assert len(props) == 3 and props.color.shape == (3, 3) and props.name == "x"
    assert isinstance(FoVPerspectiveCameras(), TensorProperties)
    idx = jnp.array([2, 2, 0, 1])
    gathered = props.gather_props(idx)
    np.testing.assert_array_equal(gathered.scale, [3.0, 3.0, 1.0, 2.0])
    np.testing.assert_array_equal(props[1].scale, [2.0])
    with pytest.raises(AttributeError, match="replace"):
        props.scale = 1.0
    a, b = convert_to_tensors_and_broadcast(1.0, [[1.0, 2.0], [3.0, 4.0]])
    assert a.shape == (2,) and b.shape == (2, 2)
    with pytest.raises(ValueError, match="non-broadcastable"):
        convert_to_tensors_and_broadcast([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(NotImplementedError):
        CamerasBase.unproject_points(FoVPerspectiveCameras(), PTS)


def test_textures_function_and_methods():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], np.float32)
    f = np.array([[0, 1, 2], [1, 3, 2]], np.int32)
    with pytest.warns(PendingDeprecationWarning):
        tv = Textures(verts_rgb=[v])
    assert isinstance(tv, TexturesVertex)
    assert tv.check_shapes(1, 4, 2) and not tv.check_shapes(1, 5, 2)
    np.testing.assert_array_equal(tv.faces_verts_textures_packed(f), v[f])
    uv = TexturesUV([np.ones((2, 2, 3))], [f], [v[:, :2]])
    np.testing.assert_allclose(uv.faces_verts_textures_packed(), np.ones((2, 3, 3)))
    assert uv.check_shapes(1, 4, 2)
    atlas = TexturesAtlas([np.arange(2 * 2 * 2 * 3, dtype=np.float32).reshape(2, 2, 2, 3)])
    corners = np.asarray(atlas.faces_verts_textures_packed())
    np.testing.assert_array_equal(corners[:, 2], np.asarray(atlas.atlas)[0, :, 0, 0])
    mesh = Meshes([v], [f], textures=atlas)
    sub = mesh.submeshes([[np.array([1])]])
    np.testing.assert_array_equal(sub.textures.atlas_packed(), atlas.atlas_packed()[1:])
    assert tv.extend(2).verts_features.shape == (2, 4, 3)
    joined = tv.join_batch([tv])
    assert len(joined) == 2


def test_heterogeneous_ray_bundles():
    R = _rotations_z([0.0, 90.0, 180.0])
    T = np.array([[0.0, 0.0, 3.0]] * 3, np.float32)
    cams = FoVPerspectiveCameras(R=R, T=T)
    key = jax.random.key(0)
    sampler = NDCMultinomialRaysampler(image_width=2, image_height=2, n_pts_per_ray=2,
                                       min_depth=1.0, max_depth=2.0, n_rays_total=5)
    bundle = sampler(cams, key)
    assert isinstance(bundle, HeterogeneousRayBundle)
    assert bundle.origins.shape == (5, 1, 3) and bundle.lengths.shape == (5, 1, 2)
    assert int(np.sum(bundle.camera_counts)) == 5
    centres = -np.einsum("ni,nji->nj", T, R)[np.repeat(bundle.camera_ids, bundle.camera_counts)]
    np.testing.assert_allclose(np.asarray(bundle.origins)[:, 0], centres, atol=1e-5)
    with pytest.raises(ValueError, match="cannot both"):
        sampler(cams, key, n_rays_per_image=2)
    assert HarmonicEmbedding.get_output_dim_static(3, 4, True) == 27


@pytest.mark.slow  # more eager compilations; the grid sampler's test covers the shared path
def test_monte_carlo_heterogeneous_bundle():
    R, T = look_at_view_transform(3.0, 0.0, [0.0, 90.0, 180.0])
    cams = FoVPerspectiveCameras(R=R, T=T)
    assert ray_bundle_to_ray_points(
        NDCMultinomialRaysampler(image_width=2, image_height=2, n_pts_per_ray=2, min_depth=1.0,
                                 max_depth=2.0, n_rays_total=3)(cams, jax.random.key(1))
    ).shape == (3, 1, 2, 3)
    mc = MonteCarloRaysampler(-1.0, 1.0, -1.0, 1.0, 2, 3, 1.0, 2.0, n_rays_total=5)
    bundle = mc(cams, jax.random.key(0))
    assert int(bundle.camera_counts.sum()) == 5 and bundle.xys.shape == (5, 1, 2)


def test_checkerboard_mesh_and_cubify_colours():
    board = checkerboard(2, color1=(0.0, 0.0, 0.0), color2=(1.0, 0.5, 0.0))
    assert board.verts_packed().shape == (25, 3) and board.faces_packed().shape == (32, 3)
    colours = np.asarray(board.textures.atlas_packed())[:, 0, 0]
    # square (row i, column j) is color2 when i + j is odd; two faces per square
    parity = (np.arange(32) // 2 // 4 + np.arange(32) // 2 % 4) % 2
    np.testing.assert_array_equal(colours[:, 0], parity.astype(np.float32))
    areas = np.asarray(board.faces_areas_packed())
    np.testing.assert_allclose(areas, 0.5)
    vox = np.zeros((1, 2, 2, 2), np.float32)
    vox[0, 0, 0, 0] = 1.0
    feats = np.zeros((1, 3, 2, 2, 2), np.float32)
    feats[0, :, 0, 0, 0] = [0.2, 0.4, 0.6]
    mesh = cubify(vox, 0.5, feats=feats, align="center")
    np.testing.assert_allclose(np.asarray(mesh.textures.atlas_packed())[:, 0, 0],
                               np.tile([0.2, 0.4, 0.6], (12, 1)))  # fmt: skip
    with pytest.warns(UserWarning, match="center"):
        assert cubify(vox, 0.5, feats=feats).textures is None


def test_fov_orthographic_projection_matrix():
    cams = FoVOrthographicCameras()
    K = cams.compute_projection_matrix(1.0, 10.0, 2.0, -2.0, 1.0, -1.0, ((1.0, 1.0, 1.0),))
    np.testing.assert_allclose(np.asarray(K)[0, 0, 0], 0.5)  # 2 / (max_x - min_x)
