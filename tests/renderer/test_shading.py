"""phong / gouraud / flat shading: a single lit triangle by hand, and a naive per-pixel
float64 reference on a heterogeneous batch."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.renderer import (
    FoVPerspectiveCameras,
    Materials,
    MeshRasterizer,
    PointLights,
    RasterizationSettings,
    TexturesVertex,
    flat_shading,
    gouraud_shading,
    phong_shading,
    sample_textures,
)
from jax3d.structures import Meshes
from jax3d.utils import ico_sphere_verts_faces

TRI = np.array([[-1.0, -1.0, 0.0], [0.0, 1.5, 0.0], [1.5, -1.0, 0.0]], np.float32)
RGB = np.array([0.2, 0.6, 0.9], np.float32)
LIGHT = np.array([0.5, 0.8, -2.0])
CAM = np.array([0.0, 0.0, -3.0])  # centre of FoVPerspectiveCameras(T=(0, 0, 3))


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def lit_by_hand(p, n, texel, mat, lights):
    """Ambient + diffuse + specular per channel at point p with normal n (float64)."""
    ka, kd, ks, shin = mat
    la, ld, ls = lights
    l_dir = _unit(LIGHT - p)
    cos = float(np.dot(n, l_dir))
    diffuse = ld * max(cos, 0.0)
    r = -l_dir + 2 * cos * n
    v = _unit(CAM - p)
    spec = ls * (max(float(np.dot(v, r)), 0.0) ** shin if cos > 0 else 0.0)
    return (ka * la + kd * diffuse) * texel + ks * spec


@pytest.fixture(scope="module")
def triangle():
    meshes = Meshes([TRI], [np.array([[0, 1, 2]])], textures=TexturesVertex([np.tile(RGB,
                                                                                      (3, 1))]))
    cams = FoVPerspectiveCameras(T=((0.0, 0.0, 3.0),))
    frags = MeshRasterizer(cams, RasterizationSettings(image_size=12))(meshes)
    mat = (np.array([0.9, 0.8, 0.7]), np.array([1.0, 0.5, 0.8]), np.array([0.3, 1.0, 0.2]), 7.0)
    lights = (np.array([0.4, 0.5, 0.6]), np.array([0.7, 0.3, 0.5]), np.array([0.9, 0.8, 0.4]))
    kw = dict(
        lights=PointLights(ambient_color=[lights[0]], diffuse_color=[lights[1]],
                           specular_color=[lights[2]], location=[LIGHT]),
        cameras=cams,
        materials=Materials(ambient_color=[mat[0]], diffuse_color=[mat[1]],
                            specular_color=[mat[2]], shininess=mat[3]),
    )  # fmt: skip
    return meshes, frags, kw, mat, lights


def test_single_triangle_phong_and_flat_by_hand(triangle):
    meshes, frags, kw, mat, lights = triangle
    texels = sample_textures(frags, meshes)
    phong = np.asarray(phong_shading(meshes, frags, texels=texels, **kw))
    flat = np.asarray(flat_shading(meshes, frags, texels=texels, **kw))
    p2f, bary = np.asarray(frags.pix_to_face), np.asarray(frags.bary_coords, np.float64)
    n = np.array([0.0, 0.0, -1.0])  # cross(v1 - v0, v2 - v0) faces the camera
    hits = list(zip(*np.nonzero(p2f[..., 0] >= 0)))
    assert len(hits) > 20
    for idx in hits:
        p = bary[idx][0] @ TRI
        np.testing.assert_allclose(phong[idx][0], lit_by_hand(p, n, RGB, mat, lights), atol=1e-4)
        want = lit_by_hand(TRI.mean(0), n, RGB, mat, lights)
        np.testing.assert_allclose(flat[idx][0], want, atol=1e-4)
    assert np.ptp(phong[..., 0, 2][p2f[..., 0] >= 0]) > 1e-2  # lighting varies over the face


def test_single_triangle_gouraud_by_hand(triangle):
    meshes, frags, kw, mat, lights = triangle
    got = np.asarray(gouraud_shading(meshes, frags, **kw))
    n = np.array([0.0, 0.0, -1.0])
    per_vertex = np.stack([lit_by_hand(v, n, RGB, mat, lights) for v in TRI.astype(np.float64)])
    p2f, bary = np.asarray(frags.pix_to_face), np.asarray(frags.bary_coords, np.float64)
    for idx in zip(*np.nonzero(p2f[..., 0] >= 0)):
        np.testing.assert_allclose(got[idx][0], bary[idx][0] @ per_vertex, atol=1e-4)


def phong_naive(meshes, frags, texels, light, cam, shininess=64.0):
    """Per-pixel loop over packed faces with default colours (float64)."""
    verts = np.asarray(meshes.verts_packed(), np.float64)
    faces = np.asarray(meshes.faces_packed())
    vn = np.asarray(meshes.verts_normals_packed(), np.float64)
    p2f, bary = np.asarray(frags.pix_to_face), np.asarray(frags.bary_coords, np.float64)
    texels = np.asarray(texels, np.float64)
    out = np.zeros(texels.shape)
    for idx in np.ndindex(*p2f.shape):
        f = p2f[idx]
        if f < 0:
            continue
        p = bary[idx] @ verts[faces[f]]
        n = _unit(bary[idx] @ vn[faces[f]])
        l_dir = _unit(light - p)
        cos = float(n @ l_dir)
        r = -l_dir + 2 * cos * n
        v = _unit(cam[idx[0]] - p)
        spec = max(float(v @ r), 0.0) ** shininess if cos > 0 else 0.0
        out[idx] = (0.5 + 0.3 * max(cos, 0.0)) * texels[idx] + 0.2 * spec
    return out


@pytest.mark.slow
def test_phong_vs_naive_heterogeneous_batch():
    v1, f1 = ico_sphere_verts_faces(1)
    v0, f0 = ico_sphere_verts_faces(0)
    rng = np.random.default_rng(0)
    colors = [rng.random((len(v0), 3)), rng.random((len(v1), 3))]
    meshes = Meshes([v0, v1 * 0.8], [f0, f1], textures=TexturesVertex(colors))
    R = np.stack([np.eye(3), np.diag([-1.0, 1.0, -1.0])]).astype(np.float32)
    cams = FoVPerspectiveCameras(R=R, T=((0.0, 0.0, 3.0),) * 2)
    frags = MeshRasterizer(cams, RasterizationSettings(image_size=10, faces_per_pixel=2))(meshes)
    light = np.array([1.0, 1.0, -2.0])
    texels = sample_textures(frags, meshes)
    got = phong_shading(meshes, frags, PointLights(location=[light]), cams, Materials(), texels)
    want = phong_naive(meshes, frags, texels, light, np.asarray(cams.get_camera_center()))
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-4)
    jitted = jax.jit(phong_shading)(meshes, frags, PointLights(location=[light]), cams,
                                    Materials(), texels)  # fmt: skip
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(got), atol=1e-5)


def test_validation(triangle):
    meshes, frags, kw, _, _ = triangle
    with pytest.raises(ValueError, match="texels"):
        phong_shading(meshes, frags, texels=jnp.ones((1, 2, 2, 1, 3)), **kw)
    with pytest.raises(ValueError, match="TexturesVertex"):
        gouraud_shading(meshes.replace(textures=None), frags, **kw)
    with pytest.raises(ValueError, match="meshes"):
        flat_shading(meshes.extend(2), frags, texels=jnp.ones((1, 12, 12, 1, 3)), **kw)
