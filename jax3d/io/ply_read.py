"""Reading the body of a PLY file (ascii and binary) into per-element tables of NumPy arrays.

Every element is read (unknown ones too, so that the ones after them are found) and checked:
truncated data, malformed numbers, wrong token counts, negative list lengths and integer
values out of their type's range raise ``ValueError`` naming the file and the line (ascii) or
byte offset (binary).
"""

from __future__ import annotations

from itertools import chain
from typing import NamedTuple

import numpy as np

from jax3d.io.ply_header import PlyElement, PlyHeader, check_sizes, parse_header
from jax3d.io.utils import file_error


class PlyTable(NamedTuple):
    """The rows of one element.

    scalars: name -> (N,) array of the property's dtype. lists: name -> (counts (N,) int64,
    items (sum counts,) array). where: (N,) int64 line numbers (ascii) or byte offsets
    (binary) of the rows, for error messages; ``unit`` is "line" or "byte offset".
    """

    scalars: dict
    lists: dict
    where: np.ndarray
    unit: str

    def locate(self, row: int) -> str:
        return f"{self.unit} {int(self.where[row])}"


def read_ply_tables(data: bytes, source: str) -> tuple[PlyHeader, dict]:
    """Parse a whole PLY file: its header and ``{element name: PlyTable}``."""
    header = parse_header(data, source)
    if header.byte_order is None:
        return header, _read_ascii(data, header, source)
    return header, _read_binary(data, header, source)


# ----------------------------------------------------------------------------------------- ascii


def _read_ascii(data: bytes, header: PlyHeader, source: str) -> dict:
    body = data[header.body_offset :].decode("ascii", errors="replace").replace("\r", "")
    lines = body.split("\n")
    split = [ln.split() for ln in lines]
    check_sizes(header, sum(map(len, split)), source)
    keep = [i for i, t in enumerate(split) if t]
    split = [split[i] for i in keep]
    line_no = np.asarray(keep, np.int64) + header.header_lines + 1
    tables, pos = {}, 0
    for el in header.elements:
        rows = split[pos : pos + el.count]
        if len(rows) < el.count:
            where = f"line {line_no[-1]}" if len(line_no) else "end of file"
            raise file_error(
                source, where, f"file ends after {len(rows)} of {el.count} {el.name!r} rows"
            )
        where = line_no[pos : pos + el.count]
        tables[el.name] = _ascii_element(el, rows, where, source)
        pos += el.count
    return tables


def _ascii_element(el: PlyElement, rows: list, where: np.ndarray, source: str) -> PlyTable:
    counts = np.fromiter(map(len, rows), np.int64, len(rows))
    props = el.properties
    if not el.has_lists:
        _check_token_counts(counts, len(props), where, el, source)
        vals = _to_float(list(chain.from_iterable(rows)), rows, where, source)
        vals = vals.reshape(len(rows), len(props))
        scalars = {p.name: _cast(vals[:, j], p.dtype, where, p.name, source) for j, p in
                   enumerate(props)}  # fmt: skip
        return PlyTable(scalars, {}, where, "line")
    if props[-1].count_dtype is not None and not any(p.count_dtype for p in props[:-1]):
        return _ascii_trailing_list(el, rows, counts, where, source)
    return _ascii_walk(el, rows, where, source)


def _check_token_counts(counts, want, where, el, source):
    bad = counts != want
    if bad.any():
        i = int(np.argmax(bad))
        raise file_error(
            source, f"line {where[i]}", f"{el.name!r} row has {counts[i]} values, expected {want}"
        )


def _to_float(tokens: list, rows: list, where, source) -> np.ndarray:
    try:
        return np.array(tokens, dtype=np.float64)
    except (ValueError, OverflowError):
        pass
    for toks, line in zip(rows, where):
        for tok in toks:
            try:
                float(tok)
            except (ValueError, OverflowError):
                raise file_error(source, f"line {line}", f"malformed number {tok!r}") from None
    raise file_error(source, f"line {where[0]}", "malformed numbers")  # pragma: no cover


def _cast(vals: np.ndarray, dtype: np.dtype, where, name: str, source: str) -> np.ndarray:
    """float64 values -> ``dtype``, refusing non-integers or out-of-range values for ints."""
    if dtype.kind == "f":
        return vals.astype(dtype)
    info = np.iinfo(dtype)
    bad = ~np.isfinite(vals) | (vals != np.round(vals)) | (vals < info.min) | (vals > info.max)
    if bad.any():
        i = int(np.argmax(bad))
        loc = f"line {where[i]}" if len(where) == len(vals) else f"line {where[0]}"
        raise file_error(source, loc, f"{name!r} value {vals[i]!r} is not a valid {dtype}")
    return vals.astype(dtype)


def _ascii_trailing_list(el, rows, counts, where, source) -> PlyTable:
    """Fast path: scalars, then one list (e.g. ``vertex_indices``) at the end of each row."""
    props = el.properties
    ns = len(props) - 1
    short = counts < ns + 1
    if short.any():
        i = int(np.argmax(short))
        raise file_error(source, f"line {where[i]}", f"{el.name!r} row is too short")
    lengths = _cast(
        _to_float([r[ns] for r in rows], rows, where, source), props[-1].count_dtype, where,
        props[-1].name + " count", source,
    ).astype(np.int64)  # fmt: skip
    bad = counts != ns + 1 + lengths
    if bad.any():
        i = int(np.argmax(bad))
        raise file_error(
            source,
            f"line {where[i]}",
            f"{el.name!r} row has {counts[i]} values, expected {ns + 1 + lengths[i]}",
        )
    scalars = {}
    if ns:
        scal = _to_float([t for r in rows for t in r[:ns]], rows, where, source)
        scal = scal.reshape(-1, ns)
        for j, p in enumerate(props[:-1]):
            scalars[p.name] = _cast(scal[:, j], p.dtype, where, p.name, source)
    items = _to_float([t for r in rows for t in r[ns + 1 :]], rows, where, source)
    item_where = np.repeat(where, lengths)
    items = _cast(items, props[-1].dtype, item_where, props[-1].name, source)
    return PlyTable(scalars, {props[-1].name: (lengths, items)}, where, "line")


def _ascii_walk(el, rows, where, source) -> PlyTable:
    """General rows (several lists, lists in the middle): walk each row's tokens."""
    cols = {p.name: [] for p in el.properties}
    lens = {p.name: [] for p in el.properties if p.count_dtype is not None}
    for toks, line in zip(rows, where):
        i = 0
        for p in el.properties:
            n = 1
            if p.count_dtype is not None:
                if i >= len(toks):
                    raise file_error(source, f"line {line}", f"{el.name!r} row is too short")
                n = int(_cast(_to_float([toks[i]], [toks], [line], source), p.count_dtype,
                              [line], p.name + " count", source)[0])  # fmt: skip
                lens[p.name].append(n)
                i += 1
            if i + n > len(toks):
                raise file_error(source, f"line {line}", f"{el.name!r} row is too short")
            cols[p.name].extend(toks[i : i + n])
            i += n
        if i != len(toks):
            raise file_error(source, f"line {line}", f"{el.name!r} row has extra values")
    scalars, lists = {}, {}
    for p in el.properties:
        vals = _to_float(cols[p.name], rows, where, source)
        if p.count_dtype is None:
            scalars[p.name] = _cast(vals, p.dtype, where, p.name, source)
        else:
            n = np.asarray(lens[p.name], np.int64)
            lists[p.name] = (n, _cast(vals, p.dtype, np.repeat(where, n), p.name, source))
    return PlyTable(scalars, lists, where, "line")


# ---------------------------------------------------------------------------------------- binary


def _read_binary(data: bytes, header: PlyHeader, source: str) -> dict:
    check_sizes(header, len(data) - header.body_offset, source)
    tables, pos = {}, header.body_offset
    for el in header.elements:
        if not el.has_lists:
            tables[el.name], pos = _binary_fixed(data, pos, el, header.byte_order, source)
        else:
            tables[el.name], pos = _binary_lists(data, pos, el, header.byte_order, source)
    return tables


def _dt(dtype: np.dtype, order: str) -> np.dtype:
    return dtype.newbyteorder(order) if dtype.itemsize > 1 else dtype


def _binary_fixed(data, pos, el, order, source):
    """Elements without lists: one structured ``frombuffer``."""
    row = np.dtype([(p.name, _dt(p.dtype, order)) for p in el.properties])
    size = el.count * row.itemsize
    if pos + size > len(data):
        raise file_error(
            source, f"byte offset {pos}",
            f"truncated: {el.name!r} needs {size} bytes, {len(data) - pos} left",
        )  # fmt: skip
    arr = np.frombuffer(data, row, el.count, pos)
    scalars = {p.name: arr[p.name].astype(p.dtype) for p in el.properties}
    where = pos + np.arange(el.count, dtype=np.int64) * row.itemsize
    return PlyTable(scalars, {}, where, "byte offset"), pos + size


def _binary_lists(data, pos, el, order, source):
    """Elements with lists: constant-length fast path, else a row-by-row offset walk."""
    fast = _binary_constant_lists(data, pos, el, order)
    if fast is not None:
        return fast
    offsets, lengths, end = _walk_offsets(data, pos, el, order, source)
    raw = np.frombuffer(data, np.uint8)
    scalars, lists = {}, {}
    for p in el.properties:
        dt = _dt(p.dtype, order)
        if p.count_dtype is None:
            scalars[p.name] = _gather(raw, offsets[p.name], dt).astype(p.dtype)
        else:
            n = lengths[p.name]
            starts = np.repeat(offsets[p.name], n)
            within = np.arange(int(n.sum()), dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
            items = _gather(raw, starts + within * dt.itemsize, dt).astype(p.dtype)
            lists[p.name] = (n, items)
    return PlyTable(scalars, lists, np.asarray(offsets["__row__"]), "byte offset"), end


def _gather(raw: np.ndarray, offsets: np.ndarray, dt: np.dtype) -> np.ndarray:
    idx = np.asarray(offsets, np.int64)[:, None] + np.arange(dt.itemsize)
    return np.ascontiguousarray(raw[idx]).view(dt).reshape(-1)


def _binary_constant_lists(data, pos, el, order):
    """If every list of every row has the length found in the first row, parse in one go."""
    if el.count == 0:
        return PlyTable({}, {}, np.zeros(0, np.int64), "byte offset")._replace(
            scalars={p.name: np.zeros(0, p.dtype) for p in el.properties if not p.count_dtype},
            lists={p.name: (np.zeros(0, np.int64), np.zeros(0, p.dtype))
                   for p in el.properties if p.count_dtype},
        ), pos  # fmt: skip
    fields, off, lens = [], pos, {}
    for j, p in enumerate(el.properties):
        if p.count_dtype is None:
            fields.append((f"s{j}", _dt(p.dtype, order)))
            off += p.dtype.itemsize
            continue
        cdt = _dt(p.count_dtype, order)
        if off + cdt.itemsize > len(data):
            return None
        n = int(np.frombuffer(data, cdt, 1, off)[0])
        if n < 0 or n > len(data):
            return None
        lens[j] = n
        fields += [(f"c{j}", cdt), (f"l{j}", _dt(p.dtype, order), (n,))]
        off += cdt.itemsize + n * p.dtype.itemsize
    row = np.dtype(fields)
    if pos + el.count * row.itemsize > len(data):
        return None
    arr = np.frombuffer(data, row, el.count, pos)
    scalars, lists = {}, {}
    for j, p in enumerate(el.properties):
        if p.count_dtype is None:
            scalars[p.name] = arr[f"s{j}"].astype(p.dtype)
            continue
        n = lens[j]
        if np.any(arr[f"c{j}"] != n):
            return None
        lists[p.name] = (np.full(el.count, n, np.int64), arr[f"l{j}"].astype(p.dtype).reshape(-1))
    where = pos + np.arange(el.count, dtype=np.int64) * row.itemsize
    return PlyTable(scalars, lists, where, "byte offset"), pos + el.count * row.itemsize


def _walk_offsets(data, pos, el, order, source):
    """Byte offset of every property of every row (lists: of their first item) and lengths."""
    offsets = {p.name: np.zeros(el.count, np.int64) for p in el.properties}
    offsets["__row__"] = np.zeros(el.count, np.int64)
    lengths = {p.name: np.zeros(el.count, np.int64) for p in el.properties if p.count_dtype}
    readers = {p.name: (_dt(p.count_dtype, order) if p.count_dtype else None) for p in
               el.properties}  # fmt: skip
    end = len(data)
    for i in range(el.count):
        offsets["__row__"][i] = pos
        for p in el.properties:
            cdt = readers[p.name]
            if cdt is None:
                size = p.dtype.itemsize
                offsets[p.name][i] = pos
            else:
                if pos + cdt.itemsize > end:
                    raise _truncated(source, pos, el)
                n = int(np.frombuffer(data, cdt, 1, pos)[0])
                if n < 0:
                    raise file_error(source, f"byte offset {pos}", f"negative list length {n}")
                pos += cdt.itemsize
                offsets[p.name][i] = pos
                lengths[p.name][i] = n
                size = n * p.dtype.itemsize
            if pos + size > end:
                raise _truncated(source, pos, el)
            pos += size
    return offsets, lengths, pos


def _truncated(source, pos, el):
    return file_error(source, f"byte offset {pos}", f"truncated data in element {el.name!r}")
