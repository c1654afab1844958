"""PyTorch3D's device arguments and methods (jax3d.device), PRNG keys (jax3d.prng) and the
errors that replace PyTorch3D's in-place idioms."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.device import as_device, device_put
from jax3d.prng import require_key
from jax3d.renderer import (
    AlphaCompositor,
    AmbientLights,
    BlendParams,
    DirectionalLights,
    FoVPerspectiveCameras,
    HardPhongShader,
    Materials,
    MeshRasterizer,
    MeshRenderer,
    PerspectiveCameras,
    PointLights,
    PointsRasterizer,
    PointsRenderer,
    SoftPhongShader,
    TexturesVertex,
)
from jax3d.structures import Meshes, Pointclouds
from jax3d.transforms import Rotate, Transform3d, Translate, random_rotations

CPU = jax.devices("cpu")[0]
HAS_GPU = any(d.platform == "gpu" for d in jax.devices())


def _mesh():
    verts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], np.int32)
    return Meshes([verts], [faces], textures=TexturesVertex([verts]))


def test_as_device_names_jax_devices():
    assert as_device(None) is None
    assert as_device(CPU) is CPU
    assert as_device("cpu") == CPU and as_device("CPU:0") == CPU
    with pytest.raises(ValueError, match="unknown device 'mps'"):
        as_device("mps")
    with pytest.raises(ValueError, match="only"):
        as_device(f"cpu:{len(jax.devices('cpu'))}")
    with pytest.raises(TypeError, match="device must be"):
        as_device(3)
    if not HAS_GPU:
        with pytest.raises(ValueError, match="no cuda devices"):
            as_device("cuda:0")


def test_device_put_places_and_leaves_tracers_alone():
    x = device_put(np.ones(3, np.float32), "cpu")
    assert isinstance(x, jax.Array) and x.devices() == {CPU}
    assert device_put(x, None) is x
    assert jax.jit(lambda v: device_put(v, "cpu") * 2)(x).shape == (3,)


@pytest.mark.parametrize("make", [
    lambda: FoVPerspectiveCameras(fov=50.0, device="cpu"),
    lambda: PerspectiveCameras(focal_length=2.0, device=CPU),
    lambda: Transform3d(device="cpu").translate(1.0, 2.0, 3.0),
    lambda: Translate(1.0, 2.0, 3.0, device="cpu"),
    _mesh,
    lambda: _mesh().textures,
    lambda: Pointclouds([np.ones((4, 3))], features=[np.ones((4, 2))]),
    lambda: PointLights(location=((0.0, 1.0, 2.0),), device="cpu"),
    lambda: DirectionalLights(device=CPU),
    lambda: AmbientLights(ambient_color=(0.2, 0.3, 0.4), device="cpu"),
    lambda: Materials(shininess=10.0, device="cpu"),
    lambda: SoftPhongShader(device="cpu", cameras=FoVPerspectiveCameras()),
    lambda: MeshRenderer(MeshRasterizer(FoVPerspectiveCameras()),
                         HardPhongShader(cameras=FoVPerspectiveCameras())),
    lambda: PointsRenderer(PointsRasterizer(FoVPerspectiveCameras()), AlphaCompositor()),
])  # fmt: skip
def test_device_methods(make):
    obj = make()
    assert obj.device == CPU
    leaves = jax.tree_util.tree_leaves(obj)
    for other in (obj.to("cpu"), obj.cpu(), obj.to(CPU, copy=True), obj.clone(), obj.detach()):
        assert type(other) is type(obj)
        for a, b in zip(jax.tree_util.tree_leaves(other), leaves):
            np.testing.assert_allclose(a, b, rtol=1e-7)  # Python float leaves become float32
    if not HAS_GPU:
        with pytest.raises(ValueError, match="no cuda devices"):
            obj.cuda()


def test_lights_materials_shaders_take_pytorch3d_device_arguments():
    # PyTorch3D's positions: lights and materials end with `device`; ShaderBase starts with it
    lights = PointLights((0.1,) * 3, (0.2,) * 3, (0.3,) * 3, ((1.0, 2.0, 3.0),), "cpu")
    np.testing.assert_allclose(lights.location, [[1.0, 2.0, 3.0]])
    assert lights.device == CPU and lights.location.devices() == {CPU}
    mats = Materials((1,) * 3, (1,) * 3, (1,) * 3, 8.0, "cpu")
    assert float(mats.shininess[0]) == 8.0 and mats.device == CPU
    cams = FoVPerspectiveCameras()
    shader = SoftPhongShader("cpu", cams, lights, mats, BlendParams(sigma=1e-3))
    assert shader.lights is lights or shader.lights.location.devices() == {CPU}
    assert shader.blend_params.sigma == 1e-3 and shader.materials.shininess[0] == 8.0
    with pytest.raises(TypeError):
        AmbientLights((0.5, 0.5, 0.5))  # keyword-only, as PyTorch3D's
    if not HAS_GPU:
        for make in (lambda: PointLights(device="cuda"), lambda: Materials(device="cuda:0"),
                     lambda: HardPhongShader(device="cuda")):
            with pytest.raises(ValueError, match="no cuda devices"):
                make()
    # `device` is not a pytree field: replace() and jit keep working, the device is kept
    moved = jax.jit(lambda li: li.replace(location=li.location * 2.0))(lights)
    np.testing.assert_allclose(moved.location, [[2.0, 4.0, 6.0]])
    assert len(jax.tree_util.tree_leaves(shader)) == len(
        jax.tree_util.tree_leaves(SoftPhongShader(cameras=cams, lights=lights, materials=mats)))


def test_detach_stops_gradients_of_cameras():
    cams = FoVPerspectiveCameras(fov=50.0)

    def f(fov, detach):
        c = cams.replace(fov=fov)
        c = c.detach() if detach else c
        return c.get_projection_transform().get_matrix().sum()

    assert float(jax.grad(f)(jnp.array([50.0]), False)[0]) != 0.0
    assert float(jax.grad(f)(jnp.array([50.0]), True)[0]) == 0.0


def test_assignment_errors_name_the_functional_replacement():
    cams = FoVPerspectiveCameras()
    with pytest.raises(AttributeError, match=r"cameras = cameras.replace\(R=...\)"):
        cams.R = jnp.eye(3)[None]
    mesh = _mesh()
    with pytest.raises(AttributeError, match=r"meshes = meshes.replace\(textures=...\)"):
        mesh.textures = None
    clouds = Pointclouds([np.ones((4, 3))])
    with pytest.raises(AttributeError, match=r"pointclouds.replace\(points=...\)"):
        clouds.points = None


def test_in_place_methods_raise_with_the_replacement():
    mesh, clouds = _mesh(), Pointclouds([np.ones((4, 3))])
    with pytest.raises(TypeError, match=r"meshes = meshes.offset_verts\(offsets\)"):
        mesh.offset_verts_(jnp.ones(3))
    with pytest.raises(TypeError, match=r"meshes = meshes.scale_verts\(scale\)"):
        mesh.scale_verts_(2.0)
    with pytest.raises(TypeError, match=r"clouds = clouds.offset\(offsets\)"):
        clouds.offset_(jnp.ones(3))
    with pytest.raises(TypeError, match=r"clouds = clouds.scale\(scale\)"):
        clouds.scale_(2.0)
    with pytest.raises(TypeError, match="update_padded"):
        clouds.estimate_normals(assign_to_self=True)


def test_keys_are_required_keyword_arguments():
    key = jax.random.key(0)
    assert require_key(key, "f") is key
    assert require_key(jax.random.PRNGKey(0), "f").shape == (2,)
    with pytest.raises(TypeError, match="f samples randomly and needs a PRNG key"):
        require_key(None, "f")
    with pytest.raises(TypeError, match="key must be a jax.random key"):
        require_key(np.zeros(3), "f")
    assert random_rotations(2, None, "cpu", key=key).shape == (2, 3, 3)  # PyTorch3D's + key
    with pytest.raises(TypeError, match="key"):
        random_rotations(2)
    with pytest.raises(TypeError, match="key"):
        Pointclouds([np.ones((5, 3))]).subsample(2, key=None)


def test_transform_signatures_match_pytorch3d_positions():
    t = Rotate(jnp.eye(3), jnp.float32, "cpu", 1e-5)
    np.testing.assert_array_equal(t.get_matrix(), np.eye(4)[None])
    assert Transform3d(jnp.float32, None, np.eye(4)).get_matrix().shape == (1, 4, 4)
    assert Transform3d().to("cpu", dtype=jnp.float16).get_matrix().dtype == jnp.float16
