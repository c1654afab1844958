"""Strict, streaming parsing of Wavefront OBJ bytes into NumPy arrays.

The file is cut at line ends into chunks of about ``CHUNK_BYTES``; each chunk is parsed with
vectorised NumPy over its bytes: lines are classified by keyword (``v``, ``vt``, ``vn``, ``f``,
``usemtl``, ``mtllib``; other keywords and ``#`` comments are ignored), the lines of each kind
are gathered, cut into tokens, checked, and converted by one ``np.fromstring`` per kind. Only
the compact results of a chunk (float32 coordinates, int32 triangle indices) are kept, so work
is linear in the file size and peak memory is the file, the results and one chunk's
temporaries. A line longer than a chunk is one chunk.

Errors name the file and the line. Positive face indices may refer to vertices defined later
in the file; they are checked against the totals at the end (the offending chunk is then
parsed again to name the line).
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

from jax3d.io.utils import file_error

CHUNK_BYTES = 1 << 18
# Distinct `mtllib` file names kept; more are counted and dropped (with a warning on load).
MAX_MTLLIBS = 64
# Line kinds.
_OTHER, _V, _VT, _VN, _F, _USEMTL, _MTLLIB = range(7)
_SP, _NL, _COMMA, _SLASH = b" \n,/"
_WHITESPACE = bytes.maketrans(b"\t\v\f", b"   ")
_COMMENT = re.compile(rb"#[^\n]*")
_LEADING = re.compile(rb"(?m)^ +")
_CR = re.compile(rb"\r\n?")
_PAD = b"\n" * 8
# One float as np.fromstring reads it; atomic groups keep the search linear in the token.
_FLOAT = (rb"[+-]?(?:(?>\d+(?:\.\d*)?|\.\d+)(?>[eE][+-]?\d+)?"
          rb"|(?i:nan(?:\([0-9a-z_]*\))?|inf(?:inity)?))")  # fmt: skip
# The first token that is not one float (what np.fromstring accepts), for error messages.
_BAD_FLOAT = re.compile(rb"(?<![^ \n])(?!" + _FLOAT + rb"(?![^ \n]))[^ \n]+")
_FACE_CHARS = np.zeros(256, bool)
_FACE_CHARS[list(b"0123456789+-/ \n")] = True
_INT32_MAX = np.iinfo(np.int32).max


class ObjArrays(NamedTuple):
    """Everything geometric in an OBJ file, 0-based, fan-triangulated.

    verts (V, 3) float32; normals (N, 3) float32; verts_uvs (T, 2) float32;
    faces_verts / faces_normals / faces_uvs (F, 3) int32 (-1 where absent);
    faces_materials (F,) int32 index into ``material_names`` (-1 before any ``usemtl``);
    material_names: names in order of first ``usemtl``; mtllibs: distinct file names after
    ``mtllib`` (at most ``MAX_MTLLIBS``); mtllibs_dropped: how many distinct names more.
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
    mtllibs_dropped: int = 0


class _Lines(NamedTuple):
    """One normalised chunk: ``text`` its bytes, ``buf`` them as uint8 (padded),
    ``starts``/``ends`` (newline) of each line, ``kind`` of each line, ``first`` the file line
    number of line 0."""

    text: bytes
    buf: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    kind: np.ndarray
    first: int


class _State:
    """What parsing has collected so far: counts, result parts, materials."""

    def __init__(self, source: str):
        self.source = source
        self.count = {_V: 0, _VT: 0, _VN: 0}
        self.floats = {_V: [], _VT: [], _VN: []}
        self.tris = []  # per chunk: (v, vt, vn) (T, 3) int32 and materials (T,) int32
        self.max_ref = []  # per chunk: (start, end, first line, state copy, max v, vt, vn)
        self.names: list[str] = []
        self.name_index: dict[str, int] = {}
        self.current = -1
        self.mtllibs: dict[str, None] = {}
        self.dropped: set[str] = set()

    def fail(self, line: int, message: str) -> ValueError:
        return file_error(self.source, f"line {line}", message)


def parse_obj_bytes(data: bytes, source: str) -> ObjArrays:
    """Parse the bytes of an OBJ file (see the module docstring) into ``ObjArrays``.

    Raises:
      ValueError: naming ``source`` and the line: malformed numbers, NaN or values outside
        float32, wrong numbers of values, faces with fewer than 3 corners, index 0, indices
        out of range, corners with more than 3 fields or giving uvs / normals for some
        corners of a face only, ``usemtl`` / ``mtllib`` without a name.
    """
    if b"\r" in data:
        data = _CR.sub(b"\n", data)
    st = _State(source)
    line, start = 1, 0
    while start < len(data):
        end = data.find(b"\n", start + CHUNK_BYTES)
        end = len(data) if end < 0 else end + 1
        snapshot = (dict(st.count), st.current)
        maxes = _parse_chunk(data[start:end], line, st)
        st.max_ref.append((start, end, line, snapshot, maxes))
        line += data.count(b"\n", start, end)
        start = end
    totals = tuple(st.count[k] for k in (_V, _VT, _VN))
    for start, end, first, snapshot, maxes in st.max_ref:
        if any(m > t for m, t in zip(maxes, totals)):  # name the line: parse the chunk again
            check = _State(source)
            check.count, check.current = dict(snapshot[0]), snapshot[1]
            check.names, check.name_index = list(st.names), dict(st.name_index)
            _parse_chunk(data[start:end], first, check, totals=totals)
    v, vt, vn, mat = (list(c) for c in zip(*st.tris)) if st.tris else ([], [], [], [])
    st.tris.clear()  # the column lists now hold the only references: _join frees as it goes
    sizes = [len(m) for m in mat]
    return ObjArrays(
        verts=_join(st.floats[_V], (0, 3), np.float32),
        normals=_join(st.floats[_VN], (0, 3), np.float32),
        verts_uvs=_join(st.floats[_VT], (0, 2), np.float32),
        faces_verts=_join(v, (0, 3), sizes=sizes),
        faces_uvs=_join(vt, (0, 3), sizes=sizes),
        faces_normals=_join(vn, (0, 3), sizes=sizes),
        faces_materials=_join(mat, (0,)),
        material_names=st.names,
        mtllibs=list(st.mtllibs),
        mtllibs_dropped=len(st.dropped),
    )


def _join(parts: list, empty_shape, dtype=np.int32, sizes=None) -> np.ndarray:
    """Concatenate ``parts`` into one new array, releasing each part once copied; a None part
    (a column no face of a chunk gives) is ``sizes[i]`` rows of -1."""
    sizes = [len(p) for p in parts] if sizes is None else sizes
    out = np.empty((sum(sizes),) + tuple(empty_shape[1:]), dtype)
    pos = 0
    for i, (p, n) in enumerate(zip(parts, sizes)):
        out[pos : pos + n] = -1 if p is None else p
        pos += n
        parts[i] = None
    parts.clear()
    return out


def _normalise(chunk: bytes) -> bytes:
    """Tabs to spaces, comments and leading spaces removed, a final newline (lines kept)."""
    chunk = chunk.translate(_WHITESPACE)
    if b"#" in chunk:
        chunk = _COMMENT.sub(b"", chunk)
    if chunk.startswith(b" ") or b"\n " in chunk:
        chunk = _LEADING.sub(b"", chunk)
    return chunk if chunk.endswith(b"\n") else chunk + b"\n"


def _split_lines(chunk: bytes, first: int) -> _Lines:
    """Line boundaries and keyword of every line of a normalised chunk."""
    n = len(chunk)
    buf = np.frombuffer(chunk + _PAD, np.uint8)
    ends = np.flatnonzero(buf[:n] == _NL)
    starts = np.empty_like(ends)
    starts[:1] = 0
    starts[1:] = ends[:-1] + 1
    c0, c1, c2 = buf[starts], buf[starts + 1], buf[starts + 2]
    sep1 = (c1 == _SP) | (c1 == _NL)
    sep2 = (c2 == _SP) | (c2 == _NL)
    kind = np.zeros(len(starts), np.uint8)
    is_v = c0 == ord("v")
    kind[is_v & sep1] = _V
    kind[is_v & (c1 == ord("t")) & sep2] = _VT
    kind[is_v & (c1 == ord("n")) & sep2] = _VN
    kind[(c0 == ord("f")) & sep1] = _F
    for i in np.flatnonzero((c0 == ord("u")) | (c0 == ord("m"))).tolist():
        word = chunk[starts[i] : starts[i] + 7]
        if word in (b"usemtl ", b"usemtl\n"):
            kind[i] = _USEMTL
        elif word in (b"mtllib ", b"mtllib\n"):
            kind[i] = _MTLLIB
    return _Lines(chunk, buf, starts, ends, kind, first)


def _parse_chunk(chunk: bytes, first: int, st: _State, totals=None):
    """Parse one chunk into ``st``; returns the largest positive (v, vt, vn) face indices.

    With ``totals`` (the final counts), positive indices are checked against them and the
    first one out of range raises (used to name the line of such an index).
    """
    lines = _split_lines(_normalise(chunk), first)
    kind = lines.kind
    for k, cols, lo, hi in ((_V, 3, 3, 7), (_VT, 2, 1, 3), (_VN, 3, 3, 3)):
        if totals is None and (kind == k).any():
            st.floats[k].append(_float_rows(lines, k, cols, lo, hi, st))
    before = {k: st.count[k] + np.cumsum(kind == k) - (kind == k) for k in (_V, _VT, _VN)}
    mats = _materials(lines, st)
    maxes = (0, 0, 0)
    if (kind == _F).any():
        maxes = _faces(lines, before, mats, st, totals)
    for k in (_V, _VT, _VN):
        st.count[k] += int(np.count_nonzero(kind == k))
    return maxes


def _gather(lines: _Lines, k: int, keyword_len: int):
    """Chunk line numbers of the lines of kind ``k``, their bytes (keyword blanked), and
    where each line starts in those bytes."""
    is_k = lines.kind == k
    sel = np.flatnonzero(is_k)
    lengths = lines.ends - lines.starts + 1
    gb = lines.buf[: int(lengths.sum())][np.repeat(is_k, lengths)]
    sel_len = lengths[sel]
    gstarts = np.cumsum(sel_len) - sel_len
    gb[gstarts[:, None] + np.arange(keyword_len)] = _SP
    return sel, gb, gstarts


def _tokens(gb: np.ndarray, gstarts: np.ndarray):
    """Token starts and ends (exclusive), tokens per line, and the separator mask of gathered
    bytes (tokens are separated by spaces and newlines)."""
    sep = (gb == _SP) | (gb == _NL)  # gb starts with a blanked keyword, ends with a newline
    word = ~sep
    starts = np.flatnonzero(word[1:] & sep[:-1]) + 1
    ends = np.flatnonzero(sep[1:] & word[:-1]) + 1
    counts = np.diff(np.searchsorted(starts, gstarts), append=len(starts))
    return starts, ends, counts, sep


def _line_of(gstarts: np.ndarray, pos) -> int:
    """Index of the gathered line holding byte ``pos``."""
    return int(np.searchsorted(gstarts, pos, side="right") - 1)


def _token_at(gb: np.ndarray, pos: int) -> str:
    end = pos
    while end < len(gb) and gb[end] not in (_SP, _NL) and end - pos < 40:
        end += 1
    return gb[pos:end].tobytes().decode("utf-8", errors="replace")


def _float_rows(lines: _Lines, k, cols, lo, hi, st: _State) -> np.ndarray:
    """``(N, cols) float32`` of the ``v`` / ``vt`` / ``vn`` lines; missing values are 0."""
    keyword = {_V: "v", _VT: "vt", _VN: "vn"}[k]
    sel, gb, gstarts = _gather(lines, k, len(keyword))
    tok, _, counts, sep = _tokens(gb, gstarts)
    bad = (counts < lo) | (counts > hi)
    if bad.any():
        i = int(np.argmax(bad))
        want = str(lo) if lo == hi else f"{lo} to {hi}"
        message = f"'{keyword}' needs {want} numbers, got {counts[i]}"
        raise st.fail(lines.first + int(sel[i]), message)
    text = gb.copy()
    text[sep] = _SP
    text[tok[1:] - 1] = _COMMA  # exactly one comma between tokens: each must be one number
    try:
        vals = np.fromstring(text.tobytes(), dtype=np.float64, sep=",")
    except ValueError:
        vals = None
    if vals is None or len(vals) != len(tok):
        m = _BAD_FLOAT.search(gb.tobytes())
        pos = m.start() if m else int(tok[0])
        i = int(np.searchsorted(gstarts, pos, side="right") - 1)
        what = f"malformed number {m.group().decode('utf-8', 'replace')[:40]!r}" if m else \
            "malformed number"  # fmt: skip
        raise st.fail(lines.first + int(sel[i]), f"{what} in '{keyword}' line")
    first_tok = np.cumsum(counts) - counts
    if np.all(counts == cols):
        rows = vals.reshape(-1, cols)
    else:
        idx = first_tok[:, None] + np.arange(cols)
        rows = np.where(np.arange(cols) < counts[:, None], vals[np.minimum(idx, len(vals) - 1)], 0)
    with np.errstate(over="ignore", invalid="ignore"):
        out = rows.astype(np.float32)
    finite = np.isfinite(out).all(axis=1)
    if not finite.all():
        i = int(np.argmin(finite))
        message = f"'{keyword}' value is NaN or out of float32 range"
        raise st.fail(lines.first + int(sel[i]), message)
    return out


def _materials(lines: _Lines, st: _State) -> np.ndarray:
    """Material index in effect at each line (``usemtl`` lines set it); ``mtllib`` names."""
    kind = lines.kind
    special = np.flatnonzero((kind == _USEMTL) | (kind == _MTLLIB))
    if not len(special):
        return np.full(len(kind), st.current, np.int64)
    at = np.full(len(kind), -2, np.int64)  # -2: no usemtl on this line
    text = lines.text
    spans = zip(special.tolist(), lines.starts[special].tolist(), lines.ends[special].tolist())
    for i, start, end in spans:
        rest = text[start + 6 : end].decode("utf-8", "replace")
        if text[start] == ord("u"):  # usemtl
            name = rest.strip()
            if not name:
                raise st.fail(lines.first + i, "'usemtl' without a material name")
            if name not in st.name_index:
                st.name_index[name] = len(st.names)
                st.names.append(name)
            at[i] = st.name_index[name]
            continue
        if not rest.strip():
            raise st.fail(lines.first + i, "'mtllib' without a file name")
        names = [n for n in dict.fromkeys(rest.split()) if n not in st.mtllibs]
        room = max(MAX_MTLLIBS - len(st.mtllibs), 0)
        st.mtllibs.update(dict.fromkeys(names[:room]))
        st.dropped.update(names[room:])
    is_use = at >= 0
    idx = np.maximum.accumulate(np.where(is_use, np.arange(len(kind)), -1))
    mats = np.where(idx >= 0, at[np.maximum(idx, 0)], st.current)
    st.current = int(mats[-1])
    return mats


def _faces(lines: _Lines, before, mats, st: _State, totals):
    """Triangles of the ``f`` lines into ``st.tris``; 1 + the largest positive indices."""
    sel, gb, gstarts = _gather(lines, _F, 1)
    tok, tok_end, counts, sep = _tokens(gb, gstarts)
    line_no = lines.first + sel  # file line of each face line

    def fail(t, message):  # an error on the line of token t
        return st.fail(int(line_no[_line_of(gstarts, tok[t])]), message)

    short = counts < 3
    if short.any():
        i = int(np.argmax(short))
        raise st.fail(int(line_no[i]), f"face needs at least 3 vertices, got {counts[i]}")
    corners = _corners(gb, tok, tok_end, sep, fail)
    first_tok = np.cumsum(counts) - counts
    for j, name in ((1, "texture"), (2, "normal")):
        has = corners[j] != 0 if corners[j] is not None else None
        if has is not None and not has.all():
            has = has.view(np.int8)
            mixed = np.minimum.reduceat(has, first_tok) != np.maximum.reduceat(has, first_tok)
            if mixed.any():
                i = int(np.argmax(mixed))
                raise st.fail(int(line_no[i]), f"face gives {name} indices for some corners only")
    all_triangles = bool((counts == 3).all())
    tri = None if all_triangles else fan_triangulate(counts)
    maxes, resolved = [], []
    for j, (k, what) in enumerate(((_V, "vertex"), (_VT, "texture"), (_VN, "normal"))):
        if corners[j] is None:  # rows of -1, made when the chunks are joined
            maxes.append(0)
            resolved.append(None)
            continue
        out, top = _resolve(corners[j], before[k][sel], counts, what, totals, j, fail)
        maxes.append(top)
        resolved.append(out.reshape(-1, 3) if all_triangles else out[tri])
    mat = mats[sel].astype(np.int32)
    mat = mat if all_triangles else np.repeat(mat, counts - 2)
    st.tris.append(tuple(resolved) + (mat,))
    return tuple(maxes)


def _resolve(raw, before_line, counts, what, totals, j, fail):
    """0-based int32 indices of one column of corners (-1 where absent), and 1 + the
    largest positive index. ``before_line``: how many were defined before each face line."""
    pos = raw > 0
    if pos.all():
        out = raw - 1
    elif not (raw < 0).any():
        out = np.where(pos, raw - 1, -1)
    else:
        base = np.repeat(before_line, counts)
        out = np.where(pos, raw - 1, np.where(raw < 0, base + raw, -1))
        neg = (raw < 0) & (out < 0)
        if neg.any():
            t = int(np.argmax(neg))
            raise fail(t, f"{what} index {raw[t]} out of range ({base[t]} defined before "
                       "this line)")  # fmt: skip
    limit = _INT32_MAX if totals is None else totals[j]
    top = int(out.max()) + 1 if pos.any() else 0
    if top > limit:
        t = int(np.argmax(pos & (out >= limit)))
        defined = f"{limit} defined" if totals is not None else "too large"
        raise fail(t, f"{what} index {raw[t]} out of range ({defined})")
    return out.astype(np.int32), top


def _corners(gb, tok, tok_end, sep, fail) -> list:
    """``[v, vt, vn]``: ``(tokens,) int64`` of each face corner as written, 0 where absent;
    None for a column that no corner of the chunk gives."""
    bad = ~_FACE_CHARS[gb]
    sign = (gb == ord("+")) | (gb == ord("-"))
    slash = gb == _SLASH
    digit = (gb >= ord("0")) & (gb <= ord("9"))
    field_sep = sep | slash
    sign_pos = np.flatnonzero(sign)  # a sign must start a field and be followed by a digit
    bad[sign_pos[~field_sep[sign_pos - 1] | ~digit[sign_pos + 1]]] = True
    if bad.any():
        t = int(np.searchsorted(tok, np.argmax(bad), side="right") - 1)
        raise fail(t, f"malformed face index in {_token_at(gb, int(tok[t]))!r}")
    has_slash = bool(slash.any())
    numchar = digit | sign  # false at both ends (a space, a newline)
    nstart = np.flatnonzero(numchar[1:] & ~numchar[:-1]) + 1
    nend = np.flatnonzero(~numchar[1:] & numchar[:-1]) + 1
    # without slashes each token is one number; else find each number's token
    num_tok = np.searchsorted(tok, nstart, side="right") - 1 if has_slash else None
    long = (nend - nstart) > 18 + sign[nstart]
    if long.any():
        t = int(np.searchsorted(tok, nstart[np.argmax(long)], side="right") - 1)
        raise fail(t, f"face index in {_token_at(gb, int(tok[t]))!r} out of range")
    text = gb.copy()
    text[field_sep] = _SP
    text[nstart[1:] - 1] = _COMMA
    vals = np.fromstring(text.tobytes(), dtype=np.int64, sep=",") if len(nstart) else \
        np.zeros(0, np.int64)  # fmt: skip
    if len(vals) != len(nstart):  # pragma: no cover - the checks above make this impossible
        raise fail(0, "malformed face")
    zero = vals == 0
    if zero.any():
        t = int(np.searchsorted(tok, nstart[np.argmax(zero)], side="right") - 1)
        raise fail(t, "face index 0 (OBJ is 1-based)")
    if not has_slash:  # every corner is one vertex index
        return [vals, None, None]
    slashes = np.cumsum(slash, dtype=np.int32)  # slashes at or before each byte
    s0 = slashes[tok] - slash[tok]
    nslash = slashes[tok_end - 1] - s0
    if (nslash > 2).any():
        t = int(np.argmax(nslash > 2))
        raise fail(t, f"face corner {_token_at(gb, int(tok[t]))!r} has > 3 fields")
    slot = slashes[nstart] - s0[num_tok]
    corners = []
    for j in range(3):
        sel = slot == j
        if j and not sel.any():
            corners.append(None)
            continue
        col = np.zeros(len(tok), np.int64)
        col[num_tok[sel]] = vals[sel]
        corners.append(col)
    missing = corners[0] == 0
    if missing.any():
        t = int(np.argmax(missing))
        raise fail(t, f"malformed face index: no vertex in {_token_at(gb, int(tok[t]))!r}")
    return corners


def fan_triangulate(counts: np.ndarray) -> np.ndarray:
    """Corner indices ``(T, 3)`` of the fan triangulation ``(0, i, i+1)`` of each polygon."""
    counts = np.asarray(counts, np.int64)
    starts = np.cumsum(counts) - counts
    ntri = counts - 2
    poly = np.repeat(np.arange(len(counts)), ntri)
    j = np.arange(int(ntri.sum())) - np.repeat(np.cumsum(ntri) - ntri, ntri)
    a = starts[poly]
    return np.stack([a, a + j + 1, a + j + 2], axis=1)
