"""rasterize_meshes against a naive float64 NumPy rasterizer and PyTorch3D's outputs."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jax3d.renderer.binned_search import plan_from_counts
from jax3d.renderer.mesh.rasterize_meshes import (
    estimate_memory,
    rasterize_face_verts,
    rasterize_meshes,
)
from jax3d.renderer.mesh.recompute import recompute
from jax3d.structures import Meshes

KEPS = 1e-8


# ------------------------------------------------------------------------------------------
# Naive reference: PyTorch3D's CPU algorithm, float64, vectorised over pixels, loop over faces.
# ------------------------------------------------------------------------------------------
def pixel_centers_naive(H, W):
    def centres(s1, s2):
        rng = 2.0 * s1 / s2 if s1 > s2 else 2.0
        i = np.arange(s1)[::-1].astype(np.float64)  # pixel 0 has the largest NDC value
        return -rng / 2 + (rng * i + rng / 2) / s1

    return centres(W, H), centres(H, W)


def _edge(px, py, a, b):
    return (px - a[0]) * (b[1] - a[1]) - (py - a[1]) * (b[0] - a[0])


def _seg_dist2(px, py, a, b):
    d = b[:2] - a[:2]
    l2 = d @ d
    if l2 <= KEPS:
        return (px - b[0]) ** 2 + (py - b[1]) ** 2
    t = np.clip(((px - a[0]) * d[0] + (py - a[1]) * d[1]) / l2, 0, 1)
    return (px - a[0] - t * d[0]) ** 2 + (py - a[1] - t * d[1]) ** 2


def face_pixel_values_naive(face, px, py, perspective_correct, clip_bary):
    """bary (3, ...), pz, signed dist and inside of one face at pixels (px, py)."""
    v0, v1, v2 = face.astype(np.float64)
    area = _edge(v2[0], v2[1], v0, v1) + KEPS
    w = np.stack([_edge(px, py, v1, v2), _edge(px, py, v2, v0), _edge(px, py, v0, v1)]) / area
    z = face[:, 2].astype(np.float64)
    if perspective_correct:
        t = w * np.array([z[1] * z[2], z[0] * z[2], z[0] * z[1]])[:, None, None]
        w = t / np.maximum(t.sum(0), KEPS)
    inside = (w > 0).all(0)
    if clip_bary:
        w = np.maximum(w, 0)
        w = w / np.maximum(w.sum(0), 1e-5)
    pz = (w * z[:, None, None]).sum(0)
    d = np.minimum(np.minimum(_seg_dist2(px, py, v0, v1), _seg_dist2(px, py, v0, v2)),
                   _seg_dist2(px, py, v1, v2))
    return w, pz, np.where(inside, -d, d), inside, d


def rasterize_naive(face_verts, num_faces, H, W, blur=0.0, K=1, perspective_correct=False,
                    clip_bary=False, cull_backfaces=False):
    """(N, F, 3, 3) NDC faces -> pix_to_face (packed), zbuf, bary, dists like PyTorch3D."""
    N = face_verts.shape[0]
    xs, ys = pixel_centers_naive(H, W)
    px, py = np.meshgrid(xs, ys)
    p2f = -np.ones((N, H, W, K), np.int64)
    zbuf, dists = -np.ones((N, H, W, K)), -np.ones((N, H, W, K))
    bary = -np.ones((N, H, W, K, 3))
    first = np.cumsum(num_faces) - num_faces
    r = np.sqrt(blur)
    for n in range(N):
        cand = []  # per face: (z or inf, bary, dist)
        for f in range(num_faces[n]):
            face = face_verts[n, f].astype(np.float64)
            (x0, y0), (x1, y1), (x2, y2) = face[:, :2]
            farea = _edge(x0, y0, face[1], face[2])
            if (cull_backfaces and farea < 0) or abs(farea) <= KEPS or face[:, 2].min() < KEPS:
                cand.append(None)
                continue
            w, pz, sd, inside, d = face_pixel_values_naive(face, px, py, perspective_correct,
                                                           clip_bary)
            inb = ((px >= face[:, 0].min() - r) & (px <= face[:, 0].max() + r)
                   & (py >= face[:, 1].min() - r) & (py <= face[:, 1].max() + r))
            keep = inb & (pz >= 0) & (inside | (d < blur))
            cand.append((np.where(keep, pz, np.inf), w, sd))
        valid = [f for f, c in enumerate(cand) if c is not None]
        if not valid:
            continue
        zs = np.stack([cand[f][0] for f in valid])  # (Fv, H, W)
        order = np.argsort(zs, axis=0, kind="stable")[:K]
        for k in range(order.shape[0]):
            for yi in range(H):
                for xi in range(W):
                    j = order[k, yi, xi]
                    if not np.isfinite(zs[j, yi, xi]):
                        continue
                    f = valid[j]
                    p2f[n, yi, xi, k] = f + first[n]
                    zbuf[n, yi, xi, k] = zs[j, yi, xi]
                    bary[n, yi, xi, k] = cand[f][1][:, yi, xi]
                    dists[n, yi, xi, k] = cand[f][2][yi, xi]
    return p2f, zbuf, bary, dists


def random_scene(seed, N=2, F=30, num_faces=None, z=(0.5, 3.0), scale=1.2):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-1, 1, (N, F, 1, 3)) * [1.0, 1.0, 0.0]
    fv = centres + rng.normal(0, 0.25 * scale, (N, F, 3, 3)) * [1.0, 1.0, 0.0]
    fv[..., 2] = rng.uniform(*z, (N, F, 3))
    nf = np.array(num_faces if num_faces is not None else [F] * N)
    return fv.astype(np.float32), nf


def assert_matches_naive(out, ref, atol=1e-5, max_mismatch=0.002):
    """Equal fragments; a tiny fraction of pixels may differ only at exact ties/edges."""
    p2f, zbuf, bary, dists = (np.asarray(o) for o in out)
    rp, rz, rb, rd = ref
    same_pix = (p2f == rp).all(-1)
    assert 1.0 - same_pix.mean() <= max_mismatch, f"{(~same_pix).sum()} pixels differ"
    m = same_pix[..., None] & (rp >= 0)
    np.testing.assert_allclose(zbuf[m], rz[m], atol=atol, rtol=1e-5)
    np.testing.assert_allclose(dists[m], rd[m], atol=atol, rtol=1e-5)
    np.testing.assert_allclose(bary[m], rb[m], atol=atol * 10, rtol=1e-4)
    empty = rp < 0
    assert (zbuf[empty & same_pix[..., None]] == -1).all()


# ------------------------------------------------------------------------------------------
# Parity with the naive reference.
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "K, blur, persp, clipb, cull",
    [
        (1, 0.0, False, False, False),
        (1, 0.0, True, False, True),
        (3, 2e-3, False, True, False),
        (4, 1e-3, True, True, False),
        (2, 5e-4, True, False, True),
    ],
)
def test_matches_naive(K, blur, persp, clipb, cull):
    fv, nf = random_scene(1 + K, N=2, F=30, num_faces=[30, 17])
    H, W = 20, 27  # non-square, not a multiple of the bin size
    out = rasterize_face_verts(fv, nf, (H, W), blur, K, bin_size=8,
                               perspective_correct=persp, clip_barycentric_coords=clipb,
                               cull_backfaces=cull)
    ref = rasterize_naive(fv, nf, H, W, blur, K, persp, clipb, cull)
    assert_matches_naive(out, ref)
    assert (np.asarray(out[0]) >= 0).mean() > 0.1  # the scene is not trivially empty


@pytest.mark.slow
def test_wide_and_tall_images_match_naive():
    fv, nf = random_scene(7, N=1, F=25)
    for H, W in [(12, 31), (29, 10)]:
        out = rasterize_face_verts(fv, nf, (H, W), 0.0, 2, bin_size=4)
        assert_matches_naive(out, rasterize_naive(fv, nf, H, W, 0.0, 2))


@pytest.mark.slow
def test_bin_sizes_agree_and_naive_bin():
    fv, nf = random_scene(3, N=2, F=40)
    outs = [rasterize_face_verts(fv, nf, (24, 24), 1e-3, 3, bin_size=b) for b in (0, 4, 16)]
    for o in outs[1:]:
        for a, b in zip(outs[0], o):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_heterogeneous_batch_equals_per_mesh_and_empty_mesh():
    fv, nf = random_scene(4, N=3, F=20, num_faces=[20, 0, 9])
    out = rasterize_face_verts(fv, nf, (16, 16), 1e-3, 2, bin_size=8)
    first = np.cumsum(nf) - nf
    for n in range(3):
        single = rasterize_face_verts(fv[n:n + 1], nf[n:n + 1], (16, 16), 1e-3, 2, bin_size=8)
        p = np.asarray(single[0])
        np.testing.assert_array_equal(np.asarray(out[0][n]), np.where(p >= 0, p + first[n], -1)[0])
        for a, b in zip(out[1:], single[1:]):
            np.testing.assert_allclose(np.asarray(a[n]), np.asarray(b[0]), atol=1e-6)
    assert (np.asarray(out[0][1]) == -1).all() and (np.asarray(out[1][1]) == -1).all()


def test_pixel_convention_top_left_is_plus_x_plus_y():
    # A small triangle in the +X +Y NDC corner must land at the top-left pixels.
    fv = np.array([[[[0.9, 0.9, 1.0], [0.5, 0.9, 1.0], [0.9, 0.5, 1.0]]]], np.float32)
    p2f = np.asarray(rasterize_face_verts(fv, [1], (10, 10), faces_per_pixel=1)[0])[0, ..., 0]
    hit = np.argwhere(p2f == 0)
    assert hit.size and hit[:, 0].max() < 3 and hit[:, 1].max() < 3


# ------------------------------------------------------------------------------------------
# jit, overflow, Meshes wrapper.
# ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_jit_matches_eager_and_overflow_falls_back():
    fv, nf = random_scene(5, N=2, F=40)
    kw = dict(image_size=(16, 20), blur_radius=1e-3, faces_per_pixel=3, bin_size=8)
    eager = rasterize_face_verts(fv, nf, **kw)
    # max_faces_per_bin=2 overflows: inside jit the search falls back to all faces.
    jitted = jax.jit(lambda f: rasterize_face_verts(f, nf, max_faces_per_bin=2, **kw))(fv)
    for a, b in zip(eager, jitted):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    with pytest.warns(UserWarning, match="max_faces_per_bin=2 is too small"):
        warned = rasterize_face_verts(fv, nf, max_faces_per_bin=2, **kw)
    np.testing.assert_array_equal(np.asarray(warned[0]), np.asarray(eager[0]))


def test_plan_covers_every_bin_with_enough_capacity():
    counts = np.array([[0, 3, 100, 17, 9, 1, 64, 65]])
    E, tiers = plan_from_counts(counts, np.array([counts.sum()]), F=1000)
    assert E >= counts.sum()
    caps = np.concatenate([[m] * b for b, m in tiers])
    srt = np.sort(counts.ravel())[::-1]
    assert len(caps) >= (srt > 0).sum()
    assert (caps[: (srt > 0).sum()] >= srt[srt > 0]).all()


def test_rasterize_meshes_wraps_face_verts_with_packed_indices():
    fv, nf = random_scene(6, N=2, F=12, num_faces=[12, 7])
    verts = [fv[0].reshape(-1, 3), fv[1, :7].reshape(-1, 3)]
    faces = [np.arange(36).reshape(12, 3), np.arange(21).reshape(7, 3)]
    meshes = Meshes(verts=verts, faces=faces)
    a = rasterize_meshes(meshes, (12, 12), 1e-3, 2)
    b = rasterize_face_verts(fv, nf, (12, 12), 1e-3, 2)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert a[0].dtype == jnp.int32 and a[2].shape == (2, 12, 12, 2, 3)


def test_validation_errors():
    fv, nf = random_scene(0, N=1, F=3)
    with pytest.raises(ValueError, match="face_verts"):
        rasterize_face_verts(fv[0], nf, 8)
    with pytest.raises(ValueError, match="faces_per_pixel"):
        rasterize_face_verts(fv, nf, 8, faces_per_pixel=0)
    with pytest.raises(ValueError, match="image_size"):
        rasterize_face_verts(fv, nf, (8, 0))
    with pytest.raises(ValueError, match="blur_radius"):
        rasterize_face_verts(fv, nf, 8, blur_radius=-1.0)
    with pytest.raises(ValueError, match="backend"):
        rasterize_face_verts(fv, nf, 8, backend="cuda")


def test_estimate_memory_is_linear_in_pixels_not_faces_times_pixels():
    small = estimate_memory(1, 6000, 128, faces_per_pixel=8)
    big = estimate_memory(1, 6000, 256, faces_per_pixel=8)
    assert 3.5 < big["outputs"] / small["outputs"] < 4.5
    assert big["total"] < 256 * 256 * 6000 * 4  # far below a dense (H*W*F) buffer


# ------------------------------------------------------------------------------------------
# Gradients.
# ------------------------------------------------------------------------------------------
def _loss_fn(nf, K, blur, persp, clipb):
    def loss(fv):
        _, z, b, d = rasterize_face_verts(fv, nf, (10, 12), blur, K, bin_size=4,
                                          perspective_correct=persp,
                                          clip_barycentric_coords=clipb)
        wz = jnp.linspace(0.5, 1.5, z.size).reshape(z.shape)
        return (wz * z).sum() + (b * b).sum() + 10.0 * d.sum()

    return loss


@pytest.mark.parametrize("persp, clipb", [(False, False), (True, True)])
def test_check_grads_of_recompute_for_fixed_fragments(persp, clipb):
    # The search is piecewise constant by design; gradients flow through the recompute of
    # zbuf / bary / dists for the faces it picked. Check those against finite differences.
    fv, nf = random_scene(8, N=1, F=6, scale=2.0)
    p2f = rasterize_face_verts(fv, nf, (10, 12), 2e-3, 2, perspective_correct=persp,
                               clip_barycentric_coords=clipb)[0]

    def f(fv):
        z, b, d = recompute(fv, p2f, persp, clipb)
        return z, b, 10.0 * d

    # eps small enough not to cross the kinks of clipping and of the edge distance.
    check_grads(f, (jnp.asarray(fv),), order=1, modes=["rev"], eps=1e-4, atol=2e-2, rtol=2e-2)


@pytest.mark.slow
def test_grads_match_float64_finite_differences_of_recompute():
    # Analytic gradient of zbuf sum w.r.t. verts equals a central difference when the
    # pixel->face assignment does not change (tiny eps).
    fv, nf = random_scene(9, N=1, F=5, scale=2.0)
    loss = _loss_fn(nf, 1, 0.0, True, False)
    g = np.asarray(jax.grad(loss)(jnp.asarray(fv)))
    assert np.isfinite(g).all() and np.abs(g).sum() > 0
    rng = np.random.default_rng(0)
    d = rng.normal(size=fv.shape).astype(np.float32)
    eps = 1e-3
    fd = (loss(jnp.asarray(fv + eps * d)) - loss(jnp.asarray(fv - eps * d))) / (2 * eps)
    np.testing.assert_allclose(float((g * d).sum()), float(fd), rtol=5e-2, atol=5e-2)


@pytest.mark.slow
def test_degenerate_faces_give_finite_grads_and_are_skipped():
    fv, nf = random_scene(10, N=1, F=4)
    fv[0, 1] = fv[0, 1, :1]  # zero-area face (three equal vertices)
    fv[0, 2, 2] = fv[0, 2, 0]  # collapsed edge
    out = rasterize_face_verts(fv, nf, (12, 12), 1e-3, 3, perspective_correct=True)
    assert not np.isin(np.asarray(out[0]), [1]).any()
    g = jax.grad(_loss_fn(nf, 3, 1e-3, True, True))(jnp.asarray(fv))
    assert np.isfinite(np.asarray(g)).all()


# ------------------------------------------------------------------------------------------
# PyTorch3D parity.
# ------------------------------------------------------------------------------------------
def fov_project_naive(verts, R, T, fov_degrees=60.0):
    """World -> NDC x, y (FoVPerspectiveCameras defaults, aspect 1) with view-space z."""
    v = verts.astype(np.float64) @ R + T
    s = 1.0 / np.tan(np.deg2rad(fov_degrees) / 2)
    return np.stack([v[:, 0] * s / v[:, 2], v[:, 1] * s / v[:, 2], v[:, 2]], -1)


@pytest.mark.parametrize("mode", ["hard", "soft"])
def test_matches_pytorch3d_sphere(reference, mode):
    ref = reference("rasterize_sphere")
    ndc = fov_project_naive(ref["verts"], ref["R"][0], ref["T"][0]).astype(np.float32)
    fv = ndc[ref["faces"]][None]
    blur = 0.0 if mode == "hard" else float(ref["soft_blur_radius"])
    K = 1 if mode == "hard" else int(ref["soft_faces_per_pixel"])
    out = rasterize_face_verts(fv, [fv.shape[1]], tuple(int(s) for s in ref["image_size"]),
                               blur, K, perspective_correct=True,
                               clip_barycentric_coords=blur > 0)
    np.testing.assert_array_equal(np.asarray(out[0]), ref[f"{mode}_pix_to_face"])
    for got, key in zip(out[1:], ["zbuf", "bary_coords", "dists"]):
        np.testing.assert_allclose(np.asarray(got), ref[f"{mode}_{key}"], atol=2e-5, rtol=1e-5)


def test_no_warning_in_normal_use():
    fv, nf = random_scene(11, N=1, F=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rasterize_face_verts(fv, nf, 16, 1e-3, 2)
