"""Fuzzing the readers: mutated OBJ / PLY files may only give ValueError (or warnings).

Each run mutates small valid seeds (byte flips, truncations, token swaps, huge numbers, line
deletions / duplications, random bytes) with a fixed seed. A mutated file must load or raise
``ValueError``; any other exception, a run longer than ``TIME_LIMIT_S``, or a peak of traced
memory over ``MEMORY_LIMIT`` fails the test (so a header claiming 10^12 vertices must not
allocate).
"""

from __future__ import annotations

import io
import signal
import time
import tracemalloc
import warnings

import numpy as np
import pytest

from jax3d.io import load_obj, read_ply, save_ply

TIME_LIMIT_S = 2.0
MEMORY_LIMIT = 64 << 20

OBJ_SEED = b"""# seed
mtllib seed.mtl
o thing
v 0 0 0
v 1 0 0
v 1 1 0
v 0 1 0 0.5 0.5 0.5
vt 0 0
vt 1 0
vt 1 1
vn 0 0 1
usemtl red
f 1/1/1 2/2/1 3/3/1 4/1/1
g other
s 1
usemtl blue
f -4//1 -2//1 -1//1
l 1 2
f 1 2 4
"""
MTL_SEED = b"newmtl red\nKd 1 0 0\nNs 10\nmap_Kd -s 1 1 1 tex.png\nnewmtl blue\nKa 0 0 1\nd 0.5\n"

HUGE = [b"1000000000000", b"-99999999999999999999", b"nan", b"1e999", b"0", b"-1", b"4294967295",
        b"2147483648", b"//", b"/", b"3.5", b"\xff\xfe", b""]  # fmt: skip


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One to three random mutations of ``data``."""
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(0, 7))
        if not out:
            break
        if kind == 0:  # byte flips
            for _ in range(int(rng.integers(1, 4))):
                out[int(rng.integers(0, len(out)))] = int(rng.integers(0, 256))
        elif kind == 1:  # truncation
            out = out[: int(rng.integers(0, len(out)))]
        elif kind in (2, 3):  # token swap / replace a token with a huge or odd value
            toks = bytes(out).split(b" ")
            i, j = rng.integers(0, len(toks), 2)
            if kind == 2:
                toks[i], toks[j] = toks[j], toks[i]
            else:
                toks[i] = HUGE[int(rng.integers(0, len(HUGE)))]
            out = bytearray(b" ".join(toks))
        elif kind == 4:  # delete or duplicate a line
            lines = bytes(out).split(b"\n")
            i = int(rng.integers(0, len(lines)))
            lines[i : i + 1] = [] if rng.random() < 0.5 else [lines[i]] * 2
            out = bytearray(b"\n".join(lines))
        elif kind == 5:  # insert random bytes
            i = int(rng.integers(0, len(out) + 1))
            out[i:i] = rng.integers(0, 256, int(rng.integers(1, 8))).astype(np.uint8).tobytes()
        else:  # huge count in a header-like position
            text = bytes(out)
            for word in (b"vertex ", b"face ", b"junk "):
                k = text.find(word)
                if k >= 0 and rng.random() < 0.7:
                    end = text.find(b"\n", k)
                    end = len(text) if end < 0 else end
                    text = text[:k] + word + HUGE[int(rng.integers(0, 3))] + text[end:]
            out = bytearray(text)
    return bytes(out)


def ply_seeds() -> dict[str, bytes]:
    """ASCII and binary seeds with colours, polygons and an unknown element with lists."""
    rng = np.random.default_rng(0)
    verts = rng.random((6, 3)).astype(np.float32)
    faces = np.array([[0, 1, 2], [2, 3, 4], [4, 5, 0]])
    seeds = {}
    for name, kw in (("ascii", dict(ascii=True)), ("binary", dict()),
                     ("binary_be", dict(big_endian=True))):  # fmt: skip
        buf = io.BytesIO()
        save_ply(buf, verts, faces, verts_colors=rng.random((6, 3)), **kw)
        data = buf.getvalue()
        head, body = data.split(b"end_header\n")
        junk = b"element junk 2\nproperty list uchar float stuff\nproperty short k\n"
        if name == "ascii":
            junk_body = b"2 0.5 1.5 7\n0 -3\n"
        else:
            order = ">" if name == "binary_be" else "<"
            junk_body = (b"\x02" + np.array([0.5, 1.5], order + "f4").tobytes() +
                         np.array([7], order + "i2").tobytes() + b"\x00" +
                         np.array([-3], order + "i2").tobytes())  # fmt: skip
        seeds[name] = head.replace(b"element vertex", junk + b"element vertex") + \
            b"end_header\n" + junk_body + body  # fmt: skip
    return seeds


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def run_fuzz(load, seed: bytes, n: int, rng_seed: int) -> dict:
    """Load ``n`` mutants of ``seed``; returns counts of outcomes; fails on anything else."""
    rng = np.random.default_rng(rng_seed)
    outcomes = {"ok": 0, "ValueError": 0}
    old = signal.signal(signal.SIGALRM, _alarm)
    tracemalloc.start()
    try:
        for i in range(n):
            data = mutate(seed, rng)
            tracemalloc.reset_peak()
            signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT_S)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    load(data)
                outcomes["ok"] += 1
            except ValueError:
                outcomes["ValueError"] += 1
            except _Timeout:
                pytest.fail(f"mutant {i} took more than {TIME_LIMIT_S}s: {data[:300]!r}")
            except Exception as err:  # noqa: BLE001 - the point of the test
                pytest.fail(f"mutant {i} raised {type(err).__name__}: {err}\n{data[:300]!r}")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            peak = tracemalloc.get_traced_memory()[1]
            assert peak < MEMORY_LIMIT, f"mutant {i} allocated {peak} bytes: {data[:300]!r}"
    finally:
        tracemalloc.stop()
        signal.signal(signal.SIGALRM, old)
    return outcomes


@pytest.fixture
def obj_loader(tmp_path):
    """Loads OBJ bytes as if they were ``tmp_path/fuzz.obj`` (next to a valid MTL + PNG)."""
    from PIL import Image

    (tmp_path / "seed.mtl").write_bytes(MTL_SEED)
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / "tex.png")
    (tmp_path / "fuzz.obj").write_bytes(b"")

    def load(data: bytes):
        f = io.BytesIO(data)
        f.name = str(tmp_path / "fuzz.obj")
        return load_obj(f, create_texture_atlas=True, texture_atlas_size=2)

    return load


def _ply_loader(data: bytes):
    return read_ply(io.BytesIO(data))


def _mtl_loader(tmp_path, obj_load):
    def load(data: bytes):
        (tmp_path / "seed.mtl").write_bytes(data)
        return obj_load(OBJ_SEED)

    return load


@pytest.mark.parametrize("n", [2000])
def test_fuzz_obj(obj_loader, n):
    out = run_fuzz(obj_loader, OBJ_SEED, n, rng_seed=1)
    assert out["ok"] > 0 and out["ValueError"] > 0, out


def test_fuzz_mtl(obj_loader, tmp_path):
    out = run_fuzz(_mtl_loader(tmp_path, obj_loader), MTL_SEED, 300, rng_seed=2)
    assert out["ok"] > 0 and out["ValueError"] > 0, out


@pytest.mark.parametrize("fmt", ["ascii", "binary", "binary_be"])
def test_fuzz_ply(fmt):
    out = run_fuzz(_ply_loader, ply_seeds()[fmt], 2000, rng_seed=3)
    assert out["ok"] > 0 and out["ValueError"] > 0, out


def test_seeds_are_valid(obj_loader):
    verts, faces, aux = obj_loader(OBJ_SEED)
    assert verts.shape == (4, 3) and len(faces.verts_idx) == 4
    assert set(aux.material_colors) == {"red", "blue"} and "red" in aux.texture_images
    for data in ply_seeds().values():
        mesh = read_ply(io.BytesIO(data))
        assert mesh.faces.shape == (3, 3) and mesh.elements["junk"] == 2


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["obj", "ascii", "binary", "binary_be"])
def test_fuzz_large(obj_loader, fmt):
    if fmt == "obj":
        out = run_fuzz(obj_loader, OBJ_SEED, 20000, rng_seed=10)
    else:
        out = run_fuzz(_ply_loader, ply_seeds()[fmt], 20000, rng_seed=11)
    assert out["ok"] > 0 and out["ValueError"] > 0, out


def test_huge_declared_count_is_fast():
    data = b"ply\nformat binary_little_endian 1.0\nelement vertex 1000000000000\n" \
        b"property float x\nproperty float y\nproperty float z\nend_header\n" + b"\0" * 12
    start = time.perf_counter()
    with pytest.raises(ValueError, match="declares"):
        _ply_loader(data)
    assert time.perf_counter() - start < 0.5
