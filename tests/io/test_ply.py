"""PLY reading and writing: assets, trimesh parity, formats, element layouts, strict errors."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import trimesh

from jax3d.io import load_ply, read_ply, save_ply

PLY_MESHES = ["ply/cube.ply", "ply/parallel_plane_mono.ply", "ply/parallel_plane_color.ply",
              "ply/cow.ply"]  # fmt: skip


def as_file(data: bytes) -> io.BytesIO:
    f = io.BytesIO(data)
    f.name = "mem.ply"
    return f


def ply_naive(data: bytes):
    """Token-by-token reference reader for little-endian binary or ascii PLY (no checks)."""
    head, body = data.split(b"end_header\n", 1)
    lines = head.decode().split("\n")
    fmt = lines[1].split()[1]
    elements = []
    for ln in lines:
        t = ln.split()
        if t and t[0] == "element":
            elements.append((t[1], int(t[2]), []))
        elif t and t[0] == "property":
            elements[-1][2].append(t[1:])
    codes = {"uchar": "B", "char": "b", "ushort": "H", "short": "h", "int": "i", "uint": "I",
             "float": "f", "double": "d"}  # fmt: skip
    toks, pos = (body.split() if fmt == "ascii" else None), 0
    out = {}

    def read(type_name):
        nonlocal pos
        if fmt == "ascii":
            pos += 1
            return float(toks[pos - 1])
        c = codes[type_name]
        pos += struct.calcsize(c)
        return struct.unpack_from("<" + c, body, pos - struct.calcsize(c))[0]

    for name, count, props in elements:
        rows = []
        for _ in range(count):
            row = {}
            for p in props:
                if p[0] == "list":
                    n = int(read(p[1]))
                    row[p[3]] = [read(p[2]) for _ in range(n)]
                else:
                    row[p[1]] = read(p[0])
            rows.append(row)
        out[name] = rows
    return out


# ------------------------------------------------------------------------------------- assets


@pytest.mark.parametrize("name", PLY_MESHES)
def test_assets_match_trimesh(data, name):
    path = data(name)
    verts, faces = load_ply(path)
    tm = trimesh.load(path, process=False)
    np.testing.assert_array_equal(verts, np.asarray(tm.vertices, np.float32))
    np.testing.assert_array_equal(faces, tm.faces)
    assert verts.dtype == np.float32 and faces.dtype == np.int32


def test_pedestrian_point_cloud(data):
    mesh = read_ply(data("pointclouds/pedestrian.ply"))
    assert mesh.verts.shape == (239, 3) and mesh.faces is None
    verts, faces = load_ply(data("pointclouds/pedestrian.ply"))
    assert faces.shape == (0, 3)


def test_colours_in_unit_range(data):
    mesh = read_ply(data("ply/parallel_plane_color.ply"))
    assert mesh.colors.shape == (8, 3) and mesh.colors.dtype == np.float32
    assert mesh.colors.min() == 0.0 and mesh.colors.max() == 1.0
    np.testing.assert_array_equal(mesh.colors[0], [1, 0, 0])
    np.testing.assert_array_equal(mesh.colors[4], [0, 0, 1])


def test_cow_ply_counts(data):
    mesh = read_ply(data("ply/cow.ply"))
    assert mesh.elements == {"vertex": 2903, "face": 5804}


# ------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("ascii,big_endian", [(True, False), (False, False), (False, True)])
def test_round_trip_exact(ascii, big_endian):
    rng = np.random.default_rng(0)
    verts = (rng.standard_normal((40, 3)) * 10 ** rng.uniform(-9, 9, (40, 1))).astype(np.float32)
    normals = rng.standard_normal((40, 3)).astype(np.float32)
    colors = rng.random((40, 3)).astype(np.float32)
    faces = rng.integers(0, 40, (60, 3))
    buf = io.BytesIO()
    save_ply(buf, verts, faces, verts_normals=normals, verts_colors=colors, ascii=ascii,
             big_endian=big_endian)  # fmt: skip
    mesh = read_ply(as_file(buf.getvalue()))
    np.testing.assert_array_equal(mesh.verts, verts)
    np.testing.assert_array_equal(mesh.faces, faces)
    np.testing.assert_array_equal(mesh.normals, normals)
    np.testing.assert_array_equal(mesh.colors, colors)
    if not ascii and not big_endian:
        ref = ply_naive(buf.getvalue())
        np.testing.assert_array_equal([[r["x"], r["y"], r["z"]] for r in ref["vertex"]], verts)


def test_point_cloud_round_trip_and_file(tmp_path):
    verts = np.random.default_rng(1).random((5, 3)).astype(np.float32)
    save_ply(tmp_path / "p.ply", verts)
    mesh = read_ply(tmp_path / "p.ply")
    assert mesh.faces is None and mesh.elements == {"vertex": 5}
    np.testing.assert_array_equal(mesh.verts, verts)
    save_ply(tmp_path / "e.ply", np.zeros((0, 3)), np.zeros((0, 3), int), ascii=True)
    v, f = load_ply(tmp_path / "e.ply")
    assert v.shape == (0, 3) and f.shape == (0, 3)


def test_decimal_places():
    buf = io.BytesIO()
    save_ply(buf, [[0.123456, 1, 2]], ascii=True, decimal_places=3)
    assert b"0.123 1.000 2.000" in buf.getvalue()


def test_save_validates():
    with pytest.raises(ValueError, match="verts"):
        save_ply(io.BytesIO(), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="faces"):
        save_ply(io.BytesIO(), np.zeros((3, 3)), [[0, 1, 3]])
    with pytest.raises(ValueError, match="verts_colors"):
        save_ply(io.BytesIO(), np.zeros((3, 3)), verts_colors=np.zeros((2, 3)))


# ---------------------------------------------------------------------------- layouts & types

HEADER = "ply\nformat {fmt} 1.0\ncomment c\n{elements}end_header\n"


def make_ply(fmt, elements, rows_by_element):
    """Build a PLY from element specs ``[(name, [(type, name) | ('list', ct, it, name)])]``."""
    head = ""
    for (name, props), rows in zip(elements, rows_by_element):
        head += f"element {name} {len(rows)}\n"
        for p in props:
            head += "property " + " ".join(p) + "\n"
    out = HEADER.format(fmt=fmt, elements=head).encode()
    codes = {"uchar": "B", "char": "b", "ushort": "H", "short": "h", "int": "i", "uint": "I",
             "float": "f", "double": "d", "int32": "i", "uint8": "B", "float32": "f"}  # fmt: skip
    order = ">" if "big" in fmt else "<"
    for (_name, props), rows in zip(elements, rows_by_element):
        for row in rows:
            if fmt == "ascii":
                vals = []
                for p, v in zip(props, row):
                    vals += [len(v), *v] if p[0] == "list" else [v]
                out += (" ".join(str(x) for x in vals) + "\n").encode()
                continue
            for p, v in zip(props, row):
                if p[0] == "list":
                    out += struct.pack(order + codes[p[1]], len(v))
                    out += struct.pack(order + codes[p[2]] * len(v), *v)
                else:
                    out += struct.pack(order + codes[p[0]], v)
    return out


LAYOUT = [
    ("junk", [("list", "uchar", "float", "stuff"), ("short", "k")]),
    ("face", [("uchar", "flag"), ("list", "ushort", "uint", "vertex_index"),
              ("list", "uchar", "float", "texcoord")]),
    ("vertex", [("double", "x"), ("float", "y"), ("short", "z"), ("uchar", "red"),
                ("uchar", "green"), ("uchar", "blue"), ("uchar", "alpha")]),
    ("tail", [("int", "q")]),
]  # fmt: skip
ROWS = [
    [([1.5, 2.5], 3), ([], -4)],
    [(1, [0, 1, 2, 3], [0.5] * 8), (0, [3, 2, 1], [])],
    [(0.25, 1.0, 2, 255, 0, 51, 255), (1.0, 2.0, -3, 0, 255, 0, 0), (2.0, 3.0, 4, 1, 2, 3, 4),
     (3.0, 4.0, 5, 9, 9, 9, 9)],
    [(7,)],
]  # fmt: skip


@pytest.mark.parametrize("fmt", ["ascii", "binary_little_endian", "binary_big_endian"])
def test_any_element_order_unknown_elements_and_polygons(fmt):
    mesh = read_ply(as_file(make_ply(fmt, LAYOUT, ROWS)))
    np.testing.assert_array_equal(mesh.verts[:, 0], [0.25, 1, 2, 3])
    np.testing.assert_array_equal(mesh.verts[:, 2], [2, -3, 4, 5])
    np.testing.assert_array_equal(mesh.faces, [[0, 1, 2], [0, 2, 3], [3, 2, 1]])
    np.testing.assert_allclose(mesh.colors[0], [1, 0, 0.2])
    np.testing.assert_allclose(mesh.alpha, np.array([255, 0, 4, 9]) / 255)
    assert mesh.elements == {"junk": 2, "face": 2, "vertex": 4, "tail": 1}


def test_binary_constant_and_mixed_lists_agree_with_naive():
    rng = np.random.default_rng(3)
    for sizes in ([3] * 20, list(rng.integers(3, 7, 20))):
        faces = [list(rng.integers(0, 10, n)) for n in sizes]
        verts = [tuple(rng.random(3).astype(np.float32).tolist()) for _ in range(10)]
        layout = [("vertex", [("float", "x"), ("float", "y"), ("float", "z")]),
                  ("face", [("list", "uchar", "int", "vertex_indices")])]  # fmt: skip
        data = make_ply("binary_little_endian", layout, [verts, [(f,) for f in faces]])
        mesh = read_ply(as_file(data))
        ref = ply_naive(data)
        tri = [[f[0], f[i], f[i + 1]] for r in ref["face"] for f in [r["vertex_indices"]]
               for i in range(1, len(f) - 1)]  # fmt: skip
        np.testing.assert_array_equal(mesh.faces, tri)


def test_float_colours_kept():
    layout = [("vertex", [("float", "x"), ("float", "y"), ("float", "z"), ("float", "red"),
                          ("float", "green"), ("float", "blue")])]  # fmt: skip
    mesh = read_ply(as_file(make_ply("ascii", layout, [[(0, 0, 0, 0.25, 0.5, 0.75)]])))
    np.testing.assert_array_equal(mesh.colors, [[0.25, 0.5, 0.75]])


# -------------------------------------------------------------------------------- bad inputs

V3 = "element vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
F1 = "element face 1\nproperty list uchar int vertex_indices\n"


def ascii_ply(header_elems, body):
    return ("ply\nformat ascii 1.0\n" + header_elems + "end_header\n" + body).encode()


BAD_ASCII = [
    (V3, "0 0 0\n1 0 0\n", "line 3", "declares 3 rows"),
    (V3, "0 0 0 1 0 0\n0 1 0\n", "line 9", "ends after 2 of 3"),
    (V3, "0 0 0 1 0 0\n0 1 0\n1 1 1\n", "line 8", "has 6 values, expected 3"),
    (V3, "0 0 0\n1 0 x\n0 1 0\n", "line 9", "malformed number 'x'"),
    (V3, "0 0 0\n1 0\n0 1 0 5\n", "line 9", "has 2 values"),
    (V3 + F1, "0 0 0\n1 0 0\n0 1 0\n3 0 1 3\n", "line 13", "out of range"),
    (V3 + F1, "0 0 0\n1 0 0\n0 1 0\n2 0 1\n", "line 13", "at least 3"),
    (V3 + F1, "0 0 0\n1 0 0\n0 1 0\n3 0 1\n", "line 13", "has 3 values, expected 4"),
    (V3 + F1, "0 0 0\n1 0 0\n0 1 0\n3 0 1.5 2\n", "line 13", "not a valid int32"),
    (V3 + F1, "0 0 0\n1 0 0\n0 1 0\n300 0 1 2\n", "line 13", "not a valid uint8"),
    (V3, "0 0 0\n1 0 nan\n0 1 0\n", "line 9", "NaN"),
    (V3.replace("float z", "quad z"), "", "line 6", "unknown property type 'quad'"),
    (V3.replace("vertex 3", "vertex 1000000000000"), "0 0 0\n", "line 3", "declares"),
    (V3.replace("vertex 3", "vertex -3"), "", "line 3", "negative count"),
    (V3.replace("vertex 3", "vertex x"), "", "line 3", "malformed count"),
    ("element vertex 1\nproperty float x\n", "0\n", "header", "lacks property 'y'"),
    ("bogus line\n", "", "line 3", "unknown header keyword"),
]


@pytest.mark.parametrize("header,body,where,msg", BAD_ASCII)
def test_bad_ascii(header, body, where, msg):
    with pytest.raises(ValueError, match=msg) as err:
        read_ply(as_file(ascii_ply(header, body)))
    assert f"mem.ply, {where}:" in str(err.value)


def binary_ply(header_elems, body: bytes, fmt="binary_little_endian"):
    return f"ply\nformat {fmt} 1.0\n{header_elems}end_header\n".encode() + body


def test_bad_binary():
    verts = np.zeros((3, 3), "<f4").tobytes()
    header = V3 + F1
    good = binary_ply(header, verts + b"\x03" + np.array([0, 1, 2], "<i4").tobytes())
    assert read_ply(as_file(good)).faces.tolist() == [[0, 1, 2]]
    body = len(binary_ply(header, b""))  # file offset of the first vertex
    cases = [
        (good[:-2], f"byte offset {body + 37}", "truncated"),
        (good[:60], "header", "no 'end_header'"),
        (good[: body + 30], "line 3", "declares"),
        (binary_ply(header, verts + b"\x03" + np.array([0, 1, 5], "<i4").tobytes()),
         f"byte offset {body + 36}", "out of range"),
        (binary_ply(header.replace("uchar int", "char int"), verts + b"\xff"),
         f"byte offset {body + 35}", "negative list length"),
        (binary_ply(V3.replace("3", "1000000000000"), verts), "line 3", "declares"),
        (binary_ply(V3, np.array([[0, 0, np.inf]] * 3, "<f4").tobytes()),
         f"byte offset {len(binary_ply(V3, b''))}",
         "NaN"),
        (b"ply\nformat binary_middle_endian 1.0\nend_header\n", "line 2", "unknown format"),
        (b"plx\n", "line 1", "not a PLY"),
        (binary_ply(V3 + "element face 1000000000000\n", verts), "line 7", "no properties"),
        (b"ply\nformat ascii 1.0\n" + b"comment x\n" * 200000, "header", "end_header"),
    ]  # fmt: skip
    for data, where, msg in cases:
        with pytest.raises(ValueError, match=msg) as err:
            read_ply(as_file(data))
        assert f"mem.ply, {where}:" in str(err.value), (where, str(err.value))


def test_huge_list_count_is_not_allocated():
    header = V3 + "element face 1\nproperty list uint int vertex_indices\n"
    data = binary_ply(header, np.zeros((3, 3), "<f4").tobytes() + b"\xff\xff\xff\x7f")
    with pytest.raises(ValueError, match="truncated"):
        read_ply(as_file(data))


@pytest.mark.parametrize("binary", [False, True])
def test_float_face_lists_must_hold_whole_numbers(binary):
    """Faces typed ``list uchar float`` were truncated silently; whole values still load."""
    header = V3 + "element face 1\nproperty list uchar float vertex_indices\n"
    for idx, ok in (([0, 1, 2], True), ([0, 1.5, 2], False), ([0, 1, 7], False)):
        if binary:
            body = np.zeros((3, 3), "<f4").tobytes() + b"\x03" + np.array(idx, "<f4").tobytes()
            data = binary_ply(header, body)
        else:
            data = ascii_ply(header, "0 0 0\n1 0 0\n0 1 0\n3 " + " ".join(map(str, idx)) + "\n")
        if ok:
            assert read_ply(as_file(data)).faces.tolist() == [[0, 1, 2]]
        else:
            with pytest.raises(ValueError, match="not an integer|out of range") as err:
                read_ply(as_file(data))
            assert "mem.ply, " + ("byte offset" if binary else "line 13") in str(err.value)
