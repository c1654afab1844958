"""Fast, strict parsing of Wavefront OBJ text into NumPy arrays.

Lines are first bucketed by keyword (``v``, ``vt``, ``vn``, ``f``, ``usemtl``, ``mtllib``);
each bucket is then converted in bulk with NumPy. When a bulk conversion fails, the bucket is
walked line by line only to name the offending line in a ``ValueError``. Other keywords
(``o``, ``g``, ``s``, ``l``, ``p``, ``mg``, ``vp``, ...) and ``#`` comments are ignored.
"""

from __future__ import annotations

import re
from itertools import chain
from typing import NamedTuple

import numpy as np

from jax3d.io.utils import file_error

_KEYWORDS = ("v", "vt", "vn", "f", "usemtl", "mtllib")
# One parsed line: keyword, then the rest up to a comment. Other keywords do not match.
_LINE = re.compile(r"^[ \t]*(vt|vn|v|f|usemtl|mtllib)(?=[ \t#]|$)([^\n#]*)", re.M)
_INT = r"[+-]?\d{1,18}"
# Fast-path face layouts: regex over all corners joined by spaces -> components per corner.
_FACE_LAYOUTS = (
    (re.compile(rf"{_INT}(?: {_INT})*"), ("v",)),
    (re.compile(rf"{_INT}/{_INT}(?: {_INT}/{_INT})*"), ("v", "vt")),
    (re.compile(rf"{_INT}/{_INT}/{_INT}(?: {_INT}/{_INT}/{_INT})*"), ("v", "vt", "vn")),
    (re.compile(rf"{_INT}//{_INT}(?: {_INT}//{_INT})*"), ("v", "vn")),
)


class ObjArrays(NamedTuple):
    """Everything geometric in an OBJ file, 0-based, fan-triangulated.

    verts (V, 3) float32; normals (N, 3) float32; verts_uvs (T, 2) float32;
    faces_verts / faces_normals / faces_uvs (F, 3) int32 (-1 where absent);
    faces_materials (F,) int32 index into ``material_names`` (-1 before any ``usemtl``);
    material_names: names in order of first ``usemtl``; mtllibs: file names after ``mtllib``.
    """

    verts: np.ndarray
    normals: np.ndarray
    verts_uvs: np.ndarray
    faces_verts: np.ndarray
    faces_normals: np.ndarray
    faces_uvs: np.ndarray
    faces_materials: np.ndarray
    material_names: list
    mtllibs: list


class LineTable:
    """Maps the ordinal of a keyword line (its rank among all parsed lines) to its line number.

    Computed lazily: only error messages need line numbers.
    """

    def __init__(self, text: str, source: str):
        self.text = text
        self.source = source
        self._lines = None

    def fail(self, ordinal, message: str) -> ValueError:
        """``ValueError`` naming the file and the line of the ``ordinal``-th parsed line."""
        return file_error(self.source, f"line {self(ordinal)}", message)

    def __call__(self, ordinal) -> int:
        if self._lines is None:
            starts = [m.start() for m in _LINE.finditer(self.text)]
            newlines = np.flatnonzero(np.frombuffer(self.text.encode("utf-32-le"), np.uint32) == 10)
            self._lines = np.searchsorted(newlines, np.asarray(starts, np.int64)) + 1
        return int(self._lines[int(ordinal)])


def bucket_lines(text: str) -> dict[str, tuple[list[int], list[str]]]:
    """``{keyword: (ordinals, rest of each line)}`` for the keywords we parse (see LineTable)."""
    buckets = {k: ([], []) for k in _KEYWORDS}
    for i, (key, rest) in enumerate(_LINE.findall(text)):
        b = buckets[key]
        b[0].append(i)
        b[1].append(rest)
    return buckets


def parse_float_rows(linenos, rests, keyword, cols, ctx, *, min_tok, max_tok):
    """Rows of ``keyword`` lines as ``(N, cols) float32``; missing trailing values are 0.

    Each line must hold between ``min_tok`` and ``max_tok`` numbers; only the first ``cols``
    are kept. Values must be finite in float32.
    """
    split = [r.split() for r in rests]
    counts = np.fromiter(map(len, split), dtype=np.int64, count=len(split))
    bad = (counts < min_tok) | (counts > max_tok)
    if bad.any():
        i = int(np.argmax(bad))
        want = str(min_tok) if min_tok == max_tok else f"{min_tok} to {max_tok}"
        raise ctx.fail(linenos[i], f"'{keyword}' needs {want} numbers, got {counts[i]}")
    if len(split) == 0:
        return np.zeros((0, cols), np.float32)
    if np.all(counts == cols):
        flat = list(chain.from_iterable(split))
    else:
        flat = list(chain.from_iterable((s + ["0"] * cols)[:cols] for s in split))
    try:
        arr = np.array(flat, dtype=np.float64).reshape(-1, cols)
    except (ValueError, OverflowError):
        _raise_first_bad_number(linenos, split, cols, keyword, ctx)
        raise  # pragma: no cover - the helper always raises
    with np.errstate(over="ignore"):
        arr32 = arr.astype(np.float32)
    finite = np.isfinite(arr32).all(axis=1)
    if not finite.all():
        i = int(np.argmin(finite))
        raise ctx.fail(linenos[i], f"'{keyword}' value is NaN or out of float32 range")
    return arr32


def _raise_first_bad_number(linenos, split, cols, keyword, ctx):
    for lineno, toks in zip(linenos, split):
        for tok in toks[:cols]:
            try:
                float(tok)
            except (ValueError, OverflowError):
                raise ctx.fail(lineno, f"malformed number {tok!r} in '{keyword}' line") from None
    raise ctx.fail(linenos[0], f"malformed '{keyword}' data")


def parse_faces(linenos, rests, ctx):
    """Corners of all ``f`` lines.

    Returns:
      counts (F_poly,) int64 corners per polygon; corners (sum counts, 3) int64 with columns
      (v, vt, vn) as written in the file (1-based or negative; 0 means "absent");
      corner_lines (sum counts,) int64 line numbers.
    """
    split = [r.split() for r in rests]
    counts = np.fromiter(map(len, split), dtype=np.int64, count=len(split))
    if (counts < 3).any():
        i = int(np.argmax(counts < 3))
        raise ctx.fail(linenos[i], f"face needs at least 3 vertices, got {counts[i]}")
    corner_lines = np.repeat(np.asarray(linenos, np.int64), counts)
    tokens = list(chain.from_iterable(split))
    joined = " ".join(tokens)
    for pattern, layout in _FACE_LAYOUTS:
        if pattern.fullmatch(joined):
            vals = np.array(joined.replace("/", " ").split(), dtype=np.int64)
            vals = vals.reshape(-1, len(layout))
            if (vals == 0).any():
                i = int(np.argmax((vals == 0).any(axis=1)))
                raise ctx.fail(corner_lines[i], "face index 0 (OBJ is 1-based)")
            corners = np.zeros((len(tokens), 3), np.int64)
            for j, name in enumerate(layout):
                corners[:, ("v", "vt", "vn").index(name)] = vals[:, j]
            return counts, corners, corner_lines
    return counts, _parse_corners_slow(split, linenos, ctx), corner_lines


def _parse_corners_slow(split, linenos, ctx):
    """Corner-by-corner parse of mixed layouts, with per-line errors."""
    rows = []
    for lineno, toks in zip(linenos, split):
        face_rows = []
        for tok in toks:
            parts = tok.split("/")
            if len(parts) > 3:
                raise ctx.fail(lineno, f"face corner {tok!r} has > 3 fields")
            row = [0, 0, 0]
            for j, p in enumerate(parts):
                if p == "" and j > 0:
                    continue
                try:
                    val = int(p)
                except ValueError:
                    raise ctx.fail(lineno, f"malformed face index {p!r} in {tok!r}") from None
                if val == 0:
                    raise ctx.fail(lineno, "face index 0 (OBJ is 1-based)")
                if abs(val) >= 1 << 62:
                    raise ctx.fail(lineno, f"face index {p} out of range")
                row[j] = val
            face_rows.append(row)
        arr = np.array(face_rows, np.int64)
        for j, name in ((1, "texture"), (2, "normal")):
            has = arr[:, j] != 0
            if has.any() and not has.all():
                raise ctx.fail(lineno, f"face gives {name} indices for some corners only")
        rows.append(arr)
    return np.concatenate(rows, axis=0) if rows else np.zeros((0, 3), np.int64)


def resolve_indices(raw, corner_lines, def_lines, total, what, ctx):
    """OBJ indices -> 0-based: ``i > 0`` is ``i - 1``; ``i < 0`` counts back from the number of
    ``what`` defined before that line; 0 (absent) gives -1. Out-of-range raises ValueError."""
    before = np.searchsorted(np.asarray(def_lines, np.int64), corner_lines)
    out = np.where(raw > 0, raw - 1, before + raw)
    present = raw != 0
    bad = present & ((out < 0) | (out >= total))
    if bad.any():
        i = int(np.argmax(bad))
        raise ctx.fail(
            corner_lines[i],
            f"{what} index {raw[i]} out of range ({total} defined)",
        )
    return np.where(present, out, -1)


def fan_triangulate(counts: np.ndarray) -> np.ndarray:
    """Corner indices ``(T, 3)`` of the fan triangulation ``(0, i, i+1)`` of each polygon."""
    starts = np.cumsum(counts) - counts
    ntri = counts - 2
    poly = np.repeat(np.arange(len(counts)), ntri)
    j = np.arange(int(ntri.sum())) - np.repeat(np.cumsum(ntri) - ntri, ntri)
    a = starts[poly]
    return np.stack([a, a + j + 1, a + j + 2], axis=1)


def parse_obj_text(text: str, source: str) -> ObjArrays:
    """Parse the text of an OBJ file (see module docstring) into ``ObjArrays``."""
    b = bucket_lines(text)
    ctx = LineTable(text, source)
    verts = parse_float_rows(*b["v"], "v", 3, ctx, min_tok=3, max_tok=7)
    normals = parse_float_rows(*b["vn"], "vn", 3, ctx, min_tok=3, max_tok=3)
    uvs = parse_float_rows(*b["vt"], "vt", 2, ctx, min_tok=1, max_tok=3)
    counts, corners, corner_lines = parse_faces(*b["f"], ctx)
    v = resolve_indices(corners[:, 0], corner_lines, b["v"][0], len(verts), "vertex", ctx)
    vt = resolve_indices(corners[:, 1], corner_lines, b["vt"][0], len(uvs), "texture", ctx)
    vn = resolve_indices(corners[:, 2], corner_lines, b["vn"][0], len(normals), "normal", ctx)
    tri = fan_triangulate(counts)
    names, mat_of_line = _materials(b["usemtl"], ctx)
    poly_lines = np.asarray(b["f"][0], np.int64)
    k = np.searchsorted(np.asarray(b["usemtl"][0], np.int64), poly_lines) - 1
    if len(mat_of_line):
        poly_mat = np.where(k >= 0, mat_of_line[np.maximum(k, 0)], -1)
    else:
        poly_mat = np.full(len(poly_lines), -1, np.int64)
    poly_of_tri = np.repeat(np.arange(len(counts)), counts - 2)
    mtllibs = []
    for lineno, rest in zip(*b["mtllib"]):
        if not rest.strip():
            raise ctx.fail(lineno, "'mtllib' without a file name")
        mtllibs.extend(rest.split())
    return ObjArrays(
        verts=verts,
        normals=normals,
        verts_uvs=uvs,
        faces_verts=v[tri].astype(np.int32).reshape(-1, 3),
        faces_normals=vn[tri].astype(np.int32).reshape(-1, 3),
        faces_uvs=vt[tri].astype(np.int32).reshape(-1, 3),
        faces_materials=np.asarray(poly_mat, np.int32)[poly_of_tri],
        material_names=names,
        mtllibs=mtllibs,
    )


def _materials(usemtl, ctx):
    """Material names in order of first use, and the name index of each ``usemtl`` line."""
    names: list[str] = []
    index: dict[str, int] = {}
    per_line = []
    for lineno, rest in zip(*usemtl):
        name = rest.strip()
        if not name:
            raise ctx.fail(lineno, "'usemtl' without a material name")
        if name not in index:
            index[name] = len(names)
            names.append(name)
        per_line.append(index[name])
    return names, np.asarray(per_line, np.int64)
