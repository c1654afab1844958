"""``Meshes``: a batch of triangle meshes of different sizes, stored padded (PyTorch3D API).

Storage (the pytree leaves): ``verts (B, V, 3)`` float (padding rows 0), ``faces (B, F, 3)``
int32 (padding rows -1, indices into the mesh's own vertices), ``num_verts (B,)`` and
``num_faces (B,)`` int32, and an optional opaque ``textures`` pytree.

Jit-safety: padded views, masks, lengths, first indices, normals, areas, bounding boxes,
``offset_verts`` (padded), ``scale_verts``, ``update_padded``, ``extend`` and indexing with a
concrete index work inside ``jax.jit`` (lengths may be traced). List and packed arrays, the
``*_packed_to_mesh_idx`` / ``*_padded_to_packed_idx`` maps and edges have data-dependent sizes:
they need concrete lengths and raise ``ValueError`` when lengths are traced.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.safe_math import safe_norm, safe_normalize
from jax3d.structures.pytree import ImmutablePytree, in_place_error
from jax3d.structures.utils import (
    concrete_numpy,
    exclusive_cumsum,
    is_traced,
    lengths_mask,
    list_to_padded,
    masked_fill,
    pack_padded,
    padded_to_packed_index,
)
from jax3d.validation import check_finite

__all__ = ["Meshes"]

# Vectors shorter than this normalise to v / eps (PyTorch's F.normalize eps is 1e-6 here).
_NORMAL_EPS = 1e-6

_FIELDS = ("verts", "faces", "num_verts", "num_faces", "textures", "verts_normals")


# ----------------------------------------------------------------------------------------------
# Construction helpers.
# ----------------------------------------------------------------------------------------------


def _as_float(x, name: str):
    """``x`` as a float array (int input becomes float32); NumPy input stays NumPy."""
    xp = jnp if isinstance(x, jax.Array) else np
    x = xp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        if not jnp.issubdtype(x.dtype, jnp.number):
            raise TypeError(f"{name} must be a float array, got dtype {x.dtype}")
        x = x.astype(np.float32)
    return x


def _as_int(x, name: str):
    """``x`` as an int32 array; NumPy input stays NumPy."""
    xp = jnp if isinstance(x, jax.Array) else np
    x = xp.asarray(x)
    if x.size and not jnp.issubdtype(x.dtype, jnp.integer):
        raise TypeError(f"{name} must be an integer array, got dtype {x.dtype}")
    return x.astype(np.int32)


def _item(x, name: str, i: int, to) -> jax.Array:
    """Item ``i`` of a list input as ``(M_i, 3)``; empty items of any shape become ``(0, 3)``."""
    x = to(x, f"{name}[{i}]")
    if x.size == 0:
        return x.reshape(0, 3)
    if x.ndim != 2 or x.shape[1] != 3:
        raise ValueError(f"{name}[{i}] must be ({name[0].upper()}_{i}, 3), got {x.shape}")
    return x


def _check_face_indices(faces: list, num_verts: list) -> None:
    """Eager check that every concrete face index lies in ``[0, V_i)``."""
    for i, (f, nv) in enumerate(zip(faces, num_verts)):
        if f.shape[0] == 0 or is_traced(f):
            continue
        f = np.asarray(f)
        if f.min() < 0 or f.max() >= nv:
            raise ValueError(
                f"faces[{i}] indices must lie in [0, {nv}) (mesh {i} has {nv} verts), "
                f"got range [{f.min()}, {f.max()}]"
            )


def _from_lists(verts, faces):
    if not isinstance(faces, (list, tuple)):
        raise TypeError("verts is a list, so faces must be a list too")
    if len(verts) != len(faces):
        raise ValueError(f"verts and faces must have the same length, got {len(verts)} and "
                         f"{len(faces)}")
    if not verts:
        return (jnp.zeros((0, 0, 3), jnp.float32), jnp.full((0, 0, 3), -1, jnp.int32),
                jnp.zeros((0,), jnp.int32), jnp.zeros((0,), jnp.int32))
    vs = [_item(v, "verts", i, _as_float) for i, v in enumerate(verts)]
    for i, v in enumerate(vs):
        check_finite(f"verts[{i}]", v)
    fs = [_item(f, "faces", i, _as_int) for i, f in enumerate(faces)]
    nv = [v.shape[0] for v in vs]
    _check_face_indices(fs, nv)
    verts_padded = list_to_padded(vs, pad_value=0.0)
    faces_padded = list_to_padded(fs, pad_value=-1).astype(jnp.int32)
    num_faces = jnp.array([f.shape[0] for f in fs], jnp.int32)
    return verts_padded, faces_padded, jnp.array(nv, jnp.int32), num_faces


def _lengths(x, name: str, batch: int, default) -> jax.Array:
    if x is None:
        return default
    x = jnp.asarray(_as_int(x, name))
    if x.shape != (batch,):
        raise ValueError(f"{name} must be ({batch},) to match the batch, got {x.shape}")
    return x


def _check_texture_sizes(textures, num_verts, num_faces) -> None:
    """``textures.check_sizes(num_verts, num_faces)`` when the textures define it (the
    textures protocol, docs/design.md): ValueError for per-mesh sizes that do not match."""
    check_sizes = getattr(textures, "check_sizes", None)
    if check_sizes is not None:
        check_sizes(num_verts, num_faces)


def _from_padded(verts, faces, num_verts, num_faces):
    verts = jnp.asarray(_as_float(verts, "verts"))
    faces = jnp.asarray(_as_int(faces, "faces"))
    if verts.ndim != 3 or verts.shape[2] != 3:
        raise ValueError(f"verts must be (B, V, 3) or a list of (V_i, 3), got {verts.shape}")
    if faces.ndim != 3 or faces.shape[2] != 3:
        raise ValueError(f"faces must be (B, F, 3) or a list of (F_i, 3), got {faces.shape}")
    b, v_max = verts.shape[:2]
    if faces.shape[0] != b:
        raise ValueError(f"verts and faces batch sizes differ: {b} and {faces.shape[0]}")
    num_verts = _lengths(num_verts, "num_verts", b, jnp.full((b,), v_max, jnp.int32))
    default_nf = jnp.sum(faces[..., 0] != -1, axis=1).astype(jnp.int32)
    num_faces = _lengths(num_faces, "num_faces", b, default_nf)
    verts = masked_fill(verts, lengths_mask(num_verts, v_max), 0.0)
    check_finite("verts", verts)
    faces = masked_fill(faces, lengths_mask(num_faces, faces.shape[1]), -1)
    return verts, faces, num_verts, num_faces


# ----------------------------------------------------------------------------------------------
# Geometry on the padded representation (all jit-safe and differentiable).
# ----------------------------------------------------------------------------------------------


def _face_cross(verts: jax.Array, faces: jax.Array, faces_mask: jax.Array) -> jax.Array:
    """``cross(v1 - v0, v2 - v0)`` per face, 0 on padding: ``(B, F, 3)``."""
    idx = jnp.where(faces_mask[..., None], faces, 0)
    tri = jax.vmap(lambda v, f: v[f])(verts, idx)  # (B, F, 3 corners, 3)
    cross = jnp.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0])
    return masked_fill(cross, faces_mask, 0.0)


@jax.jit
def _faces_areas(verts, faces, num_faces) -> jax.Array:
    """``(B, F)`` areas ``|c| / 2`` (0 on padding, finite gradients at 0)."""
    mask = lengths_mask(num_faces, faces.shape[1])
    return 0.5 * safe_norm(_face_cross(verts, faces, mask))


@jax.jit
def _faces_normals(verts, faces, num_faces) -> jax.Array:
    """``(B, F, 3)`` unit normals ``c / max(|c|, 1e-6)`` (0 on padding)."""
    mask = lengths_mask(num_faces, faces.shape[1])
    return safe_normalize(_face_cross(verts, faces, mask), eps=_NORMAL_EPS)


@jax.jit
def _verts_normals(verts, faces, num_verts, num_faces) -> jax.Array:
    """``(B, V, 3)`` normalised sums of incident ``c`` (0 on padding and isolated verts)."""
    mask = lengths_mask(num_faces, faces.shape[1])
    cross = _face_cross(verts, faces, mask)
    idx = jnp.where(mask[..., None], faces, 0)  # padding adds 0 to vertex 0

    def scatter(c, f):
        corner_values = jnp.repeat(c[:, None, :], 3, axis=1).reshape(-1, 3)
        return jnp.zeros(verts.shape[1:], verts.dtype).at[f.reshape(-1)].add(corner_values)

    sums = jax.vmap(scatter)(cross, idx)
    valid = lengths_mask(num_verts, verts.shape[1])
    return masked_fill(safe_normalize(sums, eps=_NORMAL_EPS), valid, 0.0)


# ----------------------------------------------------------------------------------------------
# Meshes.
# ----------------------------------------------------------------------------------------------


@jax.tree_util.register_pytree_node_class
class Meshes(ImmutablePytree):
    """A batch of ``B`` triangle meshes, possibly of different sizes.

    ``Meshes(verts, faces, textures=None, *, verts_normals=None, num_verts=None,
    num_faces=None)`` where

    - ``verts``: list of ``B`` arrays ``(V_i, 3)`` float, or padded ``(B, V, 3)``;
    - ``faces``: list of ``B`` arrays ``(F_i, 3)`` int indexing that mesh's vertices, or
      padded ``(B, F, 3)`` with padding rows -1;
    - ``num_verts``/``num_faces``: ``(B,)`` int lengths for padded input. Defaults: all ``V``
      vertices are valid, and a face row is valid when its first index is not -1.
    - ``textures``: any textures pytree; carried opaquely (see ``docs/design.md``).
    - ``verts_normals``: optional vertex normals, a list of ``(V_i, 3)`` or padded
      ``(B, V, 3)`` (PyTorch3D's argument); when given, ``verts_normals_*`` return them instead
      of computing normals, until the vertices change (``offset_verts`` by a constant keeps
      them, other vertex updates drop them).

    Vertices must be finite: NaN or inf in a valid row raises ``ValueError`` naming the
    argument when the values are concrete; under ``jax.jit`` the check is a
    ``checkify.debug_check`` (see ``jax3d.validation``). Textures whose per-mesh sizes do
    not match the meshes (e.g. ``TexturesUV`` with another number of ``faces_uvs`` rows than
    faces) raise ``ValueError`` when the sizes are concrete.

    Rows past the lengths are reset to 0 (verts) and -1 (faces). The object is an immutable
    pytree whose leaves are ``verts, faces, num_verts, num_faces, textures, verts_normals``
    (the last two may be None): pass it through
    ``jax.jit``, or close over it and differentiate with respect to ``update_padded``'s input.
    Construction from padded arrays is jit-safe; from lists it needs only static shapes.
    """

    __slots__ = _FIELDS
    _fields = _FIELDS

    def __init__(self, verts, faces, textures=None, *, verts_normals=None, num_verts=None,
                 num_faces=None):
        if isinstance(verts, (list, tuple)):
            if num_verts is not None or num_faces is not None:
                raise ValueError("num_verts/num_faces are only accepted with padded verts/faces")
            fields = _from_lists(verts, faces)
        elif isinstance(faces, (list, tuple)):
            raise TypeError("faces is a list, so verts must be a list too (or pass both padded)")
        else:
            fields = _from_padded(verts, faces, num_verts, num_faces)
        _check_texture_sizes(textures, fields[2], fields[3])
        normals = None if verts_normals is None else _verts_normals_input(verts_normals, *fields)
        self._assign((*fields, textures, normals))

    def replace(self, **changes) -> Meshes:
        """A copy with some raw fields replaced (PyTorch3D's ``mesh.textures = t`` is
        ``mesh = mesh.replace(textures=t)``). Only new ``textures`` are validated (against
        the meshes' sizes, as in the constructor); other fields are taken as they are."""
        if changes.get("textures") is not None:
            _check_texture_sizes(changes["textures"], changes.get("num_verts", self.num_verts),
                                 changes.get("num_faces", self.num_faces))
        return super().replace(**changes)

    def __len__(self) -> int:
        return self.verts.shape[0]

    def __repr__(self) -> str:
        return (f"Meshes(B={len(self)}, verts={tuple(self.verts.shape)}, "
                f"faces={tuple(self.faces.shape)}, textures={type(self.textures).__name__})")

    # -- lengths, masks and index maps ----------------------------------------------------------

    def num_verts_per_mesh(self) -> jax.Array:
        """``(B,) int32`` vertex counts. Jit-safe."""
        return self.num_verts

    def num_faces_per_mesh(self) -> jax.Array:
        """``(B,) int32`` face counts. Jit-safe."""
        return self.num_faces

    def verts_mask(self) -> jax.Array:
        """``(B, V) bool``: ``mask[b, i] = i < num_verts[b]``. Jit-safe."""
        return lengths_mask(self.num_verts, self.verts.shape[1])

    def faces_mask(self) -> jax.Array:
        """``(B, F) bool``: ``mask[b, j] = j < num_faces[b]``. Jit-safe."""
        return lengths_mask(self.num_faces, self.faces.shape[1])

    def mesh_to_verts_packed_first_idx(self) -> jax.Array:
        """``(B,) int32``: index in ``verts_packed()`` of mesh ``b``'s first vertex. Jit-safe."""
        return exclusive_cumsum(self.num_verts)

    def mesh_to_faces_packed_first_idx(self) -> jax.Array:
        """``(B,) int32``: index in ``faces_packed()`` of mesh ``b``'s first face. Jit-safe."""
        return exclusive_cumsum(self.num_faces)

    def _concrete(self, name: str, what: str) -> np.ndarray:
        return concrete_numpy(getattr(self, name), name, f"Meshes.{what}()")

    def verts_packed_to_mesh_idx(self) -> jax.Array:
        """``(sum V_i,) int32``: mesh index of each packed vertex. Needs concrete lengths."""
        nv = self._concrete("num_verts", "verts_packed_to_mesh_idx")
        return jnp.asarray(np.repeat(np.arange(len(nv), dtype=np.int32), nv))

    def faces_packed_to_mesh_idx(self) -> jax.Array:
        """``(sum F_i,) int32``: mesh index of each packed face. Needs concrete lengths."""
        nf = self._concrete("num_faces", "faces_packed_to_mesh_idx")
        return jnp.asarray(np.repeat(np.arange(len(nf), dtype=np.int32), nf))

    def verts_padded_to_packed_idx(self) -> jax.Array:
        """``(sum V_i,) int32``: ``verts_packed()[k] = verts_padded().reshape(-1, 3)[idx[k]]``."""
        nv = self._concrete("num_verts", "verts_padded_to_packed_idx")
        return jnp.asarray(padded_to_packed_index(nv, self.verts.shape[1]))

    def faces_padded_to_packed_idx(self) -> jax.Array:
        """``(sum F_i,) int32``: flat index into ``(B * F)`` padded faces of each packed face."""
        nf = self._concrete("num_faces", "faces_padded_to_packed_idx")
        return jnp.asarray(padded_to_packed_index(nf, self.faces.shape[1]))

    # -- list / padded / packed views -----------------------------------------------------------

    def verts_padded(self) -> jax.Array:
        """``(B, V, 3)`` vertices, padding rows 0. Jit-safe."""
        return self.verts

    def faces_padded(self) -> jax.Array:
        """``(B, F, 3) int32`` per-mesh vertex indices, padding rows -1. Jit-safe."""
        return self.faces

    def verts_list(self) -> list[jax.Array]:
        """List of ``B`` arrays ``(V_i, 3)``. Needs concrete lengths."""
        nv = self._concrete("num_verts", "verts_list")
        return [self.verts[b, : nv[b]] for b in range(len(nv))]

    def faces_list(self) -> list[jax.Array]:
        """List of ``B`` arrays ``(F_i, 3) int32`` indexing each mesh's own verts."""
        nf = self._concrete("num_faces", "faces_list")
        return [self.faces[b, : nf[b]] for b in range(len(nf))]

    def verts_packed(self) -> jax.Array:
        """``(sum V_i, 3)`` all vertices concatenated. Needs concrete lengths; differentiable."""
        return pack_padded(self.verts, self._concrete("num_verts", "verts_packed"))

    def faces_packed_padded(self) -> jax.Array:
        """``(B, F, 3) int32`` padded faces holding *packed* vertex indices (padding -1).

        ``faces_packed_padded()[b, j] = faces_padded()[b, j] + mesh_to_verts_packed_first_idx()[b]``
        for valid faces. Jit-safe (the values use ``cumsum``).
        """
        shifted = self.faces + self.mesh_to_verts_packed_first_idx()[:, None, None]
        return masked_fill(shifted, self.faces_mask(), -1)

    def faces_packed(self) -> jax.Array:
        """``(sum F_i, 3) int32`` faces indexing ``verts_packed()``. Needs concrete lengths."""
        nf = self._concrete("num_faces", "faces_packed")
        return pack_padded(self.faces_packed_padded(), nf)

    def get_mesh_verts_faces(self, index: int) -> tuple[jax.Array, jax.Array]:
        """``(verts (V_i, 3), faces (F_i, 3))`` of mesh ``index``. Needs concrete lengths."""
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} meshes")
        nv = self._concrete("num_verts", "get_mesh_verts_faces")[index]
        nf = self._concrete("num_faces", "get_mesh_verts_faces")[index]
        return self.verts[index, :nv], self.faces[index, :nf]

    # -- geometry -------------------------------------------------------------------------------

    def faces_areas_padded(self) -> jax.Array:
        """``(B, F)`` triangle areas, 0 on padding. Jit-safe; finite gradients at zero area."""
        return _faces_areas(self.verts, self.faces, self.num_faces)

    def faces_normals_padded(self) -> jax.Array:
        """``(B, F, 3)`` unit face normals ``n = c / max(|c|, 1e-6)``, ``c = (v1-v0) x (v2-v0)``.

        Counter-clockwise faces (seen from outside) give outward normals; padding rows are 0.
        Jit-safe.
        """
        return _faces_normals(self.verts, self.faces, self.num_faces)

    def has_verts_normals(self) -> bool:
        """True when vertex normals were given (``verts_normals=``) and still hold."""
        return self.verts_normals is not None

    def verts_normals_padded(self) -> jax.Array:
        """``(B, V, 3)`` vertex normals: the given ``verts_normals``, else the normalised
        area-weighted sum of incident face normals.

        Matches PyTorch3D (sum of ``(v1-v0) x (v2-v0)`` over incident faces, then
        ``x / max(|x|, 1e-6)``). Padding rows and isolated vertices are 0. Jit-safe.
        """
        if self.verts_normals is not None:
            return self.verts_normals
        return _verts_normals(self.verts, self.faces, self.num_verts, self.num_faces)

    def _pack_faces(self, x: jax.Array, what: str) -> jax.Array:
        return pack_padded(x, self._concrete("num_faces", what))

    def _pack_verts(self, x: jax.Array, what: str) -> jax.Array:
        return pack_padded(x, self._concrete("num_verts", what))

    def faces_areas_packed(self) -> jax.Array:
        """``(sum F_i,)`` face areas. Needs concrete lengths."""
        return self._pack_faces(self.faces_areas_padded(), "faces_areas_packed")

    def faces_normals_packed(self) -> jax.Array:
        """``(sum F_i, 3)`` unit face normals. Needs concrete lengths."""
        return self._pack_faces(self.faces_normals_padded(), "faces_normals_packed")

    def verts_normals_packed(self) -> jax.Array:
        """``(sum V_i, 3)`` unit vertex normals. Needs concrete lengths."""
        return self._pack_verts(self.verts_normals_padded(), "verts_normals_packed")

    def faces_normals_list(self) -> list[jax.Array]:
        """List of ``B`` arrays ``(F_i, 3)``. Needs concrete lengths."""
        nf = self._concrete("num_faces", "faces_normals_list")
        normals = self.faces_normals_padded()
        return [normals[b, : nf[b]] for b in range(len(nf))]

    def verts_normals_list(self) -> list[jax.Array]:
        """List of ``B`` arrays ``(V_i, 3)``. Needs concrete lengths."""
        nv = self._concrete("num_verts", "verts_normals_list")
        normals = self.verts_normals_padded()
        return [normals[b, : nv[b]] for b in range(len(nv))]

    def get_bounding_boxes(self) -> jax.Array:
        """``(B, 3, 2)``: ``[b, axis] = (min, max)`` over valid verts (0 when empty). Jit-safe."""
        return masked_bounding_boxes(self.verts, self.verts_mask())

    # -- edges (concrete only) ------------------------------------------------------------------

    def _edges(self):
        faces = concrete_numpy(self.faces_packed(), "faces", "Meshes.edges_packed()")
        nv = self._concrete("num_verts", "edges_packed")
        return unique_edges(faces.astype(np.int64), nv)

    def edges_packed(self) -> jax.Array:
        """``(E, 2) int32`` unique undirected edges over packed verts, ``v0 < v1``, sorted.

        Edges are sorted by ``(v0, v1)``, hence grouped by mesh. Needs concrete faces.
        """
        return jnp.asarray(self._edges()[0])

    def faces_packed_to_edges_packed(self) -> jax.Array:
        """``(sum F_i, 3) int32``: column ``k`` is the edge opposite corner ``k`` of each face.

        ``[f, 0]`` is edge ``(v1, v2)``, ``[f, 1]`` is ``(v2, v0)``, ``[f, 2]`` is ``(v0, v1)``.
        """
        return jnp.asarray(self._edges()[1])

    def num_edges_per_mesh(self) -> jax.Array:
        """``(B,) int32`` number of unique edges of each mesh."""
        return jnp.asarray(self._edges()[2])

    def mesh_to_edges_packed_first_idx(self) -> jax.Array:
        """``(B,) int32`` index in ``edges_packed()`` of each mesh's first edge."""
        return exclusive_cumsum(self.num_edges_per_mesh())

    def edges_packed_to_mesh_idx(self) -> jax.Array:
        """``(E,) int32`` mesh index of each packed edge."""
        ne = self._edges()[2]
        return jnp.asarray(np.repeat(np.arange(len(ne), dtype=np.int32), ne))

    # -- functional updates ---------------------------------------------------------------------

    def update_padded(self, new_verts_padded: jax.Array) -> Meshes:
        """Same topology and textures with new vertices ``(B, V, 3)``; padding reset to 0.

        Jit-safe and differentiable, e.g.
        ``jax.grad(lambda v: meshes.update_padded(v).verts_normals_padded().sum())``.
        """
        new = _as_float(new_verts_padded, "new_verts_padded")
        if new.shape != self.verts.shape:
            raise ValueError(f"new_verts_padded must be {self.verts.shape}, got {new.shape}")
        return self.replace(verts=masked_fill(new, self.verts_mask(), 0.0), verts_normals=None)

    def offset_verts(self, vert_offsets_packed: jax.Array) -> Meshes:
        """Add offsets to the vertices.

        Args:
            vert_offsets_packed: ``(3,)`` (same offset everywhere; keeps given normals),
                packed ``(sum V_i, 3)`` (needs concrete lengths) or padded ``(B, V, 3)``
                (jit-safe; padding ignored).
        """
        d = _as_float(vert_offsets_packed, "vert_offsets_packed")
        if d.shape == (3,):
            moved = self.update_padded(self.verts + jnp.broadcast_to(d, self.verts.shape))
            return moved.replace(verts_normals=self.verts_normals)
        if d.ndim == 2 and d.shape[1] == 3:
            nv = self._concrete("num_verts", "offset_verts(packed offsets)")
            if d.shape[0] != int(nv.sum()):
                raise ValueError(f"packed vert_offsets_packed must be ({int(nv.sum())}, 3), "
                                 f"got {d.shape}")
            idx = padded_to_packed_index(nv, self.verts.shape[1])
            b, v = self.verts.shape[:2]
            d = jnp.zeros((b * v, 3), d.dtype).at[idx].set(d).reshape(b, v, 3)
        elif d.shape != self.verts.shape:
            raise ValueError(
                f"vert_offsets_packed must be (3,), packed (sum V_i, 3) or padded "
                f"{self.verts.shape}, got {d.shape}"
            )
        return self.update_padded(self.verts + d)

    def scale_verts(self, scale) -> Meshes:
        """Multiply vertices by ``scale``: a scalar or ``(B,)`` per mesh. Jit-safe."""
        s = _as_float(scale, "scale")
        if s.ndim == 0:
            s = jnp.broadcast_to(s, (len(self),))
        if s.shape != (len(self),):
            raise ValueError(f"scale must be a scalar or ({len(self)},), got {s.shape}")
        return self.replace(verts=self.verts * s[:, None, None], verts_normals=None)

    def offset_verts_(self, vert_offsets_packed):
        """PyTorch3D's in-place ``offset_verts_``: raises ``TypeError`` (structures are
        immutable); use ``meshes = meshes.offset_verts(vert_offsets_packed)``."""
        raise in_place_error("Meshes", "offset_verts_", "meshes = meshes.offset_verts(offsets)")

    def scale_verts_(self, scale):
        """PyTorch3D's in-place ``scale_verts_``: raises ``TypeError``; use
        ``meshes = meshes.scale_verts(scale)``."""
        raise in_place_error("Meshes", "scale_verts_", "meshes = meshes.scale_verts(scale)")

    def laplacian_packed(self):
        """``(sum V_i, sum V_i)`` uniform Laplacian of the packed vertices, a
        ``jax.experimental.sparse.BCOO`` (``jax3d.ops.laplacian(verts_packed(),
        edges_packed())``: ``L[i, j] = 1 / deg(i)`` for neighbours, ``L[i, i] = -1``).
        Needs concrete lengths."""
        from jax3d.ops.laplacian_matrices import laplacian  # ops sit above structures

        return laplacian(self.verts_packed(), self.edges_packed())

    def sample_textures(self, fragments):
        """``textures.sample_textures(fragments, meshes=self)``: ``(N, H, W, K, C)`` texels of
        the rasterized faces (see ``jax3d.renderer.sample_textures``)."""
        if self.textures is None:
            raise ValueError("Meshes does not have textures")
        return self.textures.sample_textures(fragments, meshes=self)

    # -- batch manipulation ---------------------------------------------------------------------

    def __getitem__(self, index) -> Meshes:
        """Select meshes by int, slice, list of ints, or 1-D int/bool array (concrete).

        Keeps the padded sizes ``V`` and ``F`` (so indexing is jit-safe and stays aligned with
        per-vertex textures). Textures are indexed with a 1-D NumPy int array.
        """
        idx = batch_index(index, len(self), "Meshes")
        textures = self.textures
        if textures is not None:
            textures = _call_textures(textures, "__getitem__", idx)
        normals = None if self.verts_normals is None else self.verts_normals[idx]
        return Meshes._from_fields(self.verts[idx], self.faces[idx], self.num_verts[idx],
                                   self.num_faces[idx], textures, normals)

    def extend(self, N: int) -> Meshes:  # noqa: N803 (PyTorch3D's name)
        """Each mesh repeated ``N`` times in a row: ``[m0]*N + [m1]*N + ...``. Jit-safe."""
        if not isinstance(N, (int, np.integer)) or N < 1:
            raise ValueError(f"N must be a positive int, got {N!r}")
        textures = self.textures
        if textures is not None:
            textures = _call_textures(textures, "extend", int(N))
        rep = lambda x: None if x is None else jnp.repeat(x, N, axis=0)  # noqa: E731
        return Meshes._from_fields(rep(self.verts), rep(self.faces), rep(self.num_verts),
                                   rep(self.num_faces), textures, rep(self.verts_normals))

    def split(self, split_sizes: list) -> list[Meshes]:
        """Consecutive groups of meshes: ``[self[0:s0], self[s0:s0+s1], ...]`` (PyTorch3D)."""
        if not all(isinstance(x, (int, np.integer)) for x in split_sizes):
            raise ValueError(f"split_sizes must be a list of ints, got {split_sizes!r}")
        starts = np.concatenate([[0], np.cumsum(split_sizes)]).astype(int)
        return [self[int(a):int(b)] for a, b in zip(starts[:-1], starts[1:])]

    def submeshes(self, face_indices) -> Meshes:
        """A batch of submeshes, each made of some faces of one mesh (PyTorch3D's
        ``submeshes``). Textures follow through ``textures.submeshes(vertex_ids_list,
        faces_ids_list)`` (dropped with a warning when the textures lack it).

        Args:
            face_indices: one entry per mesh: a list of 1-D int arrays (each the face ids of a
                submesh of that mesh; may be empty), a 2-D ``(S_b, F_sub)`` int array, or the
                whole thing as an ``(B, S, F_sub)`` int array. Needs concrete values.

        Returns:
            ``Meshes`` with ``sum_b S_b`` meshes, in order; each keeps only the vertices its
            faces use, renumbered in increasing order of their old index.
        """
        if len(face_indices) != len(self):
            raise ValueError(f"face_indices must have one entry per mesh ({len(self)}), "
                             f"got {len(face_indices)}")
        verts_list, faces_list, vertex_ids, face_ids = [], [], [], []
        for b, ids_per_mesh in enumerate(face_indices):
            v, f = (np.asarray(x) for x in self.get_mesh_verts_faces(b))
            vertex_ids.append([])
            face_ids.append([])
            for ids in ids_per_mesh:
                ids = np.asarray(ids)
                if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
                    raise ValueError(f"face_indices[{b}] must hold 1-D int arrays, got {ids!r}")
                if ids.size and (ids.min() < -len(f) or ids.max() >= len(f)):
                    raise IndexError(f"face_indices[{b}] out of range for {len(f)} faces")
                keep = f[ids].reshape(-1, 3)
                used, renumbered = np.unique(keep, return_inverse=True)
                verts_list.append(v[used])
                faces_list.append(renumbered.reshape(-1, 3))
                vertex_ids[-1].append(used)
                face_ids[-1].append(ids)
        textures = self.textures
        if textures is not None:
            textures = _call_textures(textures, "submeshes", vertex_ids, face_ids)
        return Meshes(verts_list, faces_list, textures)

    def isempty(self) -> bool:
        """True when there are no meshes or no mesh has a face. Needs concrete lengths."""
        return len(self) == 0 or not bool(self._concrete("num_faces", "isempty").any())

    # -- trimesh interop ------------------------------------------------------------------------

    @classmethod
    def from_trimesh(cls, mesh) -> Meshes:
        """Meshes from a ``trimesh.Trimesh`` or a list of them (vertex order kept)."""
        items = mesh if isinstance(mesh, (list, tuple)) else [mesh]
        for i, m in enumerate(items):
            if not (hasattr(m, "vertices") and hasattr(m, "faces")):
                raise TypeError(f"mesh[{i}] must be a trimesh.Trimesh, got {type(m).__name__}")
        verts = [np.asarray(m.vertices, np.float32) for m in items]
        faces = [np.asarray(m.faces, np.int32).reshape(-1, 3) for m in items]
        return cls(verts, faces)

    def to_trimesh(self, index: int | None = None):
        """``trimesh.Trimesh`` of mesh ``index``, or a list of all meshes when ``index`` is None.

        Built with ``process=False`` so vertex and face order are kept. Needs concrete arrays.
        """
        import trimesh

        indices = range(len(self)) if index is None else [index]
        out = []
        for i in indices:
            v, f = self.get_mesh_verts_faces(i)
            out.append(trimesh.Trimesh(np.asarray(v), np.asarray(f), process=False))
        return out if index is None else out[0]


# ----------------------------------------------------------------------------------------------
# Helpers shared with Pointclouds and the join functions.
# ----------------------------------------------------------------------------------------------


def _verts_normals_input(verts_normals, verts, faces, num_verts, num_faces) -> jax.Array:
    """Given vertex normals (list of ``(V_i, 3)`` or ``(B, V, 3)``) as padded ``(B, V, 3)``."""
    b, v = verts.shape[:2]
    if isinstance(verts_normals, (list, tuple)):
        items = [_as_float(n, f"verts_normals[{i}]") for i, n in enumerate(verts_normals)]
        nv = concrete_numpy(num_verts, "num_verts", "Meshes(verts_normals=[...])")
        if len(items) != b or any(n.shape != (k, 3) for n, k in zip(items, nv)):
            raise ValueError(f"verts_normals must be {b} arrays shaped like the verts "
                             f"{[(int(k), 3) for k in nv]}, got {[n.shape for n in items]}")
        padded = list_to_padded(items, pad_size=(v, 3)) if b else jnp.zeros((0, v, 3))
    else:
        padded = _as_float(verts_normals, "verts_normals")
        if padded.shape != (b, v, 3):
            raise ValueError(f"verts_normals must be ({b}, {v}, 3) like the padded verts, "
                             f"got {padded.shape}")
    return masked_fill(jnp.asarray(padded, verts.dtype), lengths_mask(num_verts, v), 0.0)


def masked_bounding_boxes(x: jax.Array, mask: jax.Array) -> jax.Array:
    """``(B, 3, 2)`` per-item (min, max) of ``x (B, N, 3)`` over ``mask (B, N)``; 0 if empty."""
    big = jnp.asarray(jnp.finfo(x.dtype).max, x.dtype)
    lo = jnp.min(jnp.where(mask[..., None], x, big), axis=1)
    hi = jnp.max(jnp.where(mask[..., None], x, -big), axis=1)
    any_valid = jnp.any(mask, axis=1)[:, None]
    box = jnp.stack([jnp.where(any_valid, lo, 0.0), jnp.where(any_valid, hi, 0.0)], axis=-1)
    return box.astype(x.dtype)


def batch_index(index, n: int, owner: str) -> np.ndarray:
    """Normalise an int / slice / list / 1-D int or bool array into a NumPy int array."""
    if isinstance(index, (int, np.integer)):
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {owner} of length {n}")
        return np.array([index % n], np.int64)
    if isinstance(index, slice):
        return np.arange(n)[index]
    if is_traced(index):
        raise ValueError(f"{owner} index must be concrete (not traced inside jit)")
    idx = np.asarray(index)
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise IndexError(f"boolean index must have shape ({n},), got {idx.shape}")
        return np.nonzero(idx)[0]
    if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
        raise TypeError(f"{owner} index must be int, slice, list of ints or 1-D int/bool array, "
                        f"got {index!r}")
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"index {idx.tolist()} out of range for {owner} of length {n}")
    return idx.astype(np.int64) % max(n, 1)


def _call_textures(textures, method: str, *args):
    """Call ``textures.<method>(*args)``; None (with a warning) when textures lack it."""
    fn = getattr(textures, method, None)
    if fn is None:
        warnings.warn(f"{type(textures).__name__} has no {method}(); textures dropped",
                      stacklevel=3)
        return None
    return fn(*args)


def unique_edges(faces_packed: np.ndarray, num_verts: np.ndarray):
    """PyTorch3D's edge table from packed faces.

    Args:
        faces_packed: ``(F, 3)`` int, packed vertex indices.
        num_verts: ``(B,)`` vertex counts.

    Returns:
        ``edges (E, 2) int32`` sorted unique ``(v0 < v1)``, ``faces_to_edges (F, 3) int32``
        (edge opposite each corner) and ``num_edges (B,) int32``.
    """
    n_verts = max(int(np.sum(num_verts)), 1)
    f = faces_packed.shape[0]
    e = np.concatenate([faces_packed[:, [1, 2]], faces_packed[:, [2, 0]],
                        faces_packed[:, [0, 1]]], axis=0)
    e = np.sort(e, axis=1)
    keys, inverse = np.unique(e[:, 0] * n_verts + e[:, 1], return_inverse=True)
    edges = np.stack([keys // n_verts, keys % n_verts], axis=1).astype(np.int32)
    faces_to_edges = inverse.reshape(3, f).T.astype(np.int32)
    mesh_of_vert = np.repeat(np.arange(len(num_verts)), num_verts)
    num_edges = np.bincount(mesh_of_vert[edges[:, 0]], minlength=len(num_verts)).astype(np.int32)
    return edges.reshape(-1, 2), faces_to_edges.reshape(-1, 3), num_edges
