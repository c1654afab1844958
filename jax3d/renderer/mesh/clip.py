"""Frustum culling and z-clipping of faces before rasterization (PyTorch3D's clip.py cases).

With static shapes every face ``f`` owns two slots ``(f, 0)`` and ``(f, 1)``:

- case 1, in front of ``z_clip_value``: slot 0 holds the face unchanged;
- case 2, fully behind (or culled): both slots are invalid;
- case 3, two vertices behind: slot 0 holds the smaller triangle ``(p4, p5, p1)``;
- case 4, one vertex behind: the quad in front is split into ``t1 = (p4, p2, p5)`` in slot 0 and
  ``t2 = (p5, p2, p3)`` in slot 1.

``bary_conversion[n, f, s]`` is the (3, 3) matrix whose column k holds the barycentrics, in the
original face, of vertex k of the clipped triangle: ``bary_original = conv @ bary_clipped``.
z is view-space depth; x, y are NDC (for perspective cameras they are un-projected, interpolated
and re-projected at ``z_clip_value``, as PyTorch3D does). A ``z_clip_value`` below
:data:`MIN_PROJECTED_Z` (``znear = 0``) is not projected: the clipped pieces are dropped
(never drawn) with finite values and gradients instead of dividing by zero.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from jax3d.renderer.binning import non_square_ndc_range

__all__ = ["ClippedFaces", "clip_faces", "convert_clipped_bary"]


@struct.dataclass
class ClippedFaces:
    """Faces after culling/clipping.

    Attributes:
        face_verts: (N, F, S, 3, 3) float32 with S = 2 when z-clipping, else 1.
        face_ok: (N, F, S) bool, which slots hold a face to rasterize.
        bary_conversion: (N, F * S, 3, 3) float32 or None (no z-clipping).
    """

    face_verts: jnp.ndarray
    face_ok: jnp.ndarray
    bary_conversion: jnp.ndarray | None = None


def _culled(face_verts, image_size):
    """(N, F) bool: all three vertices beyond the same x or y edge of the NDC image."""
    H, W = image_size
    rx, ry = non_square_ndc_range(W, H) / 2, non_square_ndc_range(H, W) / 2
    x, y = face_verts[..., 0], face_verts[..., 1]
    return (x < -rx).all(-1) | (x > rx).all(-1) | (y < -ry).all(-1) | (y > ry).all(-1)


# Smallest clip plane that is projected: kEpsilon, the rasterizer's nearest depth (faces with
# a vertex nearer than it are never drawn, rasterize_meshes._face_table). Below it
# (``znear = 0``, so ``z_clip_value = 0``) the pieces of the clipped faces in front of the plane
# touch it, so they are not drawn, and they are not projected either (the divide by
# ``z_clip_value`` is skipped, values and gradients stay finite; PyTorch3D divides by zero):
# faces crossing the camera plane vanish.
MIN_PROJECTED_Z = 1e-8


def _intersect(p1, pk, z_clip, perspective_correct):
    """Point where segment p1-pk crosses z = z_clip, and its weight on pk."""
    dz = p1[..., 2] - pk[..., 2]
    w = (p1[..., 2] - z_clip) / jnp.where(dz == 0.0, 1.0, dz)
    p = p1 * (1 - w[..., None]) + pk * w[..., None]
    if perspective_correct:
        xy1 = p1[..., :2] * p1[..., 2:3]
        xyk = pk[..., :2] * pk[..., 2:3]
        # Double where: the untaken branch divides by 1, so neither it nor its gradient is
        # ever inf or NaN (0 * inf in the backward pass) when z_clip is 0.
        projectable = z_clip >= MIN_PROJECTED_Z
        z_div = jnp.where(projectable, z_clip, 1.0)
        xy = (xy1 * (1 - w[..., None]) + xyk * w[..., None]) / z_div
        p = jnp.concatenate([jnp.where(projectable, xy, 0.0), p[..., 2:3]], -1)
    return p, w


def _z_clip(face_verts, z_clip, perspective_correct):
    """Clipped slot vertices (N, F, 2, 3, 3), case masks and conversion matrices."""
    behind = face_verts[..., 2] < z_clip  # (N, F, 3)
    nb = behind.sum(-1)
    lone = jnp.where(nb == 2, jnp.argmax(~behind, -1), jnp.argmax(behind, -1))  # p1 index
    i1, i2, i3 = lone, (lone + 1) % 3, (lone + 2) % 3

    def pick(i):
        return jnp.take_along_axis(face_verts, i[..., None, None], axis=-2)[..., 0, :]

    p1, p2, p3 = pick(i1), pick(i2), pick(i3)
    p4, w2 = _intersect(p1, p2, z_clip, perspective_correct)
    p5, w3 = _intersect(p1, p3, z_clip, perspective_correct)
    e1, e2, e3 = (jnp.eye(3, dtype=face_verts.dtype)[i] for i in (i1, i2, i3))
    b4 = e1 * (1 - w2[..., None]) + e2 * w2[..., None]
    b5 = e1 * (1 - w3[..., None]) + e3 * w3[..., None]
    case3, case4 = nb == 2, nb == 1
    t3, t1, t2 = (p4, p5, p1), (p4, p2, p5), (p5, p2, p3)
    c3, c1, c2 = (b4, b5, e1), (b4, e2, b5), (b5, e2, e3)
    slot0 = jnp.where(
        case3[..., None, None],
        jnp.stack(t3, -2),
        jnp.where(case4[..., None, None], jnp.stack(t1, -2), face_verts),
    )
    slot1 = jnp.stack(t2, -2)
    ident = jnp.broadcast_to(jnp.eye(3, dtype=face_verts.dtype), slot0.shape)
    conv0 = jnp.where(
        case3[..., None, None],
        jnp.stack(c3, -1),
        jnp.where(case4[..., None, None], jnp.stack(c1, -1), ident),
    )
    conv1 = jnp.stack(c2, -1)
    verts = jnp.stack([slot0, slot1], 2)
    conv = jnp.stack([conv0, conv1], 2)
    ok = jnp.stack([nb < 3, case4], -1)
    return verts, ok, conv


def clip_faces(
    face_verts,
    face_ok,
    *,
    image_size,
    perspective_correct,
    z_clip_value=None,
    cull_to_frustum=False,
) -> ClippedFaces:
    """Cull faces outside the NDC frustum and clip faces crossing ``z = z_clip_value``.

    Args:
        face_verts: (N, F, 3, 3) float32 NDC x, y and view depth z.
        face_ok: (N, F) bool valid faces.
        image_size: static (H, W), which sets the NDC x/y extent used for culling.
        perspective_correct: static, whether x, y are perspective projections.
        z_clip_value: None (no clipping) or a scalar (may be traced).
        cull_to_frustum: static, drop faces entirely outside the image's NDC range.

    Returns:
        :class:`ClippedFaces`.
    """
    ok = face_ok
    if cull_to_frustum:
        ok = ok & ~_culled(face_verts, image_size)
    if z_clip_value is None:
        return ClippedFaces(face_verts[:, :, None], ok[:, :, None], None)
    verts, slot_ok, conv = _z_clip(face_verts, z_clip_value, perspective_correct)
    N, F = face_ok.shape
    return ClippedFaces(verts, slot_ok & ok[..., None], conv.reshape(N, F * 2, 3, 3))


def convert_clipped_bary(bary, slots, bary_conversion):
    """Barycentrics w.r.t. clipped slots -> w.r.t. the original faces.

    Args:
        bary: (N, H, W, K, 3) float32 (-1 where empty).
        slots: (N, H, W, K) int32 slot ids ``f * 2 + s`` (-1 empty).
        bary_conversion: (N, F * 2, 3, 3) float32.

    Returns:
        (N, H, W, K, 3) float32.
    """
    conv = jax.vmap(lambda t, i: t[i])(bary_conversion, jnp.maximum(slots, 0))
    out = jnp.einsum("...ij,...j->...i", conv, bary)
    return jnp.where((slots >= 0)[..., None], out, bary)
