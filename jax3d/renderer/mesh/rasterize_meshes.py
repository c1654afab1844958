"""Differentiable coarse-to-fine mesh rasterization with PyTorch3D's semantics.

Design: a non-differentiable SEARCH decides, for every pixel, which K faces it sees (coarse
binning by bounding box, then per-bin vectorised edge tests and a top-K over depth); a
differentiable RECOMPUTE then evaluates depth, barycentrics and signed distances from the
gathered vertices of exactly those faces. Gradients flow through the recompute only, so the
backward pass is a scatter-add of size ``N*H*W*K*9``.

Memory is ``O(N*H*W*K + N*NB*M)`` plus ``O(batch*P*M)`` per fine step (``NB`` bins of ``P``
pixels, ``M`` candidates per bin); never ``O(H*W*F)``. The recompute (and its backward) runs
``_RECOMPUTE_BLOCK`` fragments at a time, so its temporaries do not grow with ``N*H*W*K``.

One path: :func:`plan_mesh_rasterization` computes a
:class:`~jax3d.renderer.binned_search.RasterPlan` (from the true bin counts when the data are
concrete, from the settings under ``jit``) and the same core, ``_rasterize_core`` (a jitted
search, then a jitted recompute at the capacity of
:func:`~jax3d.renderer.mesh.recompute.plan_fragment_capacity`), consumes it eagerly and under
``jit``.

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
    RasterPlan,
    binned_search,
    map_fine,
    plan_search,
    warn_overflow,
)
from jax3d.renderer.binning import (
    bin_counts,
    bin_extents_xy,
    check_max_per_bin,
    default_bin_size,
    parse_image_size,
)
from jax3d.renderer.mesh import clip as clip_lib
from jax3d.renderer.mesh.face_search import bin_keys, face_bbox, face_table, fine_rasterize_bin
from jax3d.renderer.mesh.recompute import plan_fragment_capacity, recompute
from jax3d.validation import is_traced

__all__ = ["rasterize_meshes", "rasterize_face_verts", "plan_mesh_rasterization",
           "estimate_memory"]

_DENSE_RECOMPUTE_MAX = 1 << 18  # N*H*W*K up to which the recompute is dense (no compaction)


def _mesh_runner(backend, settings):
    if backend == "pallas":  # deferred: Pallas loads only when asked for (no import cycle)
        from jax3d.renderer.mesh.rasterize_meshes_pallas import fine_pallas

        return functools.partial(
            fine_pallas, settings=settings, interpret=jax.default_backend() == "cpu"
        )
    return functools.partial(map_fine, functools.partial(fine_rasterize_bin, **settings))


def _prepare(face_verts, num_faces, z_clip_value, image_size, perspective_correct, clip_z,
             cull_to_frustum, cull_backfaces):
    """Clip/cull the faces and build the search table (N, F, S, 10) (no gradient)."""
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


def _search(table, *, plan, image_size, blur_radius, faces_per_pixel, perspective_correct,
            clip_barycentric_coords, backend):
    """(N, H, W, K) int32 slots ``f * S + s`` of the K nearest faces (-1 empty), and the
    search's overflow report (:func:`~jax3d.renderer.binned_search.binned_search`); no
    gradient."""
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
    return binned_search(table, bbox, any_ok, image_size, plan, faces_per_pixel, run, keys)


def _warn_unclipped(crossing):
    """Warn when faces cross the clip plane that the plan said nothing crosses: in Python for
    a concrete flag, through ``jax.debug.callback`` for a traced one."""
    if is_traced(crossing):
        jax.debug.callback(_warn_unclipped, crossing)
    elif bool(np.any(crossing)):
        warnings.warn(
            "faces cross z_clip_value but the rasterization plan says they do not "
            "(plan.clip_z=False, a plan computed for other data): they were not clipped; "
            "plan from these data or with clip_z=True.",
            stacklevel=2,
        )


_SEARCH_STATIC = ("plan", "image_size", "blur_radius", "faces_per_pixel", "perspective_correct",
                  "clip_barycentric_coords", "cull_backfaces", "cull_to_frustum", "z_clip",
                  "backend")


@functools.partial(jax.jit, static_argnames=_SEARCH_STATIC)
def _search_core(face_verts, num_faces, z_clip_value, *, plan, image_size, blur_radius,
                 faces_per_pixel, perspective_correct, clip_barycentric_coords, cull_backfaces,
                 cull_to_frustum, z_clip, backend):
    """``(slots, report, crossing)``: (N, H, W, K) int32 slots ``f * S + s`` of the K nearest
    faces (-1 empty), the search sized by ``plan``; its overflow report; whether faces cross
    a clip plane that the plan skips. Never differentiated (called on ``stop_gradient``
    inputs); no host callbacks (the caller warns), so the compiled search can be cached."""
    F = face_verts.shape[1]
    _, table = _prepare(face_verts, num_faces, z_clip_value, image_size, perspective_correct,
                        plan.clip_z, cull_to_frustum, cull_backfaces)
    crossing = jnp.zeros((), bool)
    if z_clip and not plan.clip_z:  # the plan said nothing crosses the plane: check it
        z = face_verts[..., 2].min(-1)
        crossing = ((z < z_clip_value) & (jnp.arange(F)[None] < num_faces[:, None])).any()
    slots, report = _search(table, plan=plan, image_size=image_size, blur_radius=blur_radius,
                   faces_per_pixel=faces_per_pixel, perspective_correct=perspective_correct,
                   clip_barycentric_coords=clip_barycentric_coords, backend=backend)
    return slots, report, crossing


_FRAG_STATIC = ("image_size", "perspective_correct", "clip_barycentric_coords", "cull_backfaces",
                "clip_z", "cull_to_frustum", "capacity")


@functools.partial(jax.jit, static_argnames=_FRAG_STATIC)
def _fragments_core(face_verts, num_faces, z_clip_value, slots, *, image_size,
                    perspective_correct, clip_barycentric_coords, cull_backfaces, clip_z,
                    cull_to_frustum, capacity):
    """Differentiable fragments ``(pix_to_face, zbuf, bary, dists)`` of the searched slots,
    the recompute visiting ``capacity`` entries (:func:`~jax3d.renderer.mesh.recompute.recompute`:
    None dense, an int, or ``"auto"``)."""
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


def _rasterize_core(face_verts, num_faces, z_clip_value, *, plan, image_size,
                    clip_barycentric_coords, perspective_correct, cull_backfaces,
                    cull_to_frustum, **search):
    """The one rasterization path, run as is eagerly and under ``jit``: the search sized by
    ``plan`` (no gradient), then the differentiable recompute of the faces found, at the
    capacity of :func:`~jax3d.renderer.mesh.recompute.plan_fragment_capacity` (dense for
    small outputs, ``N*H*W*K <= _DENSE_RECOMPUTE_MAX``). Eagerly these are two compiled calls
    with the fragment count read in between; under ``jit`` both are traced into the caller."""
    geo = dict(image_size=image_size, perspective_correct=perspective_correct,
               cull_backfaces=cull_backfaces, cull_to_frustum=cull_to_frustum)
    primal = jax.lax.stop_gradient((face_verts, num_faces, z_clip_value))
    slots, report, crossing = _search_core(*primal, plan=plan, **geo, **search,
                                           clip_barycentric_coords=clip_barycentric_coords)
    dense = slots.size <= _DENSE_RECOMPUTE_MAX
    fragments = _fragments_core(face_verts, num_faces, z_clip_value, slots,
                                clip_barycentric_coords=clip_barycentric_coords,
                                clip_z=plan.clip_z,
                                capacity=None if dense else plan_fragment_capacity(slots),
                                **geo)  # fmt: skip
    # after the recompute is dispatched: reading the report eagerly waits for the search only
    warn_overflow(report, plan)  # eagerly in Python: the compiled search has no callback
    _warn_unclipped(crossing)
    return fragments


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


def _resolve_bin_size(bin_size, H, W, blur_radius) -> int:
    if bin_size is None:
        return default_bin_size(H, W, blur_radius=float(blur_radius))
    return int(bin_size) if bin_size else max(H, W)  # 0: one bin


def plan_mesh_rasterization(
    face_verts,
    num_faces_per_mesh,
    image_size=256,
    blur_radius: float = 0.0,
    bin_size: int | None = None,
    max_faces_per_bin: int | None = None,
    perspective_correct: bool = False,
    cull_backfaces: bool = False,
    z_clip_value: float | None = None,
    cull_to_frustum: bool = False,
    *,
    backend: str = "xla",
) -> RasterPlan:
    """The :class:`RasterPlan` of a mesh rasterization: from the data when they are concrete,
    from the settings when they are traced. With the recompute's
    :func:`~jax3d.renderer.mesh.recompute.plan_fragment_capacity`, the only places where an
    eager call and a jitted one differ.

    Eagerly (also under a bare ``jax.grad``) the faces are clipped and binned first and the
    plan is sized from the true counts (:func:`jax3d.renderer.binned_search.plan_from_counts`:
    tiers of bins, a ``max_faces_per_bin`` below the fullest bin warns and is raised), and
    ``clip_z`` is False when no valid vertex lies in front of ``z_clip_value`` (clipping would
    change nothing). Under ``jit`` / ``vmap`` the plan comes from the settings
    (:func:`jax3d.renderer.binned_search.jit_plan`; ``clip_z`` whenever a plane is given).

    Args:
        face_verts: (N, F, 3, 3) float32 NDC face vertices; num_faces_per_mesh: (N,) int;
            the rest as :func:`rasterize_face_verts` (validated there).
    """
    face_verts = jnp.asarray(face_verts, jnp.float32)
    num_faces = jnp.asarray(num_faces_per_mesh).astype(jnp.int32)
    N, F = face_verts.shape[:2]
    H, W = parse_image_size(image_size)
    bs = _resolve_bin_size(bin_size, H, W, blur_radius)
    zc = jnp.asarray(z_clip_value if z_clip_value is not None else 0.0, jnp.float32)
    primal = jax.lax.stop_gradient((face_verts, num_faces, zc))  # concrete under bare grad
    common = dict(image_size=(H, W), bin_size=bs, max_per_bin=max_faces_per_bin,
                  num_primitives=F, batch=N, dynamic=backend == "xla")
    if any(is_traced(x) for x in primal):
        return plan_search(None, None, clip_z=z_clip_value is not None, **common)
    fv, nf, zcv = (np.asarray(x) for x in primal)
    valid = np.arange(F)[None, :] < nf[:, None]
    clip_z = z_clip_value is not None and bool((fv[..., 2][valid] < zcv).any())
    counts, totals = _bin_counts(*primal, image_size=(H, W), blur_radius=float(blur_radius),
                                 bin_size=bs, perspective_correct=bool(perspective_correct),
                                 clip_z=clip_z, cull_to_frustum=bool(cull_to_frustum),
                                 cull_backfaces=bool(cull_backfaces))
    return plan_search(counts, totals, clip_z=clip_z, **common)


def _check_plan(plan, image_size, N, z_clip_value):
    if not isinstance(plan, RasterPlan):
        raise TypeError(f"plan must be a RasterPlan or None, got {type(plan)}")
    plan.check(image_size, N)
    if plan.clip_z and z_clip_value is None:
        raise ValueError("plan.clip_z is True but z_clip_value is None")


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
    plan: RasterPlan | None = None,
):
    """Rasterize padded per-mesh face vertices already in NDC (array-level core).

    Args:
        face_verts: (N, F, 3, 3) float32, ``face_verts[n, f, i]`` is the NDC ``(x, y, z)`` of
            vertex i of face f of mesh n (z = view depth); rows ``f >= num_faces[n]`` ignored.
        num_faces_per_mesh: (N,) int, valid faces per mesh.
        image_size, blur_radius, ...: as :func:`rasterize_meshes`.
        plan: None (computed by :func:`plan_mesh_rasterization` from these arguments) or a
            :class:`~jax3d.renderer.binned_search.RasterPlan` for the same image and batch,
            e.g. one computed eagerly and reused under ``jit``; its ``bin_size`` replaces
            ``bin_size``. A plan too small for the data still gives exact fragments (and a
            warning).

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
    N, F = face_verts.shape[:2]
    if F == 0:  # no faces at all: empty fragments
        return _empty_fragments(N, H, W, faces_per_pixel)
    if plan is None:
        plan = plan_mesh_rasterization(face_verts, num_faces, (H, W), blur_radius, bin_size,
                                       max_faces_per_bin, perspective_correct, cull_backfaces,
                                       z_clip_value, cull_to_frustum, backend=backend)
    else:
        _check_plan(plan, (H, W), N, z_clip_value)
    zc = jnp.asarray(z_clip_value if z_clip_value is not None else 0.0, jnp.float32)
    return _rasterize_core(
        face_verts,
        num_faces,
        zc,
        plan=plan,
        image_size=(H, W),
        blur_radius=float(blur_radius),
        faces_per_pixel=int(faces_per_pixel),
        perspective_correct=bool(perspective_correct),
        clip_barycentric_coords=bool(clip_barycentric_coords),
        cull_backfaces=bool(cull_backfaces),
        cull_to_frustum=bool(cull_to_frustum),
        z_clip=z_clip_value is not None,
        backend=backend,
    )


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
    plan: RasterPlan | None = None,
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
            bin, read by the plan (:func:`plan_mesh_rasterization`). Eagerly the plan is sized
            from the true counts (a value too small is raised, with a warning); under ``jit``
            the search has no per-bin capacity and the flat (bin, face) list holds
            ``bins * max_faces_per_bin`` entries (None: the power of two above
            ``max(8 F, 32 bins)``); on overflow the search falls back to all faces, exact,
            and warns.
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
        plan: None (planned here: from the data eagerly, from the settings under ``jit``) or
            a :class:`~jax3d.renderer.binned_search.RasterPlan`, e.g. one computed eagerly by
            :func:`plan_mesh_rasterization` (or ``MeshRasterizer.plan``) and reused under
            ``jit`` (see :func:`rasterize_face_verts`).

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
        plan=plan,
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
