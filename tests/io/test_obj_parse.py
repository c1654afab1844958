"""The streaming OBJ parser against a naive line-by-line reference, across chunk boundaries;
its linear time and memory on long lines and many lines; located errors in later chunks."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jax3d.io import obj_parse
from jax3d.io.obj_parse import parse_obj_bytes


def parse_obj_naive(text: str):
    """Reference: one line at a time, as the OBJ specification reads."""
    verts, uvs, normals, tris, names, mats = [], [], [], [], [], []
    current = -1
    for line in text.replace("\r\n", "\n").split("\n"):
        toks = line.split("#")[0].split()
        if not toks:
            continue
        key, args = toks[0], toks[1:]
        if key in ("v", "vn"):
            (verts if key == "v" else normals).append([float(a) for a in args[:3]])
        elif key == "vt":
            uvs.append([float(a) for a in (args + ["0"])[:2]])
        elif key == "usemtl":
            name = " ".join(args)
            if name not in names:
                names.append(name)
            current = names.index(name)
        elif key == "f":
            corners = []
            for tok in args:
                parts = (tok.split("/") + ["", ""])[:3]
                idx = []
                for p, defined in zip(parts, (verts, uvs, normals)):
                    i = int(p) if p else 0
                    idx.append(i - 1 if i > 0 else len(defined) + i if i < 0 else -1)
                corners.append(idx)
            for k in range(1, len(corners) - 1):
                tris.append([corners[0], corners[k], corners[k + 1]])
                mats.append(current)
    tris = np.array(tris, np.int64).reshape(-1, 3, 3)
    return (np.array(verts, np.float32).reshape(-1, 3), np.array(uvs, np.float32).reshape(-1, 2),
            np.array(normals, np.float32).reshape(-1, 3), tris, np.array(mats), names)  # fmt: skip


def assert_same(text: str):
    got = parse_obj_bytes(text.encode(), "t.obj")
    verts, uvs, normals, tris, mats, names = parse_obj_naive(text)
    np.testing.assert_array_equal(got.verts, verts)
    np.testing.assert_array_equal(got.verts_uvs, uvs)
    np.testing.assert_array_equal(got.normals, normals)
    np.testing.assert_array_equal(got.faces_verts, tris[..., 0])
    np.testing.assert_array_equal(got.faces_uvs, tris[..., 1])
    np.testing.assert_array_equal(got.faces_normals, tris[..., 2])
    np.testing.assert_array_equal(got.faces_materials, mats)
    assert got.material_names == names


@st.composite
def obj_texts(draw):
    """Valid OBJ text: vertices, uvs, normals, faces of any layout and size (relative or
    absolute indices to what is defined so far), materials, comments and odd spacing."""
    lines, counts = [], {"v": 0, "vt": 0, "vn": 0}
    num = st.floats(-1e3, 1e3, allow_nan=False, width=32).map(lambda x: f"{x:.6g}")
    for _ in range(draw(st.integers(1, 40))):
        kind = draw(st.sampled_from(["v", "v", "vt", "vn", "f", "f", "usemtl", "#", "o"]))
        sp = draw(st.sampled_from([" ", "  ", "\t", " \t "]))
        if kind in ("v", "vt", "vn"):
            n = {"v": draw(st.sampled_from([3, 4, 6])), "vt": draw(st.integers(1, 3)), "vn": 3}
            lines.append(kind + sp + sp.join(draw(num) for _ in range(n[kind])))
            counts[kind] += 1
        elif kind == "f" and counts["v"]:
            layout = draw(st.sampled_from([("v",), ("v", "vt"), ("v", "vt", "vn"), ("v", "vn")]))
            if any(counts[k] == 0 for k in layout):
                continue
            corners = []
            for _ in range(draw(st.integers(3, 6))):
                ids = {k: draw(st.integers(1, counts[k])) for k in layout}
                ids = {k: i if draw(st.booleans()) else i - counts[k] - 1 for k, i in ids.items()}
                if layout == ("v", "vn"):
                    corners.append(f"{ids['v']}//{ids['vn']}")
                else:
                    corners.append("/".join(str(ids[k]) for k in layout))
            lines.append("f" + sp + sp.join(corners) + draw(st.sampled_from(["", " # c", " "])))
        elif kind == "usemtl":
            lines.append("usemtl " + draw(st.sampled_from(["red", "blue", "a b"])))
        elif kind == "#":
            lines.append("# v 1 2 3")
        else:
            lines.append(draw(st.sampled_from(["o thing", "g g1", "s off", "l 1 2", "vp 1"])))
    lead = draw(st.sampled_from(["", " ", "\t"]))
    return "\n".join(lead + ln for ln in lines) + draw(st.sampled_from(["", "\n", "\n\n"]))


@settings(max_examples=20, deadline=None)
@given(obj_texts(), st.sampled_from([16, 64, 1 << 20]))
def test_matches_naive_reference_across_chunk_boundaries(text, chunk):
    old = obj_parse.CHUNK_BYTES
    obj_parse.CHUNK_BYTES = chunk  # small chunks put boundaries everywhere
    try:
        assert_same(text)
    finally:
        obj_parse.CHUNK_BYTES = old


def test_layouts_and_line_ends():
    text = (
        "v 0 0 0\r\nv 1 0 0\rv 0 1 0\nvt 0 0\nvt 1 1\nvn 0 0 1\n"
        "f 1/1/ 2/2/ 3/1/\nf 1//1 2//1 3//1\nf +1 -2 3\nf 1/1/1 2/2/1 3/1/1 1/2/1\n"
    )
    assert_same(text.replace("\r\n", "\n").replace("\r", "\n"))
    got = parse_obj_bytes(text.encode(), "t.obj")
    assert got.faces_verts.tolist()[:3] == [[0, 1, 2]] * 3
    assert got.faces_uvs.tolist()[0] == [0, 1, 0] and got.faces_normals.tolist()[0] == [-1] * 3


@pytest.mark.parametrize(
    "text,line,msg",
    [
        ("v 0 0 0\n" * 40 + "f 1 2 41\n", 41, r"vertex index 41 out of range \(40 defined\)"),
        ("v 0 0 0\n" * 40 + "f 1 2 -41\n", 41, r"out of range \(40 defined before this line"),
        ("v 0 0 0\n" * 40 + "v 1 x 2\n", 41, "malformed number 'x'"),
        ("v 0 0 0\n" * 40 + "f 1 2 3\n" * 5 + "f 1 2 3 1-2\n", 46, "malformed face index"),
        ("v 0 0 0\n" * 40 + "f 1/1 2/1 3/1\n", 41, "texture index 1 out of range"),
        ("v 0 0 0\n" * 40 + "f 1 2/1 3/1\n", 41, "some corners only"),
        ("v 0 0 0\n" * 40 + "f 1 /2/ 3\n", 41, "no vertex"),
    ],
)
def test_errors_name_the_line_in_later_chunks(text, line, msg):
    old = obj_parse.CHUNK_BYTES
    obj_parse.CHUNK_BYTES = 32
    try:
        with pytest.raises(ValueError, match=msg) as err:
            parse_obj_bytes(text.encode(), "bad.obj")
    finally:
        obj_parse.CHUNK_BYTES = old
    assert f"bad.obj, line {line}:" in str(err.value)


def test_forward_references_are_allowed():
    got = parse_obj_bytes(b"f 1 2 3\nv 0 0 0\nv 1 0 0\nv 0 1 0\n", "t.obj")
    assert got.faces_verts.tolist() == [[0, 1, 2]]


def test_long_line_is_linear():
    """A 2 MB line (a face of 250 000 corners) parses in well under a second of work."""
    data = b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf " + b"1 2 3 " * 83_334 + b"\n"
    start = time.perf_counter()
    got = parse_obj_bytes(data, "t.obj")
    assert len(got.faces_verts) == 3 * 83_334 - 2
    assert time.perf_counter() - start < 5.0


def test_memory_is_a_small_multiple_of_the_file():
    """8-byte face lines (the worst case: the int32 results alone are 5x the file), 4 MB:
    the file, the results, their joining and one chunk's temporaries."""
    data = b"v 0 0 0\nv 1 0 0\nv 0 1 0\n" + b"f 1 2 3\n" * 500_000
    tracemalloc.start()
    try:
        got = parse_obj_bytes(data, "t.obj")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(got.faces_verts) == 500_000
    assert peak < 8 * len(data), peak / len(data)
