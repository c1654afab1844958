"""PLY headers: formats, elements, properties, and the size checks done before any allocation."""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

from jax3d.io.utils import file_error

# PLY type names (both spellings) -> NumPy dtype (native byte order; endianness applied later).
PLY_TYPES = {
    "char": np.int8, "int8": np.int8, "uchar": np.uint8, "uint8": np.uint8,
    "short": np.int16, "int16": np.int16, "ushort": np.uint16, "uint16": np.uint16,
    "int": np.int32, "int32": np.int32, "uint": np.uint32, "uint32": np.uint32,
    "float": np.float32, "float32": np.float32, "double": np.float64, "float64": np.float64,
}  # fmt: skip
FORMATS = {"ascii": None, "binary_little_endian": "<", "binary_big_endian": ">"}
MAX_HEADER_BYTES = 1 << 20
_END_HEADER = re.compile(rb"\nend_header[ \t]*\r?(?:\n|$)")


class PlyProperty(NamedTuple):
    """One property: ``dtype`` of the value (of each item for a list), ``count_dtype`` the
    dtype of a list's length (None for a scalar)."""

    name: str
    dtype: np.dtype
    count_dtype: np.dtype | None


class PlyElement(NamedTuple):
    """``count`` rows of ``properties``; ``line`` is the header line that declares it."""

    name: str
    count: int
    properties: tuple
    line: int

    @property
    def has_lists(self) -> bool:
        return any(p.count_dtype is not None for p in self.properties)

    def min_row_bytes(self) -> int:
        """Bytes of a binary row whose lists are all empty."""
        return sum((p.count_dtype or p.dtype).itemsize for p in self.properties)


class PlyHeader(NamedTuple):
    """``format`` is "ascii", "binary_little_endian" or "binary_big_endian"; ``body_offset``
    the byte where the data starts; ``header_lines`` the number of header lines."""

    format: str
    elements: tuple
    body_offset: int
    header_lines: int

    @property
    def byte_order(self) -> str | None:
        return FORMATS[self.format]


def parse_header(data: bytes, source: str) -> PlyHeader:
    """Parse and check the header at the start of ``data``.

    Raises:
      ValueError: naming ``source`` and the header line: not a PLY file, no ``end_header``
        within 1 MiB, unknown format or property type, malformed counts, duplicate names.
    """
    if not data.startswith(b"ply"):
        raise file_error(source, "line 1", "not a PLY file (no 'ply' magic)")
    match = _END_HEADER.search(data, 0, MAX_HEADER_BYTES)
    if match is None:
        raise file_error(source, "header", "no 'end_header' line in the first 1 MiB")
    end, body_offset = match.start() + 1, match.end()
    lines = data[:end].decode("ascii", errors="replace").replace("\r", "").split("\n")
    fmt, elements = None, []
    for lineno, line in enumerate(lines[1:], 2):
        toks = line.split()
        if not toks or toks[0] in ("comment", "obj_info"):
            continue
        if toks[0] == "format":
            fmt = _format(toks, source, lineno)
        elif toks[0] == "element":
            elements.append(_element(toks, source, lineno, [e.name for e in elements]))
        elif toks[0] == "property":
            if not elements:
                raise file_error(source, f"line {lineno}", "'property' before any 'element'")
            elements[-1] = _add_property(elements[-1], toks, source, lineno)
        else:
            raise file_error(source, f"line {lineno}", f"unknown header keyword {toks[0]!r}")
    if fmt is None:
        raise file_error(source, "header", "no 'format' line")
    return PlyHeader(fmt, tuple(elements), body_offset, len(lines))


def _format(toks, source, lineno) -> str:
    if len(toks) != 3 or toks[1] not in FORMATS:
        raise file_error(source, f"line {lineno}", f"unknown format {' '.join(toks[1:])!r}")
    if toks[2] != "1.0":
        raise file_error(source, f"line {lineno}", f"unsupported PLY version {toks[2]!r}")
    return toks[1]


def _element(toks, source, lineno, names) -> PlyElement:
    if len(toks) != 3:
        raise file_error(source, f"line {lineno}", "'element' needs a name and a count")
    if toks[1] in names:
        raise file_error(source, f"line {lineno}", f"element {toks[1]!r} declared twice")
    try:
        count = int(toks[2])
    except ValueError:
        raise file_error(source, f"line {lineno}", f"malformed count {toks[2]!r}") from None
    if count < 0:
        raise file_error(source, f"line {lineno}", f"negative count {count}")
    return PlyElement(toks[1], count, (), lineno)


def _ply_type(name, source, lineno):
    if name not in PLY_TYPES:
        raise file_error(source, f"line {lineno}", f"unknown property type {name!r}")
    return np.dtype(PLY_TYPES[name])


def _add_property(element, toks, source, lineno) -> PlyElement:
    if len(toks) >= 2 and toks[1] == "list":
        if len(toks) != 5:
            raise file_error(source, f"line {lineno}", "'property list' needs 2 types and a name")
        count_dtype = _ply_type(toks[2], source, lineno)
        if count_dtype.kind not in "iu":
            raise file_error(source, f"line {lineno}", "list count type must be an integer")
        prop = PlyProperty(toks[4], _ply_type(toks[3], source, lineno), count_dtype)
    else:
        if len(toks) != 3:
            raise file_error(source, f"line {lineno}", "'property' needs a type and a name")
        prop = PlyProperty(toks[2], _ply_type(toks[1], source, lineno), None)
    if any(p.name == prop.name for p in element.properties):
        raise file_error(source, f"line {lineno}", f"property {prop.name!r} declared twice")
    return element._replace(properties=element.properties + (prop,))


def check_sizes(header: PlyHeader, available: int, source: str) -> None:
    """Refuse declared counts that cannot fit in the data, before allocating anything.

    ``available`` is the body size in bytes (binary) or the number of tokens (ascii). Every
    binary row needs at least ``min_row_bytes``; every ascii row one token per property.
    """
    need = 0
    for el in header.elements:
        if el.count and not el.properties:
            raise file_error(source, f"line {el.line}", f"element {el.name!r} has no properties")
        per_row = el.min_row_bytes() if header.byte_order else len(el.properties)
        need += el.count * per_row
        if need > available:
            unit = "bytes" if header.byte_order else "values"
            raise file_error(
                source,
                f"line {el.line}",
                f"element {el.name!r} declares {el.count} rows, needing at least {need} {unit} "
                f"of data, but the file holds only {available}",
            )
