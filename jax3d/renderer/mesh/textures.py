"""Texture containers for ``Meshes``: per-vertex features, UV maps and per-face atlases.

Data and batching (PyTorch3D's ``TexturesVertex``, ``TexturesUV``, ``TexturesAtlas``) and
sampling at rasterized pixels (``textures.sample_textures(fragments, meshes)`` or the
module-level :func:`sample_textures`). Each container is an immutable ``flax.struct`` pytree stored
padded with per-mesh lengths, built from Python lists of per-mesh arrays or from padded
arrays, and implements the protocol that ``Meshes`` calls (``docs/design.md``):
``__getitem__(index)``, ``extend(N)``, ``join_batch(textures)`` and ``join_scene()``.

Indexing keeps the padded sizes (jit-friendly, aligned with ``Meshes.__getitem__``); list and
packed views and the joins need concrete lengths.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.experimental import checkify

from jax3d.device import DeviceMethods
from jax3d.structures.meshes import batch_index
from jax3d.structures.utils import concrete_numpy

__all__ = [
    "Textures",
    "TexturesAtlas",
    "TexturesBase",
    "TexturesUV",
    "TexturesVertex",
    "pix_to_padded_face",
    "sample_textures",
    "sample_uv_maps",
]

_PADDING_MODES = ("zeros", "border", "reflection")
_SAMPLING_MODES = ("bilinear", "nearest")


# ------------------------------------------------------------------------------------ helpers


def _array(x, name: str, ndim: int, kind: str) -> jax.Array:
    """``x`` as a jnp array of rank ``ndim``; kind 'f' -> float32, 'i' -> int32."""
    try:
        arr = np.asarray(x) if not isinstance(x, jax.Array) else x
    except Exception as err:  # noqa: BLE001 - report any conversion failure as a bad argument
        raise TypeError(f"{name} must be an array, got {type(x).__name__}") from err
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(arr.shape)}")
    if kind == "i":
        if arr.size and not jnp.issubdtype(arr.dtype, jnp.integer):
            raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
        return jnp.asarray(arr, jnp.int32)
    if arr.size and not (jnp.issubdtype(arr.dtype, jnp.floating) or
                         jnp.issubdtype(arr.dtype, jnp.integer)):  # fmt: skip
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    return jnp.asarray(arr, jnp.float32)


def _pad_list(items, name: str, ndim: int, kind: str, pad_value) -> tuple[jax.Array, jax.Array]:
    """List of ``(M_i, ...)`` arrays -> ``((N, max M_i, ...), lengths (N,) int32)``."""
    if len(items) == 0:
        raise ValueError(f"{name} must not be an empty list")
    arrs = [_array(x, f"{name}[{i}]", ndim, kind) for i, x in enumerate(items)]
    tails = {tuple(a.shape[1:]) for a in arrs}
    if len(tails) != 1:
        raise ValueError(f"{name} items must agree beyond their first axis, got {sorted(tails)}")
    m = max(a.shape[0] for a in arrs)
    pads = [[(0, m - a.shape[0])] + [(0, 0)] * (ndim - 1) for a in arrs]
    if any(isinstance(a, jax.core.Tracer) for a in arrs):
        padded = jnp.stack([jnp.pad(a, p, constant_values=pad_value) for a, p in zip(arrs, pads)])
    else:  # concrete: pad in NumPy (no per-shape compilation)
        padded = jnp.asarray(np.stack([
            np.pad(np.asarray(a), p, constant_values=pad_value) for a, p in zip(arrs, pads)
        ]))  # fmt: skip
    return padded, jnp.asarray([a.shape[0] for a in arrs], jnp.int32)


def _lengths(n: np.ndarray, what: str) -> np.ndarray:
    return concrete_numpy(n, what, what).astype(np.int64)


def _unpad(padded: jax.Array, lengths, what: str) -> list[jax.Array]:
    return [padded[b, :n] for b, n in enumerate(_lengths(lengths, what))]


def _check_batch(cls_name: str, *sizes):
    if len(set(sizes)) != 1:
        raise ValueError(f"{cls_name}: inputs disagree on the batch size: {sizes}")


def _check_rows(textures, name: str, rows, want, mesh_what: str) -> None:
    """Meshes' per-mesh counts ``want (B,)`` against the textures' ``rows (B,)`` of ``name``.

    Raises ValueError when the batch sizes differ or (for concrete counts) a count differs;
    traced counts are a ``checkify.debug_check``.
    """
    owner = type(textures).__name__
    rows, want = jnp.asarray(rows), jnp.asarray(want)
    if rows.shape != want.shape:
        raise ValueError(f"textures: {owner} holds {rows.shape[0]} items but there are "
                         f"{want.shape[0]} meshes")  # fmt: skip
    if isinstance(rows, jax.core.Tracer) or isinstance(want, jax.core.Tracer):
        checkify.debug_check(jnp.all(rows == want),
                             f"{owner} {name} rows must match the meshes' {mesh_what}")
        return
    rows, want = np.asarray(rows), np.asarray(want)
    if np.any(rows != want):
        b = int(np.argmax(rows != want))
        raise ValueError(f"{owner} {name}[{b}] has {rows[b]} rows but mesh {b} has {want[b]} "
                         f"{mesh_what}")  # fmt: skip


def _check_same_type(self, others):
    for i, o in enumerate(others):
        if type(o) is not type(self):
            raise TypeError(f"textures[{i}] is a {type(o).__name__}, not a "
                            f"{type(self).__name__}")  # fmt: skip


def resize_map(image: jax.Array, size: tuple[int, int], align_corners: bool) -> jax.Array:
    """Bilinear resize of ``image (H, W, C)`` to ``size (H2, W2)``, corners aligned or not
    (``align_corners`` as in ``torch.nn.functional.interpolate``)."""
    out = image
    for axis, (n_in, n_out) in enumerate(zip(image.shape[:2], size)):
        if n_in == n_out:
            continue
        dst = jnp.arange(n_out, dtype=jnp.float32)
        if align_corners:
            src = dst * ((n_in - 1) / max(n_out - 1, 1))
        else:
            src = jnp.clip((dst + 0.5) * (n_in / n_out) - 0.5, 0.0, n_in - 1)
        lo = jnp.clip(jnp.floor(src).astype(jnp.int32), 0, n_in - 1)
        hi = jnp.minimum(lo + 1, n_in - 1)
        w = (src - lo).reshape((-1, 1) if axis == 0 else (1, -1))[..., None]
        a, b = jnp.take(out, lo, axis=axis), jnp.take(out, hi, axis=axis)
        out = a * (1 - w) + b * w
    return out


# ----------------------------------------------------------------------------- TexturesVertex


class TexturesBase(DeviceMethods):
    """What the texture containers share: PyTorch3D's device methods (``.device``, ``.to``,
    ``.cpu``, ``.cuda``, ``.clone``, ``.detach``) with their JAX meanings."""

    __slots__ = ()


def _ids_list(ids_list, n: int, what: str) -> list[list[np.ndarray]]:
    if len(ids_list) != n:
        raise IndexError(f"{what} must have one entry per mesh ({n}), got {len(ids_list)}")
    return [[np.asarray(ids, np.int64).reshape(-1) for ids in per_mesh] for per_mesh in ids_list]


@struct.dataclass
class TexturesVertex(TexturesBase):
    """Per-vertex features (e.g. RGB), interpolated over faces by the shaders.

    ``TexturesVertex(verts_features)`` with a list of ``(V_i, C)`` arrays or a padded
    ``(B, V, C)`` array (then every row is valid unless ``num_verts=`` is given).

    Fields: ``verts_features (B, V, C) float32`` (padding rows 0), ``num_verts (B,) int32``.
    """

    verts_features: jax.Array
    num_verts: jax.Array | None = None

    def __post_init__(self):
        vf = self.verts_features
        if isinstance(vf, (list, tuple)):
            padded, n = _pad_list(vf, "verts_features", 2, "f", 0.0)
            object.__setattr__(self, "verts_features", padded)
            object.__setattr__(self, "num_verts", n)
        elif self.num_verts is None and vf is not None:
            vf = _array(vf, "verts_features", 3, "f")
            object.__setattr__(self, "verts_features", vf)
            object.__setattr__(self, "num_verts", jnp.full((vf.shape[0],), vf.shape[1], jnp.int32))

    def __len__(self) -> int:
        return self.verts_features.shape[0]

    def check_sizes(self, num_verts, num_faces) -> None:
        """Raise ValueError unless there is one feature row per vertex of each mesh.

        Called by ``Meshes(..., textures=...)`` with its ``(B,)`` counts (eager check;
        ``checkify.debug_check`` when traced)."""
        del num_faces
        _check_rows(self, "verts_features", self.num_verts, num_verts, "vertices")

    def verts_features_padded(self) -> jax.Array:
        """``(B, V, C)``."""
        return self.verts_features

    def verts_features_list(self) -> list[jax.Array]:
        """``[(V_b, C)]``; needs concrete lengths."""
        return _unpad(self.verts_features, self.num_verts, "num_verts")

    def verts_features_packed(self) -> jax.Array:
        """``(sum V_b, C)``; needs concrete lengths."""
        return jnp.concatenate(self.verts_features_list(), axis=0)

    def __getitem__(self, index) -> TexturesVertex:
        idx = batch_index(index, len(self), "TexturesVertex")
        return self.replace(verts_features=self.verts_features[idx], num_verts=self.num_verts[idx])

    def extend(self, N: int) -> TexturesVertex:  # noqa: N803 (PyTorch3D's name)
        """Each item repeated ``N`` times in a row, like ``Meshes.extend``."""
        return jax.tree.map(lambda x: jnp.repeat(x, N, axis=0), self)

    def join_batch(self, textures: list) -> TexturesVertex:
        """``self`` followed by ``textures`` as one batch (padding to the largest V)."""
        _check_same_type(self, textures)
        feats = [f for t in (self, *textures) for f in t.verts_features_list()]
        return TexturesVertex(feats)

    def check_shapes(self, batch_size: int, max_num_verts: int, max_num_faces: int) -> bool:
        """Whether the padded features fit meshes with these padded sizes (``(B, V)``)."""
        return tuple(self.verts_features.shape[:2]) == (batch_size, max_num_verts)

    def faces_verts_textures_packed(self, faces_packed=None) -> jax.Array:
        """``(sum F, 3, C)`` features of the corners of each face.

        Args:
          faces_packed: ``(sum F, 3)`` int packed faces (``meshes.faces_packed()``), required.
        """
        if faces_packed is None:
            raise ValueError("TexturesVertex.faces_verts_textures_packed needs faces_packed=")
        return self.verts_features_packed()[jnp.asarray(faces_packed, jnp.int32)]

    def submeshes(self, vertex_ids_list, faces_ids_list) -> TexturesVertex:
        """Textures of ``Meshes.submeshes``: the features of the vertices each submesh keeps.

        Args:
          vertex_ids_list: per mesh, a list of 1-D int arrays (the kept vertex ids of each of
            its submeshes, increasing, as ``Meshes.submeshes`` keeps them).
          faces_ids_list: unused (PyTorch3D's signature).
        """
        del faces_ids_list
        feats = self.verts_features_list()
        ids = _ids_list(vertex_ids_list, len(feats), "vertex_ids_list")
        return TexturesVertex([feats[b][v] for b, per in enumerate(ids) for v in per])

    def join_scene(self) -> TexturesVertex:
        """One item holding every mesh's features, in packed order."""
        return TexturesVertex([self.verts_features_packed()])

    def sample_textures(self, fragments, faces_packed=None, *, meshes=None) -> jax.Array:
        """(N, H, W, K, C) features interpolated at each fragment (0 where empty).

        Needs the mesh faces: ``meshes=`` (jit-safe, padded) or PyTorch3D's ``faces_packed``
        ((sum F, 3) indices into the packed features; eager only).
        """
        return _sample_vertex(self, fragments, meshes, faces_packed)


# --------------------------------------------------------------------------------- TexturesUV


@struct.dataclass
class TexturesUV(TexturesBase):
    """UV-mapped texture images.

    ``TexturesUV(maps, faces_uvs, verts_uvs, padding_mode="border", align_corners=True,
    sampling_mode="bilinear")`` where each of ``maps`` (``(H, W, C)`` items or
    ``(B, H, W, C)``), ``faces_uvs`` (``(F_i, 3)`` int items or ``(B, F, 3)`` padded with -1)
    and ``verts_uvs`` (``(T_i, 2)`` items or ``(B, T, 2)``) is a list or a padded array. Maps
    of different sizes are resized (bilinear) to the largest, as PyTorch3D does.

    UV convention (PyTorch3D): ``u`` runs left to right, ``v`` bottom to top, so ``(0, 0)`` is
    the bottom-left corner of the image and row 0 of ``maps`` is ``v = 1``.

    Fields: ``maps (B, H, W, C) float32``, ``faces_uvs (B, F, 3) int32`` (padding -1),
    ``verts_uvs (B, T, 2) float32`` (padding 0), ``num_faces (B,)``, ``num_verts_uvs (B,)``
    int32; static ``padding_mode``, ``align_corners``, ``sampling_mode``.
    """

    maps: jax.Array
    faces_uvs: jax.Array
    verts_uvs: jax.Array
    padding_mode: str = struct.field(pytree_node=False, default="border")
    align_corners: bool = struct.field(pytree_node=False, default=True)
    sampling_mode: str = struct.field(pytree_node=False, default="bilinear")
    num_faces: jax.Array | None = None
    num_verts_uvs: jax.Array | None = None

    def __post_init__(self):
        if self.padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {_PADDING_MODES}, got "
                             f"{self.padding_mode!r}")  # fmt: skip
        if self.sampling_mode not in _SAMPLING_MODES:
            raise ValueError(f"sampling_mode must be one of {_SAMPLING_MODES}, got "
                             f"{self.sampling_mode!r}")  # fmt: skip
        if self.num_faces is not None or self.maps is None:
            return  # already built (e.g. rebuilt by a JAX transformation)
        maps, faces_uvs, verts_uvs = self.maps, self.faces_uvs, self.verts_uvs
        if isinstance(maps, (list, tuple)):
            maps = _stack_maps(maps, self.align_corners)
        else:
            maps = _array(maps, "maps", 4, "f")
        faces_uvs, nf = _padded_or_list(faces_uvs, "faces_uvs", 2, "i", -1)
        verts_uvs, nt = _padded_or_list(verts_uvs, "verts_uvs", 2, "f", 0.0)
        if faces_uvs.shape[-1] != 3 or verts_uvs.shape[-1] != 2:
            raise ValueError(f"faces_uvs must be (B, F, 3) and verts_uvs (B, T, 2), got "
                             f"{faces_uvs.shape} and {verts_uvs.shape}")  # fmt: skip
        _check_batch("TexturesUV", maps.shape[0], faces_uvs.shape[0], verts_uvs.shape[0])
        _check_uv_indices(faces_uvs, nf, nt)
        for name, value in (("maps", maps), ("faces_uvs", faces_uvs), ("verts_uvs", verts_uvs),
                            ("num_faces", nf), ("num_verts_uvs", nt)):  # fmt: skip
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return self.maps.shape[0]

    def check_sizes(self, num_verts, num_faces) -> None:
        """Raise ValueError unless there is one ``faces_uvs`` row per face of each mesh.

        Called by ``Meshes(..., textures=...)`` with its ``(B,)`` counts (eager check;
        ``checkify.debug_check`` when traced)."""
        del num_verts
        _check_rows(self, "faces_uvs", self.num_faces, num_faces, "faces")

    def maps_padded(self) -> jax.Array:
        """``(B, H, W, C)``."""
        return self.maps

    def maps_list(self) -> list[jax.Array]:
        """``[(H, W, C)] * B``."""
        return list(self.maps)

    def faces_uvs_padded(self) -> jax.Array:
        """``(B, F, 3)`` int32, indices into each item's own ``verts_uvs``, padding -1."""
        return self.faces_uvs

    def verts_uvs_padded(self) -> jax.Array:
        """``(B, T, 2)`` float32."""
        return self.verts_uvs

    def faces_uvs_list(self) -> list[jax.Array]:
        """``[(F_b, 3)]``; needs concrete lengths."""
        return _unpad(self.faces_uvs, self.num_faces, "num_faces")

    def verts_uvs_list(self) -> list[jax.Array]:
        """``[(T_b, 2)]``; needs concrete lengths."""
        return _unpad(self.verts_uvs, self.num_verts_uvs, "num_verts_uvs")

    def _settings(self) -> dict:
        return dict(padding_mode=self.padding_mode, align_corners=self.align_corners,
                    sampling_mode=self.sampling_mode)  # fmt: skip

    def __getitem__(self, index) -> TexturesUV:
        idx = batch_index(index, len(self), "TexturesUV")
        return jax.tree.map(lambda x: x[idx], self)

    def extend(self, N: int) -> TexturesUV:  # noqa: N803 (PyTorch3D's name)
        """Each item repeated ``N`` times in a row, like ``Meshes.extend``."""
        return jax.tree.map(lambda x: jnp.repeat(x, N, axis=0), self)

    def check_shapes(self, batch_size: int, max_num_verts: int, max_num_faces: int) -> bool:
        """Whether the padded face uvs fit meshes with these padded sizes (``(B, F)``)."""
        return (tuple(self.faces_uvs.shape[:2]) == (batch_size, max_num_faces)
                and self.verts_uvs.shape[0] == batch_size)  # fmt: skip

    def faces_verts_textures_packed(self) -> jax.Array:
        """``(sum F, 3, C)`` texels of the maps at the uvs of each face's corners (sampled with
        the textures' settings). Needs concrete lengths."""
        corner_uvs = [v[f] for v, f in zip(self.verts_uvs_list(), self.faces_uvs_list())]
        out = []
        for b, uvs in enumerate(corner_uvs):
            out.append(sample_uv_maps(self.maps[b:b + 1], uvs[None], **self._settings())[0])
        if not out:
            return jnp.zeros((0, 3, self.maps.shape[-1]), self.maps.dtype)
        return jnp.concatenate(out, axis=0)

    def centers_for_image(self, index: int) -> jax.Array:
        """``(T, 2)`` pixel ``(x, y)`` positions in the map of mesh ``index``'s ``verts_uvs``
        (for plotting a texture map with its uv points; PyTorch3D's helper)."""
        if len(self) != 1:
            raise ValueError("centers_for_image supports textures of one mesh only")
        _, h, w, _ = self.maps.shape
        uv = self.verts_uvs_list()[index]
        x = uv[:, 0] * (w - 1) if self.align_corners else uv[:, 0] * w - 0.5
        y = (1.0 - uv[:, 1]) * (h - 1) if self.align_corners else (1.0 - uv[:, 1]) * h - 0.5
        return jnp.stack([x, y], axis=-1)

    def submeshes(self, vertex_ids_list, faces_ids_list) -> TexturesUV:
        """Textures of ``Meshes.submeshes``: each submesh keeps its mesh's map and uvs and the
        ``faces_uvs`` rows of the faces it keeps (``vertex_ids_list`` is unused)."""
        del vertex_ids_list
        faces = self.faces_uvs_list()
        ids = _ids_list(faces_ids_list, len(faces), "faces_ids_list")
        maps, fuv, vuv = [], [], []
        verts = self.verts_uvs_list()
        for b, per in enumerate(ids):
            for f in per:
                maps.append(self.maps[b])
                fuv.append(faces[b][f])
                vuv.append(verts[b])
        return TexturesUV(maps, fuv, vuv, **self._settings())

    def join_batch(self, textures: list) -> TexturesUV:
        """``self`` followed by ``textures``; maps resized to the largest (H, W) (bilinear)."""
        _check_same_type(self, textures)
        items = (self, *textures)
        for i, o in enumerate(textures):
            if o._settings() != self._settings():
                raise ValueError(f"textures[{i}] has different sampling settings")
        maps = [m for t in items for m in t.maps_list()]
        faces = [f for t in items for f in t.faces_uvs_list()]
        verts = [v for t in items for v in t.verts_uvs_list()]
        return TexturesUV(maps, faces, verts, **self._settings())

    def join_scene(self) -> TexturesUV:
        """One item: the maps placed side by side in one image, uvs remapped into it.

        Item ``b``'s map occupies columns ``[b W, (b + 1) W)`` of a ``(H, B W, C)`` image;
        ``u`` is remapped so that the sample positions are unchanged (for ``align_corners``
        True: ``u' = (b W + u (W - 1)) / (B W - 1)``; else ``u' = (b + u) / B``). uvs outside
        [0, 1] would then wrap into a neighbour's map; clamp them first if needed.
        """
        b, _, w, _ = self.maps.shape
        image = jnp.concatenate(list(self.maps), axis=1)
        verts, faces, offset = [], [], 0
        for i, (v, f) in enumerate(zip(self.verts_uvs_list(), self.faces_uvs_list())):
            if self.align_corners:
                u = (i * w + v[:, 0] * (w - 1)) / max(b * w - 1, 1)
            else:
                u = (i + v[:, 0]) / b
            verts.append(jnp.stack([u, v[:, 1]], axis=1))
            faces.append(jnp.where(f >= 0, f + offset, -1))
            offset += v.shape[0]
        return TexturesUV([image], [jnp.concatenate(faces)], [jnp.concatenate(verts)],
                          **self._settings())  # fmt: skip

    def sample_textures(self, fragments, meshes=None, **kwargs) -> jax.Array:
        """(N, H, W, K, C) texels: uvs interpolated at each fragment, then the map sampled
        with ``sampling_mode`` / ``padding_mode`` / ``align_corners`` (``grid_sample``
        semantics, v flipped: image row 0 is v = 1); 0 where empty. ``meshes`` is unused."""
        return _sample_uv(self, fragments)


def _stack_maps(maps, align_corners: bool) -> jax.Array:
    arrs = [_array(m, f"maps[{i}]", 3, "f") for i, m in enumerate(maps)]
    if not arrs:
        raise ValueError("maps must not be an empty list")
    if len({a.shape[-1] for a in arrs}) != 1:
        raise ValueError(f"maps must share the channel count, got {[a.shape for a in arrs]}")
    size = (max(a.shape[0] for a in arrs), max(a.shape[1] for a in arrs))
    return jnp.stack([resize_map(a, size, align_corners) for a in arrs])


def _padded_or_list(x, name, ndim_item, kind, pad_value):
    if isinstance(x, (list, tuple)):
        return _pad_list(x, name, ndim_item, kind, pad_value)
    arr = _array(x, name, ndim_item + 1, kind)
    if kind == "i":  # rows whose first index is -1 are padding
        n = jnp.sum(arr[..., 0] >= 0, axis=1).astype(jnp.int32)
    else:
        n = jnp.full((arr.shape[0],), arr.shape[1], jnp.int32)
    return arr, n


def _check_uv_indices(faces_uvs, num_faces, num_verts_uvs):
    """Valid faces index ``[0, T_b)`` (eager check; skipped for traced inputs)."""
    try:
        f = np.asarray(faces_uvs)
        nf, nt = np.asarray(num_faces), np.asarray(num_verts_uvs)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return
    valid = np.arange(f.shape[1])[None] < nf[:, None]
    bad = valid[..., None] & ((f < 0) | (f >= nt[:, None, None]))
    if bad.any():
        b = int(np.argwhere(bad)[0][0])
        raise ValueError(f"faces_uvs[{b}] holds indices outside [0, {int(nt[b])})")


# ------------------------------------------------------------------------------ TexturesAtlas


@struct.dataclass
class TexturesAtlas(TexturesBase):
    """A small ``R x R`` texture per face (PyTorch3D's ``TexturesAtlas``, SoftRas layout).

    ``TexturesAtlas(atlas)`` with a list of ``(F_i, R, R, C)`` arrays or a padded
    ``(B, F, R, R, C)`` array (then every face row is valid unless ``num_faces=`` is given).

    Fields: ``atlas (B, F, R, R, C) float32`` (padding 0), ``num_faces (B,) int32``.
    """

    atlas: jax.Array
    num_faces: jax.Array | None = None

    def __post_init__(self):
        a = self.atlas
        if isinstance(a, (list, tuple)):
            padded, n = _pad_list(a, "atlas", 4, "f", 0.0)
            object.__setattr__(self, "atlas", padded)
            object.__setattr__(self, "num_faces", n)
        elif self.num_faces is None and a is not None:
            a = _array(a, "atlas", 5, "f")
            object.__setattr__(self, "atlas", a)
            object.__setattr__(self, "num_faces", jnp.full((a.shape[0],), a.shape[1], jnp.int32))
        if self.atlas is not None and self.atlas.ndim == 5 and self.atlas.shape[2] != \
                self.atlas.shape[3]:  # fmt: skip
            raise ValueError(f"atlas must be (B, F, R, R, C), got {self.atlas.shape}")

    def __len__(self) -> int:
        return self.atlas.shape[0]

    def check_sizes(self, num_verts, num_faces) -> None:
        """Raise ValueError unless there is one atlas row per face of each mesh.

        Called by ``Meshes(..., textures=...)`` with its ``(B,)`` counts (eager check;
        ``checkify.debug_check`` when traced)."""
        del num_verts
        _check_rows(self, "atlas", self.num_faces, num_faces, "faces")

    def atlas_padded(self) -> jax.Array:
        """``(B, F, R, R, C)``."""
        return self.atlas

    def atlas_list(self) -> list[jax.Array]:
        """``[(F_b, R, R, C)]``; needs concrete lengths."""
        return _unpad(self.atlas, self.num_faces, "num_faces")

    def atlas_packed(self) -> jax.Array:
        """``(sum F_b, R, R, C)``; needs concrete lengths."""
        return jnp.concatenate(self.atlas_list(), axis=0)

    def __getitem__(self, index) -> TexturesAtlas:
        idx = batch_index(index, len(self), "TexturesAtlas")
        return self.replace(atlas=self.atlas[idx], num_faces=self.num_faces[idx])

    def extend(self, N: int) -> TexturesAtlas:  # noqa: N803 (PyTorch3D's name)
        """Each item repeated ``N`` times in a row, like ``Meshes.extend``."""
        return jax.tree.map(lambda x: jnp.repeat(x, N, axis=0), self)

    def join_batch(self, textures: list) -> TexturesAtlas:
        """``self`` followed by ``textures`` (same R and C), padded to the largest F."""
        _check_same_type(self, textures)
        return TexturesAtlas([a for t in (self, *textures) for a in t.atlas_list()])

    def check_shapes(self, batch_size: int, max_num_verts: int, max_num_faces: int) -> bool:
        """Whether the padded atlas fits meshes with these padded sizes (``(B, F)``)."""
        return tuple(self.atlas.shape[:2]) == (batch_size, max_num_faces)

    def faces_verts_textures_packed(self) -> jax.Array:
        """``(sum F, 3, C)``: the atlas cells at each face's corners (``v0``: barycentrics
        (1, 0), ``v1``: (0, 1), ``v2``: (0, 0); PyTorch3D's cells). Needs concrete lengths."""
        a = self.atlas_packed()
        return jnp.stack([a[:, 0, -1], a[:, -1, 0], a[:, 0, 0]], axis=1)

    def submeshes(self, vertex_ids_list, faces_ids_list) -> TexturesAtlas:
        """Textures of ``Meshes.submeshes``: the atlas cells of the faces each submesh keeps
        (``vertex_ids_list`` is unused)."""
        del vertex_ids_list
        atlas = self.atlas_list()
        ids = _ids_list(faces_ids_list, len(atlas), "faces_ids_list")
        return TexturesAtlas([atlas[b][f] for b, per in enumerate(ids) for f in per])

    def join_scene(self) -> TexturesAtlas:
        """One item holding every mesh's face textures, in packed order."""
        return TexturesAtlas([self.atlas_packed()])

    def sample_textures(self, fragments, meshes=None, **kwargs) -> jax.Array:
        """(N, H, W, K, C) texels: the atlas cell of each fragment's face picked from its
        barycentrics (PyTorch3D's rule); 0 where empty. ``meshes`` is unused."""
        return _sample_atlas(self, fragments)


# ----------------------------------------------------------------------------------- sampling


def pix_to_padded_face(pix_to_face: jax.Array, num_faces: jax.Array, max_faces: int) -> jax.Array:
    """Packed face indices -> flat padded indices into ``(N * F, ...)`` face arrays.

    Args:
        pix_to_face: (N, H, W, K) int32 packed face index of meshes with ``num_faces``
            (image ``n`` only sees mesh ``n``), -1 where empty.
        num_faces: (N,) int32 faces per mesh.
        max_faces: F, the padded face count.

    Returns:
        (N, H, W, K) int32: ``n * F + (pix_to_face - first_face[n])``, -1 where empty.
    """
    first = jnp.cumsum(num_faces) - num_faces
    n = jnp.arange(pix_to_face.shape[0], dtype=jnp.int32).reshape(-1, 1, 1, 1)
    padded = n * max_faces + (pix_to_face - first.astype(jnp.int32)[n])
    return jnp.where(pix_to_face >= 0, padded, -1)


def _face_gather(values: jax.Array, faces: jax.Array) -> jax.Array:
    """``values (N, V, C)``, ``faces (N, F, 3)`` (-1 padding) -> ``(N * F, 3, C)``."""
    n, f = faces.shape[:2]
    idx = jnp.clip(faces, 0, values.shape[1] - 1).reshape(n, f * 3, 1)
    out = jnp.take_along_axis(values, idx, axis=1)
    return out.reshape(n * f, 3, values.shape[-1])


def _interp_padded(fragments, values, faces, num_faces) -> jax.Array:
    """Per-vertex ``values (N, V, C)`` interpolated at the fragments -> (N, H, W, K, C)."""
    from jax3d.ops.interpolate_face_attributes import interpolate_face_attributes

    idx = pix_to_padded_face(fragments.pix_to_face, num_faces, faces.shape[1])
    return interpolate_face_attributes(idx, fragments.bary_coords, _face_gather(values, faces))


def _check_fragments(textures, fragments):
    p2f = getattr(fragments, "pix_to_face", None)
    if p2f is None or p2f.ndim != 4:
        raise ValueError("fragments must be Fragments with pix_to_face (N, H, W, K)")
    if p2f.shape[0] != len(textures):
        raise ValueError(f"fragments hold {p2f.shape[0]} images but the textures "
                         f"{len(textures)} meshes")  # fmt: skip


def _sample_vertex(tex: TexturesVertex, fragments, meshes, faces_packed) -> jax.Array:
    _check_fragments(tex, fragments)
    if meshes is not None:
        faces = meshes.faces_padded()
        return _interp_padded(fragments, tex.verts_features, faces, meshes.num_faces_per_mesh())
    if faces_packed is None:
        raise ValueError("TexturesVertex.sample_textures needs meshes= or faces_packed=")
    from jax3d.ops.interpolate_face_attributes import interpolate_face_attributes

    attrs = tex.verts_features_packed()[jnp.asarray(faces_packed, jnp.int32)]
    return interpolate_face_attributes(fragments.pix_to_face, fragments.bary_coords, attrs)


def _sample_uv(tex: TexturesUV, fragments) -> jax.Array:
    _check_fragments(tex, fragments)
    uvs = _interp_padded(fragments, tex.verts_uvs, tex.faces_uvs, tex.num_faces)
    texels = sample_uv_maps(tex.maps, uvs, align_corners=tex.align_corners,
                            padding_mode=tex.padding_mode, sampling_mode=tex.sampling_mode)
    return jnp.where((fragments.pix_to_face >= 0)[..., None], texels, 0.0)


def _reflect(x: jax.Array, lo: float, hi: float) -> jax.Array:
    """Reflect ``x`` into ``[lo, hi]`` (``grid_sample``'s reflection padding)."""
    span = hi - lo
    if span <= 0:
        return jnp.zeros_like(x)
    d = jnp.abs(x - lo)
    flips = jnp.floor(d / span)
    extra = d - flips * span
    return jnp.where(jnp.mod(flips, 2) == 0, lo + extra, hi - extra)


def _source_coord(t: jax.Array, size: int, align_corners: bool, padding_mode: str):
    """Texture coordinate ``t`` in [0, 1] (0 = first pixel side) -> pixel coordinate."""
    x = t * (size - 1) if align_corners else t * size - 0.5
    if padding_mode == "border":
        x = jnp.clip(x, 0.0, size - 1.0)
    elif padding_mode == "reflection":
        x = _reflect(x, 0.0, size - 1.0) if align_corners else _reflect(x, -0.5, size - 0.5)
        x = jnp.clip(x, 0.0, size - 1.0)
    return x


def sample_uv_maps(
    maps: jax.Array,
    uvs: jax.Array,
    *,
    align_corners: bool = True,
    padding_mode: str = "border",
    sampling_mode: str = "bilinear",
) -> jax.Array:
    """Sample image ``n`` of ``maps`` at ``uvs[n]`` like ``grid_sample(flip(map), 2 uv - 1)``.

    ``u`` runs along the columns, ``v`` from the bottom row (v = 0) to the top row (v = 1).

    Args:
        maps: (N, Hm, Wm, C) float32.
        uvs: (N, ..., 2) float32 texture coordinates.
        align_corners, padding_mode ('zeros' | 'border' | 'reflection'), sampling_mode
            ('bilinear' | 'nearest'): ``torch.nn.functional.grid_sample``'s meanings.

    Returns:
        (N, ..., C) float32.
    """
    if padding_mode not in _PADDING_MODES or sampling_mode not in _SAMPLING_MODES:
        raise ValueError(f"bad padding_mode {padding_mode!r} or sampling_mode {sampling_mode!r}")
    n, hm, wm, _ = maps.shape
    x = _source_coord(uvs[..., 0], wm, align_corners, padding_mode)
    y = _source_coord(1.0 - uvs[..., 1], hm, align_corners, padding_mode)
    nidx = jnp.arange(n).reshape((n,) + (1,) * (uvs.ndim - 2))

    def tap(yi, xi, w):
        ok = (xi >= 0) & (xi <= wm - 1) & (yi >= 0) & (yi <= hm - 1)
        yc = jnp.clip(yi, 0, hm - 1).astype(jnp.int32)
        xc = jnp.clip(xi, 0, wm - 1).astype(jnp.int32)
        return maps[nidx, yc, xc] * (w * ok)[..., None]

    if sampling_mode == "nearest":
        return tap(jnp.round(y), jnp.round(x), jnp.ones_like(x))
    x0, y0 = jnp.floor(x), jnp.floor(y)
    wx, wy = x - x0, y - y0
    return (tap(y0, x0, (1 - wx) * (1 - wy)) + tap(y0, x0 + 1, wx * (1 - wy))
            + tap(y0 + 1, x0, (1 - wx) * wy) + tap(y0 + 1, x0 + 1, wx * wy))  # fmt: skip


def _sample_atlas(tex: TexturesAtlas, fragments) -> jax.Array:
    _check_fragments(tex, fragments)
    n, f, r = tex.atlas.shape[:3]
    p2f = pix_to_padded_face(fragments.pix_to_face, tex.num_faces, f)
    empty = (p2f < 0)[..., None]
    w01 = jnp.where(empty, 0.0, fragments.bary_coords[..., :2])
    wxy = (w01 * r).astype(jnp.int32)  # truncation toward 0, like .to(int64)
    below = jnp.sum(w01, -1) * r - jnp.sum(wxy, -1).astype(jnp.float32) <= 1.0
    wx = jnp.clip(jnp.where(below, wxy[..., 0], r - 1 - wxy[..., 0]), 0, r - 1)
    wy = jnp.clip(jnp.where(below, wxy[..., 1], r - 1 - wxy[..., 1]), 0, r - 1)
    flat = tex.atlas.reshape(n * f, r, r, -1)
    texels = flat[jnp.maximum(p2f, 0), wy, wx]
    return jnp.where(empty, 0.0, texels)


def sample_textures(fragments, meshes) -> jax.Array:
    """Texels of ``meshes.textures`` at ``fragments`` (PyTorch3D's ``meshes.sample_textures``).

    Args:
        fragments: ``Fragments`` (N, H, W, K) of ``meshes``.
        meshes: ``Meshes`` (N meshes) carrying a ``TexturesVertex``, ``TexturesUV`` or
            ``TexturesAtlas``.

    Returns:
        (N, H, W, K, C) float32, 0 where ``pix_to_face`` is -1.
    """
    textures = getattr(meshes, "textures", None)
    if textures is None:
        raise ValueError("meshes have no textures to sample (pass textures= to Meshes)")
    if not hasattr(textures, "sample_textures"):
        raise TypeError(f"{type(textures).__name__} cannot be sampled")
    return textures.sample_textures(fragments, meshes=meshes)


def Textures(maps=None, faces_uvs=None, verts_uvs=None, verts_rgb=None):  # noqa: N802
    """PyTorch3D's deprecated ``Textures``: a ``TexturesUV`` from ``maps``, ``faces_uvs`` and
    ``verts_uvs`` (all three), else a ``TexturesVertex`` from ``verts_rgb``.

    Raises:
        ValueError: neither a complete UV triple nor ``verts_rgb`` is given.
    """
    warnings.warn("Textures is deprecated, use TexturesUV, TexturesAtlas or TexturesVertex",
                  PendingDeprecationWarning, stacklevel=2)  # fmt: skip
    if maps is not None and faces_uvs is not None and verts_uvs is not None:
        return TexturesUV(maps=maps, faces_uvs=faces_uvs, verts_uvs=verts_uvs)
    if verts_rgb is not None:
        return TexturesVertex(verts_features=verts_rgb)
    raise ValueError("Textures needs all three of (maps, faces_uvs, verts_uvs), or verts_rgb")
