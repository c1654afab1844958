"""Degenerate inputs and bad arguments of the public API (issue #21), as two tables.

Shared by ``tests/test_degenerate_sweep.py`` (one test per entry) and
``benchmarks/degenerate_sweep.py`` (prints the counts). Not a test module itself.

- ``DEGENERATE``: :class:`Case` entries. ``case.fn(x)`` must give finite values and
  ``jax.grad`` of the sum of its float outputs with respect to ``x`` (any pytree of float
  arrays) must be finite. ``owner`` says which part of the code base is responsible.
- ``BAD_ARGUMENTS``: :class:`BadArg` entries. ``entry.call()`` must raise ``ValueError`` or
  ``TypeError`` whose message names ``entry.argument``.

Inputs are tiny (16 x 16 images, a cube, a handful of points) so that the whole sweep runs
in seconds; cases of one group share their functions so jit caches are reused.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jax3d.ops as ops
import jax3d.transforms as T
from jax3d.loss import (
    chamfer_distance,
    mesh_edge_loss,
    mesh_laplacian_smoothing,
    mesh_normal_consistency,
    point_mesh_edge_distance,
    point_mesh_face_distance,
)
from jax3d.renderer import (
    AlphaCompositor,
    BlendParams,
    EmissionAbsorptionRaymarcher,
    FoVOrthographicCameras,
    FoVPerspectiveCameras,
    MeshRasterizer,
    MeshRenderer,
    NDCMultinomialRaysampler,
    OrthographicCameras,
    PerspectiveCameras,
    PointsRasterizationSettings,
    PointsRasterizer,
    PointsRenderer,
    RasterizationSettings,
    SoftSilhouetteShader,
    TexturesUV,
    TexturesVertex,
    VolumeRenderer,
    look_at_view_transform,
)
from jax3d.structures import Meshes, Pointclouds, Volumes
from jax3d.utils import cube

__all__ = [
    "BAD_ARGUMENTS",
    "BATCHED",
    "DEGENERATE",
    "BadArg",
    "Case",
    "all_finite",
    "check_bad_argument",
    "check_case",
    "total",
    "value_and_grad",
]

RENDER_OWNER = "render helper: depth-0 divide in rasterizer"
RENDER_BAD_ARG_OWNER = "render helper: rasterizer settings"


@dataclasses.dataclass(frozen=True)
class Case:
    """``fn(x)`` must be finite in value and in ``grad(total(fn(x)))(x)``.

    ``fn`` objects are shared between cases whose inputs have the same shapes, so that the
    jitted value-and-gradient function (``jit=True``) compiles once for all of them.
    ``fast`` cases run in the default test suite, the others only with ``-m slow``.
    """

    name: str
    fn: Callable[[Any], Any]
    x: Callable[[], Any]  # built lazily (the table is imported at collection time)
    owner: str = "numeric"
    jit: bool = True
    fast: bool = False


@dataclasses.dataclass(frozen=True)
class BadArg:
    """``call()`` must raise ValueError/TypeError mentioning ``argument``."""

    name: str
    call: Callable[[], Any]
    argument: str
    owner: str = "numeric"
    fast: bool = True


def total(out) -> jax.Array:
    """Sum of every float leaf of ``out`` (a scalar to differentiate)."""
    leaves = [jnp.sum(x) for x in jax.tree.leaves(out)
              if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)]  # fmt: skip
    return sum(leaves, jnp.float32(0.0))


_VALUE_AND_GRAD: dict = {}
_FAST_COMPILE = {"xla_backend_optimization_level": 0}


def value_and_grad(case: Case):
    """``(fn(x), grad(total(fn(x)))(x))`` of ``case``, through one cached (jitted) function
    per ``case.fn``."""
    key = (case.fn, case.jit)
    if key not in _VALUE_AND_GRAD:
        def f(x):
            out = case.fn(x)
            return total(out), out

        vg = jax.value_and_grad(f, has_aux=True)
        # Tiny inputs: compile time dominates, and LLVM's optimisations (which leave the
        # results unchanged) take about a third of it.
        _VALUE_AND_GRAD[key] = jax.jit(vg, compiler_options=_FAST_COMPILE) if case.jit else vg
    (_, out), grad = _VALUE_AND_GRAD[key](case.x())
    return out, grad


def all_finite(tree) -> bool:
    """True when every float leaf of ``tree`` is finite."""
    leaves = [np.asarray(x) for x in jax.tree.leaves(tree)]
    return all(np.all(np.isfinite(x)) for x in leaves if np.issubdtype(x.dtype, np.floating))


def check_case(case: Case) -> str:
    """'ok', 'value' (a non-finite value), 'grad' (a non-finite gradient) or 'error: ...'."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. the alignment's "too few points" warning
            out, grad = value_and_grad(case)
    except Exception as err:  # noqa: BLE001 - any failure is a finding of the sweep
        return f"error: {type(err).__name__}: {str(err)[:160]}"
    if not all_finite(out):
        return "value"
    return "ok" if all_finite(grad) else "grad"


def check_bad_argument(entry: BadArg) -> str:
    """'clear', 'silent' (no error) or 'unclear: ...' (an error that does not name the
    argument, or of another type)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            jax.block_until_ready(entry.call())
    except (ValueError, TypeError) as err:
        if entry.argument.lower() in str(err).lower():
            return "clear"
        return f"unclear: {type(err).__name__}: {str(err)[:160]}"
    except Exception as err:  # noqa: BLE001
        return f"unclear: {type(err).__name__}: {str(err)[:160]}"
    return "silent"


def _f32(x) -> jax.Array:
    return jnp.asarray(x, jnp.float32)


# ------------------------------------------------------------------------- geometry fixtures
_CUBE_V, _CUBE_F = (np.asarray(a) for a in (cube().verts_list()[0], cube().faces_list()[0]))
_TRI_F = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 1], [1, 3, 2]], np.int32)  # a tetrahedron
_TETRA_V = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)


def _tetra(v) -> Meshes:
    return Meshes(verts=v[None], faces=jnp.asarray(_TRI_F)[None])


def _degenerate_tetras() -> dict[str, np.ndarray]:
    """Vertex sets of a tetrahedron's topology that make faces degenerate."""
    v = _TETRA_V
    return {
        "zero-area face (duplicate vertex)": np.stack([v[0], v[1], v[1], v[3]]),
        "collinear vertices": np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 0, 1]], np.float32),
        "all vertices coincident": np.zeros((4, 3), np.float32),
        "flat (coplanar) tetrahedron": np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]],
                                                np.float32),  # fmt: skip
    }


def _with_empty(v) -> Meshes:
    """A batch of the tetrahedron ``v`` and an empty mesh."""
    return Meshes(verts=[v, jnp.zeros((0, 3))],
                  faces=[jnp.asarray(_TRI_F), jnp.zeros((0, 3), jnp.int32)])  # fmt: skip


# ------------------------------------------------------------------------------- transforms
def _rotation(axis, angle: float) -> np.ndarray:
    """Rodrigues' formula in NumPy (float64, then float32): (3, 3)."""
    a = np.asarray(axis, np.float64) / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return (np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k).astype(np.float32)


def _rot_pi(axis) -> np.ndarray:
    return _rotation(axis, math.pi)


_QUATERNIONS = {
    "zero": [0.0, 0.0, 0.0, 0.0],
    "tiny (1e-20)": [1e-20, 0.0, 0.0, 0.0],
    "identity": [1.0, 0.0, 0.0, 0.0],
    "minus identity": [-1.0, 0.0, 0.0, 0.0],
    "180 deg about x": [0.0, 1.0, 0.0, 0.0],
}
_AXIS_ANGLES = {
    "zero": [0.0, 0.0, 0.0],
    "tiny (1e-20)": [1e-20, 0.0, 0.0],
    "pi about x": [math.pi, 0.0, 0.0],
    "2 pi about y": [0.0, 2 * math.pi, 0.0],
}
_MATRICES = {
    "identity": lambda: np.eye(3, dtype=np.float32),
    "pi about x": lambda: _rot_pi([1, 0, 0]),
    "pi about z": lambda: _rot_pi([0, 0, 1]),
    "pi about (1, 1, 1)": lambda: _rot_pi([1, 1, 1]),
    "pi - 1e-4 about y": lambda: _rotation([0, 1, 0], math.pi - 1e-4),
}


def _euler_xyz(x):
    return T.matrix_to_euler_angles(x, "XYZ")


def _euler_zxz(x):
    return T.matrix_to_euler_angles(x, "ZXZ")


def _transform_cases() -> list[Case]:
    cases = []
    for name, q in _QUATERNIONS.items():
        for fn in (T.quaternion_to_matrix, T.quaternion_to_axis_angle):
            cases.append(Case(f"{fn.__name__}: {name} quaternion", fn, lambda q=q: _f32(q)))
    cases.append(Case("quaternion_apply: zero quaternion",
                      lambda x: T.quaternion_apply(x[0], x[1]),
                      lambda: (_f32([0, 0, 0, 0]), _f32([1, 2, 3]))))  # fmt: skip
    for name, a in _AXIS_ANGLES.items():
        for fn in (T.axis_angle_to_matrix, T.axis_angle_to_quaternion, T.so3_exp_map):
            cases.append(Case(f"{fn.__name__}: {name}", fn, lambda a=a: _f32(a)))  # fmt: skip
    for name, m in _MATRICES.items():
        for fn in (T.matrix_to_quaternion, T.matrix_to_axis_angle, T.so3_log_map,
                   T.so3_rotation_angle, _euler_xyz):  # fmt: skip
            label = "matrix_to_euler_angles XYZ" if fn is _euler_xyz else fn.__name__
            cases.append(Case(f"{label}: {name}", fn, lambda m=m: _f32(m())))  # fmt: skip
    cases += [
        Case("matrix_to_euler_angles XYZ: gimbal lock", _euler_xyz,
             lambda: _f32(_rotation([1, 0, 0], 0.3) @ _rotation([0, 1, 0], math.pi / 2)
                          @ _rotation([0, 0, 1], 0.2))),
        Case("matrix_to_euler_angles ZXZ: gimbal lock", _euler_zxz, lambda: _f32(np.eye(3))),
        Case("so3_relative_angle: R vs R", lambda x: T.so3_relative_angle(x, x),
             lambda: _f32(_rot_pi([0, 1, 0]))),
        Case("rotation_6d_to_matrix: zeros", T.rotation_6d_to_matrix, lambda: jnp.zeros(6)),
        Case("rotation_6d_to_matrix: parallel rows", T.rotation_6d_to_matrix,
             lambda: _f32([1, 0, 0, 2, 0, 0])),
        Case("se3_exp_map: zero", T.se3_exp_map, lambda: jnp.zeros(6)),
        Case("se3_log_map: identity", T.se3_log_map, lambda: jnp.eye(4)),
        Case("se3_log_map: rotation by pi", T.se3_log_map,
             lambda: T.se3_exp_map(_f32([1, 2, 3, math.pi, 0, 0]))),
        Case("Transform3d.transform_points: w = 0 (projective)",
             lambda x: T.Transform3d(matrix=x[0]).transform_points(x[1]),
             lambda: (jnp.eye(4).at[3, 3].set(0.0).at[2, 3].set(1.0), _f32([[1, 2, 0]]))),
        Case("RotateAxisAngle: angle 0", lambda a: T.RotateAxisAngle(a).get_matrix(),
             lambda: _f32(0.0)),
    ]
    return cases


# --------------------------------------------------------------------------------- cameras
_AT_ORIGIN = _f32([[0.0, 0.0, 0.0], [0.3, -0.2, 0.0], [0.5, 0.5, 2.0]])  # 2 at view depth 0
_SCREEN = {"focal_length": 20.0, "principal_point": ((8.0, 8.0),), "in_ndc": False,
           "image_size": ((16, 16),)}  # fmt: skip
_CAMERAS = {  # name -> (class, constructor kwargs); x = (points, T, znear or focal scale)
    "FoVPerspectiveCameras": (FoVPerspectiveCameras, {}),
    "PerspectiveCameras (NDC)": (PerspectiveCameras, {}),
    "PerspectiveCameras (screen)": (PerspectiveCameras, _SCREEN),
    "FoVOrthographicCameras": (FoVOrthographicCameras, {}),
}


def _project_all(cls, kwargs):
    """One function projecting points with every method (shared by that camera's cases)."""
    def fn(x):
        points, t, znear = x
        extra = {"znear": znear} if cls is not PerspectiveCameras else {}
        cams = cls(T=t, **kwargs, **extra)
        return (cams.transform_points(points), cams.transform_points_ndc(points),
                cams.transform_points_screen(points, image_size=(16, 16)),
                cams.get_full_projection_transform().transform_points(points))

    return fn


def _camera_cases() -> list[Case]:
    cases = []
    for cname, (cls, kwargs) in _CAMERAS.items():
        fn = _project_all(cls, kwargs)
        cases.append(Case(f"{cname}: points at view depth 0 (transform_points[_ndc|_screen], "
                          "full projection)", fn,
                          lambda: (_AT_ORIGIN, jnp.zeros((1, 3)), _f32(1.0)),
                          ))  # fmt: skip
        if cls is not PerspectiveCameras:
            cases.append(Case(f"{cname} znear=0: points at view depth 0", fn,
                              lambda: (_AT_ORIGIN, jnp.zeros((1, 3)), _f32(0.0)),
                              ))  # fmt: skip
    cases += [
        Case("look_at_view_transform: camera at the target",
             lambda e: look_at_view_transform(eye=e[None], at=((0.0, 0.0, 0.0),)),
             lambda: jnp.zeros(3)),
        Case("look_at_view_transform: up parallel to the view direction",
             lambda e: look_at_view_transform(eye=e[None]), lambda: _f32([0.0, 2.0, 0.0])),
        Case("look_at_view_transform: dist 0", lambda d: look_at_view_transform(dist=d),
             lambda: _f32(0.0)),
    ]
    return cases


# ---------------------------------------------------------------------------- losses, ops
_PAIR_FNS = {
    "chamfer_distance": lambda x: chamfer_distance(x[0], x[1])[0],
    "chamfer_distance norm=1": lambda x: chamfer_distance(x[0], x[1], norm=1)[0],
    "chamfer_distance with normals": lambda x: chamfer_distance(x[0], x[1], x_normals=x[0],
                                                                y_normals=x[1]),
    "knn_points": lambda x: ops.knn_points(x[0], x[1], K=1).dists,
    "ball_query": lambda x: ops.ball_query(x[0], x[1], K=2, radius=0.5).dists,
    "corresponding_points_alignment": lambda x: ops.corresponding_points_alignment(
        x[0], x[1], estimate_scale=True),
}
_P3 = _f32([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])


def _sfp(x):
    return ops.sample_farthest_points(x, K=2)[0]


def _normals(x):
    return ops.estimate_pointcloud_normals(x, neighborhood_size=3)


def _cloud_pair_cases() -> list[Case]:
    pairs = {
        "coincident clouds": lambda: (_P3, _P3),
        "all points coincident": lambda: (jnp.zeros((1, 3, 3)), jnp.zeros((1, 3, 3))),
        "single-point clouds": lambda: (_P3[:, :1], _P3[:, :1]),
    }
    cases = []
    for name, make in pairs.items():
        for fname, fn in _PAIR_FNS.items():
            cases.append(Case(f"{fname}: {name}", fn, make))
    cases += [
        Case("chamfer_distance: empty x cloud (lengths 0)",
             lambda x: chamfer_distance(x[0], x[1], x_lengths=jnp.array([0]))[0],
             lambda: (_P3, _P3)),
        Case("knn_points: empty target cloud",
             lambda x: ops.knn_points(x[0], x[1], lengths2=jnp.array([0]), K=1).dists,
             lambda: (_P3, _P3)),
        Case("sample_farthest_points: coincident points", _sfp, lambda: jnp.zeros((1, 4, 3))),
        Case("sample_farthest_points: single point", _sfp, lambda: _P3[:, :1]),
        Case("estimate_pointcloud_normals: coincident points", _normals,
             lambda: jnp.zeros((1, 4, 3))),
        Case("estimate_pointcloud_normals: collinear points", _normals,
             lambda: jnp.arange(12.0).reshape(1, 4, 3) * _f32([1, 0, 0])),
    ]
    return cases


_MESH_FNS = {  # name -> (fn of a Meshes, jit-able)
    "mesh_edge_loss": (mesh_edge_loss, True),
    "mesh_laplacian_smoothing uniform": (lambda m: mesh_laplacian_smoothing(m, "uniform"), True),
    "mesh_laplacian_smoothing cot": (lambda m: mesh_laplacian_smoothing(m, "cot"), True),
    "mesh_laplacian_smoothing cotcurv": (lambda m: mesh_laplacian_smoothing(m, "cotcurv"), True),
    "mesh_normal_consistency": (mesh_normal_consistency, True),
    "verts_normals_padded": (lambda m: m.verts_normals_padded(), True),
    "faces_areas_padded": (lambda m: m.faces_areas_padded(), True),
    "taubin_smoothing": (lambda m: ops.taubin_smoothing(m, num_iter=2).verts_padded(), True),
    "SubdivideMeshes": (lambda m: ops.SubdivideMeshes()(m).verts_padded(), False),
    "sample_points_from_meshes": (lambda m: ops.sample_points_from_meshes(
        m, 8, return_normals=True, key=jax.random.PRNGKey(0)), True),
    "point_mesh_face_distance": (lambda m: point_mesh_face_distance(
        m, Pointclouds(m.verts_padded())), True),
    "point_mesh_edge_distance": (lambda m: point_mesh_edge_distance(
        m, Pointclouds(m.verts_padded())), False),
    "mesh_face_areas_normals": (lambda m: ops.mesh_face_areas_normals(
        m.verts_padded(), m.faces_padded()), True),
}


def _on_tetra(fn):
    return lambda x: fn(_tetra(x))


def _on_empty_batch(fn):
    return lambda x: fn(_with_empty(x))


def _mesh_cases() -> list[Case]:
    cases = []
    tetra_fns = {name: _on_tetra(fn) for name, (fn, _) in _MESH_FNS.items()}
    for gname, v in _degenerate_tetras().items():
        for fname, (_, jit) in _MESH_FNS.items():
            cases.append(Case(f"{fname}: {gname}", tetra_fns[fname], lambda v=v: _f32(v),
                              jit=jit))  # fmt: skip
    cases.append(Case("cot_laplacian: all vertices coincident",
                      lambda x: ops.cot_laplacian(x, jnp.asarray(_TRI_F))[0].data,
                      lambda: jnp.zeros((4, 3))))  # fmt: skip
    for fname in ("mesh_edge_loss", "mesh_laplacian_smoothing cot", "mesh_normal_consistency",
                  "sample_points_from_meshes", "point_mesh_face_distance"):  # fmt: skip
        fn, jit = _MESH_FNS[fname]
        cases.append(Case(f"{fname}: empty mesh in the batch", _on_empty_batch(fn),
                          lambda: _f32(_TETRA_V), jit=jit))
    return cases


# ---------------------------------------------------------------------------- renderers
_SIL_SETTINGS = RasterizationSettings(image_size=16, blur_radius=1e-3, faces_per_pixel=4)
_SIL = MeshRenderer(MeshRasterizer(raster_settings=_SIL_SETTINGS),
                    SoftSilhouetteShader(BlendParams(sigma=1e-3)))  # fmt: skip
_CUBE2 = _CUBE_V * 2.0  # [-1, 1]^3


def _silhouette(x, perspective_correct=None):
    """Soft silhouette (N, 16, 16) of the cube with vertices ``x["verts"]`` seen by a
    FoVPerspectiveCameras with ``x["T"]`` and ``x["znear"]`` (perspective_correct=None
    follows the camera: True)."""
    v = x["verts"]
    meshes = Meshes(verts=v if v.ndim == 3 else v[None],
                    faces=jnp.broadcast_to(jnp.asarray(_CUBE_F), v.shape[:-2] + (12, 3))
                    if v.ndim == 3 else jnp.asarray(_CUBE_F)[None])  # fmt: skip
    cams = FoVPerspectiveCameras(znear=x["znear"], T=x["T"])
    settings = dataclasses.replace(_SIL_SETTINGS, perspective_correct=perspective_correct)
    return _SIL(meshes, cameras=cams, raster_settings=settings)[..., 3]


def _silhouette_affine(x):
    return _silhouette(x, perspective_correct=False)


def _silhouette_with_empty(x):
    meshes = Meshes(verts=[x["verts"], jnp.zeros((0, 3))],
                    faces=[jnp.asarray(_CUBE_F), jnp.zeros((0, 3), jnp.int32)])  # fmt: skip
    cams = FoVPerspectiveCameras(znear=x["znear"], T=x["T"])
    return _SIL(meshes, cameras=cams)[..., 3]


_POINTS = PointsRenderer(
    PointsRasterizer(raster_settings=PointsRasterizationSettings(image_size=16, radius=0.2,
                                                                 points_per_pixel=4)),
    AlphaCompositor())  # fmt: skip


_POINTS_RASTERIZER = PointsRasterizer(
    raster_settings=PointsRasterizationSettings(image_size=16, radius=0.2, points_per_pixel=4))


def _rasterize_points(x):
    """zbuf and dists of the points (jit-able, unlike PointsRenderer's packed features)."""
    fragments = _POINTS_RASTERIZER(Pointclouds(x["points"]),
                                   cameras=FoVPerspectiveCameras(T=x["T"]))  # fmt: skip
    return fragments.zbuf, fragments.dists


def _render_points(x, lengths=None):
    p = x["points"]
    clouds = Pointclouds(p, features=jnp.ones(p.shape[:2] + (3,)), num_points=lengths)
    return _POINTS(clouds, cameras=FoVPerspectiveCameras(T=x["T"]))


def _render_points_second_empty(x):
    """Two clouds, the second empty (lengths [P, 0]): not part of the differentiated input."""
    return _render_points(x, jnp.array([x["points"].shape[1], 0]))


def _render_cases() -> list[Case]:
    corner = _f32(_CUBE2[np.argmin(np.abs(_CUBE2 - [1, 1, -1]).sum(1))])  # vertex (1, 1, -1)

    def scene(verts, t, znear=1.0):
        return lambda: {"verts": _f32(verts), "T": _f32(t)[None], "znear": _f32(znear)}

    flat = np.where(_CUBE2[:, :1] > 0, _CUBE2 * [1, 0, 1], _CUBE2)  # 4 faces of zero area
    scenes = {  # name -> (x, owner, fast)
        "camera at a vertex": (scene(_CUBE2, -corner), RENDER_OWNER, False),
        "camera inside the mesh": (scene(_CUBE2, [0, 0, 0]), RENDER_OWNER, False),
        "znear=0, camera inside the mesh": (scene(_CUBE2, [0, 0, 0], 0.0), RENDER_OWNER, False),
        "zero-area faces": (scene(flat, [0, 0, 4]), "numeric", False),
        "all vertices coincident": (scene(np.zeros((8, 3)), [0, 0, 4]), "numeric", False),
    }
    cases = [Case(f"MeshRenderer+SoftSilhouetteShader (perspective_correct): {name}",
                  _silhouette, x, owner, fast=fast)
             for name, (x, owner, fast) in scenes.items()]  # fmt: skip
    cases += [
        Case("MeshRenderer+SoftSilhouetteShader (perspective_correct=False): camera at a vertex",
             _silhouette_affine, scenes["camera at a vertex"][0], RENDER_OWNER),
        Case("MeshRenderer+SoftSilhouetteShader: empty mesh in the batch", _silhouette_with_empty,
             scene(_CUBE2, [0, 0, 4])),
    ]
    cloud = _f32([[[0, 0, 0], [0.3, 0.2, 0.1], [-0.2, 0.1, 0.3]]])
    far = jnp.asarray([[0.0, 0.0, 4.0]])
    cases += [
        Case("PointsRasterizer: points at view depth 0", _rasterize_points,
             lambda: {"points": cloud, "T": jnp.zeros((1, 3))}, RENDER_OWNER),
        Case("PointsRasterizer: coincident points", _rasterize_points,
             lambda: {"points": jnp.zeros((1, 3, 3)), "T": far}),
        Case("PointsRenderer: points at view depth 0", _render_points,
             lambda: {"points": cloud, "T": jnp.zeros((1, 3))}, RENDER_OWNER, jit=False),
        Case("PointsRenderer: coincident points", _render_points,
             lambda: {"points": jnp.zeros((1, 3, 3)), "T": far}, jit=False),
        Case("PointsRenderer: single point", _render_points,
             lambda: {"points": cloud[:, :1], "T": far}, jit=False),
        Case("PointsRenderer: empty cloud in the batch", _render_points_second_empty,
             lambda: {"points": jnp.concatenate([cloud, cloud]), "T": far}, jit=False),
    ]
    return cases


_VOLUME_RENDERER = VolumeRenderer(
    # 32 samples per ray: some land where the 8 trilinear weights sum to 1 + 1.2e-7.
    NDCMultinomialRaysampler(image_width=6, image_height=5, n_pts_per_ray=32, min_depth=1.0,
                             max_depth=4.0),
    EmissionAbsorptionRaymarcher())  # fmt: skip


def _render_volume(d):
    R, T_ = look_at_view_transform(dist=2.5, elev=20.0, azim=30.0)
    vols = Volumes(densities=d, features=jnp.ones((1, 3, 4, 4, 4)), voxel_size=0.4)
    return _VOLUME_RENDERER(FoVPerspectiveCameras(R=R, T=T_), vols)[0]


def _volume_cases() -> list[Case]:
    rng = np.random.default_rng(0)
    # Eager, as users call it: the raymarcher's range check only sees concrete densities.
    return [
        Case("VolumeRenderer: fully opaque volume (density 1)", _render_volume,
             lambda: jnp.ones((1, 1, 4, 4, 4)), jit=False),
        Case("VolumeRenderer: empty volume (density 0)", _render_volume,
             lambda: jnp.zeros((1, 1, 4, 4, 4)), jit=False),
        Case("VolumeRenderer: densities in {0, 1}", _render_volume,
             lambda: _f32(rng.integers(0, 2, (1, 1, 4, 4, 4))), jit=False),
    ]


# ------------------------------------------------------------------- batched (fast) cases
# The default test suite checks the kinds of inputs above in a few batches, one compiled
# function each (the rotation conversions broadcast over leading axes, the losses average
# over a batch of meshes): a non-finite value or gradient anywhere in a batch fails it.
def _rotations_batch(x):
    q, aa, R = x["quaternions"], x["axis_angles"], x["matrices"]
    return (T.quaternion_to_matrix(q), T.quaternion_to_axis_angle(q), T.axis_angle_to_matrix(aa),
            T.matrix_to_axis_angle(R), T.so3_log_map(R))  # fmt: skip


def _rotations_x():
    return {"quaternions": _f32(list(_QUATERNIONS.values())),
            "axis_angles": _f32(list(_AXIS_ANGLES.values())),
            "matrices": _f32(np.stack([m() for m in _MATRICES.values()]))}


def _cameras_batch(x):
    points, t, znear = x
    fov, fov0 = FoVPerspectiveCameras(T=t), FoVPerspectiveCameras(T=t, znear=znear)
    ndc, screen = PerspectiveCameras(T=t), PerspectiveCameras(T=t, **_SCREEN)
    outs = [c.transform_points_screen(points, image_size=(16, 16)) for c in (fov, fov0, ndc)]
    outs += [c.transform_points(points) for c in (fov, ndc, screen)]
    outs += [screen.transform_points_ndc(points),
             fov.get_full_projection_transform().transform_points(points)]
    return outs


def _meshes_batch(v):
    """Every mesh function on a batch: four degenerate tetrahedra and an empty mesh."""
    faces = [jnp.asarray(_TRI_F)] * 4 + [jnp.zeros((0, 3), jnp.int32)]
    meshes = Meshes(verts=list(v) + [jnp.zeros((0, 3))], faces=faces)
    return [_MESH_FNS[name][0](meshes) for name in _FAST_MESH_FNS]


_FAST_MESH_FNS = ("verts_normals_padded", "mesh_normal_consistency",
                  "mesh_laplacian_smoothing cot")  # fmt: skip


def _clouds_batch(x):
    a, b = x
    lengths = jnp.array([3, 3, 1, 0])  # coincident, all at one point, single point, empty
    return (chamfer_distance(a, b, x_lengths=lengths, y_lengths=lengths, x_normals=a,
                             y_normals=b),
            ops.knn_points(a, b, lengths, lengths, K=2).dists,
            ops.ball_query(a, b, lengths, lengths, K=2, radius=0.5).dists,
            ops.sample_farthest_points(a, lengths, K=2)[0])  # fmt: skip


BATCHED: list[Case] = [
    Case("rotation conversions: zero and tiny quaternions and axis-angles, rotations by pi",
         _rotations_batch, _rotations_x, fast=True),
    Case("cameras: points at view depth 0 (FoV, znear=0, NDC and screen PerspectiveCameras)",
         _cameras_batch, lambda: (_AT_ORIGIN, jnp.zeros((1, 3)), _f32(0.0)), fast=True),
    Case("verts normals, normal consistency, cot Laplacian: zero-area, collinear, coincident "
         "and flat tetrahedra and an empty mesh", _meshes_batch,
         lambda: jnp.stack([_f32(v) for v in _degenerate_tetras().values()]), fast=True),
    Case("chamfer, knn, ball query, farthest points: coincident, single-point and empty clouds",
         _clouds_batch,
         lambda: (jnp.stack([_P3[0], jnp.zeros((3, 3)), _P3[0], _P3[0]]),
                  jnp.stack([_P3[0], jnp.zeros((3, 3)), _P3[0], _P3[0]])), fast=True),
]


DEGENERATE: list[Case] = (
    _transform_cases() + _camera_cases() + _cloud_pair_cases() + _mesh_cases()
    + _render_cases() + _volume_cases()
)


# ---------------------------------------------------------------------------- bad arguments
def _meshes_with(verts=None, faces=None, **kwargs):
    v = [_TETRA_V] if verts is None else verts
    f = [_TRI_F] if faces is None else faces
    return lambda: Meshes(v, f, **kwargs)


def _nan_at(a, index, value=np.nan):
    a = np.array(a, np.float32)
    a[index] = value
    return a


_P = np.random.default_rng(0).normal(size=(1, 5, 3)).astype(np.float32)
_P_INT = np.arange(15, dtype=np.int32).reshape(1, 5, 3)
_UV_MAPS = np.ones((1, 4, 4, 3), np.float32)
_UVS = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], np.float32)


def _textured(textures):
    return lambda: Meshes([_TETRA_V], [_TRI_F], textures=textures())


def _raster(**kwargs):
    settings = {"image_size": 8, **kwargs}
    return lambda: MeshRasterizer(FoVPerspectiveCameras(T=((0, 0, 3),)),
                                  RasterizationSettings(**settings))(_tetra(_TETRA_V))


def _points_raster(**kwargs):
    settings = {"image_size": 8, **kwargs}
    return lambda: PointsRasterizer(
        FoVPerspectiveCameras(T=((0, 0, 3),)),
        PointsRasterizationSettings(**settings))(Pointclouds(_f32(_P)))


BAD_ARGUMENTS: list[BadArg] = [
    # structures
    BadArg("Meshes: NaN vertex (list)", _meshes_with([_nan_at(_TETRA_V, (1, 0))]), "verts"),
    BadArg("Meshes: inf vertex (list)", _meshes_with([_nan_at(_TETRA_V, (2, 2), np.inf)]),
           "verts"),
    BadArg("Meshes: NaN vertex (padded)",
           lambda: Meshes(_f32(_nan_at(_TETRA_V, (0, 1)))[None], _TRI_F[None]), "verts"),
    BadArg("Meshes: -inf vertex (padded)",
           lambda: Meshes(_f32(_nan_at(_TETRA_V, (3, 0), -np.inf))[None], _TRI_F[None]),
           "verts"),
    BadArg("Pointclouds: NaN point (list)",
           lambda: Pointclouds([_nan_at(_P[0], (2, 1))]), "points"),
    BadArg("Pointclouds: inf point (padded)",
           lambda: Pointclouds(_f32(_nan_at(_P, (0, 1, 1), np.inf))), "points"),
    BadArg("Pointclouds: NaN normal", lambda: Pointclouds(_f32(_P), normals=_f32(
        _nan_at(_P, (0, 0, 0)))), "normals"),
    BadArg("Meshes: face index out of range", _meshes_with(faces=[_TRI_F + 1]), "faces"),
    BadArg("Meshes: negative face index", _meshes_with(faces=[_TRI_F - 1]), "faces"),
    BadArg("Meshes: verts (V, 2)", _meshes_with(verts=[_TETRA_V[:, :2]]), "verts"),
    BadArg("Meshes: float faces", _meshes_with(faces=[_TRI_F.astype(np.float32)]), "faces"),
    BadArg("Meshes: verts and faces lists of different lengths",
           _meshes_with(verts=[_TETRA_V, _TETRA_V]), "faces"),
    BadArg("Meshes: num_verts of the wrong shape",
           lambda: Meshes(_TETRA_V[None], _TRI_F[None], num_verts=[4, 4]), "num_verts"),
    BadArg("Pointclouds: points (B, P, 2)", lambda: Pointclouds(_P[..., :2]), "points"),
    BadArg("Pointclouds: normals with other rows",
           lambda: Pointclouds([_P[0]], normals=[_P[0, :3]]), "normals"),
    BadArg("Volumes: densities (D, H, W)", lambda: Volumes(densities=np.ones((4, 4, 4))),
           "densities"),
    BadArg("TexturesUV: faces_uvs rows differ from the faces", _textured(
        lambda: TexturesUV(_UV_MAPS, [_TRI_F[:3]], [_UVS])), "faces_uvs"),
    BadArg("TexturesUV: faces_uvs batch differs from the meshes", _textured(
        lambda: TexturesUV(np.ones((2, 4, 4, 3)), [_TRI_F] * 2, [_UVS] * 2)), "textures"),
    BadArg("TexturesVertex: rows differ from the vertices", _textured(
        lambda: TexturesVertex([np.ones((5, 3), np.float32)])), "verts_features"),
    BadArg("TexturesVertex: batch differs from the meshes", _textured(
        lambda: TexturesVertex([np.ones((4, 3), np.float32)] * 2)), "textures"),
    BadArg("Meshes.replace: TexturesVertex rows differ from the vertices",
           lambda: Meshes([_TETRA_V], [_TRI_F]).replace(
               textures=TexturesVertex([np.ones((3, 3), np.float32)])), "verts_features"),
    BadArg("TexturesUV: faces_uvs index out of range",
           lambda: TexturesUV(_UV_MAPS, [_TRI_F + 4], [_UVS]), "faces_uvs"),
    BadArg("TexturesUV: bad padding_mode",
           lambda: TexturesUV(_UV_MAPS, [_TRI_F], [_UVS], padding_mode="wrap"), "padding_mode"),
    BadArg("TexturesVertex: features (V, C) not batched",
           lambda: TexturesVertex(np.ones((4, 3), np.float32)), "verts_features"),
    # cameras
    BadArg("FoVPerspectiveCameras: fov=180", lambda: FoVPerspectiveCameras(fov=180.0), "fov"),
    BadArg("FoVPerspectiveCameras: fov=0", lambda: FoVPerspectiveCameras(fov=0.0), "fov"),
    BadArg("FoVPerspectiveCameras: fov=-30", lambda: FoVPerspectiveCameras(fov=-30.0), "fov"),
    BadArg("FoVPerspectiveCameras: fov=200", lambda: FoVPerspectiveCameras(fov=200.0), "fov"),
    BadArg("FoVPerspectiveCameras: fov=pi radians",
           lambda: FoVPerspectiveCameras(fov=math.pi, degrees=False), "fov"),
    BadArg("FoVPerspectiveCameras: fov=[60, 180]",
           lambda: FoVPerspectiveCameras(fov=[60.0, 180.0]), "fov"),
    BadArg("PerspectiveCameras: focal_length=-1",
           lambda: PerspectiveCameras(focal_length=-1.0), "focal_length"),
    BadArg("PerspectiveCameras: focal_length=0",
           lambda: PerspectiveCameras(focal_length=0.0), "focal_length"),
    BadArg("PerspectiveCameras: focal_length=(1, -1)",
           lambda: PerspectiveCameras(focal_length=((1.0, -1.0),)), "focal_length"),
    BadArg("OrthographicCameras: focal_length=-2",
           lambda: OrthographicCameras(focal_length=-2.0), "focal_length"),
    BadArg("FoVPerspectiveCameras: znear == zfar",
           lambda: FoVPerspectiveCameras(znear=2.0, zfar=2.0), "znear"),
    BadArg("FoVPerspectiveCameras: aspect_ratio=0",
           lambda: FoVPerspectiveCameras(aspect_ratio=0.0), "aspect_ratio"),
    BadArg("FoVPerspectiveCameras: R (3, 2)", lambda: FoVPerspectiveCameras(R=np.ones((3, 2))),
           "R"),
    BadArg("FoVPerspectiveCameras: T (2,)", lambda: FoVPerspectiveCameras(T=np.ones(2)), "T"),
    BadArg("FoVPerspectiveCameras: R and T batches 2 and 3", lambda: FoVPerspectiveCameras(
        R=np.tile(np.eye(3), (2, 1, 1)), T=np.zeros((3, 3))), "T"),
    BadArg("PerspectiveCameras: image_size 0",
           lambda: PerspectiveCameras(in_ndc=False, image_size=((0, 16),)), "image_size"),
    BadArg("PerspectiveCameras: in_ndc='yes'", lambda: PerspectiveCameras(in_ndc="yes"),
           "in_ndc"),
    BadArg("FoVOrthographicCameras: min_x == max_x",
           lambda: FoVOrthographicCameras(min_x=1.0, max_x=1.0), "min_x"),
    BadArg("transform_points: points (P, 2)",
           lambda: FoVPerspectiveCameras().transform_points(np.ones((4, 2))), "points"),
    BadArg("transform_points_screen: screen cameras without image_size",
           lambda: PerspectiveCameras(in_ndc=False).transform_points_screen(np.ones((4, 3))),
           "image_size"),
    BadArg("look_at_view_transform: eye (2,)", lambda: look_at_view_transform(eye=np.ones(2)),
           "eye"),
    # transforms
    BadArg("quaternion_to_matrix: (3,)", lambda: T.quaternion_to_matrix(np.ones(3)),
           "quaternions"),
    BadArg("euler_angles_to_matrix: convention 'XXY'",
           lambda: T.euler_angles_to_matrix(np.zeros(3), "XXY"), "convention"),
    BadArg("Rotate: R (3, 4)", lambda: T.Rotate(np.ones((3, 4))), "R"),
    BadArg("Transform3d: matrix (3, 3)", lambda: T.Transform3d(matrix=np.eye(3)), "matrix"),
    BadArg("so3_log_map: not a rotation", lambda: T.so3_log_map(5.0 * np.eye(3)), "R"),
    BadArg("hat_inv: not skew-symmetric", lambda: T.hat_inv(np.eye(3)), "h"),
    BadArg("axis_angle_to_matrix: (4,)", lambda: T.axis_angle_to_matrix(np.ones(4)),
           "axis_angle"),
    BadArg("random_quaternions: n=-1",
           lambda: T.random_quaternions(jax.random.PRNGKey(0), -1), "n"),
    BadArg("Transform3d.transform_points: points (P, 4)",
           lambda: T.Transform3d().transform_points(np.ones((2, 4))), "points"),
    # ops and losses
    BadArg("knn_points: integer p1", lambda: ops.knn_points(_P_INT, _P), "p1"),
    BadArg("knn_points: integer p2", lambda: ops.knn_points(_P, _P_INT), "p2"),
    BadArg("ball_query: integer p1", lambda: ops.ball_query(_P_INT, _P), "p1"),
    BadArg("chamfer_distance: integer x", lambda: chamfer_distance(_P_INT, _P), "x"),
    BadArg("chamfer_distance: integer y", lambda: chamfer_distance(_P, _P_INT), "y"),
    BadArg("sample_farthest_points: integer points",
           lambda: ops.sample_farthest_points(_P_INT, K=2), "points"),
    BadArg("knn_points: K=0", lambda: ops.knn_points(_P, _P, K=0), "K"),
    BadArg("knn_points: batch sizes differ",
           lambda: ops.knn_points(_P, np.concatenate([_P, _P])), "p2"),
    BadArg("knn_points: lengths1 > P", lambda: ops.knn_points(_P, _P, lengths1=[9]),
           "lengths1"),
    BadArg("knn_points: point dimensions differ", lambda: ops.knn_points(_P, _P[..., :2]),
           "p2"),
    BadArg("chamfer_distance: batch_reduction='max'",
           lambda: chamfer_distance(_P, _P, batch_reduction="max"), "batch_reduction"),
    BadArg("chamfer_distance: norm=3", lambda: chamfer_distance(_P, _P, norm=3), "norm"),
    BadArg("ball_query: K=0", lambda: ops.ball_query(_P, _P, K=0), "K"),
    BadArg("sample_farthest_points: random start without key",
           lambda: ops.sample_farthest_points(_P, K=2, random_start_point=True), "key"),
    BadArg("sample_farthest_points: K=0", lambda: ops.sample_farthest_points(_P, K=0), "K"),
    # renderers
    BadArg("RasterizationSettings: max_faces_per_bin=0", _raster(bin_size=4,
           max_faces_per_bin=0), "max_faces_per_bin", RENDER_BAD_ARG_OWNER),
    BadArg("RasterizationSettings: max_faces_per_bin=-1", _raster(bin_size=4,
           max_faces_per_bin=-1), "max_faces_per_bin", RENDER_BAD_ARG_OWNER),
    BadArg("PointsRasterizationSettings: radius=-0.1", _points_raster(radius=-0.1), "radius",
           RENDER_BAD_ARG_OWNER),
    BadArg("RasterizationSettings: image_size=0", _raster(image_size=0), "image_size"),
    BadArg("RasterizationSettings: faces_per_pixel=0", _raster(faces_per_pixel=0),
           "faces_per_pixel", fast=False),
    BadArg("MeshRasterizer: no cameras",
           lambda: MeshRasterizer()(_tetra(_TETRA_V)), "cameras"),
    BadArg("BlendParams: sigma=-1", lambda: BlendParams(sigma=-1.0), "sigma"),
    BadArg("NDCMultinomialRaysampler: n_pts_per_ray=0",
           lambda: NDCMultinomialRaysampler(image_width=4, image_height=4, n_pts_per_ray=0,
                                            min_depth=1.0, max_depth=2.0), "n_pts_per_ray"),
    BadArg("EmissionAbsorptionRaymarcher: densities 1.5",
           lambda: EmissionAbsorptionRaymarcher()(np.full((2, 4, 1), 1.5, np.float32),
                                                  np.ones((2, 4, 3), np.float32)),
           "rays_densities"),
]
