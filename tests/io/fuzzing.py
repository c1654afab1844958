"""Seeded fuzzing of the untrusted-file readers (OBJ, MTL, PLY, pickles, .npz).

Used by ``tests/io/test_fuzz.py`` (a few hundred mutants per format in ``make test``) and by
``make fuzz`` / ``python -m tests.io.fuzzing`` for long runs and for the figures of issue #21:

    python -m tests.io.fuzzing --count 5000              # mutants per format
    python -m tests.io.fuzzing --special                 # the hand-made hostile cases
    python -m tests.io.fuzzing --memory                  # load_obj peak RSS on large files

Each format runs in a child process (so a crash is counted, not fatal), untraced (so times are
true) and under a 6 GiB address-space limit (so an unbounded allocation is a counted crash);
every case should load, or raise ValueError / TypeError whose message names one of the files,
within ``SLOW_S`` (cases over it are counted as slow). ``RSS MB`` is the child's peak resident
memory over all its cases. Seeds are generated here, plus the real assets when ``JAX3D_DATA``
is set. Mutations (byte flips, truncations, token swaps, huge or odd values, line deletions and
duplications, random bytes, huge counts, joined lines, long tokens, repeated lines) are drawn
from ``numpy.random.default_rng([seed, case])``, so any case can be replayed alone.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import resource
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
import types
import warnings
from pathlib import Path

import numpy as np

FORMATS = ("obj", "mtl", "ply_ascii", "ply_binary", "pickle", "npz")
SLOW_S = 1.0
GROWTH = 1 << 18  # most bytes one mutation adds (the hand-made cases cover huge inputs)
ADDRESS_SPACE = 6 << 30

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
usemtl white
f 1 2 4
"""
MTL_SEED = (
    b"newmtl red\nKd 1 0 0\nNs 10\nmap_Kd -s 1 1 1 tex.png\nnewmtl blue\nKa 0 0 1\n"
    b"d 0.5\nmap_Kd tex2.png\nnewmtl white\nKd 1\nillum 2\n"
)

HUGE = [
    b"1000000000000",
    b"-99999999999999999999",
    b"nan",
    b"1e999",
    b"0",
    b"-1",
    b"4294967295",
    b"2147483648",
    b"//",
    b"/",
    b"3.5",
    b"\xff\xfe",
    b"",
    b"1/2/3/4",
    b"+",
    b"-0",
    b"1e-45",
    b"\x00",
    b"1,5",
    b"inf",
]


def mutate(data: bytes, rng: np.random.Generator, growth: int = GROWTH) -> bytes:
    """One to three random mutations of ``data``; repeated lines add at most ``growth`` bytes."""
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        if not out:
            break
        kind = int(rng.integers(0, 10))
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
        elif kind == 6:  # huge count in a header-like position
            text = bytes(out)
            for word in (b"vertex ", b"face ", b"junk "):
                k = text.find(word)
                if k >= 0 and rng.random() < 0.7:
                    end = text.find(b"\n", k)
                    end = len(text) if end < 0 else end
                    text = text[:k] + word + HUGE[int(rng.integers(0, 3))] + text[end:]
            out = bytearray(text)
        elif kind == 7:  # join lines (a file without newlines)
            out = bytearray(bytes(out).replace(b"\n", b" "))
        elif kind == 8:  # a long token (names over 255 bytes, long numbers)
            toks = bytes(out).split(b" ")
            i = int(rng.integers(0, len(toks)))
            toks[i] = (toks[i][:1] or b"x") * int(rng.integers(200, 5000))
            out = bytearray(b" ".join(toks))
        else:  # repeat a line many times (long lines when combined with kind 7), to ~256 KB
            lines = bytes(out).split(b"\n")
            i = int(rng.integers(0, len(lines)))
            most = max(2, min(2000, growth // (len(lines[i]) + 1)))
            lines[i : i + 1] = [lines[i]] * int(rng.integers(2, most + 1))
            out = bytearray(b"\n".join(lines))
    return bytes(out)


# ----------------------------------------------------------------------------------- seeds


def ply_seeds() -> dict[str, bytes]:
    """ASCII and binary (LE, BE) seeds with colours, polygons and an unknown list element."""
    from jax3d.io import save_ply

    rng = np.random.default_rng(0)
    verts = rng.random((6, 3)).astype(np.float32)
    faces = np.array([[0, 1, 2], [2, 3, 4], [4, 5, 0]])
    seeds = {}
    for name, kw in (
        ("ascii", dict(ascii=True)),
        ("binary", dict()),
        ("binary_be", dict(big_endian=True)),
    ):
        buf = io.BytesIO()
        save_ply(buf, verts, faces, verts_colors=rng.random((6, 3)), **kw)
        head, body = buf.getvalue().split(b"end_header\n")
        junk = b"element junk 2\nproperty list uchar float stuff\nproperty short k\n"
        if name == "ascii":
            junk_body = b"2 0.5 1.5 7\n0 -3\n"
        else:
            order = ">" if name == "binary_be" else "<"
            junk_body = (
                b"\x02"
                + np.array([0.5, 1.5], order + "f4").tobytes()
                + np.array([7], order + "i2").tobytes()
                + b"\x00"
                + np.array([-3], order + "i2").tobytes()
            )
        seeds[name] = (
            head.replace(b"element vertex", junk + b"element vertex")
            + b"end_header\n"
            + junk_body
            + body
        )
    return seeds


class _FakeModules:
    """Stand-in ``chumpy.ch.Ch`` and ``scipy.sparse._csc.csc_matrix`` classes in sys.modules
    while pickling (they pickle as the real ones; the loader never imports either)."""

    NAMES = ("chumpy", "chumpy.ch", "scipy.sparse._csc")

    def __enter__(self):
        class Ch:
            def __init__(self, x):
                self.x = np.asarray(x)

            def __getstate__(self):
                return {"x": self.x, "_dirty_vars": {"x"}, "label": None, "_itr": np.int64(3)}

        class csc_matrix:  # noqa: N801 - SciPy's name
            def __init__(self, dense):
                dense = np.asarray(dense)
                cols, rows = np.nonzero(dense.T)
                indptr = np.searchsorted(cols, np.arange(dense.shape[1] + 1))
                self.__dict__.update(
                    data=dense[rows, cols],
                    indices=rows.astype(np.int32),
                    indptr=indptr.astype(np.int32),
                    _shape=dense.shape,
                )

        Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
        csc_matrix.__module__, csc_matrix.__qualname__ = "scipy.sparse._csc", "csc_matrix"
        self.saved = {k: sys.modules.get(k) for k in self.NAMES}
        mods = {k: types.ModuleType(k) for k in self.NAMES}
        mods["chumpy.ch"].Ch = Ch
        mods["scipy.sparse._csc"].csc_matrix = csc_matrix
        sys.modules.update(mods)
        return Ch, csc_matrix

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def pickle_seeds() -> dict[str, bytes]:
    """Model-like pickles: an SMPL-style dict with chumpy and sparse stand-ins (protocols 0
    and 2, as Python 2 wrote them), and a weights dict (protocols 2 and 5, NumPy 2)."""
    rng = np.random.default_rng(1)
    with _FakeModules() as (Ch, csc_matrix):
        smpl = {
            "v_template": Ch(rng.random((6, 3))),
            "f": np.array([[0, 1, 2], [3, 4, 5]]),
            "J_regressor": csc_matrix(np.eye(3, 6)),
            "kintree_table": np.array([[-1, 0, 1], [0, 1, 2]]),
            "weights": rng.random((6, 3)).astype(np.float32),
            "bs_type": "lrotmin",
            "pose_training_info": {"n": 3, "s": (1.5, None)},
        }
        seeds = {f"smpl_p{p}": pickle.dumps(smpl, protocol=p) for p in (0, 2)}
    weights = {
        "lin": {"w": rng.random((1, 4, 1, 1)).astype(np.float32)},
        "b": np.arange(3, dtype=">i2"),
        "s": np.float64(2.5),
        "c": [np.bool_(True)],
    }
    seeds.update({f"weights_p{p}": pickle.dumps(weights, protocol=p) for p in (2, 5)})
    return seeds


def npz_seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(2)
    arrays = {
        "a": rng.random((3, 4)),
        "b": np.arange(5, dtype=np.int32),
        "c": np.asfortranarray(rng.random((2, 3)).astype(np.float32)),
    }
    seeds = {}
    for name, save in (("npz", np.savez), ("npz_compressed", np.savez_compressed)):
        buf = io.BytesIO()
        save(buf, **arrays)
        seeds[name] = buf.getvalue()
    return seeds


def _mtl_driver(mtl: bytes, mtl_name: str) -> bytes:
    """An OBJ that uses every material of ``mtl`` (so their lines are all parsed)."""
    names = [
        ln.split(None, 1)[1].strip()
        for ln in mtl.decode("utf-8", "replace").splitlines()
        if ln.startswith("newmtl ")
    ]
    body = "".join(f"usemtl {n}\nf 1/1 2/2 3/3\n" for n in names)
    head = f"mtllib {mtl_name}\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 0 1\n"
    return (head + body).encode()


def seeds(fmt: str, real: bool) -> tuple[list[bytes], dict[str, bytes]]:
    """``(seeds, aux files)`` of a format: the files put next to the fuzzed one."""
    from PIL import Image

    png = io.BytesIO()
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(png, format="PNG")
    aux = {"seed.mtl": MTL_SEED, "tex.png": png.getvalue(), "tex2.png": png.getvalue()}
    out: list[bytes] = []
    data = Path(os.environ["JAX3D_DATA"]) if real and os.environ.get("JAX3D_DATA") else None
    if fmt == "obj":
        out = [OBJ_SEED]
        if data is not None:
            folder = data / "meshes" / "cube_texture"
            out += [
                (folder / "cube_texture.obj").read_bytes(),
                (data / "meshes/cube.obj").read_bytes(),
            ]
            aux.update(
                {
                    p.name: p.read_bytes()
                    for p in (
                        folder / "cube_texture.mtl",
                        folder / "wal67ar_small.jpg",
                        data / "meshes/cube.mtl",
                    )
                }
            )
    elif fmt == "mtl":
        out = [MTL_SEED]
        if data is not None:
            out += [
                (data / "meshes/cube_texture/cube_texture.mtl").read_bytes(),
                (data / "meshes/cube.mtl").read_bytes(),
            ]
            aux["wal67ar_small.jpg"] = (data / "meshes/cube_texture/wal67ar_small.jpg").read_bytes()
    elif fmt in ("ply_ascii", "ply_binary"):
        p = ply_seeds()
        out = [p["ascii"]] if fmt == "ply_ascii" else [p["binary"], p["binary_be"]]
        if data is not None:
            real_ply = [
                (data / "ply" / n).read_bytes() for n in ("cube.ply", "parallel_plane_color.ply")
            ]
            out += real_ply if fmt == "ply_ascii" else [_as_binary(b) for b in real_ply]
    elif fmt == "pickle":
        out = list(pickle_seeds().values())
        if data is not None:
            out.append((data / "smplify/gmm_08.pkl").read_bytes())  # 839 KB, Python 2
    elif fmt == "pickle_small":  # the pickle seeds under 256 KB (for the quick default test)
        return [s for s in seeds("pickle", real)[0] if len(s) < 1 << 18], aux
    elif fmt == "npz":
        out = list(npz_seeds().values())
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return out, aux


def _as_binary(ply: bytes) -> bytes:
    from jax3d.io import read_ply, save_ply

    mesh = read_ply(io.BytesIO(ply))
    buf = io.BytesIO()
    save_ply(buf, mesh.verts, mesh.faces, verts_colors=mesh.colors, big_endian=len(ply) % 2 == 1)
    return buf.getvalue()


# ------------------------------------------------------------------------------ the loaders


def loader(fmt: str, folder: Path):
    """``load(data, seed)``: writes ``data`` into ``folder`` under a new name (rewriting a
    file is slow on some file systems) and reads it the way a user would (by path, so
    folders and names are resolved); the MTL of ``mtl`` cases is named by a small OBJ."""
    from jax3d.io import load_npz, read_ply, restricted_load
    from jax3d.io.obj import load_obj_with_names
    from jax3d.io.obj_meshes import uv_texture_from_obj

    def obj(path):
        v, faces, aux, names = load_obj_with_names(path, True, True, 2, "repeat", False)
        if aux.texture_images:  # the texture packing of load_objs_as_meshes
            uv_texture_from_obj(faces, aux, names, "repeat")

    fmt = "pickle" if fmt == "pickle_small" else fmt
    read = {"obj": obj, "pickle": restricted_load, "npz": load_npz}.get(fmt, read_ply)
    suffix = {"obj": ".obj", "mtl": ".mtl", "pickle": ".pkl", "npz": ".npz"}.get(fmt, ".ply")
    counter = iter(range(1 << 62))

    def load(data: bytes, seed: bytes = b"") -> None:
        path = folder / f"fuzz{next(counter)}{suffix}"
        written = [path]
        try:
            path.write_bytes(data)
            if fmt == "mtl":
                written.append(path.with_suffix(".obj"))
                written[1].write_bytes(_mtl_driver(seed, path.name))
                obj(written[1])
            else:
                read(path)
        finally:
            for p in written:
                p.unlink(missing_ok=True)

    return load


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def run_case(load, data: bytes, seed: bytes, folder: Path, *, limit_s: float = 60.0) -> dict:
    """One case: ``{"outcome": ok | error | unlocated | crash | hang, "s", "mb", "message"}``.

    ``error``: ValueError / TypeError naming a file of ``folder`` (by its path);
    ``unlocated``: one that does not; ``crash``: any other exception. ``mb``: peak traced
    allocation of the case when tracemalloc is on, else the process's peak resident memory.
    """
    old = signal.signal(signal.SIGALRM, _alarm)
    tracing = tracemalloc.is_tracing()
    if tracing:
        tracemalloc.reset_peak()
    start = time.perf_counter()
    signal.setitimer(signal.ITIMER_REAL, limit_s)
    message = ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load(data, seed)
        outcome = "ok"
    except (ValueError, TypeError) as err:
        message = f"{type(err).__name__}: {err}"
        located = (str(folder), os.path.realpath(folder))
        outcome = "error" if any(f in str(err) for f in located) else "unlocated"
    except _Timeout:
        outcome, message = "hang", f"more than {limit_s} s"
    except Exception as err:  # noqa: BLE001 - counting what escapes is the point
        outcome, message = "crash", f"{type(err).__name__}: {err}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    seconds = time.perf_counter() - start
    if tracing:
        mb = tracemalloc.get_traced_memory()[1] / 2**20
    else:  # the process's peak resident memory so far (Linux reports KiB)
        mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"outcome": outcome, "s": seconds, "mb": mb, "message": message[:300]}


def cases(fmt: str, count: int, seed: int, real: bool, start: int = 0, growth: int = GROWTH):
    """``(index, mutant, its seed)`` for cases ``start .. count - 1`` (each replayable)."""
    seed_list, _ = seeds(fmt, real)
    for i in range(start, count):
        rng = np.random.default_rng([seed, i])
        s = seed_list[int(rng.integers(0, len(seed_list)))]
        yield i, mutate(s, rng, growth), s


def prepare(fmt: str, folder: Path, real: bool) -> None:
    for name, data in seeds(fmt, real)[1].items():
        (folder / name).write_bytes(data)


# ------------------------------------------------------------------------------ long runs


def _worker(args) -> None:
    """Child process: run cases untraced (true times), one JSON line per case on stdout; an
    address-space limit turns any unbounded allocation into a counted crash."""
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        prepare(args.worker, folder, args.real)
        load = loader(args.worker, folder)
        for i, data, s in cases(args.worker, args.count, args.seed, args.real, args.start):
            r = run_case(load, data, s, folder)
            print(json.dumps({"i": i, **r}), flush=True)


def fuzz_format(fmt: str, count: int, seed: int, real: bool) -> dict:
    """Run ``count`` cases of ``fmt`` in child processes; a dead child counts as a crash."""
    summary = {
        "ok": 0,
        "error": 0,
        "unlocated": 0,
        "crash": 0,
        "hang": 0,
        "slow": 0,
        "max_s": 0.0,
        "max_mb": 0.0,
        "examples": [],
    }
    start = 0
    while start < count:
        cmd = [
            sys.executable,
            "-m",
            "tests.io.fuzzing",
            "--worker",
            fmt,
            "--count",
            str(count),
            "--seed",
            str(seed),
            "--start",
            str(start),
        ] + (["--real"] if real else [])
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        last = start - 1
        for line in proc.stdout:
            r = json.loads(line)
            last = r["i"]
            summary[r["outcome"]] += 1
            summary["slow"] += r["s"] > SLOW_S
            summary["max_s"] = max(summary["max_s"], r["s"])
            summary["max_mb"] = max(summary["max_mb"], r["mb"])
            if r["outcome"] not in ("ok", "error") or r["s"] > SLOW_S:
                summary["examples"].append({k: r[k] for k in ("i", "outcome", "s", "message")})
        proc.wait()
        if last + 1 < count and proc.returncode != 0:  # the child died on case last + 1
            summary["crash"] += 1
            summary["examples"].append(
                {
                    "i": last + 1,
                    "outcome": "crash",
                    "message": f"child exited with {proc.returncode}",
                }
            )
        start = last + 2 if proc.returncode != 0 else count
    return summary


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=int(os.environ.get("FUZZ_COUNT", 1000)))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument(
        "--real",
        action="store_true",
        default=bool(os.environ.get("JAX3D_DATA")),
        help="also mutate the real assets of JAX3D_DATA (default when it is set)",
    )
    parser.add_argument("--special", action="store_true", help="run the hand-made cases")
    parser.add_argument("--memory", action="store_true", help="measure load_obj peak RSS")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args)
    if args.special:
        from tests.io.fuzz_special import run_special

        return run_special()
    if args.memory:
        from tests.io.fuzz_special import run_memory

        return run_memory()
    print(f"{args.count} mutants per format, seed {args.seed}, real assets: {args.real}")
    print(
        f"{'format':12s} {'ok':>6s} {'error':>6s} {'unloc':>6s} {'crash':>6s} {'hang':>5s} "
        f"{'slow':>5s} {'max s':>7s} {'RSS MB':>7s}"
    )
    for fmt in args.formats.split(","):
        s = fuzz_format(fmt, args.count, args.seed, args.real)
        print(
            f"{fmt:12s} {s['ok']:6d} {s['error']:6d} {s['unlocated']:6d} {s['crash']:6d} "
            f"{s['hang']:5d} {s['slow']:5d} {s['max_s']:7.2f} {s['max_mb']:7.1f}",
            flush=True,
        )
        for ex in s["examples"][:5]:
            print("    ", ex)


if __name__ == "__main__":
    main()
