"""``Pointclouds``: a batch of point clouds of different sizes, stored padded (PyTorch3D API).

Storage (the pytree leaves): ``points (B, P, 3)`` float (padding rows 0), optional
``normals (B, P, 3)`` and ``features (B, P, C)`` (padding rows 0), ``num_points (B,)`` int32.

Jit-safety: padded views, masks, lengths, ``cloud_to_packed_first_idx``, bounding boxes,
``offset`` (padded), ``scale``, ``update_padded``, ``extend`` and indexing with a concrete index
work inside ``jax.jit``. List and packed arrays and the index maps need concrete lengths and
raise ``ValueError`` when the lengths are traced.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.prng import require_key
from jax3d.structures.meshes import batch_index, masked_bounding_boxes
from jax3d.structures.pytree import ImmutablePytree, in_place_error
from jax3d.structures.utils import (
    concrete_numpy,
    exclusive_cumsum,
    lengths_mask,
    list_to_padded,
    masked_fill,
    pack_padded,
    padded_to_packed_index,
)
from jax3d.validation import check_finite

__all__ = ["Pointclouds"]

_FIELDS = ("points", "normals", "features", "num_points")


def _as_float(x, name: str):
    """``x`` as a float array; NumPy input stays NumPy (cheap eager padding)."""
    xp = jnp if isinstance(x, jax.Array) else np
    x = xp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.number):
        raise TypeError(f"{name} must be a float array, got dtype {x.dtype}")
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(np.float32)


def _list_items(x: list, name: str, sizes: list[int] | None, channels: int | None) -> list:
    """Validate list items ``(P_i, channels)``; ``sizes`` fixes ``P_i`` when given."""
    if channels is None:  # features: C from the first 2-D item
        channels = next((np.shape(xi)[1] for xi in x if np.ndim(xi) == 2), None)
    items = []
    for i, xi in enumerate(x):
        xi = _as_float(xi, f"{name}[{i}]")
        if xi.size == 0:
            xi = xi.reshape(0, channels if channels is not None else 0)
        c = channels if channels is not None else (xi.shape[-1] if xi.ndim == 2 else -1)
        if xi.ndim != 2 or xi.shape[1] != c or c < 0:
            raise ValueError(f"{name}[{i}] must be (P_{i}, {channels or 'C'}), got {xi.shape}")
        if sizes is not None and xi.shape[0] != sizes[i]:
            raise ValueError(f"{name}[{i}] has {xi.shape[0]} rows but points[{i}] has {sizes[i]}")
        channels = c
        if name != "features":
            check_finite(f"{name}[{i}]", xi)
        items.append(xi)
    return items


def _from_lists(points, normals, features):
    if not points:
        return jnp.zeros((0, 0, 3), jnp.float32), None, None, jnp.zeros((0,), jnp.int32)
    pts = _list_items(points, "points", None, 3)
    sizes = [p.shape[0] for p in pts]
    out = [list_to_padded(pts)]
    for x, name, c in ((normals, "normals", 3), (features, "features", None)):
        if x is None:
            out.append(None)
            continue
        if not isinstance(x, (list, tuple)) or len(x) != len(points):
            raise ValueError(f"{name} must be a list of {len(points)} arrays like points")
        items = _list_items(x, name, sizes, c)
        out.append(list_to_padded(items, pad_size=(max(sizes), items[0].shape[1])))
    return out[0], out[1], out[2], jnp.array(sizes, jnp.int32)


def _from_padded(points, normals, features, num_points):
    points = jnp.asarray(_as_float(points, "points"))
    if points.ndim != 3 or points.shape[2] != 3:
        raise ValueError(f"points must be (B, P, 3) or a list of (P_i, 3), got {points.shape}")
    b, p = points.shape[:2]
    if num_points is None:
        num_points = jnp.full((b,), p, jnp.int32)
    num_points = jnp.asarray(num_points)
    if num_points.shape != (b,) or not jnp.issubdtype(num_points.dtype, jnp.integer):
        raise ValueError(f"num_points must be ({b},) int, got {num_points.shape} "
                         f"{num_points.dtype}")
    num_points = num_points.astype(jnp.int32)
    mask = lengths_mask(num_points, p)
    out = [masked_fill(points, mask, 0.0)]
    check_finite("points", out[0])
    for x, name in ((normals, "normals"), (features, "features")):
        if x is None:
            out.append(None)
            continue
        x = jnp.asarray(_as_float(x, name))
        if x.ndim != 3 or x.shape[:2] != (b, p) or (name == "normals" and x.shape[2] != 3):
            want = f"({b}, {p}, 3)" if name == "normals" else f"({b}, {p}, C)"
            raise ValueError(f"{name} must be {want} like points, got {x.shape}")
        out.append(masked_fill(x, mask, 0.0))
        if name == "normals":
            check_finite(name, out[-1])
    return out[0], out[1], out[2], num_points


@jax.tree_util.register_pytree_node_class
class Pointclouds(ImmutablePytree):
    """A batch of ``B`` point clouds, possibly of different sizes.

    ``Pointclouds(points, normals=None, features=None, *, num_points=None)`` where

    - ``points``: list of ``B`` arrays ``(P_i, 3)`` or padded ``(B, P, 3)``;
    - ``normals``: like ``points`` (same layout), or None;
    - ``features``: list of ``(P_i, C)`` or padded ``(B, P, C)``, or None;
    - ``num_points``: ``(B,)`` int lengths for padded input (default: all ``P`` points).

    Points and normals must be finite: NaN or inf in a valid row raises ``ValueError`` naming
    the argument when concrete, and is a ``checkify.debug_check`` under ``jax.jit`` (see
    ``jax3d.validation``). Features are not checked.

    Padding rows are reset to 0. Immutable pytree with leaves
    ``points, normals, features, num_points``; padded construction is jit-safe.
    """

    __slots__ = _FIELDS
    _fields = _FIELDS

    def __init__(self, points, normals=None, features=None, *, num_points=None):
        if isinstance(points, (list, tuple)):
            if num_points is not None:
                raise ValueError("num_points is only accepted with padded points")
            fields = _from_lists(points, normals, features)
        else:
            fields = _from_padded(points, normals, features, num_points)
        self._assign(fields)

    def __len__(self) -> int:
        return self.points.shape[0]

    def __repr__(self) -> str:
        feats = None if self.features is None else tuple(self.features.shape)
        return (f"Pointclouds(B={len(self)}, points={tuple(self.points.shape)}, "
                f"normals={self.normals is not None}, features={feats})")

    # -- lengths and index maps -----------------------------------------------------------------

    def num_points_per_cloud(self) -> jax.Array:
        """``(B,) int32`` point counts. Jit-safe."""
        return self.num_points

    def points_mask(self) -> jax.Array:
        """``(B, P) bool``: ``mask[b, i] = i < num_points[b]``. Jit-safe."""
        return lengths_mask(self.num_points, self.points.shape[1])

    def cloud_to_packed_first_idx(self) -> jax.Array:
        """``(B,) int32`` index in ``points_packed()`` of cloud ``b``'s first point. Jit-safe."""
        return exclusive_cumsum(self.num_points)

    def _lengths(self, what: str) -> np.ndarray:
        return concrete_numpy(self.num_points, "num_points", f"Pointclouds.{what}()")

    def packed_to_cloud_idx(self) -> jax.Array:
        """``(sum P_i,) int32`` cloud index of each packed point. Needs concrete lengths."""
        n = self._lengths("packed_to_cloud_idx")
        return jnp.asarray(np.repeat(np.arange(len(n), dtype=np.int32), n))

    def padded_to_packed_idx(self) -> jax.Array:
        """``(sum P_i,) int32``: ``points_packed()[k] = points_padded().reshape(-1, 3)[idx[k]]``."""
        n = self._lengths("padded_to_packed_idx")
        return jnp.asarray(padded_to_packed_index(n, self.points.shape[1]))

    # -- views ----------------------------------------------------------------------------------

    def _list(self, x, what: str):
        if x is None:
            return None
        n = self._lengths(what)
        return [x[b, : n[b]] for b in range(len(n))]

    def _packed(self, x, what: str):
        return None if x is None else pack_padded(x, self._lengths(what))

    def points_padded(self) -> jax.Array:
        """``(B, P, 3)`` points, padding rows 0. Jit-safe."""
        return self.points

    def normals_padded(self) -> jax.Array | None:
        """``(B, P, 3)`` normals or None. Jit-safe."""
        return self.normals

    def features_padded(self) -> jax.Array | None:
        """``(B, P, C)`` features or None. Jit-safe."""
        return self.features

    def points_list(self) -> list[jax.Array]:
        """List of ``B`` arrays ``(P_i, 3)``. Needs concrete lengths."""
        return self._list(self.points, "points_list")

    def normals_list(self) -> list[jax.Array] | None:
        """List of ``B`` arrays ``(P_i, 3)``, or None. Needs concrete lengths."""
        return self._list(self.normals, "normals_list")

    def features_list(self) -> list[jax.Array] | None:
        """List of ``B`` arrays ``(P_i, C)``, or None. Needs concrete lengths."""
        return self._list(self.features, "features_list")

    def points_packed(self) -> jax.Array:
        """``(sum P_i, 3)``. Needs concrete lengths; differentiable."""
        return self._packed(self.points, "points_packed")

    def normals_packed(self) -> jax.Array | None:
        """``(sum P_i, 3)`` or None. Needs concrete lengths."""
        return self._packed(self.normals, "normals_packed")

    def features_packed(self) -> jax.Array | None:
        """``(sum P_i, C)`` or None. Needs concrete lengths."""
        return self._packed(self.features, "features_packed")

    def get_cloud(self, index: int):
        """``(points (P_i, 3), normals (P_i, 3) | None, features (P_i, C) | None)`` of a cloud."""
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} clouds")
        n = self._lengths("get_cloud")[index]
        pick = lambda x: None if x is None else x[index, :n]  # noqa: E731
        return pick(self.points), pick(self.normals), pick(self.features)

    def get_bounding_boxes(self) -> jax.Array:
        """``(B, 3, 2)``: ``[b, axis] = (min, max)`` over valid points (0 when empty). Jit-safe."""
        return masked_bounding_boxes(self.points, self.points_mask())

    # -- functional updates ---------------------------------------------------------------------

    def update_padded(self, new_points_padded, new_normals_padded=None,
                      new_features_padded=None) -> Pointclouds:
        """Same lengths with new padded arrays (None keeps the current normals/features).

        ``new_points_padded (B, P, 3)``, ``new_normals_padded (B, P, 3)``,
        ``new_features_padded (B, P, C')`` (C' may differ from C). Padding is reset to 0.
        Jit-safe.
        """
        mask = self.points_mask()
        new = {}
        for name, x in (("points", new_points_padded), ("normals", new_normals_padded),
                        ("features", new_features_padded)):
            if x is None:
                continue
            x = jnp.asarray(_as_float(x, f"new_{name}_padded"))
            channels = x.shape[-1] if name == "features" else 3  # features may change C
            want = (*self.points.shape[:2], channels)
            if x.shape != want:
                raise ValueError(f"new_{name}_padded must be {want}, got {x.shape}")
            new[name] = masked_fill(x, mask, 0.0)
        return self.replace(**new)

    def offset(self, offsets_packed) -> Pointclouds:
        """Add offsets to the points: ``(3,)``, packed ``(sum P_i, 3)`` or padded ``(B, P, 3)``.

        Packed offsets need concrete lengths; ``(3,)`` and padded offsets are jit-safe.
        """
        d = jnp.asarray(_as_float(offsets_packed, "offsets_packed"))
        if d.shape == (3,):
            d = jnp.broadcast_to(d, self.points.shape)
        elif d.ndim == 2 and d.shape[1] == 3:
            n = self._lengths("offset(packed offsets)")
            if d.shape[0] != int(n.sum()):
                raise ValueError(f"packed offsets_packed must be ({int(n.sum())}, 3), "
                                 f"got {d.shape}")
            b, p = self.points.shape[:2]
            idx = padded_to_packed_index(n, p)
            d = jnp.zeros((b * p, 3), d.dtype).at[idx].set(d).reshape(b, p, 3)
        elif d.shape != self.points.shape:
            raise ValueError(f"offsets_packed must be (3,), packed (sum P_i, 3) or padded "
                             f"{self.points.shape}, got {d.shape}")
        return self.update_padded(self.points + d)

    def scale(self, scale) -> Pointclouds:
        """Multiply points by a scalar or per-cloud ``(B,)`` factor. Jit-safe."""
        s = jnp.asarray(_as_float(scale, "scale"))
        if s.ndim == 0:
            s = jnp.broadcast_to(s, (len(self),))
        if s.shape != (len(self),):
            raise ValueError(f"scale must be a scalar or ({len(self)},), got {s.shape}")
        return self.replace(points=self.points * s[:, None, None])

    def offset_(self, offsets_packed):
        """PyTorch3D's in-place ``offset_``: raises ``TypeError`` (structures are immutable);
        use ``clouds = clouds.offset(offsets_packed)``."""
        raise in_place_error("Pointclouds", "offset_", "clouds = clouds.offset(offsets)")

    def scale_(self, scale):
        """PyTorch3D's in-place ``scale_``: raises ``TypeError``; use
        ``clouds = clouds.scale(scale)``."""
        raise in_place_error("Pointclouds", "scale_", "clouds = clouds.scale(scale)")

    def inside_box(self, box) -> jax.Array:
        """``(sum P_i,) bool``: whether each packed point lies in its cloud's box (bounds
        included).

        Args:
            box: ``(2, 3)`` (one box for all clouds) or ``(B, 2, 3)``: ``box[b, 0]`` is the
                minimum corner, ``box[b, 1]`` the maximum. Needs concrete lengths.
        """
        box = jnp.asarray(_as_float(box, "box"))
        if box.ndim == 2:
            box = box[None]
        if box.ndim != 3 or box.shape[1:] != (2, 3) or box.shape[0] not in (1, len(self)):
            raise ValueError(f"box must be (2, 3) or ({len(self)}, 2, 3), got {box.shape}")
        if bool(jnp.any(box[:, 0] > box[:, 1])):
            raise ValueError("box[..., 0, :] (the minimum corner) must not exceed box[..., 1, :]")
        box = jnp.broadcast_to(box, (len(self), 2, 3))[:, None]  # (B, 1, 2, 3)
        inside = jnp.all((self.points >= box[:, :, 0]) & (self.points <= box[:, :, 1]), -1)
        return self._packed(inside, "inside_box")

    def subsample(self, max_points, *, key: jax.Array) -> Pointclouds:
        """At most ``max_points`` points of each cloud, chosen uniformly without replacement
        (order kept); clouds that are small enough are unchanged.

        Args:
            max_points: an int, or one int per cloud.
            key: ``jax.random`` key (required, keyword-only).

        Returns:
            ``Pointclouds`` with padded size ``min(P, max(max_points))``. Needs concrete
            lengths.
        """
        key = require_key(key, "Pointclouds.subsample")
        n = self._lengths("subsample")
        limits = np.broadcast_to(np.asarray(max_points), n.shape)
        if not np.issubdtype(limits.dtype, np.integer) or (limits < 0).any():
            raise ValueError(f"max_points must be a non-negative int (or one per cloud), "
                             f"got {max_points!r}")
        keep_n = np.minimum(n, limits)
        out = {f: [] for f in ("points", "normals", "features")}
        for b, k in enumerate(jax.random.split(key, len(self))):
            if keep_n[b] < n[b]:
                idx = jnp.sort(jax.random.choice(k, int(n[b]), (int(keep_n[b]),), replace=False))
            else:
                idx = jnp.arange(int(n[b]))
            for f in out:
                x = getattr(self, f)
                out[f].append(None if x is None else x[b][idx])
        pick = lambda f: None if getattr(self, f) is None else out[f]  # noqa: E731
        return Pointclouds(out["points"], pick("normals"), pick("features"))

    def estimate_normals(self, neighborhood_size: int = 50, disambiguate_directions: bool = True,
                         assign_to_self: bool = False) -> jax.Array:
        """``(B, P, 3)`` normals estimated from each point's neighbourhood
        (``jax3d.ops.estimate_pointcloud_normals``).

        ``assign_to_self=True`` (PyTorch3D's in-place update) raises ``TypeError``: write
        ``clouds = clouds.update_padded(clouds.points_padded(), new_normals_padded=normals)``.
        """
        if assign_to_self:
            raise in_place_error(
                "Pointclouds", "estimate_normals(assign_to_self=True)",
                "clouds = clouds.update_padded(clouds.points_padded(), "
                "new_normals_padded=clouds.estimate_normals())")
        from jax3d.ops.points_normals import estimate_pointcloud_normals  # ops sit above

        return estimate_pointcloud_normals(self, neighborhood_size, disambiguate_directions)

    # -- batch manipulation ---------------------------------------------------------------------

    def __getitem__(self, index) -> Pointclouds:
        """Select clouds by int, slice, list or 1-D int/bool array; padded size is kept."""
        idx = batch_index(index, len(self), "Pointclouds")
        pick = lambda x: None if x is None else x[idx]  # noqa: E731
        return Pointclouds._from_fields(*(pick(getattr(self, f)) for f in _FIELDS))

    def extend(self, N: int) -> Pointclouds:  # noqa: N803 (PyTorch3D's name)
        """Each cloud repeated ``N`` times in a row: ``[c0]*N + [c1]*N + ...``. Jit-safe."""
        if not isinstance(N, (int, np.integer)) or N < 1:
            raise ValueError(f"N must be a positive int, got {N!r}")
        rep = lambda x: None if x is None else jnp.repeat(x, N, axis=0)  # noqa: E731
        return Pointclouds._from_fields(*(rep(getattr(self, f)) for f in _FIELDS))

    def split(self, split_sizes: list) -> list[Pointclouds]:
        """Consecutive groups of clouds: ``[self[0:s0], self[s0:s0+s1], ...]`` (PyTorch3D)."""
        if not all(isinstance(x, (int, np.integer)) for x in split_sizes):
            raise ValueError(f"split_sizes must be a list of ints, got {split_sizes!r}")
        starts = np.concatenate([[0], np.cumsum(split_sizes)]).astype(int)
        return [self[int(a):int(b)] for a, b in zip(starts[:-1], starts[1:])]

    def isempty(self) -> bool:
        """True when there are no clouds or all are empty. Needs concrete lengths."""
        return len(self) == 0 or not bool(self._lengths("isempty").any())
