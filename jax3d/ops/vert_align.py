"""Sample image feature maps at vertex positions ("perceptual feature pooling", Mesh R-CNN)."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

__all__ = ["vert_align"]

_INTERP = ("bilinear", "nearest")
_PADDING = ("zeros", "border", "reflection")


def _unnormalize(coord: jax.Array, size: int, align_corners: bool) -> jax.Array:
    if align_corners:
        return (coord + 1.0) * 0.5 * (size - 1)
    return ((coord + 1.0) * size - 1.0) * 0.5


def _reflect(coord: jax.Array, twice_low: float, twice_high: float) -> jax.Array:
    """Reflect coordinates into [twice_low / 2, twice_high / 2] (torch's grid_sample rule)."""
    if twice_low == twice_high:
        return jnp.zeros_like(coord)
    lo = twice_low / 2.0
    span = (twice_high - twice_low) / 2.0
    c = jnp.abs(coord - lo)
    extra = jnp.mod(c, span)
    flips = jnp.floor(c / span)
    return jnp.where(jnp.mod(flips, 2.0) == 0.0, extra + lo, span - extra + lo)


def _source_coord(coord, size: int, padding_mode: str, align_corners: bool) -> jax.Array:
    c = _unnormalize(coord, size, align_corners)
    if padding_mode == "border":
        c = jnp.clip(c, 0.0, size - 1.0)
    elif padding_mode == "reflection":
        if align_corners:
            c = _reflect(c, 0.0, 2.0 * (size - 1))
        else:
            c = _reflect(c, -1.0, 2.0 * size - 1.0)
        c = jnp.clip(c, 0.0, size - 1.0)
    return c


def _grid_sample_single(feat, xy, interp_mode, padding_mode, align_corners):
    """torch.nn.functional.grid_sample of one (C, H, W) map at xy (V, 2) in [-1, 1] -> (V, C).

    The taps (1 for "nearest", 4 for "bilinear") are read with one gather from the flattened
    map; taps outside the map weigh 0 (torch's zero padding after the coordinate rules).
    """
    C, H, W = feat.shape
    x = _source_coord(xy[:, 0], W, padding_mode, align_corners)
    y = _source_coord(xy[:, 1], H, padding_mode, align_corners)
    if interp_mode == "nearest":
        iy, ix = jnp.round(y)[:, None], jnp.round(x)[:, None]
        w = jnp.ones_like(iy)
    else:
        x0, y0 = jnp.floor(x), jnp.floor(y)
        wx1, wy1 = x - x0, y - y0
        wx0, wy0 = 1.0 - wx1, 1.0 - wy1
        iy = jnp.stack([y0, y0, y0 + 1.0, y0 + 1.0], -1)  # (V, 4)
        ix = jnp.stack([x0, x0 + 1.0, x0, x0 + 1.0], -1)
        w = jnp.stack([wy0 * wx0, wy0 * wx1, wy1 * wx0, wy1 * wx1], -1)
    iy, ix = iy.astype(jnp.int32), ix.astype(jnp.int32)
    inside = (ix >= 0) & (ix <= W - 1) & (iy >= 0) & (iy <= H - 1)
    flat = jnp.clip(iy, 0, H - 1) * W + jnp.clip(ix, 0, W - 1)  # (V, T)
    vals = feat.reshape(C, H * W).T[flat]  # (V, T, C)
    return jnp.sum(vals * jnp.where(inside, w, 0.0)[..., None], axis=1)


@partial(jax.jit, static_argnums=(2, 3, 4))
def _grid_sample_batch(feat, grid, interp_mode, padding_mode, align_corners):
    """(N, C, H, W) maps sampled at grid[..., :2] (N, V, >=2) -> (N, V, C)."""

    def one(f, g):
        return _grid_sample_single(f, g[:, :2], interp_mode, padding_mode, align_corners)

    return jax.vmap(one)(feat, grid)


def _grid_of(verts) -> tuple[jax.Array, object]:
    if hasattr(verts, "verts_padded"):
        return jnp.asarray(verts.verts_padded()), verts
    if hasattr(verts, "points_padded"):
        return jnp.asarray(verts.points_padded()), verts
    grid = jnp.asarray(verts)
    if grid.ndim != 3 or grid.shape[-1] < 2:
        raise ValueError(
            f"verts must be (N, V, 3) or have verts_padded/points_padded, got {grid.shape}"
        )
    return grid, None


def vert_align(
    feats,
    verts,
    return_packed: bool = False,
    interp_mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool = True,
) -> jax.Array:
    """Sample feature maps at the (x, y) of each vertex (PyTorch3D's `vert_align`).

    Args:
        feats: (N, C, H, W) float32 feature maps, or a list of them (C, H, W may differ).
        verts: (N, V, 3) float32, or a `Meshes` / `Pointclouds` (its padded verts / points).
            x, y are normalised so (-1, -1) is the top-left and (1, 1) the bottom-right of the
            map; z is ignored.
        return_packed: return (sum_n V_n, C) features of the valid vertices instead of padded.
            Needs concrete lengths (eager) when `verts` is a structure.
        interp_mode: "bilinear" or "nearest" (torch rounds half to even, as does `jnp.round`).
        padding_mode: "zeros", "border" or "reflection" (torch.grid_sample's rules).
        align_corners: as torch.grid_sample: -1 and 1 are the centres (True) or outer edges
            (False) of the corner pixels.

    Returns:
        (N, V, sum C) float32 (features of all maps concatenated on the last axis), or packed
        (sum_n V_n, sum C) / (N * V, sum C) for a plain array, when `return_packed`.
    """
    if interp_mode not in _INTERP:
        raise ValueError(f"interp_mode must be one of {_INTERP}, got {interp_mode!r}")
    if padding_mode not in _PADDING:
        raise ValueError(f"padding_mode must be one of {_PADDING}, got {padding_mode!r}")
    grid, struct = _grid_of(verts)
    feats = [feats] if not isinstance(feats, (list, tuple)) else list(feats)
    sampled = []
    for feat in feats:
        feat = jnp.asarray(feat)
        if feat.ndim != 4:
            raise ValueError(f"feats must have shape (N, C, H, W), got {feat.shape}")
        if feat.shape[0] != grid.shape[0]:
            raise ValueError(
                f"inconsistent batch dimension: feats {feat.shape[0]}, verts {grid.shape[0]}"
            )
        sampled.append(_grid_sample_batch(feat, grid, interp_mode, padding_mode, align_corners))
    out = jnp.concatenate(sampled, axis=-1)  # (N, V, sum C)
    if not return_packed:
        return out
    if struct is not None and hasattr(struct, "verts_padded_to_packed_idx"):
        idx = struct.verts_padded_to_packed_idx()
        return out.reshape(-1, out.shape[-1])[idx]
    if struct is not None and hasattr(struct, "padded_to_packed_idx"):
        return out.reshape(-1, out.shape[-1])[struct.padded_to_packed_idx()]
    return out.reshape(-1, out.shape[-1])
