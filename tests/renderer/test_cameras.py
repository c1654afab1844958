"""Cameras: PyTorch3D parity, closed-form references, construction, batching and indexing."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.renderer import (
    FoVOrthographicCameras,
    FoVPerspectiveCameras,
    OrthographicCameras,
    PerspectiveCameras,
    get_ndc_to_screen_transform,
    get_screen_to_ndc_transform,
    look_at_view_transform,
)
from jax3d.transforms import Transform3d


def random_rotations_naive(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3, 3) float64 rotations from QR of Gaussian matrices (det +1)."""
    q, r = np.linalg.qr(rng.normal(size=(n, 3, 3)))
    q = q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]
    return q * np.linalg.det(q)[:, None, None]


def fov_perspective_project_naive(points, R, T, fov_deg, znear, zfar, aspect=1.0):
    """float64 per-point projection: view -> NDC x, y and z in [0, 1] on [znear, zfar]."""
    out = np.zeros((len(points), 3))
    s = 1.0 / np.tan(np.deg2rad(fov_deg) / 2.0)
    for i, p in enumerate(points):
        x, y, z = p @ R + T
        out[i] = [s / aspect * x / z, s * y / z, zfar / (zfar - znear) * (1 - znear / z)]
    return out


def fov_orthographic_project_naive(points, R, T, box, znear, zfar, scale_xyz):
    max_x, min_x, max_y, min_y = box
    out = np.zeros((len(points), 3))
    for i, p in enumerate(points):
        x, y, z = p @ R + T
        out[i] = [
            2 * scale_xyz[0] * x / (max_x - min_x) - (max_x + min_x) / (max_x - min_x),
            2 * scale_xyz[1] * y / (max_y - min_y) - (max_y + min_y) / (max_y - min_y),
            (scale_xyz[2] * z - znear) / (zfar - znear),
        ]
    return out


def screen_perspective_project_naive(points, R, T, f, c, hw):
    """float64 pixel coordinates (+X right, +Y down) of a screen-space PerspectiveCameras."""
    out = np.zeros((len(points), 3))
    for i, p in enumerate(points):
        x, y, z = p @ R + T
        # The view +X axis points left and +Y up: both flip in image coordinates.
        out[i] = [c[0] - f[0] * x / z, c[1] - f[1] * y / z, 1.0 / z]
    return out


def random_scene(seed=0, n=3, p=20):
    rng = np.random.default_rng(seed)
    R = random_rotations_naive(rng, n)
    # Points in front of every camera: place them in view space first.
    view = rng.uniform([-1, -1, 2], [1, 1, 5], size=(n, p, 3))
    T = rng.normal(size=(n, 3))
    world = np.einsum("npj,nij->npi", view - T[:, None], R)  # (view - T) @ R^T
    return R, T, world


# ----------------------------------------------------------------------------- parity
def test_look_at_matches_pytorch3d(reference):
    ref = reference("cameras")
    R, T = look_at_view_transform(dist=3, elev=30, azim=45)
    np.testing.assert_allclose(R, ref["look_at_R"], atol=1e-6)
    np.testing.assert_allclose(T, ref["look_at_T"], atol=1e-6)


def test_fov_perspective_matches_pytorch3d(reference):
    ref = reference("cameras")
    cams = FoVPerspectiveCameras(fov=50, znear=0.5, zfar=10, R=ref["look_at_R"], T=ref["look_at_T"])
    pts = ref["points"]
    np.testing.assert_allclose(cams.transform_points(pts), ref["fov_ndc"], atol=1e-5)
    view = cams.get_world_to_view_transform().transform_points(pts)
    np.testing.assert_allclose(view, ref["fov_view"], atol=1e-5)
    proj = cams.get_projection_transform().get_matrix()
    np.testing.assert_allclose(proj, ref["fov_proj_matrix"], atol=1e-6)
    screen = cams.transform_points_screen(pts, image_size=(200, 260))
    np.testing.assert_allclose(screen, ref["fov_screen_200x260"], rtol=1e-5, atol=1e-3)


def test_ortho_and_screen_perspective_match_pytorch3d(reference):
    ref = reference("cameras")
    R, T, pts = ref["look_at_R"], ref["look_at_T"], ref["points"]
    ortho = FoVOrthographicCameras(R=R, T=T)
    np.testing.assert_allclose(ortho.transform_points(pts), ref["ortho_ndc"], atol=1e-5)
    persp = PerspectiveCameras(
        focal_length=((300.0, 280.0),),
        principal_point=((130.0, 95.0),),
        in_ndc=False,
        image_size=((200, 260),),
        R=R,
        T=T,
    )
    np.testing.assert_allclose(persp.transform_points(pts), ref["persp_screen_ndc"], rtol=1e-5)
    np.testing.assert_allclose(
        persp.transform_points_screen(pts), ref["persp_screen"], rtol=1e-5, atol=1e-3
    )


# ----------------------------------------------------------------------------- closed forms
def test_fov_perspective_against_naive():
    R, T, world = random_scene(1)
    cams = FoVPerspectiveCameras(
        fov=[40.0, 60.0, 75.0], znear=0.5, zfar=[10.0, 20.0, 30.0], aspect_ratio=1.5, R=R, T=T
    )
    got = np.asarray(cams.transform_points(world))
    for i, (fov, zfar) in enumerate([(40.0, 10.0), (60.0, 20.0), (75.0, 30.0)]):
        want = fov_perspective_project_naive(world[i], R[i], T[i], fov, 0.5, zfar, 1.5)
        np.testing.assert_allclose(got[i], want, rtol=1e-4, atol=1e-5)


def test_fov_radians_equal_degrees():
    _, _, world = random_scene(2, n=1)
    deg = FoVPerspectiveCameras(fov=47.0).transform_points(world)
    rad = FoVPerspectiveCameras(fov=np.deg2rad(47.0), degrees=False).transform_points(world)
    np.testing.assert_allclose(deg, rad, rtol=1e-5, atol=1e-6)


def test_fov_orthographic_against_naive():
    R, T, world = random_scene(3, n=2)
    box = (2.0, -1.0, 1.5, -0.5)
    cams = FoVOrthographicCameras(
        znear=0.5,
        zfar=8.0,
        max_x=box[0],
        min_x=box[1],
        max_y=box[2],
        min_y=box[3],
        scale_xyz=(0.5, 2.0, 1.5),
        R=R,
        T=T,
    )
    got = np.asarray(cams.transform_points(world))
    for i in range(2):
        want = fov_orthographic_project_naive(world[i], R[i], T[i], box, 0.5, 8.0, (0.5, 2, 1.5))
        np.testing.assert_allclose(got[i], want, rtol=1e-4, atol=1e-5)


def test_screen_perspective_against_naive_pixels():
    R, T, world = random_scene(4, n=2)
    f, c, hw = (500.0, 450.0), (300.0, 210.0), (480, 640)
    cams = PerspectiveCameras(
        focal_length=(f,), principal_point=(c,), in_ndc=False, image_size=(hw,), R=R, T=T
    )
    got = np.asarray(cams.transform_points_screen(world))
    for i in range(2):
        want = screen_perspective_project_naive(world[i], R[i], T[i], f, c, hw)
        np.testing.assert_allclose(got[i], want, rtol=1e-4, atol=1e-3)


def test_ndc_perspective_equals_screen_perspective():
    """NDC intrinsics f_ndc = f_pix / s and p_ndc = -(c - (W, H) / 2) / s give the same image."""
    R, T, world = random_scene(5, n=1)
    h, w = 300, 500
    s = min(h, w) / 2
    f, c = np.array([420.0, 400.0]), np.array([260.0, 140.0])
    pix = PerspectiveCameras(
        focal_length=(f,), principal_point=(c,), in_ndc=False, image_size=((h, w),), R=R, T=T
    )
    ndc = PerspectiveCameras(
        focal_length=(f / s,), principal_point=(-(c - [w / 2, h / 2]) / s,), R=R, T=T
    )
    np.testing.assert_allclose(
        pix.transform_points_ndc(world), ndc.transform_points(world), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        pix.transform_points_screen(world),
        ndc.transform_points_screen(world, image_size=(h, w)),
        rtol=1e-5,
        atol=1e-3,
    )


@pytest.mark.parametrize("in_ndc", [True, False])
def test_optical_axis_projects_to_principal_point(in_ndc):
    R, T = look_at_view_transform(dist=4.0, elev=20.0, azim=-35.0)
    centre_world = np.zeros((1, 3))  # look_at's target lies on the optical axis
    pp = (0.2, -0.1) if in_ndc else (300.0, 140.0)
    kw = {} if in_ndc else {"image_size": ((256, 400),)}
    for cls in (PerspectiveCameras, OrthographicCameras):
        cams = cls(focal_length=2.0, principal_point=(pp,), in_ndc=in_ndc, R=R, T=T, **kw)
        np.testing.assert_allclose(cams.transform_points(centre_world)[:, :2], [pp], atol=1e-4)
    if not in_ndc:
        screen = cams.transform_points_screen(centre_world)[:, :2]
        np.testing.assert_allclose(screen, [pp], atol=1e-3)


def test_screen_axes_and_pixel_centres():
    """NDC (+1, +1) is the top-left corner for square images; the shorter side spans [-1, 1]."""
    cams = FoVOrthographicCameras()  # identity: NDC x, y equal view x, y
    corners = np.array([[1.0, 1.0, 5.0], [-1.0, -1.0, 5.0], [0.0, 0.0, 5.0]])
    sq = cams.transform_points_screen(corners, image_size=(64, 64))
    np.testing.assert_allclose(sq[:, :2], [[0, 0], [64, 64], [32, 32]], atol=1e-4)
    wide = cams.transform_points_screen(corners, image_size=(64, 128))  # H=64, W=128
    np.testing.assert_allclose(wide[:, :2], [[32, 0], [96, 64], [64, 32]], atol=1e-4)
    # Without the flip the axes keep NDC's directions: x = s x_ndc - W / 2 (PyTorch3D).
    noflip = cams.transform_points_screen(corners, image_size=(64, 128), with_xyflip=False)
    np.testing.assert_allclose(noflip[:, :2], [[-32, 0], [-96, -64], [-64, -32]], atol=1e-4)
    # The centre of pixel (row 0, column 0) of a 4x4 image sits at NDC (1 - 1/4, 1 - 1/4).
    centre = cams.transform_points_screen(np.array([[0.75, 0.75, 2.0]]), image_size=(4, 4))
    np.testing.assert_allclose(centre[:, :2], [[0.5, 0.5]], atol=1e-5)


def test_ndc_screen_transforms_are_inverse():
    cams = PerspectiveCameras(R=np.tile(np.eye(3), (2, 1, 1)))
    pts = np.random.default_rng(0).normal(size=(2, 7, 3))
    for flip in (True, False):
        fwd = get_ndc_to_screen_transform(cams, with_xyflip=flip, image_size=((30, 50), (40, 20)))
        inv = get_screen_to_ndc_transform(cams, with_xyflip=flip, image_size=((30, 50), (40, 20)))
        assert isinstance(fwd, Transform3d) and fwd.get_matrix().shape == (2, 4, 4)
        back = inv.transform_points(fwd.transform_points(pts))
        np.testing.assert_allclose(back, pts, atol=1e-5)
    with pytest.raises(ValueError, match="image_size"):
        get_ndc_to_screen_transform(cams)


def test_camera_center_and_world_to_view():
    R, T, _ = random_scene(6, n=4)
    cams = FoVPerspectiveCameras(R=R, T=T)
    C = np.asarray(cams.get_camera_center())
    np.testing.assert_allclose(C, -np.einsum("ni,nji->nj", T, R), atol=1e-5)  # -T R^T
    view = cams.get_world_to_view_transform().transform_points(C[:, None])
    np.testing.assert_allclose(view, np.zeros((4, 1, 3)), atol=1e-5)


# ----------------------------------------------------------------------------- construction
def test_scalars_and_size_one_broadcast():
    R = np.tile(np.eye(3), (4, 1, 1))
    cams = FoVPerspectiveCameras(fov=50.0, znear=[0.5], R=R, T=(0.0, 0.0, 3.0))
    assert len(cams) == 4
    assert cams.fov.shape == (4,) and cams.znear.shape == (4,) and cams.T.shape == (4, 3)
    assert cams.R.dtype == jnp.float32 and cams.fov.dtype == jnp.float32
    persp = PerspectiveCameras(focal_length=[1.0, 2.0], R=np.eye(3))
    assert len(persp) == 2 and persp.focal_length.shape == (2, 2)  # (N,) = one f per camera
    np.testing.assert_allclose(persp.focal_length, [[1, 1], [2, 2]])
    assert PerspectiveCameras(focal_length=((3.0, 4.0),)).focal_length.shape == (1, 2)
    ortho = OrthographicCameras(image_size=(100, 200), in_ndc=False)
    np.testing.assert_allclose(ortho.get_image_size(), [[100, 200]])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"R": np.eye(4)}, "R must be"),
        ({"T": np.zeros((2, 2))}, "T must be"),
        ({"fov": np.zeros((2, 2))}, "fov must be"),
        ({"R": np.tile(np.eye(3), (2, 1, 1)), "T": np.zeros((3, 3))}, "batch size"),
        ({"fov": "wide"}, "fov must be a number"),
        ({"znear": 2.0, "zfar": [5.0, 2.0]}, "znear and zfar must differ"),
        ({"fov": 0.0}, r"fov must be in \(0, 180\) degrees"),
    ],
)
def test_invalid_construction_raises(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        FoVPerspectiveCameras(**kwargs)


def test_invalid_sfm_construction_raises():
    with pytest.raises(ValueError, match="focal_length"):
        PerspectiveCameras(focal_length=np.ones((2, 3)))
    with pytest.raises(ValueError, match="focal_length must be positive"):
        OrthographicCameras(focal_length=((1.0, 0.0),))
    with pytest.raises(ValueError, match="min_x and max_x must differ"):
        FoVOrthographicCameras(min_x=1.0, max_x=1.0)
    with pytest.raises(ValueError, match="image_size"):
        PerspectiveCameras(image_size=((0, 10),), in_ndc=False)
    with pytest.raises(TypeError, match="in_ndc"):
        PerspectiveCameras(in_ndc="no")
    with pytest.raises(ValueError, match="image_size"):
        PerspectiveCameras(in_ndc=False).transform_points_screen(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="points"):
        PerspectiveCameras().transform_points(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="batch size 3"):
        PerspectiveCameras(R=np.tile(np.eye(3), (2, 1, 1))).transform_points(np.ones((3, 5, 3)))


def test_model_flags():
    assert FoVPerspectiveCameras().is_perspective() and FoVPerspectiveCameras().in_ndc()
    assert not FoVOrthographicCameras().is_perspective()
    assert PerspectiveCameras(in_ndc=False).in_ndc() is False
    assert not OrthographicCameras().is_perspective()
    np.testing.assert_allclose(FoVPerspectiveCameras(znear=0.3).get_znear(), [0.3], rtol=1e-6)
    assert PerspectiveCameras().get_znear() is None
    assert FoVPerspectiveCameras().get_image_size() is None


def test_indexing_keeps_batch_and_matches_per_camera():
    R, T, world = random_scene(7, n=4)
    cams = PerspectiveCameras(
        focal_length=[1.0, 2.0, 3.0, 4.0],
        principal_point=(0.1, 0.2),
        R=R,
        T=T,
        in_ndc=False,
        image_size=(64, 80),
    )
    full = np.asarray(cams.transform_points_screen(world))
    for index, rows in [
        (2, [2]),
        (-1, [3]),
        ([0, 3], [0, 3]),
        (slice(1, 3), [1, 2]),
        (np.array([True, False, True, False]), [0, 2]),
    ]:
        sub = cams[index]
        assert len(sub) == len(rows) and sub.in_ndc() is False
        np.testing.assert_allclose(sub.transform_points_screen(world[rows]), full[rows], rtol=1e-6)
    with pytest.raises(IndexError):
        cams[4]
    with pytest.raises(IndexError):
        cams[np.array([True, False])]
    with pytest.raises(TypeError):
        cams["a"]


def test_batch_one_cameras_broadcast_over_point_batches():
    R, T, world = random_scene(8, n=3)
    one = FoVPerspectiveCameras(R=R[:1], T=T[:1])
    batched = np.asarray(one.transform_points(world))  # (3, P, 3) points, 1 camera
    assert batched.shape == world.shape
    for i in range(3):
        np.testing.assert_allclose(batched[i], one.transform_points(world[i]), rtol=1e-6)
    many = FoVPerspectiveCameras(R=R, T=T)
    shared = np.asarray(many.transform_points(world[0]))  # (P, 3) points, 3 cameras
    assert shared.shape == (3,) + world[0].shape
    for i in range(3):
        np.testing.assert_allclose(shared[i], many[i].transform_points(world[0]), rtol=1e-6)


def test_per_call_overrides():
    R, T, world = random_scene(9, n=2)
    base = FoVPerspectiveCameras()
    np.testing.assert_allclose(
        base.transform_points(world, R=R, T=T, fov=45.0, lights="ignored"),
        FoVPerspectiveCameras(R=R, T=T, fov=45.0).transform_points(world),
        rtol=1e-6,
    )
    assert len(base) == 1 and float(base.fov[0]) == 60.0  # overrides do not stick
    rad = base.transform_points(world, R=R, T=T, fov=np.pi / 4, degrees=False)
    np.testing.assert_allclose(
        rad, FoVPerspectiveCameras(R=R, T=T, fov=45.0).transform_points(world), rtol=1e-5, atol=1e-6
    )
    scr = PerspectiveCameras(in_ndc=False, focal_length=100.0, principal_point=(32.0, 32.0))
    a = scr.transform_points_screen(world, R=R, T=T, image_size=(64, 64))
    b = scr.replace(R=R, T=T, image_size=(64, 64)).transform_points_screen(world)
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_principal_point_and_ndc_camera_transform():
    sfm = PerspectiveCameras(
        focal_length=2.0, principal_point=((30.0, 20.0),), in_ndc=False, image_size=((40, 100),)
    )
    np.testing.assert_allclose(sfm.get_principal_point(), [[30.0, 20.0]])
    ortho = OrthographicCameras(principal_point=((0.1, 0.2),))
    np.testing.assert_allclose(ortho.get_principal_point(), [[0.1, 0.2]], rtol=1e-6)
    np.testing.assert_allclose(ortho.get_ndc_camera_transform().get_matrix(), [np.eye(4)])
    # screen -> NDC maps the principal point (in PyTorch3D axes, i.e. mirrored) to NDC of pixel
    # (30, 20): x_ndc = (W / 2 - 30) / s, y_ndc = (H / 2 - 20) / s with s = 20
    m = sfm.get_ndc_camera_transform().transform_points(np.array([[30.0, 20.0, 1.0]]))
    np.testing.assert_allclose(m[:, :2], [[(50 - 30) / 20, (20 - 20) / 20]], atol=1e-6)


def test_explicit_K_replaces_intrinsics():
    R, T, world = random_scene(10, n=1)
    cams = FoVPerspectiveCameras(fov=70.0, znear=0.2, zfar=9.0, R=R, T=T)
    K = np.swapaxes(np.asarray(cams.get_projection_transform().get_matrix()), 1, 2)
    with_k = FoVPerspectiveCameras(K=K, R=R, T=T)
    np.testing.assert_allclose(
        with_k.transform_points(world), cams.transform_points(world), rtol=1e-6
    )
    np.testing.assert_allclose(
        cams.compute_projection_matrix(0.2, 9.0, 70.0, 1.0, True), K, rtol=1e-6
    )


def test_cameras_are_pytrees():
    R, T, world = random_scene(11, n=2)
    cams = PerspectiveCameras(focal_length=(2.0, 3.0), R=R, T=T, in_ndc=False, image_size=(9, 9))
    leaves, treedef = jax.tree.flatten(cams)
    rebuilt = jax.tree.unflatten(treedef, leaves)
    assert rebuilt.in_ndc() is False and len(rebuilt) == 2
    doubled = jax.tree.map(lambda x: 2 * x, cams)
    np.testing.assert_allclose(doubled.focal_length, 2 * np.asarray(cams.focal_length))
    jitted = jax.jit(lambda c, p: c.transform_points_screen(p))(cams, world)
    np.testing.assert_allclose(jitted, cams.transform_points_screen(world), rtol=1e-5, atol=1e-4)


def test_camera_classes_never_share_jit_entries():
    """Same-layout classes (Perspective vs Orthographic) must have distinct treedefs: JAX
    compares dataclass treedefs without their type, which once mixed up jit cache entries."""
    cams = [
        PerspectiveCameras(),
        OrthographicCameras(),
        FoVPerspectiveCameras(),
        FoVOrthographicCameras(),
    ]
    defs = [jax.tree.structure(c) for c in cams]
    for i, a in enumerate(defs):
        for j, b in enumerate(defs):
            assert (a == b) == (i == j)
    pts = np.array([[0.3, 0.2, 2.0]])
    f = jax.jit(lambda c, p: c.transform_points(p))
    for _ in range(2):
        np.testing.assert_allclose(f(cams[0], pts), [[0.15, 0.1, 0.5]], rtol=1e-6)
        np.testing.assert_allclose(f(cams[1], pts), [[0.3, 0.2, 2.0]], rtol=1e-6)
