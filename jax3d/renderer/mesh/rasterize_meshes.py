"""Differentiable coarse-to-fine mesh rasterization with PyTorch3D's semantics.

Design: a non-differentiable SEARCH decides, for every pixel, which K faces it sees (coarse
binning by bounding box, then per-bin vectorised edge tests and a top-K over depth); a
differentiable RECOMPUTE then evaluates depth, barycentrics and signed distances from the
gathered vertices of exactly those faces. Gradients flow through the recompute only, so the
backward pass is a scatter-add of size ``N*H*W*K*9``.

Memory is ``O(N*H*W*K + N*NB*M)`` plus ``O(batch*P*M)`` per fine step (``NB`` bins of ``P``
pixels, ``M`` candidates per bin); never ``O(H*W*F)``. The recompute (and its backward) runs
``_RECOMPUTE_BLOCK`` fragments at a time, so its temporaries do not grow with ``N*H*W*K``.

Module layout: :mod:`jax3d.renderer.mesh.triangle` (edge functions, barycentrics, distances),
:mod:`jax3d.renderer.mesh.face_search` (face table and per-bin hit test),
:mod:`jax3d.renderer.binned_search` (the K-nearest binned search shared with the point
rasterizer), :mod:`jax3d.renderer.mesh.recompute` (the differentiable recompute) and this
module, the API and the pipeline that ties them together.
"""

from __future__ import annotations

import functools
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.renderer.binned_search import (
    FINE_STEP_ELEMENTS,
    binned_search,
    jit_plan,
    map_fine,
    plan_from_counts,
)
from jax3d.renderer.binning import (
    bin_counts,
    bin_extents_xy,
    bin_grid,
    check_max_per_bin,
    default_bin_size,
    parse_image_size,
)
from jax3d.renderer.mesh import clip as clip_lib
from jax3d.renderer.mesh.face_search import bin_keys, face_bbox, face_table, fine_rasterize_bin
from jax3d.renderer.mesh.recompute import recompute
from jax3d.renderer.mesh.switch import round_capacity
from jax3d.validation import is_traced

__all__ = ["rasterize_meshes", "rasterize_face_verts", "estimate_memory"]

_DENSE_RECOMPUTE_MAX = 1 << 18  # N*H*W*K up to which search + recompute run as one call


def _mesh_runner(backend, settings):
    if backend == "pallas":
        from jax3d.renderer.mesh.rasterize_meshes_pallas import fine_pallas

        return functools.partial(
            fine_pallas, settings=settings, interpret=jax.default_backend() == "cpu"
        )
    return functools.partial(map_fine, functools.partial(fine_rasterize_bin, **settings))


_STATIC = (
    "image_size",
    "blur_radius",
    "faces_per_pixel",
    "bin_size",
    "plan",
    "perspective_correct",
    "clip_barycentric_coords",
    "cull_backfaces",
    "clip_z",
    "cull_to_frustum",
    "backend",
    "guard",
)


def _prepare(face_verts, num_faces, z_clip_value, image_size, perspective_correct, clip_z,
             cull_to_frustum, cull_backfaces):
    """Clip/cull the faces and build the search table (N, F, S, 10)."""
    F = face_verts.shape[1]
    face_ok = jnp.arange(F)[None, :] < num_faces[:, None]
    clipped = clip_lib.clip_faces(
        face_verts,
        face_ok,
        image_size=image_size,
        perspective_correct=perspective_correct,
        z_clip_value=z_clip_value if clip_z else None,
        cull_to_frustum=cull_to_frustum,
    )
    table = face_table(jax.lax.stop_gradient(clipped.face_verts), clipped.face_ok, cull_backfaces)
    return clipped, table


_FRAG_STATIC = ("image_size", "perspective_correct", "clip_barycentric_coords", "cull_backfaces",
                "clip_z", "cull_to_frustum", "capacity")


@functools.partial(jax.jit, static_argnames=_STATIC)
def _search_impl(face_verts, num_faces, z_clip_value, *, image_size, blur_radius,
                 faces_per_pixel, bin_size, plan, perspective_correct, clip_barycentric_coords,
                 cull_backfaces, clip_z, cull_to_frustum, backend, guard):
    """(N, H, W, K) int32 slots ``f * S + s`` of the K nearest faces (-1 empty); no gradient."""
    _, table = _prepare(face_verts, num_faces, z_clip_value, image_size, perspective_correct,
                        clip_z, cull_to_frustum, cull_backfaces)
    settings = dict(
        blur_radius=blur_radius,
        faces_per_pixel=faces_per_pixel,
        perspective_correct=perspective_correct,
        clip_barycentric_coords=clip_barycentric_coords,
    )
    bbox, any_ok = face_bbox(table, blur_radius)
    run = _mesh_runner(backend, settings)
    keys = functools.partial(bin_keys, blur_radius=blur_radius,
                             perspective_correct=perspective_correct,
                             clip_barycentric_coords=clip_barycentric_coords)
    return binned_search(table, bbox, any_ok, image_size, bin_size, plan, faces_per_pixel, run,
                         guard, keys)


@functools.partial(jax.jit, static_argnames=_FRAG_STATIC)
def _fragments_impl(face_verts, num_faces, z_clip_value, slots, *, image_size,
                    perspective_correct, clip_barycentric_coords, cull_backfaces, clip_z,
                    cull_to_frustum, capacity):
    """Differentiable fragments ``(pix_to_face, zbuf, bary, dists)`` of the searched slots."""
    N, F = face_verts.shape[:2]
    clipped, _ = _prepare(face_verts, num_faces, z_clip_value, image_size, perspective_correct,
                          clip_z, cull_to_frustum, cull_backfaces)
    S = clipped.face_verts.shape[2]
    flat_verts = clipped.face_verts.reshape(N, F * S, 3, 3)
    zbuf, bary, dists = recompute(flat_verts, slots, perspective_correct,
                                   clip_barycentric_coords, capacity)
    if S > 1:
        bary = clip_lib.convert_clipped_bary(bary, slots, clipped.bary_conversion)
    local = jnp.where(slots >= 0, slots // S, -1)
    first = jnp.cumsum(num_faces) - num_faces
    pix_to_face = jnp.where(local >= 0, local + first[:, None, None, None], -1)
    return pix_to_face.astype(jnp.int32), zbuf, bary, dists


def _hit_capacity(slots):
    """Static bound on the fragments in concrete ``slots`` (``"auto"`` when traced): the count
    rounded up by :func:`round_capacity` so that nearby counts share compiled code; None
    (dense) when that is not smaller than ``slots.size``."""
    if is_traced(slots):
        return "auto"
    cap = round_capacity(int(np.count_nonzero(np.asarray(slots) >= 0)))
    return cap if cap < slots.size else None


@functools.partial(jax.jit, static_argnames=_STATIC)
def _fused_impl(face_verts, num_faces, z_clip_value, *, image_size, clip_barycentric_coords,
                perspective_correct, cull_backfaces, clip_z, cull_to_frustum, **search):
    """Search and dense recompute in one compiled call (small outputs: no host round trip)."""
    geo = dict(image_size=image_size, perspective_correct=perspective_correct,
               cull_backfaces=cull_backfaces, clip_z=clip_z, cull_to_frustum=cull_to_frustum)
    primal = jax.lax.stop_gradient((face_verts, num_faces, z_clip_value))
    slots = _search_impl(*primal, clip_barycentric_coords=clip_barycentric_coords, **geo,
                         **search)
    return _fragments_impl(face_verts, num_faces, z_clip_value, slots,
                           clip_barycentric_coords=clip_barycentric_coords, capacity=None, **geo)


def _rasterize_impl(face_verts, num_faces, z_clip_value, *, image_size, clip_barycentric_coords,
                    perspective_correct, cull_backfaces, clip_z, cull_to_frustum, **search):
    """Search (no gradient) then differentiable recompute, compacted to the hits when eager
    and the fragments are large (``N*H*W*K > _DENSE_RECOMPUTE_MAX``)."""
    geo = dict(image_size=image_size, perspective_correct=perspective_correct,
               cull_backfaces=cull_backfaces, clip_z=clip_z, cull_to_frustum=cull_to_frustum)
    if face_verts.shape[0] * image_size[0] * image_size[1] * search["faces_per_pixel"] <= (
        _DENSE_RECOMPUTE_MAX
    ):
        return _fused_impl(face_verts, num_faces, z_clip_value,
                           clip_barycentric_coords=clip_barycentric_coords, **geo, **search)
    primal = jax.lax.stop_gradient((face_verts, num_faces, z_clip_value))
    slots = _search_impl(*primal, clip_barycentric_coords=clip_barycentric_coords, **geo,
                         **search)
    return _fragments_impl(face_verts, num_faces, z_clip_value, slots,
                           clip_barycentric_coords=clip_barycentric_coords,
                           capacity=_hit_capacity(slots), **geo)


_COUNT_STATIC = ("image_size", "blur_radius", "bin_size", "perspective_correct", "clip_z",
                 "cull_to_frustum", "cull_backfaces")


@functools.partial(jax.jit, static_argnames=_COUNT_STATIC)
def _bin_counts(face_verts, num_faces, z_clip_value, *, image_size, blur_radius, bin_size,
                perspective_correct, clip_z, cull_to_frustum, cull_backfaces):
    """Candidates per bin (N, NB) and (bin, face) overlaps per mesh (N,), exactly as searched."""
    _, table = _prepare(face_verts, num_faces, z_clip_value, image_size, perspective_correct,
                        clip_z, cull_to_frustum, cull_backfaces)
    bbox, any_ok = face_bbox(table, blur_radius)
    ext_x, ext_y = (jnp.asarray(a) for a in bin_extents_xy(*image_size, bin_size))
    counts, per = jax.vmap(lambda bb, ok: bin_counts(bb, ok, ext_x, ext_y))(bbox, any_ok)
    return counts, per.sum(-1)


def _validate(face_verts, num_faces, faces_per_pixel, blur_radius, bin_size, max_faces_per_bin,
              backend):
    if face_verts.ndim != 4 or face_verts.shape[2:] != (3, 3):
        raise ValueError(f"face_verts must be (N, F, 3, 3), got {face_verts.shape}")
    if num_faces.shape != face_verts.shape[:1]:
        raise ValueError(
            f"num_faces_per_mesh must be ({face_verts.shape[0]},), got {num_faces.shape}"
        )
    if not isinstance(faces_per_pixel, (int, np.integer)) or faces_per_pixel < 1:
        raise ValueError(f"faces_per_pixel must be a positive int, got {faces_per_pixel!r}")
    if not np.isscalar(blur_radius) or not (0.0 <= float(blur_radius) <= 2.0):
        raise ValueError(f"blur_radius must be a float in [0, 2], got {blur_radius!r}")
    if bin_size is not None and (not isinstance(bin_size, (int, np.integer)) or bin_size < 0):
        raise ValueError(f"bin_size must be None or an int >= 0, got {bin_size!r}")
    check_max_per_bin(max_faces_per_bin, "max_faces_per_bin")
    if backend not in ("xla", "pallas"):
        raise ValueError(f"backend must be 'xla' or 'pallas', got {backend!r}")


def rasterize_face_verts(
    face_verts,
    num_faces_per_mesh,
    image_size=256,
    blur_radius: float = 0.0,
    faces_per_pixel: int = 8,
    bin_size: int | None = None,
    max_faces_per_bin: int | None = None,
    perspective_correct: bool = False,
    clip_barycentric_coords: bool = False,
    cull_backfaces: bool = False,
    z_clip_value: float | None = None,
    cull_to_frustum: bool = False,
    *,
    backend: str = "xla",
):
    """Rasterize padded per-mesh face vertices already in NDC (array-level core).

    Args:
        face_verts: (N, F, 3, 3) float32, ``face_verts[n, f, i]`` is the NDC ``(x, y, z)`` of
            vertex i of face f of mesh n (z = view depth); rows ``f >= num_faces[n]`` ignored.
        num_faces_per_mesh: (N,) int, valid faces per mesh.
        image_size, blur_radius, ...: as :func:`rasterize_meshes`.

    Returns:
        ``(pix_to_face, zbuf, bary_coords, dists)`` as :func:`rasterize_meshes`, with
        pix_to_face holding packed indices ``sum(num_faces[:n]) + f``.
    """
    face_verts = jnp.asarray(face_verts)
    num_faces = jnp.asarray(num_faces_per_mesh).astype(jnp.int32)
    _validate(face_verts, num_faces, faces_per_pixel, blur_radius, bin_size, max_faces_per_bin,
              backend)
    if not jnp.issubdtype(face_verts.dtype, jnp.floating):
        raise TypeError(f"face_verts must be floating point, got {face_verts.dtype}")
    face_verts = face_verts.astype(jnp.float32)
    H, W = parse_image_size(image_size)
    if bin_size is None:
        bin_size = default_bin_size(H, W, blur_radius=float(blur_radius))
    if face_verts.shape[1] == 0:  # no faces at all: empty fragments
        return _empty_fragments(face_verts.shape[0], H, W, faces_per_pixel)
    if bin_size == 0:
        bin_size = max(H, W)
    if z_clip_value is not None and not _needs_z_clip(face_verts, num_faces, z_clip_value):
        z_clip_value = None  # eager and nothing crosses the plane: identical, and cheaper
    zc = jnp.asarray(z_clip_value if z_clip_value is not None else 0.0, jnp.float32)
    common = dict(
        image_size=(H, W),
        blur_radius=float(blur_radius),
        bin_size=int(bin_size),
        perspective_correct=bool(perspective_correct),
        clip_z=z_clip_value is not None,
        cull_to_frustum=bool(cull_to_frustum),
        cull_backfaces=bool(cull_backfaces),
    )
    plan, guard = _choose_plan(face_verts, num_faces, zc, common, max_faces_per_bin, backend)
    return _rasterize_impl(
        face_verts,
        num_faces,
        zc,
        faces_per_pixel=int(faces_per_pixel),
        plan=plan,
        clip_barycentric_coords=bool(clip_barycentric_coords),
        backend=backend,
        guard=guard,
        **common,
    )


def _needs_z_clip(face_verts, num_faces, z_clip_value) -> bool:
    """False only when known (eagerly) that no valid vertex lies in front of the clip plane."""
    primal = jax.lax.stop_gradient((face_verts, num_faces, jnp.asarray(z_clip_value)))
    if any(is_traced(x) for x in primal):
        return True
    fv, nf, zc = (np.asarray(x) for x in primal)
    valid = np.arange(fv.shape[1])[None, :] < nf[:, None]
    return bool((fv[..., 2][valid] < zc).any())


def _choose_plan(face_verts, num_faces, zc, common, max_faces_per_bin, backend):
    """(plan, guard): exact plan from eager counts, else a fixed one guarded against overflow."""
    N, F = face_verts.shape[:2]
    H, W = common["image_size"]
    by, bx = bin_grid(H, W, common["bin_size"])
    primal = jax.lax.stop_gradient((face_verts, num_faces, zc))  # concrete under bare grad
    if any(is_traced(x) for x in primal):
        return jit_plan(F, by * bx, N, max_faces_per_bin, dynamic=backend == "xla"), True
    counts, totals = _bin_counts(*primal, **common)
    counts, totals = np.asarray(counts), np.asarray(totals)
    need = int(counts.max()) if counts.size else 0
    if max_faces_per_bin is not None and need > max_faces_per_bin:
        warnings.warn(
            f"max_faces_per_bin={max_faces_per_bin} is too small: a bin holds {need} faces; "
            f"using capacity {need} instead.",
            stacklevel=4,
        )
    return plan_from_counts(counts, totals, F), False


def _empty_fragments(N, H, W, K):
    neg = -jnp.ones((N, H, W, K), jnp.float32)
    return (-jnp.ones((N, H, W, K), jnp.int32), neg, -jnp.ones((N, H, W, K, 3), jnp.float32), neg)


def _gather_face_verts(verts, faces):
    """(N, V, 3) verts, (N, F, 3) faces (-1 padded) -> (N, F, 3, 3) face vertices."""
    return jax.vmap(lambda v, f: v[jnp.maximum(f, 0)])(verts, faces)


def rasterize_meshes(
    meshes,
    image_size=256,
    blur_radius: float = 0.0,
    faces_per_pixel: int = 8,
    bin_size: int | None = None,
    max_faces_per_bin: int | None = None,
    perspective_correct: bool = False,
    clip_barycentric_coords: bool = False,
    cull_backfaces: bool = False,
    z_clip_value: float | None = None,
    cull_to_frustum: bool = False,
    *,
    backend: str = "xla",
):
    """Rasterize a batch of meshes whose vertices are already in NDC (PyTorch3D semantics).

    Args:
        meshes: ``Meshes`` of N meshes, verts in NDC: x, y as in PyTorch3D (+X left, +Y up,
            the shorter image side spans [-1, 1]) and z the view-space depth.
        image_size: int or (H, W).
        blur_radius: float in [0, 2], a squared NDC distance: faces within it of a pixel
            centre are reported even when the pixel is outside them (soft rasterization).
        faces_per_pixel: K, the number of nearest faces kept per pixel.
        bin_size: bin edge in pixels for coarse-to-fine rasterization; 0 means a single
            bin holding every face; None picks a size.
        max_faces_per_bin: None or a positive int (else ValueError), the capacity of each
            bin. None: eagerly, sized from the true counts;
            under ``jit`` the search has no per-bin capacity and the flat (bin, face) list
            holds ``bins * max_faces_per_bin`` entries (None: the power of two above
            ``max(8 F, 32 bins)``). On overflow the result stays exact: eagerly the capacity
            is raised, under ``jit`` the search falls back to all faces; both warn.
        perspective_correct: perspective-correct barycentrics (use for perspective cameras).
        clip_barycentric_coords: clamp barycentrics to the face before interpolating z.
        cull_backfaces: drop faces whose screen-space winding is clockwise
            (``edge_function(v0, v1, v2) < 0``).
        z_clip_value: if set, faces are clipped to ``z >= z_clip_value`` (a face with one
            vertex behind becomes two triangles), as PyTorch3D's clip.py. Below 1e-8 (e.g.
            ``znear = 0``) the pieces in front are not projected (no divide by zero) and not
            drawn: faces crossing the plane vanish, values and gradients stay finite.
        cull_to_frustum: drop faces entirely outside the NDC x/y range.
        backend: "xla" or "pallas" (fine stage as a Pallas kernel; interpreted on CPU).

    Returns:
        pix_to_face: (N, H, W, K) int32, ``pix_to_face[n, y, x, k] = f`` means packed face f
            (``mesh_to_faces_packed_first_idx[n] + f_local``) is the k-th nearest face at
            pixel (y, x); -1 where fewer than k+1 faces hit. Pixel (0, 0) is the top-left.
        zbuf: (N, H, W, K) float32 interpolated view depth, -1 where empty.
        bary_coords: (N, H, W, K, 3) float32 barycentrics, -1 where empty.
        dists: (N, H, W, K) float32 signed squared NDC distance to the face's edges
            (negative inside), -1 where empty.
    """
    verts = jnp.asarray(meshes.verts_padded())
    faces = jnp.asarray(meshes.faces_padded())
    if verts.ndim != 3 or verts.shape[-1] != 3:
        raise ValueError(f"meshes.verts_padded() must be (N, V, 3), got {verts.shape}")
    if faces.ndim != 3 or faces.shape[-1] != 3:
        raise ValueError(f"meshes.faces_padded() must be (N, F, 3), got {faces.shape}")
    face_verts = _gather_face_verts(verts, faces)
    return rasterize_face_verts(
        face_verts,
        meshes.num_faces_per_mesh(),
        image_size,
        blur_radius,
        faces_per_pixel,
        bin_size,
        max_faces_per_bin,
        perspective_correct,
        clip_barycentric_coords,
        cull_backfaces,
        z_clip_value,
        cull_to_frustum,
        backend=backend,
    )


def estimate_memory(
    N, F, image_size, faces_per_pixel=8, bin_size=None, max_faces_per_bin=512, clipped=False
) -> dict:
    """Rough peak bytes of the main buffers of one forward pass (not counting XLA temps).

    Returns a dict with ``outputs`` (fragments), ``bins`` (candidate lists and face table),
    ``fine_step`` (one bounded fine step) and ``total``.
    """
    H, W = parse_image_size(image_size)
    bs = default_bin_size(H, W) if not bin_size else bin_size
    nb = math.ceil(H / bs) * math.ceil(W / bs)
    S = 2 if clipped else 1
    M = min(max_faces_per_bin, F)
    outputs = N * H * W * faces_per_pixel * (4 + 4 + 12 + 4)
    bins = N * nb * M * 4 + N * F * S * 10 * 4 + N * F * 4 * 4
    fine_step = max(FINE_STEP_ELEMENTS, bs * bs * M) * 4 * 12
    return dict(outputs=outputs, bins=bins, fine_step=fine_step, total=outputs + bins + fine_step)
