"""Hand-made hostile inputs of issue #21: special files, huge lines and names, image bombs,
crafted pickles and ``.npz`` archives; and the ``load_obj`` memory figure.

``crafted_pickles()`` / ``crafted_npz()`` are also used by the default tests; ``run_special``
and ``run_memory`` print the figures (``python -m tests.io.fuzzing --special / --memory``).
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import resource
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

# ----------------------------------------------------------------------- crafted pickles


def _g(module: str, name: str) -> bytes:
    """GLOBAL opcode."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _v(value) -> bytes:
    """Opcodes pushing ``value`` (protocol 2, no memo entries)."""
    return pickletools.optimize(pickle.dumps(value, protocol=2))[2:-1]


def _p2(body: bytes) -> bytes:
    return b"\x80\x02" + body + b"."


def _dtype(spec="f8", state=(3, "<", None, None, None, -1, -1, 0)) -> bytes:
    """``numpy.dtype(spec, False, True)`` with a BUILD ``state`` (None: no BUILD)."""
    out = _g("numpy", "dtype") + _v((spec, False, True)) + b"R"
    return out if state is None else out + _v(state) + b"b"


def _dtype_with_fields(offset: int) -> bytes:
    """A float64 dtype whose BUILD state adds a field 'a' at ``offset`` (past the item)."""
    fields = b"}" + _v("a") + _dtype() + _v(offset) + b"\x86s"  # {'a': (dtype, offset)}
    state = b"(" + _v(3) + _v("<") + b"N" + _v(("a",)) + fields + _v(8) + _v(1) + _v(16) + b"t"
    return _g("numpy", "dtype") + _v(("f8", False, True)) + b"R" + state + b"b"


def _array(dtype_ops: bytes, shape, data, version=1) -> bytes:
    """``_reconstruct(ndarray, (0,), b'b')`` with BUILD ``(version, shape, dtype, False, data)``."""
    head = _g("numpy.core.multiarray", "_reconstruct") + _g("numpy", "ndarray")
    head += _v((0,)) + _v(b"b") + b"\x87R"
    return head + b"(" + _v(version) + _v(shape) + dtype_ops + b"\x89" + _v(data) + b"tb"


def _sparse(state: dict) -> bytes:
    return _g("scipy.sparse._csc", "csc_matrix") + b")R" + _v(state) + b"b"


def crafted_pickles() -> dict[str, bytes]:
    """Pickles that misbehaved (or could) with a less careful unpickler: each must give a
    ValueError naming the file, quickly and without a large allocation."""
    big_list = b"(" + b"N" * 100_000 + b"l" + b"q\x01"
    amplify = _g("__builtin__", "list") + b"q\x00" + big_list + b"("
    amplify += b"h\x00h\x01\x85R" * 20_000 + b"l"
    big_text = _v("x" * 1_000_000)
    encode = _g("_codecs", "encode") + b"q\x00" + big_text + b"q\x01(" + b"h\x00h\x01\x85R" * 20_000
    laughs = b"]q\x00" + b"".join(
        b"(h" + bytes([i]) + b"h" + bytes([i]) + b"lq" + bytes([i + 1]) for i in range(200)
    )
    out = {
        **{
            f"dtype_field_offset_{o}": _p2(_array(_dtype_with_fields(o), (1,), b"\0" * 8))
            for o in (64, 1 << 20, 1 << 28)
        },
        "dtype_itemsize_state": _p2(
            _array(_dtype("f8", (3, "<", None, None, None, 1 << 20, 1, 0)), (1,), b"\0" * 8)
        ),
        "dtype_object": _p2(
            _array(_dtype("O8", (3, "|", None, None, None, -1, -1, 63)), (1 << 30,), [])
        ),
        "dtype_void": _p2(
            _array(_dtype("V8", (3, "|", None, None, None, 8, 1, 0)), (1,), b"\0" * 8)
        ),
        "dtype_flags": _p2(
            _array(_dtype("f8", (3, "<", None, None, None, -1, -1, 63)), (1,), b"\0" * 8)
        ),
        "dtype_tuple_spec": _p2(
            _g("numpy", "dtype") + _v((("f8", (1 << 30,)), False, True)) + b"R"
        ),
        "reconstruct_no_build": _p2(
            _g("numpy.core.multiarray", "_reconstruct")
            + _g("numpy", "ndarray")
            + _v(((1 << 31,), "O"))
            + b"R"
        ),
        "array_short_data": _p2(_array(_dtype(), (1 << 31,), b"")),
        "array_long_data": _p2(_array(_dtype(), (1,), b"\0" * 9)),
        "array_negative_shape": _p2(_array(_dtype(), (-1,), b"")),
        "array_double_build": _p2(
            _array(_dtype(), (1,), b"\0" * 8) + _v((1, (1,), None, False, b"")) + b"b"
        ),
        "ndarray_call": _p2(_g("numpy", "ndarray") + _v(((1 << 33,), "f8")) + b"R"),
        "scalar_short": _p2(
            _g("numpy.core.multiarray", "scalar") + _dtype() + _v(b"\0") + b"\x86R"
        ),
        "frombuffer_huge": _p2(
            _g("numpy._core.numeric", "_frombuffer")
            + b"("
            + _v(b"\0" * 8)
            + _dtype()
            + _v((1 << 40,))
            + _v("C")
            + b"tR"
        ),
        "nesting_10000": _p2(b"]" * 10_000 + b"a" * 9_999),
        "cycle": _p2(b"]q\x00h\x00a"),
        "laughs_2_200": _p2(laughs),
        "memo_index_2_32": _p2(b"Nr\xff\xff\xff\xff"),
        "bytes8_claims_1_tib": b"\x80\x04\x8e" + struct.pack("<Q", 1 << 40) + b"abc.",
        "unicode4_claims_4_gib": b"\x80\x02X\xff\xff\xff\xffabc.",
        "list_amplification": _p2(amplify),
        "encode_amplification": _p2(encode + b"l"),
        "bytes_of_int": _p2(_g("__builtin__", "bytes") + _v((10**12,)) + b"R"),
        "sparse_bad_indices": _p2(
            _sparse(
                {
                    "data": np.ones(2),
                    "indices": np.array([0, 99]),
                    "indptr": np.array([0, 1, 2]),
                    "_shape": (3, 2),
                }
            )
        ),
        "sparse_bad_indptr": _p2(
            _sparse(
                {
                    "data": np.ones(2),
                    "indices": np.array([0, 1]),
                    "indptr": np.array([0, 5, 2]),
                    "_shape": (3, 2),
                }
            )
        ),
        "sparse_dense_16_gb": _p2(
            _sparse(
                {
                    "data": np.ones(1),
                    "indices": np.array([0]),
                    "indptr": np.array([0, 1, 1]),
                    "_shape": (10**9, 2),
                }
            )
        ),
        "build_on_global": _p2(_g("numpy", "dtype") + _v((None, {"__defaults__": (1,)})) + b"b"),
        "newobj_global": _p2(_g("numpy", "dtype") + b")\x81"),
        "copyreg_list": _p2(
            _g("copy_reg", "_reconstructor")
            + _g("__builtin__", "list")
            + _g("__builtin__", "object")
            + b"N\x87R"
        ),
        "chumpy_string_x": _p2(_g("chumpy.ch", "Ch") + b")R" + _v({"x": "not an array"}) + b"b"),
        "object_result": _p2(_g("__builtin__", "object") + b")R"),
        "long_decimal": b"L" + b"9" * 100_000 + b"L\n.",
        "os_system": _p2(_g("os", "system") + _v(("true",)) + b"R"),
        "no_stop": b"\x80\x02N",
    }
    return out


# ---------------------------------------------------------------------------- crafted npz


def _npy(header: dict, data: bytes) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + data


def _zip(members: dict, compression=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def crafted_npz() -> dict[str, bytes]:
    """Archives that must give a ValueError naming the file without allocating what they
    claim: a header claiming 74.5 GiB, a zip entry claiming 4 GiB, object arrays, ..."""
    claim = {"descr": "<f8", "fortran_order": False, "shape": (10**10,)}  # 74.5 GiB
    good = {"descr": "<f8", "fortran_order": False, "shape": (2,)}
    stored = _zip({"a.npy": _npy(good, b"\0" * 16)})
    size_field = stored.rfind(b"PK\x01\x02") + 24  # central directory: uncompressed size
    objects = io.BytesIO()
    np.savez(objects, a=np.array([{"x": 1}], dtype=object))
    return {
        "header_claims_74_gib": _zip({"a.npy": _npy(claim, b"\0" * 16)}),
        "header_claims_74_gib_deflated": _zip(
            {"a.npy": _npy(claim, b"\0" * 16)}, zipfile.ZIP_DEFLATED
        ),
        "zip_entry_claims_4_gib": stored[:size_field]
        + b"\xff\xff\xff\xfe"
        + stored[size_field + 4 :],
        "header_shorter_than_data": _zip({"a.npy": _npy(good, b"\0" * 24)}),
        "object_array": objects.getvalue(),
        "structured": _zip(
            {
                "a.npy": _npy(
                    {"descr": [("a", "<f8")], "fortran_order": False, "shape": (1,)}, b"\0" * 8
                )
            }
        ),
        "bad_magic": _zip({"a.npy": b"NUMPY" + b"\0" * 100}),
        "bad_crc": stored.replace(b"\0" * 16, b"\1" * 16, 1),
        "not_a_zip": b"PK\x03\x04 but not really",
        "truncated": stored[: len(stored) // 2],
    }


# ------------------------------------------------------------------------- special files


def _png(path: Path, width: int, height: int) -> None:
    from PIL import Image

    Image.new("L", (width, height)).save(path, optimize=True)


def special_cases(folder: Path) -> dict:
    """``{name: (load, files that may be named)}``: callables loading one hostile input each.

    A FIFO or ``/dev/zero`` given as OBJ, PLY, pickle, npz, MTL or texture; a directory; a
    9000 x 9000 PNG texture; 5 MB lines (a face of 600 000 textured corners, numbers, a
    ``usemtl`` name, an MTL line); a 5 MB file without newlines starting with ``mtllib``;
    names over 255 bytes or with NUL in ``mtllib`` / ``map_Kd``; PLY faces typed float.
    """
    from jax3d.io import load_npz, load_obj, read_ply, restricted_load
    from jax3d.io.obj import load_obj_with_names
    from jax3d.io.obj_meshes import uv_texture_from_obj

    def obj_textured(path):
        v, faces, aux, names = load_obj_with_names(path, True, False, 4, "repeat", False)
        if aux.texture_images:
            uv_texture_from_obj(faces, aux, names, "repeat")

    readers = {"obj": load_obj, "ply": read_ply, "pkl": restricted_load, "npz": load_npz}
    os.mkfifo(folder / "fifo")
    os.symlink("/dev/zero", folder / "zero")
    (folder / "dir.obj").mkdir()
    _png(folder / "big.png", 9000, 9000)
    (folder / "tex.png").write_bytes(_small_png())
    head = b"v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 1 1\n"
    write = {
        "fifo_mtl.obj": b"mtllib fifo\nusemtl a\n" + head + b"f 1 2 3\n",
        "zero_mtl.obj": b"mtllib zero\nusemtl a\n" + head + b"f 1 2 3\n",
        "tex_fifo.mtl": b"newmtl a\nmap_Kd fifo\n",
        "tex_zero.mtl": b"newmtl a\nmap_Kd zero\n",
        "fifo_tex.obj": b"mtllib tex_fifo.mtl\nusemtl a\n" + head + b"f 1/1 2/2 3/3\n",
        "zero_tex.obj": b"mtllib tex_zero.mtl\nusemtl a\n" + head + b"f 1/1 2/2 3/3\n",
        "big.mtl": b"newmtl a\nmap_Kd big.png\n",
        "big_tex.obj": b"mtllib big.mtl\nusemtl a\n" + head + b"f 1/1 2/2 3/3\n",
        "two.mtl": b"newmtl a\nKd 1 0 0\nmap_Kd tex.png\nnewmtl b\nKd 0 1 0\n",
        "long_face.obj": b"mtllib two.mtl\n"
        + head
        + b"usemtl a\nf "
        + b"1/1 2/2 3/3 4/1 " * 150_000
        + b"\nusemtl b\nf 1 2 3\n",
        "long_v.obj": b"v " + b"1.5 " * 1_300_000 + b"\n",
        "long_usemtl.obj": head + b"usemtl " + b"n" * 5_000_000 + b"\nf 1 2 3\n",
        "no_newlines.obj": (b"mtllib two.mtl " + head.replace(b"\n", b" ") * 100_000),
        "long_mtl_line.mtl": b"newmtl a\nKd " + b"1 " * 2_500_000 + b"\n",
        "long_mtl_line.obj": b"mtllib long_mtl_line.mtl\nusemtl a\n" + head + b"f 1 2 3\n",
        "long_mtllib.obj": b"mtllib " + b"m" * 300 + b".mtl\nusemtl a\n" + head + b"f 1 2 3\n",
        "long_map.mtl": b"newmtl a\nmap_Kd " + b"t" * 300 + b".png\n",
        "long_map.obj": b"mtllib long_map.mtl\nusemtl a\n" + head + b"f 1/1 2/2 3/3\n",
        "nul_map.mtl": b"newmtl a\nmap_Kd t\x00.png\n",
        "nul_map.obj": b"mtllib nul_map.mtl\nusemtl a\n" + head + b"f 1/1 2/2 3/3\n",
        "float_faces.ply": b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\n"
        b"property float y\nproperty float z\nelement face 1\nproperty list uchar float "
        b"vertex_indices\nend_header\n0 0 0\n1 0 0\n0 1 0\n3 0 1.5 2\n",
    }
    for name, data in write.items():
        (folder / name).write_bytes(data)
    cases = {}
    for kind, read in readers.items():
        cases[f"{kind}: FIFO"] = (lambda r=read: r(folder / "fifo"), "fifo")
        cases[f"{kind}: symlink to /dev/zero"] = (lambda r=read: r(folder / "zero"), "zero")
    cases["obj: a directory"] = (lambda: load_obj(folder / "dir.obj"), "dir.obj")
    for name in (
        "fifo_mtl",
        "zero_mtl",
        "fifo_tex",
        "zero_tex",
        "big_tex",
        "long_mtllib",
        "long_map",
        "nul_map",
        "long_usemtl",
        "long_v",
        "long_mtl_line",
    ):
        cases[f"obj: {name}"] = (lambda n=name: load_obj(folder / f"{n}.obj"), name)
    for name in ("long_face", "no_newlines"):
        cases[f"obj (textured meshes): {name}"] = (
            lambda n=name: obj_textured(folder / f"{n}.obj"),
            name,
        )
    cases["ply: float face list"] = (lambda: read_ply(folder / "float_faces.ply"), "float_faces")
    for name, data in crafted_pickles().items():
        (folder / f"{name}.pkl").write_bytes(data)
        cases[f"pickle: {name}"] = (lambda n=name: restricted_load(folder / f"{n}.pkl"), name)
    for name, data in crafted_npz().items():
        (folder / f"{name}.npz").write_bytes(data)
        cases[f"npz: {name}"] = (lambda n=name: load_npz(folder / f"{n}.npz"), name)
    return cases


def _small_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((4, 4, 3), 200, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def run_special() -> None:
    """Print the outcome, time (untraced) and peak traced allocation of every special case."""
    import tracemalloc

    from tests.io.fuzzing import run_case

    resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, (load, _) in special_cases(folder).items():
            r = run_case(lambda data, seed, f=load: f(), b"", b"", folder, limit_s=120)
            tracemalloc.start()  # a second run, traced, for its allocations
            mb = run_case(lambda data, seed, f=load: f(), b"", b"", folder, limit_s=120)["mb"]
            tracemalloc.stop()
            counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
            line = f"{name:45s} {r['outcome']:9s} {r['s']:6.2f} s {mb:7.1f} MB  "
            print(line + r["message"][:110], flush=True)
    print("outcomes:", counts)


_PEAK_RSS = (
    "def peak():\n"  # VmHWM: this process's own peak (ru_maxrss would include its parent's)
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            return int(line.split()[1]) * 1024\n"
)


def run_memory(sizes=((700, "grid"), (3_000_000, "compact"))) -> None:
    """Peak RSS of ``load_obj`` (in a fresh process) on generated large OBJ files (Linux)."""
    code = _PEAK_RSS + (
        "import sys, time\nimport numpy, jax3d.io\nbase = peak()\n"
        "t = time.perf_counter()\n"
        "v, f, _ = jax3d.io.load_obj(sys.argv[1], load_textures=False)\n"
        "print(len(v), len(f.verts_idx), time.perf_counter() - t, base, peak())\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for n, kind in sizes:
            path = Path(tmp) / f"{kind}.obj"
            _write_large_obj(path, n, kind)
            out = subprocess.run(
                [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
            ).stdout.split()
            nv, nf, t, base, rss = int(out[0]), int(out[1]), float(out[2]), int(out[3]), int(out[4])
            size = path.stat().st_size
            print(
                f"{kind}: {size / 1e6:.1f} MB, {nv} verts, {nf} faces: {t:.2f} s, peak RSS "
                f"{rss / 1e6:.0f} MB = {rss / size:.1f}x the file ({(rss - base) / 1e6:.0f} MB "
                f"over the {base / 1e6:.0f} MB after imports, {(rss - base) / size:.1f}x)"
            )


def _write_large_obj(path: Path, n: int, kind: str) -> None:
    """``grid``: an n x n vertex grid, 2 (n - 1)^2 triangles; ``compact``: 4 vertices and n
    faces ``f 1 2 3`` (8 bytes a face: the worst case for memory per byte)."""
    with open(path, "w") as fh:
        if kind == "compact":
            fh.write("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\n")
            fh.write("f 1 2 3\n" * n)
            return
        y, x = np.mgrid[0:n, 0:n].astype(np.float64) / (n - 1)
        np.savetxt(
            fh, np.stack([x.ravel(), y.ravel(), np.sin(3 * x.ravel())], 1), fmt="v %.6f %.6f %.6f"
        )
        idx = np.arange(n * n).reshape(n, n) + 1
        a, b, c, d = (
            idx[:-1, :-1].ravel(),
            idx[:-1, 1:].ravel(),
            idx[1:, 1:].ravel(),
            idx[1:, :-1].ravel(),
        )
        np.savetxt(
            fh, np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)]), fmt="f %d %d %d"
        )
