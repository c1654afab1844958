"""One rasterization path: a ``RasterPlan`` computed first, the same core run eagerly and jitted.

The plan functions are the only places where eager and ``jit`` differ: from the true bin counts
when the data are concrete, from the settings when they are traced. Given the same plan, the
eager call and the jitted call run the same compiled core, so their fragments are identical;
a plan too small for the data is never silent (a warning, exact results).
"""

from __future__ import annotations

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.renderer import (
    BlendParams,
    FoVPerspectiveCameras,
    MeshRasterizer,
    MeshRenderer,
    RasterizationSettings,
    SoftSilhouetteShader,
    look_at_view_transform,
)
from jax3d.renderer.binned_search import RasterPlan, jit_plan, plan_from_counts
from jax3d.renderer.mesh.rasterize_meshes import plan_mesh_rasterization, rasterize_face_verts
from jax3d.renderer.points.rasterize_points import (
    plan_points_rasterization,
    rasterize_points_padded,
)
from jax3d.utils import ico_sphere
from tests.renderer.test_rasterize_meshes import random_scene
from tests.renderer.test_rasterize_points import random_clouds

MESH_KW = dict(image_size=(16, 20), blur_radius=2e-3, bin_size=4)
POINTS_KW = dict(image_size=(16, 20), radius=0.15, bin_size=4)


def _assert_same(a, b):
    for x, y in zip(a, b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_mesh_plan_from_data_eagerly_and_from_settings_under_jit():
    fv, nf = random_scene(1, N=2, F=20, num_faces=[20, 9])
    eager = plan_mesh_rasterization(fv, nf, **MESH_KW)
    assert eager.tiers is not None and eager.bin_size == 4 and eager.num_bins == 4 * 5
    assert not eager.clip_z  # no clip plane
    # Data-based: the tiers cover the fullest bins with enough capacity, as plan_from_counts.
    from jax3d.renderer.mesh.rasterize_meshes import _bin_counts

    counts, totals = _bin_counts(jnp.asarray(fv), jnp.asarray(nf, jnp.int32), jnp.float32(0),
                                 image_size=(16, 20), blur_radius=2e-3, bin_size=4,
                                 perspective_correct=False, clip_z=False,
                                 cull_to_frustum=False, cull_backfaces=False)  # fmt: skip
    assert (eager.list_capacity, eager.tiers) == plan_from_counts(counts, totals, 20)
    seen = []
    jax.jit(lambda f: seen.append(plan_mesh_rasterization(f, nf, **MESH_KW)) or 0)(fv)
    E, tiers = jit_plan(20, 20, 2, None)
    assert seen == [RasterPlan(bin_size=4, num_bins=20, list_capacity=E, tiers=tiers)]
    assert tiers is None  # XLA under jit: no per-bin capacity, the dynamic search
    # A clip plane is planned away eagerly when nothing crosses it, kept under jit.
    assert not plan_mesh_rasterization(fv, nf, **MESH_KW, z_clip_value=0.1).clip_z
    assert plan_mesh_rasterization(fv, nf, **MESH_KW, z_clip_value=1.0).clip_z


def test_mesh_eager_and_jit_with_the_same_plan_are_identical():
    fv, nf = random_scene(2, N=2, F=20, num_faces=[20, 9])
    kw = dict(MESH_KW, faces_per_pixel=2)
    data_plan = plan_mesh_rasterization(fv, nf, **MESH_KW)  # tiers, from the counts
    eager = rasterize_face_verts(fv, nf, **kw, plan=data_plan)
    jitted = jax.jit(lambda f: rasterize_face_verts(f, nf, **kw, plan=data_plan))(fv)
    _assert_same(eager, jitted)
    # The settings' plan (the dynamic search) run eagerly: the same fragments. (Under jit it
    # is the default: tests/renderer/test_rasterize_meshes_jit.py.)
    settings_plan = RasterPlan(4, 20, *jit_plan(20, 20, 2, None))
    _assert_same(eager, rasterize_face_verts(fv, nf, **kw, plan=settings_plan))
    p2f = np.asarray(eager[0])
    assert (p2f[0] >= 0).any() and (p2f[1][p2f[1] >= 0] >= 20).all()  # packed indices


def test_points_plan_and_eager_equals_jit_with_the_same_plan():
    pts, n = random_clouds(3, N=2, P=40, num_points=[40, 17])
    eager_plan = plan_points_rasterization(pts, n, **POINTS_KW)
    assert eager_plan.tiers is not None
    seen = []
    jax.jit(lambda p: seen.append(plan_points_rasterization(p, n, **POINTS_KW)) or 0)(pts)
    E, tiers = jit_plan(40, 20, 2, None)
    assert seen == [RasterPlan(bin_size=4, num_bins=20, list_capacity=E, tiers=tiers)]
    kw = dict(POINTS_KW, points_per_pixel=4)
    eager = rasterize_points_padded(pts, n, **kw, plan=eager_plan)
    jitted = jax.jit(lambda p: rasterize_points_padded(p, n, **kw, plan=eager_plan))(pts)
    _assert_same(eager, jitted)  # (the settings' plan: test_rasterize_meshes_jit.py)
    assert (np.asarray(eager[0])[..., 0] >= 0).mean() > 0.1  # covered pixels


def test_a_plan_too_small_warns_and_stays_exact():
    fv, nf = random_scene(4, N=2, F=20)
    kw = dict(MESH_KW, faces_per_pixel=2)
    exact = rasterize_face_verts(fv, nf, **kw)
    small = RasterPlan(bin_size=4, num_bins=20, list_capacity=8, tiers=((2, 1),))
    with pytest.warns(UserWarning, match="overflowed their plan"):
        out = rasterize_face_verts(fv, nf, **kw, plan=small)
        jax.block_until_ready(out)
    _assert_same(exact, out)
    with pytest.raises(ValueError, match="bins"):
        rasterize_face_verts(fv, nf, **dict(kw, image_size=32), plan=small)
    with pytest.raises(TypeError, match="RasterPlan"):
        rasterize_points_padded(np.zeros((1, 3, 3)), [3], 8, plan=(8, None))


def test_mesh_rasterizer_plans_eagerly_and_a_jitted_renderer_reuses_the_plan():
    mesh = ico_sphere(1)
    R, T = look_at_view_transform(2.7, 10.0, 20.0)
    settings = RasterizationSettings(image_size=24, blur_radius=1e-3, faces_per_pixel=3,
                                     bin_size=8)  # fmt: skip
    rasterizer = MeshRasterizer(FoVPerspectiveCameras(R=R, T=T), settings)
    plan = rasterizer.plan(mesh)
    assert isinstance(plan, RasterPlan) and plan.tiers is not None  # from the data
    assert plan.bin_size == 8 and plan.num_bins == 9
    seen = []
    jax.jit(lambda m: seen.append(rasterizer.plan(m)) or 0)(mesh)
    assert seen[0].tiers is None  # traced: from the settings
    eager = rasterizer(mesh)
    renderer = MeshRenderer(rasterizer, SoftSilhouetteShader(BlendParams(sigma=1e-4)))

    @jax.jit
    def render(r, m):  # the plan is a static value closed over; cameras and mesh are traced
        return r.rasterizer(m, plan=plan), r(m, plan=plan)

    frags, images = render(renderer, mesh)
    _assert_same((frags.pix_to_face, frags.zbuf, frags.bary_coords, frags.dists),
                 (eager.pix_to_face, eager.zbuf, eager.bary_coords, eager.dists))  # fmt: skip
    np.testing.assert_allclose(images, renderer(mesh), atol=1e-6)
    with pytest.raises(TypeError, match="RasterPlan"):
        rasterizer(mesh, plan="auto")


def test_eager_cores_hold_no_host_callback_so_the_compilation_cache_can_store_them():
    # JAX's persistent cache skips programs with host callbacks: the overflow and clip
    # warnings of an eager call are issued in Python from the returned report instead
    rm = importlib.import_module("jax3d.renderer.mesh.rasterize_meshes")
    rp = importlib.import_module("jax3d.renderer.points.rasterize_points")

    fv, nf = random_scene(3, N=1, F=12, num_faces=[12])
    plan = plan_mesh_rasterization(fv, nf, **MESH_KW)
    text = rm._search_core.lower(
        jnp.asarray(fv), jnp.asarray(nf, jnp.int32), jnp.float32(0.1), plan=plan,
        image_size=(16, 20), blur_radius=2e-3, faces_per_pixel=2, perspective_correct=False,
        clip_barycentric_coords=False, cull_backfaces=False, cull_to_frustum=False,
        z_clip=True, backend="xla").as_text()  # fmt: skip
    pts, npts = random_clouds(0, N=1, P=10, num_points=[10])
    pplan = plan_points_rasterization(pts, npts, **POINTS_KW)
    ptext = rp._rasterize_points_core.lower(
        jnp.asarray(pts), jnp.asarray(npts, jnp.int32), jnp.full((1, 10), 0.15, jnp.float32),
        image_size=(16, 20), points_per_pixel=2, plan=pplan).as_text()  # fmt: skip
    for t in (text, ptext):
        assert "callback" not in t.lower()
    # ... while a call inside the user's jit still warns (the report is traced there)
    tiny = RasterPlan(bin_size=4, num_bins=20, list_capacity=1, tiers=((20, 1),))
    with pytest.warns(UserWarning, match="overflowed"):
        jax.block_until_ready(jax.jit(lambda f: rasterize_face_verts(
            f, nf, **MESH_KW, faces_per_pixel=2, plan=tiny)[0])(jnp.asarray(fv)))  # fmt: skip
