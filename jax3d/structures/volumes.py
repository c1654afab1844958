"""``Volumes``: a batch of dense voxel grids with PyTorch3D's layout and coordinate conventions.

Layout (channels first, as PyTorch3D): ``densities (B, C_d, D, H, W)``, optional
``features (B, C_f, D, H, W)``; a list of differently sized ``(C, D_i, H_i, W_i)`` grids is
zero-padded and the sizes kept in ``grid_sizes (B, 3)`` = ``(D_i, H_i, W_i)``.

Local coordinates (``align_corners=True``, the default): voxel ``[..., 0, 0, 0]`` is at
``(-1, -1, -1)`` and voxel ``[..., D_i-1, H_i-1, W_i-1]`` at ``(1, 1, 1)``; the coordinate
order is reversed w.r.t. the array axes (x along W, y along H, z along D), as in
``grid_sample``. With ``align_corners=False`` the padded axis of size ``r`` uses
``linspace(-1 + 1/r, 1 - 1/r, r)``. World coordinates::

    x_world = x_local * (size_xyz - 1) * 0.5 * voxel_size - volume_translation

with ``size_xyz = (W_i, H_i, D_i)``. All coordinate methods are jit-safe and differentiable.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.structures.meshes import batch_index
from jax3d.structures.pytree import ImmutablePytree
from jax3d.structures.utils import concrete_numpy, list_to_padded

__all__ = ["Volumes"]

_FIELDS = ("_densities", "_features", "grid_sizes", "voxel_size", "volume_translation")


def _grids(x, name: str):
    """``(padded (B, C, D, H, W), grid_sizes (B, 3) np.int32)`` from a 5-D array or a list."""
    if isinstance(x, (list, tuple)):
        if not x:
            raise ValueError(f"{name} must be a non-empty list of (C, D_i, H_i, W_i) arrays")
        items = [xi if isinstance(xi, jax.Array) else np.asarray(xi) for xi in x]
        if any(xi.ndim != 4 for xi in items):
            raise ValueError(f"{name} must be a list of 4-D (C, D_i, H_i, W_i) arrays, got "
                             f"{[tuple(xi.shape) for xi in items]}")
        if len({xi.shape[0] for xi in items}) != 1:
            raise ValueError(f"every {name}[i] must have the same number of channels")
        sizes = np.array([xi.shape[1:] for xi in items], np.int32)
        padded = list_to_padded(items)
    else:
        padded = jnp.asarray(x)
        if padded.ndim != 5:
            raise ValueError(f"{name} must be (B, C, D, H, W) or a list of (C, D, H, W), "
                             f"got shape {padded.shape}")
        sizes = np.tile(np.array(padded.shape[2:], np.int32), (padded.shape[0], 1))
    if not jnp.issubdtype(padded.dtype, jnp.floating):
        padded = padded.astype(jnp.float32)
    return padded, sizes


def _per_volume_xyz(x, batch: int, name: str, allow_scalar: bool) -> jax.Array:
    """Scalar / ``(3,)`` / ``(1,)`` / ``(1, 3)`` / ``(B, 3)`` / ``(B, 1)`` -> ``(B, 3)`` float32."""
    a = jnp.asarray(x, jnp.float32)
    if allow_scalar and a.size == 1:
        return jnp.full((batch, 3), a.reshape(()), jnp.float32)
    if allow_scalar and a.shape == (batch, 1):
        return jnp.repeat(a, 3, axis=1)
    if a.shape == (3,):
        a = a[None]
    if a.shape == (1, 3):
        return jnp.broadcast_to(a, (batch, 3))
    if a.shape == (batch, 3):
        return a
    scalar = "a scalar, (1,), (B, 1), " if allow_scalar else ""
    raise ValueError(f"{name} must be {scalar}(3,), (1, 3) or (B, 3) = ({batch}, 3), "
                     f"got shape {a.shape}")


@jax.tree_util.register_pytree_node_class
class Volumes(ImmutablePytree):
    """A batch of ``B`` voxel grids (PyTorch3D ``Volumes``).

    ``Volumes(densities, features=None, voxel_size=1.0, volume_translation=(0, 0, 0),
    align_corners=True)`` where

    - ``densities``: ``(B, C_d, D, H, W)`` or a list of ``(C_d, D_i, H_i, W_i)``;
    - ``features``: ``(B, C_f, D, H, W)`` or a list matching ``densities``' grid sizes;
    - ``voxel_size``: world size of a voxel: scalar, ``(3,)``, ``(1,)``, ``(B, 1)`` or ``(B, 3)``
      (x, y, z order);
    - ``volume_translation``: ``(3,)``, ``(1, 3)`` or ``(B, 3)``; the volume's centre voxel
      sits at world ``-volume_translation`` (PyTorch3D's sign convention);
    - ``align_corners``: static flag, as in ``grid_sample``.

    Immutable pytree with array leaves ``densities, features, grid_sizes, voxel_size,
    volume_translation``. Construction from arrays is jit-safe.
    """

    __slots__ = (*_FIELDS, "align_corners")
    _fields = _FIELDS
    _static = ("align_corners",)

    def __init__(self, densities, features=None, voxel_size=1.0,
                 volume_translation=(0.0, 0.0, 0.0), align_corners: bool = True):
        dens, sizes = _grids(densities, "densities")
        feats = None
        if features is not None:
            feats, fsizes = _grids(features, "features")
            if feats.shape[0] != dens.shape[0] or feats.shape[2:] != dens.shape[2:]:
                raise ValueError(f"features grids {feats.shape} must match densities "
                                 f"{dens.shape} in batch and (D, H, W)")
            if not np.array_equal(fsizes, sizes):
                raise ValueError("every features[i] must have the grid size of densities[i]")
        b = dens.shape[0]
        vs = _per_volume_xyz(voxel_size, b, "voxel_size", allow_scalar=True)
        vt = _per_volume_xyz(volume_translation, b, "volume_translation", allow_scalar=False)
        values = (dens, feats, jnp.asarray(sizes), vs, vt, bool(align_corners))
        self._assign(values)

    def __len__(self) -> int:
        return self._densities.shape[0]

    def __repr__(self) -> str:
        feats = None if self._features is None else tuple(self._features.shape)
        return f"Volumes(densities={tuple(self._densities.shape)}, features={feats})"

    # -- data -----------------------------------------------------------------------------------

    def densities(self) -> jax.Array:
        """``(B, C_d, D, H, W)`` padded densities. Jit-safe."""
        return self._densities

    def features(self) -> jax.Array | None:
        """``(B, C_f, D, H, W)`` padded features, or None. Jit-safe."""
        return self._features

    def get_grid_sizes(self) -> jax.Array:
        """``(B, 3) int32``: row ``b`` is ``(D_b, H_b, W_b)``. Jit-safe."""
        return self.grid_sizes

    def get_align_corners(self) -> bool:
        """The static ``align_corners`` flag."""
        return self.align_corners

    def _as_list(self, x: jax.Array) -> list[jax.Array]:
        sizes = concrete_numpy(self.grid_sizes, "grid_sizes", "Volumes.*_list()")
        return [x[b, :, : s[0], : s[1], : s[2]] for b, s in enumerate(sizes)]

    def densities_list(self) -> list[jax.Array]:
        """List of ``(C_d, D_i, H_i, W_i)``. Needs concrete grid sizes."""
        return self._as_list(self._densities)

    def features_list(self) -> list[jax.Array] | None:
        """List of ``(C_f, D_i, H_i, W_i)`` or None. Needs concrete grid sizes."""
        return None if self._features is None else self._as_list(self._features)

    # -- coordinates ----------------------------------------------------------------------------

    def _local_to_world_scale(self) -> jax.Array:
        """``(B, 3)``: ``(size_xyz - 1) * 0.5 * voxel_size``."""
        size_xyz = self.grid_sizes[:, ::-1].astype(jnp.float32)
        return (size_xyz - 1.0) * 0.5 * self.voxel_size

    def _broadcast(self, x: jax.Array, ndim: int) -> jax.Array:
        """``(B, 3) -> (B, 1, ..., 1, 3)`` to act on points ``(B, ..., 3)`` of ``ndim`` dims."""
        return x.reshape((x.shape[0],) + (1,) * (ndim - 2) + (3,))

    def _check_points(self, points, name: str) -> jax.Array:
        points = jnp.asarray(points)
        if points.ndim < 2 or points.shape[-1] != 3 or points.shape[0] not in (1, len(self)):
            raise ValueError(f"{name} must be (B, ..., 3) with B = {len(self)} (or 1), "
                             f"got shape {points.shape}")
        return points

    def local_to_world_coords(self, points_3d_local: jax.Array) -> jax.Array:
        """``(B, ..., 3)`` local points -> world: ``x * scale - volume_translation``. Jit-safe."""
        p = self._check_points(points_3d_local, "points_3d_local")
        scale = self._broadcast(self._local_to_world_scale(), p.ndim)
        return p * scale - self._broadcast(self.volume_translation, p.ndim)

    def world_to_local_coords(self, points_3d_world: jax.Array) -> jax.Array:
        """``(B, ..., 3)`` world points -> local: ``(x + volume_translation) / scale``.

        Axes of size 1 have a zero scale; their local coordinate is returned as 0 (PyTorch3D
        would give inf/NaN). Jit-safe and differentiable.
        """
        p = self._check_points(points_3d_world, "points_3d_world")
        scale = self._broadcast(self._local_to_world_scale(), p.ndim)
        ok = scale != 0
        shifted = p + self._broadcast(self.volume_translation, p.ndim)
        return jnp.where(ok, shifted / jnp.where(ok, scale, 1.0), 0.0)

    def get_coord_grid(self, world_coordinates: bool = True) -> jax.Array:
        """Coordinates of every voxel centre: ``(B, D, H, W, 3)`` in (x, y, z) order.

        ``grid[b, d, h, w] = (x(w), y(h), z(d))`` in local coordinates (``[-1, 1]`` over each
        volume's own size, see the module docstring), mapped to world coordinates when
        ``world_coordinates`` is True. Jit-safe.
        """
        de, he, wi = self._densities.shape[2:]
        b = len(self)

        def axis(r: int) -> jax.Array:
            adj = 0.0 if self.align_corners else 1.0 / r
            return jnp.linspace(-1.0 + adj, 1.0 - adj, r, dtype=jnp.float32)

        z, y, x = jnp.meshgrid(axis(de), axis(he), axis(wi), indexing="ij")
        coords = jnp.broadcast_to(jnp.stack([x, y, z], axis=-1), (b, de, he, wi, 3))
        # Smaller volumes in a padded batch span [-1, 1] over their own size (PyTorch3D's
        # relative-size adjustment); an axis of size 1 keeps the factor 1 instead of 0/0.
        full = jnp.array([de, he, wi], jnp.float32) - 1.0
        own = self.grid_sizes.astype(jnp.float32) - 1.0
        rel = jnp.where(own > 0, full / jnp.where(own > 0, own, 1.0), 1.0)[:, ::-1]
        rel = rel[:, None, None, None, :]
        coords = coords * rel + (rel - 1.0)
        return self.local_to_world_coords(coords) if world_coordinates else coords

    def get_local_to_world_coords_transform(self):
        """``jax3d.transforms.Transform3d`` (B, 4, 4) mapping local to world coordinates."""
        from jax3d.transforms import Transform3d

        scale = self._local_to_world_scale()
        m = jnp.zeros((len(self), 4, 4), jnp.float32)
        m = m.at[:, jnp.arange(3), jnp.arange(3)].set(scale).at[:, 3, 3].set(1.0)
        return Transform3d(matrix=m.at[:, 3, :3].set(-self.volume_translation))

    def get_world_to_local_coords_transform(self):
        """Inverse of ``get_local_to_world_coords_transform()`` (``Transform3d``)."""
        return self.get_local_to_world_coords_transform().inverse()

    # -- functional updates ---------------------------------------------------------------------

    def update_padded(self, new_densities, new_features=None) -> Volumes:
        """Same grid sizes and placement with new ``(B, C_d', D, H, W)`` densities (and
        features, which are dropped when ``new_features`` is None, as in PyTorch3D). Jit-safe."""
        fields = {}
        for name, x in (("densities", new_densities), ("features", new_features)):
            if x is None:
                fields[name] = None
                continue
            x = jnp.asarray(x)
            if x.ndim != 5 or x.shape[0] != len(self) or x.shape[2:] != self._densities.shape[2:]:
                raise ValueError(f"new_{name} must be ({len(self)}, C, "
                                 f"{', '.join(map(str, self._densities.shape[2:]))}), "
                                 f"got {x.shape}")
            fields[name] = x
        return Volumes._from_fields(fields["densities"], fields["features"], self.grid_sizes,
                                    self.voxel_size, self.volume_translation, self.align_corners)

    def __getitem__(self, index) -> Volumes:
        """Select volumes by int, slice, list or 1-D int/bool array (concrete)."""
        idx = batch_index(index, len(self), "Volumes")
        pick = lambda x: None if x is None else x[idx]  # noqa: E731
        return Volumes._from_fields(*(pick(getattr(self, f)) for f in _FIELDS),
                                    self.align_corners)
