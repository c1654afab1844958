"""Forward-mode autodiff (``jax.jvp``, ``jax.jacfwd``) through mesh rasterization + shading and
the point renderer, against central finite differences and against reverse mode (issue #20:
Gauss-Newton / Levenberg-Marquardt pose refinement needs Jacobians of rendered images).

Scenes are 16 x 16 and the settings smooth (blur radius ``log(1 / 1e-4 - 1) sigma`` so that a
face enters the blur with a negligible weight, back faces culled, K above the faces a pixel
can see), so that the images are differentiable in the camera position and in the vertices
and finite differences converge.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.renderer import (
    AlphaCompositor,
    BlendParams,
    FoVPerspectiveCameras,
    MeshRasterizer,
    MeshRenderer,
    PointLights,
    PointsRasterizationSettings,
    PointsRasterizer,
    PointsRenderer,
    RasterizationSettings,
    SoftPhongShader,
    SoftSilhouetteShader,
    TexturesVertex,
    look_at_rotation,
)
from jax3d.structures import Meshes, Pointclouds
from jax3d.utils import ico_sphere_verts_faces

SIGMA = 1e-3
_SETTINGS = RasterizationSettings(image_size=16, faces_per_pixel=6, cull_backfaces=True,
                                  blur_radius=math.log(1 / 1e-4 - 1) * SIGMA)  # fmt: skip
_BLEND = BlendParams(sigma=SIGMA, gamma=1e-2)
_LIGHTS = PointLights(location=((1.0, 2.0, -2.0),))
_VERTS, _FACES = ico_sphere_verts_faces(1)
_POS = jnp.asarray([0.4, 0.3, -2.6])  # camera position, looking at the origin
_DPOS = jnp.asarray([0.3, -0.2, 0.5])


def _camera_at(position):
    R = look_at_rotation(position[None])
    return FoVPerspectiveCameras(R=R, T=-jnp.einsum("bji,bj->bi", R, position[None]))


def _mesh(verts):
    colors = 0.5 + 0.4 * jnp.asarray(_VERTS)  # smooth vertex colours
    return Meshes([verts], [_FACES], textures=TexturesVertex([colors]))


_PHONG = MeshRenderer(MeshRasterizer(None, _SETTINGS),
                      SoftPhongShader(lights=_LIGHTS, blend_params=_BLEND))  # fmt: skip
_SILHOUETTE = MeshRenderer(MeshRasterizer(None, _SETTINGS), SoftSilhouetteShader(_BLEND))


def _phong(position, verts):
    cameras = _camera_at(position)
    return _PHONG(_mesh(verts), cameras=cameras)


def _silhouette_of(position, verts):
    return _SILHOUETTE(_mesh(verts), cameras=_camera_at(position))[..., 3]


def _silhouette(position):
    return _silhouette_of(position, jnp.asarray(_VERTS))


def _points(position, points):
    renderer = PointsRenderer(
        PointsRasterizer(None, PointsRasterizationSettings(image_size=16, radius=0.25,
                                                           points_per_pixel=12)),
        AlphaCompositor())  # fmt: skip
    clouds = Pointclouds(points[None], features=(0.5 + 0.4 * points)[None])
    return renderer(clouds, cameras=_camera_at(position))


def _close(tangent, fd, rtol):
    """Relative L2 error of a directional derivative (a few pixels may sit on a kink)."""
    tangent, fd = np.asarray(tangent, np.float64), np.asarray(fd, np.float64)
    err = np.linalg.norm(tangent - fd) / np.linalg.norm(tangent)
    assert np.linalg.norm(tangent) > 0 and err < rtol, err


EPS = 1e-3  # central-difference step (positions ~3, float32 images)
# Tiny programs: compile time dominates, and LLVM's optimisations (results unchanged) take
# about a third of it.
_FAST_COMPILE = {"xla_backend_optimization_level": 0}


def _jvp_and_back(f):
    """Jitted ``(primals, tangents) -> (f(primals), J tangents, J^T J tangents)``: one
    compiled function gives the JVP, the primal values for the difference quotient (at
    ``primals +- eps tangents``) and the reverse-mode check."""

    def run(primals, tangents):
        out, tangent = jax.jvp(f, primals, tangents)
        return out, tangent, jax.vjp(f, *primals)[1](tangent)

    return jax.jit(run, compiler_options=_FAST_COMPILE)


def _check_jvp(f, primals, tangents, rtol=0.05):
    """JVP against central differences, and <J v, J v> (forward) = <J^T J v, v> (reverse)."""
    run = _jvp_and_back(f)
    _, tangent, back = run(primals, tangents)
    plus, minus = (run(jax.tree.map(lambda x, t, s=s: x + s * t, primals, tangents),
                       tangents)[0] for s in (EPS, -EPS))  # fmt: skip
    _close(tangent, (plus - minus) / (2 * EPS), rtol)
    lhs = float(jnp.sum(tangent * tangent))
    rhs = sum(float(jnp.sum(b * t)) for b, t in zip(back, tangents))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-4)
    return tangent


def test_mesh_silhouette_jvp_matches_finite_differences_and_reverse_mode():
    """Soft silhouette (rasterization + sigmoid blend), jitted: JVP in the camera position and
    the vertices."""
    verts = jnp.asarray(_VERTS)
    dverts = 0.1 * jax.random.normal(jax.random.PRNGKey(0), verts.shape)
    _check_jvp(_silhouette_of, (_POS, verts), (_DPOS, dverts))


def test_points_jvp_matches_finite_differences_and_reverse_mode():
    """PointsRenderer + AlphaCompositor, jitted: JVP in the camera position and the points."""
    points = 0.5 * jax.random.normal(jax.random.PRNGKey(1), (10, 3))
    dpoints = 0.1 * jax.random.normal(jax.random.PRNGKey(2), (10, 3))
    _check_jvp(_points, (_POS, points), (_DPOS, dpoints))


@pytest.mark.slow
def test_mesh_phong_jvp_matches_finite_differences_and_reverse_mode():
    """SoftPhong (rasterization, vertex textures, lighting, softmax blend), jitted."""
    verts = jnp.asarray(_VERTS)
    dverts = 0.1 * jax.random.normal(jax.random.PRNGKey(0), verts.shape)
    _check_jvp(_phong, (_POS, verts), (_DPOS, dverts))


@pytest.mark.slow
def test_jacfwd_eagerly_matches_finite_differences_and_jit():
    """``jax.jacfwd`` eagerly (the rasterizers' other path: plans from concrete counts) for the
    soft silhouette and the points renderer: each column equals central differences and the
    jitted Jacobian."""
    points = 0.5 * jax.random.normal(jax.random.PRNGKey(1), (10, 3))
    for f in (_silhouette, lambda p: _points(p, points)):
        jac = jax.jacfwd(f)(_POS)
        np.testing.assert_allclose(np.asarray(jac), np.asarray(jax.jit(jax.jacfwd(f))(_POS)),
                                   rtol=1e-4, atol=1e-4)  # fmt: skip
        for i in range(3):
            e = jnp.zeros(3).at[i].set(EPS)
            _close(jac[..., i], (f(_POS + e) - f(_POS - e)) / (2 * EPS), 0.05)


def test_jvp_of_the_rasterizer_keeps_its_primal_fragments():
    """``jax.jvp`` through the rasterizer returns the same fragments as the plain call. At 64 px
    this scene has pixels outside a vertex where two edges tie exactly; selecting the nearest
    edge's end coordinates one at a time once mixed the ends of two edges in the compiled
    forward-mode program (dists 4.5e-5 instead of 5.8e-4 at one fragment), so forward and
    reverse mode disagreed (the slow test below)."""
    sigma = 1e-4
    settings = RasterizationSettings(image_size=64, faces_per_pixel=12, cull_backfaces=True,
                                     blur_radius=math.log(1 / 1e-4 - 1) * sigma)  # fmt: skip
    rasterizer = MeshRasterizer(None, settings)
    verts, faces = ico_sphere_verts_faces(2)

    def fragments(position):
        frags = rasterizer(Meshes([verts], [faces]), cameras=_camera_at(position))
        return frags.dists, frags.zbuf

    plain = fragments(_POS)
    primal, _ = jax.jvp(fragments, (_POS,), (jnp.asarray([1.0, 0.0, 0.0]),))
    for a, b in zip(plain, primal):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=1e-7)


@pytest.mark.slow
def test_silhouette_jacfwd_under_jit_at_a_larger_size():
    """A Gauss-Newton-sized problem: the 64 x 64 soft silhouette of a 320-face sphere, jitted
    ``jacfwd`` in the camera position; ``J^T r`` equals reverse mode's ``vjp(r)``. (Shaded
    images are ill-conditioned where a face's weight is at the blur cutoff, so the check uses
    the silhouette, with K above the faces within the blur of any pixel.)"""
    sigma = 1e-4
    settings = RasterizationSettings(image_size=64, faces_per_pixel=12, cull_backfaces=True,
                                     blur_radius=math.log(1 / 1e-4 - 1) * sigma)  # fmt: skip
    renderer = MeshRenderer(MeshRasterizer(None, settings),
                            SoftSilhouetteShader(BlendParams(sigma=sigma)))  # fmt: skip
    verts, faces = ico_sphere_verts_faces(2)

    def render(position):
        return renderer(Meshes([verts], [faces]), cameras=_camera_at(position))[..., 3]

    jac = jax.jit(jax.jacfwd(render))(_POS)  # (1, 64, 64, 3)
    r = jax.random.normal(jax.random.PRNGKey(3), jac.shape[:-1])
    back = jax.jit(lambda p, r: jax.vjp(render, p)[1](r)[0])(_POS, r)
    np.testing.assert_allclose(np.asarray(jnp.einsum("...i,...->i", jac, r)), np.asarray(back),
                               rtol=1e-3)  # fmt: skip
    assert np.abs(np.asarray(jac)).sum() > 0
