"""Loading and saving PLY meshes and point clouds (PyTorch3D's ``load_ply`` / ``save_ply``)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jax3d.io.files import MAX_FILE_BYTES, read_limited
from jax3d.io.obj_parse import fan_triangulate
from jax3d.io.ply_read import PlyTable, read_ply_tables
from jax3d.io.utils import as_numpy, describe, file_error, no_path_manager, open_for_writing

_COLOUR_NAMES = (("red", "green", "blue", "alpha"), ("r", "g", "b", "a"))
_FACE_LISTS = ("vertex_indices", "vertex_index")


class PlyMesh(NamedTuple):
    """Everything a PLY file says about a mesh or a point cloud.

    verts: (V, 3) float32. faces: (F, 3) int32 (polygons fan-triangulated), or None when the
    file has no ``face`` element. normals: (V, 3) float32 from ``nx ny nz`` or None.
    colors: (V, 3) float32 in [0, 1] from ``red green blue`` (integer types are divided by
    their maximum, e.g. uchar by 255; floats are kept), or None. alpha: (V,) float32 likewise,
    or None. elements: ``{name: count}`` of every element in the file, unknown ones included.
    """

    verts: np.ndarray
    faces: np.ndarray | None
    normals: np.ndarray | None
    colors: np.ndarray | None
    alpha: np.ndarray | None
    elements: dict


def read_ply(f, *, max_bytes: int = MAX_FILE_BYTES) -> PlyMesh:
    """Read a PLY file (ascii, binary little or big endian) from untrusted input.

    Elements may come in any order; unknown elements and properties are skipped. The vertex
    element needs ``x y z``; faces come from the list ``vertex_indices`` (or
    ``vertex_index``) of the ``face`` element, of any length and integer type.

    Args:
      f: a path or a binary file object.
      max_bytes: largest file read, in bytes (default 1 GiB); a path must name a regular
        file (not a FIFO, device or directory).

    Returns:
      A ``PlyMesh``.

    Raises:
      ValueError: naming the file and the line (ascii) or byte offset (binary): bad header,
        unknown property type, declared counts larger than the data (checked before
        allocating), truncated data, malformed numbers, faces with fewer than 3 vertices or
        out-of-range or non-integer indices, NaN or infinite coordinates; naming the file, for
        a special file or one larger than ``max_bytes``.
    """
    source = describe(f)
    data = read_limited(f, max_bytes=max_bytes, what="PLY file")
    header, tables = read_ply_tables(data, source)
    if "vertex" not in tables:
        raise file_error(source, "header", "no 'vertex' element")
    vt = tables["vertex"]
    verts = _columns(vt, ("x", "y", "z"), source, required=True)
    normals = _columns(vt, ("nx", "ny", "nz"), source, required=False)
    colors = alpha = None
    for names in _COLOUR_NAMES:
        colors = _columns(vt, names[:3], source, required=False, normalise=True)
        if colors is not None:
            if names[3] in vt.scalars:
                alpha = _columns(vt, names[3:], source, required=True, normalise=True)[:, 0]
            break
    faces = _faces(tables["face"], len(verts), source) if "face" in tables else None
    counts = {el.name: el.count for el in header.elements}
    return PlyMesh(verts, faces, normals, colors, alpha, counts)


def _columns(table: PlyTable, names, source, *, required: bool, normalise: bool = False):
    """``(N, len(names)) float32`` of scalar properties; None (or an error) when absent."""
    missing = [n for n in names if n not in table.scalars]
    if missing:
        if required:
            raise file_error(source, "header", f"vertex element lacks property {missing[0]!r}")
        return None
    cols = []
    for n in names:
        col = table.scalars[n]
        scale = np.iinfo(col.dtype).max if normalise and col.dtype.kind in "iu" else 1.0
        cols.append(col.astype(np.float64) / scale)
    out = np.stack(cols, axis=1).astype(np.float32)
    finite = np.isfinite(out).all(axis=1)
    if not finite.all():
        i = int(np.argmin(finite))
        raise file_error(source, table.locate(i), f"{'/'.join(names)} is NaN or out of range")
    return out


def _faces(table: PlyTable, num_verts: int, source: str) -> np.ndarray:
    """Fan-triangulated ``(F, 3) int32`` faces of the ``face`` element."""
    name = next((n for n in _FACE_LISTS if n in table.lists), None)
    if name is None:
        if len(table.where) == 0:
            return np.zeros((0, 3), np.int32)
        raise file_error(source, "header", "face element has no 'vertex_indices' list")
    lengths, items = table.lists[name]
    short = lengths < 3
    if short.any():
        i = int(np.argmax(short))
        raise file_error(
            source, table.locate(i), f"face has {lengths[i]} vertices, at least 3 needed"
        )
    if items.dtype.kind == "f":  # a float list: its values must be whole numbers
        whole = np.isfinite(items) & (items == np.round(items))
        if not whole.all():
            row = int(np.searchsorted(np.cumsum(lengths), int(np.argmin(whole)), side="right"))
            raise file_error(source, table.locate(row), "face index is not an integer")
        items = np.clip(items, -1, num_verts)  # out-of-range values stay out of range
    items = items.astype(np.int64)
    bad = (items < 0) | (items >= num_verts)
    if bad.any():
        row = int(np.searchsorted(np.cumsum(lengths), int(np.argmax(bad)), side="right"))
        raise file_error(
            source, table.locate(row), f"face index out of range ({num_verts} vertices)"
        )
    return items[fan_triangulate(lengths)].astype(np.int32).reshape(-1, 3)


def load_ply(f, *, path_manager=None, max_bytes: int = MAX_FILE_BYTES):
    """Load a PLY mesh as ``(verts (V, 3) float32, faces (F, 3) int32)`` NumPy arrays.

    Faces are ``(0, 3)`` for a point cloud. See ``read_ply`` for normals, colours, the size
    limit ``max_bytes`` and errors. ``path_manager`` must be None (PyTorch3D's iopath file
    systems are not supported).
    """
    no_path_manager(path_manager)
    mesh = read_ply(f, max_bytes=max_bytes)
    faces = mesh.faces if mesh.faces is not None else np.zeros((0, 3), np.int32)
    return mesh.verts, faces


def save_ply(
    f,
    verts,
    faces=None,
    verts_normals=None,
    ascii: bool = False,
    decimal_places: int | None = None,
    path_manager=None,
    *,
    verts_colors=None,
    big_endian: bool = False,
) -> None:
    """Save a mesh or point cloud as PLY.

    Args:
      f: a path or a writable binary file object.
      verts: (V, 3) float, written as float ``x y z``.
      faces: (F, 3) int in [0, V), written as ``list uchar int vertex_indices``; None writes
        no face element (a point cloud).
      verts_normals: (V, 3) float, written as float ``nx ny nz``.
      verts_colors: (V, 3) float (in [0, 1] by convention), written as float ``red green
        blue`` (as PyTorch3D), so they round-trip exactly.
      ascii: write ascii instead of binary.
      decimal_places: ascii only: digits after the point; None writes 9 significant digits
        (exact for float32).
      path_manager: must be None (PyTorch3D's iopath file systems are not supported).
      big_endian: binary only: ``binary_big_endian`` instead of little endian.

    Raises:
      ValueError / TypeError: bad shapes or dtypes, non-finite values, indices out of range.
    """
    no_path_manager(path_manager)
    verts = as_numpy(verts, "verts", ndim=2, last=3, kind="f")
    cols = [("x", verts[:, 0]), ("y", verts[:, 1]), ("z", verts[:, 2])]
    for arg, names in ((verts_normals, "nx ny nz"), (verts_colors, "red green blue")):
        if arg is not None:
            label = "verts_normals" if names.startswith("nx") else "verts_colors"
            arr = as_numpy(arg, label, ndim=2, last=3, kind="f")
            if len(arr) != len(verts):
                raise ValueError(f"{label} must have {len(verts)} rows, got {len(arr)}")
            cols += list(zip(names.split(), arr.T))
    if faces is not None:
        faces = as_numpy(faces, "faces", ndim=2, last=3, kind="i")
        if faces.size and (faces.min() < 0 or faces.max() >= len(verts)):
            raise ValueError(f"faces holds indices outside [0, {len(verts)})")
    fmt = "ascii" if ascii else ("binary_big_endian" if big_endian else "binary_little_endian")
    lines = ["ply", f"format {fmt} 1.0", "comment written by jax3d", f"element vertex {len(verts)}"]
    lines += [f"property float {name}" for name, _ in cols]
    if faces is not None:
        lines += [f"element face {len(faces)}", "property list uchar int vertex_indices"]
    head = ("\n".join(lines) + "\nend_header\n").encode("ascii")
    table = np.stack([c for _, c in cols], axis=1).astype(np.float32)
    body = (
        _ascii_body(table, faces, decimal_places)
        if ascii
        else _binary_body(table, faces, ">" if big_endian else "<")
    )
    with open_for_writing(f, binary=True) as fh:
        fh.write(head + body)


def _ascii_body(table, faces, decimal_places) -> bytes:
    from jax3d.io.utils import format_rows

    text = format_rows("", table, decimal_places)
    if faces is not None and len(faces):
        text += "\n".join(f"3 {a} {b} {c}" for a, b, c in faces.tolist()) + "\n"
    return text.encode("ascii")


def _binary_body(table, faces, order) -> bytes:
    out = table.astype(np.dtype(np.float32).newbyteorder(order)).tobytes()
    if faces is not None and len(faces):
        row = np.dtype([("n", np.uint8), ("idx", np.dtype(np.int32).newbyteorder(order), (3,))])
        rec = np.empty(len(faces), row)
        rec["n"] = 3
        rec["idx"] = faces
        out += rec.tobytes()
    return out
