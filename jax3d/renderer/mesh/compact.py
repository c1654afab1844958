"""Shade only the fragments: compaction of the (N, H, W, K) fragment slots.

Soft rasterization keeps K slots per pixel but most of them are empty (the cow at 256 x 256
with K = 50: 3.3M slots, 0.37M fragments). Shading and texture sampling are per fragment (they
read ``pix_to_face`` and ``bary_coords``, never the pixel position), so they can run on a
compact ``(N, C, 1, 1)`` view of the fragments and be scattered back.

The capacity C is static: called eagerly it is the largest per-image fragment count rounded up
(``2**k`` or ``1.5 * 2**k``, so that nearby counts share compiled code); under ``jit`` a
``lax.switch`` picks the smallest of a few capacities that holds the traced count, through
:func:`switch_with_recompute` so that only the taken branch's work (and memory) is paid in both
passes.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.renderer.mesh.switch import capacity_ladder, plan_capacity, switch_with_recompute

__all__ = ["shade_fragments", "fragment_capacity", "compact_fragments", "expand_to_slots"]

_MIN_CAPACITY = 256
_SHADE_BLOCK = 1 << 19  # fragments (all images together) shaded at once above which to block


def fragment_capacity(pix_to_face):
    """Static per-image capacity for the fragments of ``pix_to_face (N, H, W, K)``:
    :func:`~jax3d.renderer.mesh.switch.plan_capacity` per image (the largest per-image count
    rounded up; None when that is not smaller than ``H*W*K``; ``"auto"`` when traced)."""
    return plan_capacity(pix_to_face, per_image=True, lo=_MIN_CAPACITY)


def compact_fragments(fragments, capacity: int):
    """The first ``capacity`` fragments of each image, in row-major slot order.

    Args:
        fragments: ``Fragments`` (N, H, W, K).
        capacity: static C (at least the largest per-image fragment count).

    Returns:
        ``(compact, idx)``: ``compact`` is a ``Fragments`` of shape (N, C, 1, 1) (slots past
        an image's count are empty: pix_to_face -1, the rest -1); ``idx`` (N, C) int32 is the
        flat slot ``(y * W + x) * K + k`` of each, ``H*W*K`` for the empty ones.
    """
    p2f = fragments.pix_to_face
    N = p2f.shape[0]
    L = int(np.prod(p2f.shape[1:]))
    flat = p2f.reshape(N, L)
    idx = jax.vmap(lambda r: jnp.nonzero(r >= 0, size=capacity, fill_value=L)[0])(flat)
    idx = idx.astype(jnp.int32)
    ok = idx < L
    safe = jnp.where(ok, idx, 0)

    def take(a):
        rows = a.reshape(N, L, *a.shape[4:])
        picked = jnp.take_along_axis(rows, safe.reshape(N, capacity, *([1] * (a.ndim - 4))),
                                     axis=1)
        mask = ok.reshape(N, capacity, *([1] * (a.ndim - 4)))
        return jnp.where(mask, picked, -1).reshape(N, capacity, 1, 1, *a.shape[4:])

    compact = type(fragments)(pix_to_face=take(p2f).astype(p2f.dtype), zbuf=take(fragments.zbuf),
                              bary_coords=take(fragments.bary_coords),
                              dists=take(fragments.dists))
    return compact, idx


def expand_to_slots(values, idx, shape):
    """Scatter compact ``values (N, C, 1, 1, ...)`` back to slots ``(N, H, W, K, ...)``, 0 where
    no fragment was (``idx`` from :func:`compact_fragments`, ``shape = (N, H, W, K)``)."""
    N, C = idx.shape
    L = int(np.prod(shape[1:]))
    rest = values.shape[4:]
    out = jnp.zeros((N, L + 1) + rest, values.dtype)
    out = out.at[jnp.arange(N)[:, None], idx].set(values.reshape((N, C) + rest))
    return out[:, :L].reshape(tuple(shape) + rest)


def _shade_blocked(shade, compact, *operands):
    """``shade(compact (N, C, 1, 1), *operands)``, in blocks of about ``_SHADE_BLOCK``
    fragments when there are more (``lax.map`` over checkpointed blocks: the temporaries of
    both passes are one block's; under ``jit`` XLA reserves memory for the largest switch
    branch whichever runs). Padding fragments are empty (pix_to_face -1)."""
    N, C = compact.pix_to_face.shape[:2]
    B = max(_MIN_CAPACITY, _SHADE_BLOCK // max(N, 1))
    if C <= B:
        return shade(compact, *operands)
    nb = -(-C // B)

    def split(a):  # (N, C, 1, 1, ...) -> (nb, N, B, 1, 1, ...), padded with -1
        pad = [(0, 0), (0, nb * B - C)] + [(0, 0)] * (a.ndim - 2)
        a = jnp.pad(a, pad, constant_values=-1).reshape((N, nb, B) + a.shape[2:])
        return jnp.moveaxis(a, 1, 0)

    blocks = jax.tree_util.tree_map(split, compact)
    body = jax.checkpoint(lambda fr, ops: shade(fr, *ops))
    out = jax.lax.map(lambda fr: body(fr, operands), blocks)  # (nb, N, B, 1, 1, ...)
    out = jnp.moveaxis(out, 0, 1).reshape((N, nb * B) + out.shape[3:])
    return out[:, :C]


def _shade_at(shade, capacity, fragments, *operands):
    compact, idx = compact_fragments(fragments, capacity)
    values = _shade_blocked(shade, compact, *operands)
    return expand_to_slots(values, idx, fragments.pix_to_face.shape)


def _shade_dense(shade, fragments, *operands):
    """Every slot shaded (0 where empty); blocked through the compact path when large."""
    p2f = fragments.pix_to_face
    L = int(np.prod(p2f.shape[1:]))
    if p2f.shape[0] * L > _SHADE_BLOCK:
        return _shade_at(shade, L, fragments, *operands)
    return jnp.where((p2f >= 0)[..., None], shade(fragments, *operands), 0.0)


def shade_fragments(shade, fragments, *operands):
    """``shade(fragments, *operands) -> (N, H, W, K, ...)`` evaluated on the fragments only.

    Args:
        shade: a per-fragment function (it may read ``pix_to_face``, ``bary_coords``, ``zbuf``
            and ``dists`` of each slot, never its pixel position), e.g. texture sampling then
            Phong shading. Empty slots of its output are 0 here.
        fragments: ``Fragments`` (N, H, W, K).
        *operands: everything ``shade`` differentiates through (meshes, lights, cameras,
            materials, ...), passed explicitly so that gradients reach them under ``jit``.

    Returns:
        ``shade``'s output at every slot, 0 where ``pix_to_face < 0``; values and gradients
        equal those of ``shade(fragments, *operands)`` at the fragments.
    """
    cap = fragment_capacity(fragments.pix_to_face)
    if cap is None:
        return shade(fragments, *operands)
    if cap != "auto":
        return _shade_at(shade, cap, fragments, *operands)
    p2f = fragments.pix_to_face
    N, L = p2f.shape[0], int(np.prod(p2f.shape[1:]))
    caps = capacity_ladder(L, _MIN_CAPACITY)
    if not caps:
        return shade(fragments, *operands)
    count = (p2f.reshape(N, L) >= 0).sum(axis=1).max()
    index = sum((count > c).astype(jnp.int32) for c in caps)
    branches = [functools.partial(_shade_at, shade, c) for c in caps]
    branches.append(functools.partial(_shade_dense, shade))
    return switch_with_recompute(index, branches, fragments, *operands)
