"""Runs with 4 forced CPU devices (`XLA_FLAGS=--xla_force_host_platform_device_count=4`):
compares training steps and batch renders on a 4-device mesh with the same on 1 device and
prints one JSON object of maximum differences. Used by test_parallel.py in a subprocess."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.structures import Pointclouds
from jax3d.train import make_data_mesh, make_train_step, shard_batch, sharded_map
from jax3d.utils import ico_sphere
from tests.train._toy import MLP, data, loss_fn_for, make_state


def _max_diff(a, b) -> float:
    diffs = jax.tree.map(lambda x, y: float(np.max(np.abs(np.asarray(x) - np.asarray(y)))), a, b)
    return max(jax.tree.leaves(diffs))


def train_steps(meshes) -> dict:
    """Two steps of the toy model (dropout + BatchNorm + accumulation) on 1 and 4 devices."""
    out = {}
    model = MLP(dropout=0.3, batch_norm=True)
    batch = data(16)
    results = []
    for mesh in meshes:
        state = make_state(model, ema_decay=0.9)
        step = make_train_step(loss_fn_for(model), accum_steps=2, mesh=mesh)
        state, m = step(state, shard_batch(batch, mesh))
        state, m = step(state, shard_batch(batch, mesh))
        results.append((state, m))
        out[f"params_devices_{len(mesh.devices.flat)}"] = len(
            state.params["Dense_0"]["kernel"].sharding.device_set)
    out["train_params"] = _max_diff(results[0][0].params, results[1][0].params)
    out["train_mutable"] = _max_diff(results[0][0].mutable, results[1][0].mutable)
    out["train_metrics"] = _max_diff(results[0][1], results[1][1])
    out["batch_sharded_over"] = len(shard_batch(batch, meshes[1])["x"].sharding.device_set)
    return out


def _cameras(n):
    from jax3d.renderer.cameras import FoVPerspectiveCameras, look_at_view_transform

    R, T = look_at_view_transform(dist=2.7, elev=jnp.linspace(-20, 30, n),
                                  azim=jnp.linspace(0, 270, n))
    return FoVPerspectiveCameras(R=R, T=T)


def renders(meshes) -> dict:
    from jax3d.renderer import (
        AlphaCompositor,
        EmissionAbsorptionRaymarcher,
        ImplicitRenderer,
        MeshRasterizer,
        MeshRenderer,
        NDCMultinomialRaysampler,
        PointsRasterizationSettings,
        PointsRasterizer,
        PointsRenderer,
        RasterizationSettings,
        SoftSilhouetteShader,
    )

    n = 8
    cams = _cameras(n)
    sphere = ico_sphere(2)
    mesh_renderer = MeshRenderer(
        rasterizer=MeshRasterizer(raster_settings=RasterizationSettings(
            image_size=24, blur_radius=1e-3, faces_per_pixel=4)),
        shader=SoftSilhouetteShader(),
    )
    rng = np.random.default_rng(0)
    points = jnp.asarray(rng.uniform(-0.8, 0.8, (300, 3)), jnp.float32)
    clouds = Pointclouds(points=[points], features=[jnp.asarray(rng.uniform(size=(300, 3)),
                                                                jnp.float32)])
    points_renderer = PointsRenderer(
        rasterizer=PointsRasterizer(raster_settings=PointsRasterizationSettings(
            image_size=24, radius=0.06, points_per_pixel=4)),
        compositor=AlphaCompositor(),
    )
    implicit = ImplicitRenderer(
        raysampler=NDCMultinomialRaysampler(image_width=12, image_height=12, n_pts_per_ray=16,
                                            min_depth=1.5, max_depth=4.0),
        raymarcher=EmissionAbsorptionRaymarcher(),
    )

    def field(ray_bundle, **kwargs):
        from jax3d.renderer.implicit.raybundle import ray_bundle_to_ray_points

        pts = ray_bundle_to_ray_points(ray_bundle)
        density = jax.nn.sigmoid(20.0 * (0.7 - jnp.linalg.norm(pts, axis=-1, keepdims=True)))
        return density, 0.5 + 0.5 * jnp.tanh(pts)

    fns = {
        "mesh": lambda c: mesh_renderer(sphere.extend(len(c)), cameras=c),
        "points": lambda c: points_renderer(clouds.extend(len(c)), cameras=c),
        "implicit": lambda c: implicit(cameras=c, volumetric_function=field)[0],
    }
    out = {}
    for name, fn in fns.items():
        images = [np.asarray(sharded_map(fn, mesh)(cams)) for mesh in meshes]
        out[f"render_{name}"] = float(np.max(np.abs(images[0] - images[1])))
        out[f"render_{name}_mean"] = float(np.mean(np.abs(images[0])))
    return out


def errors() -> dict:
    """Clear errors: a batch that does not split over the devices, a mesh too large."""
    out = {}
    for name, call in (("indivisible", lambda: shard_batch({"x": np.zeros((6, 2))},
                                                           make_data_mesh(4))),
                       ("too_many", lambda: make_data_mesh(5))):  # fmt: skip
        try:
            call()
            out[name] = "no error"
        except ValueError as err:
            out[name] = str(err)
    return out


if __name__ == "__main__":
    assert jax.device_count() == 4, jax.devices()
    meshes = [make_data_mesh(1), make_data_mesh(4)]
    result = {**train_steps(meshes), **renders(meshes), **errors()}
    print("RESULT " + json.dumps(result))
