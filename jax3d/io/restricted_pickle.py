"""A restricted unpickler for model files: SMPL / SMPLify pickles (Python 2, chumpy, SciPy
sparse) and pickled weights (nested dicts of NumPy arrays, NumPy 1 or 2 writers).

`restricted_load` resolves only a short whitelist of globals: NumPy's array and scalar
reconstruction functions and ``numpy.dtype``, plain containers (set, frozenset, list, tuple,
dict, slice, complex, object, OrderedDict), ``_codecs.encode`` (bytes in protocol-2 pickles),
Python 2's ``copy_reg._reconstructor`` (restricted to the stand-ins below), and chumpy classes
and SciPy's CSC/CSR classes, both mapped to inert stand-ins that only record their pickled
state. Neither chumpy nor SciPy is imported. Every other global (e.g. ``os.system``,
``builtins.eval``) raises a ValueError naming it, before anything is called.

No crafted file can run code, read stray memory, allocate without bound or crash the process:

- **arrays** are never built by NumPy's own ``__setstate__``: ``_reconstruct`` and
  ``numpy.dtype`` return stand-ins, and an array is made only from a plain numeric dtype
  (bool, int, uint, float, complex; no fields, sub-arrays or objects) whose pickled state is
  exactly what NumPy writes for it, and from data holding exactly ``prod(shape) * itemsize``
  bytes of the file (a dtype cannot be altered after it is checked);
- **allocations** (arrays, dense copies of sparse matrices, copies made by whitelisted
  constructors, and a fixed cost per pickle opcode for the Python objects it may create) are
  counted against ``max_alloc_bytes``, by default ``ALLOC_FACTOR`` times the file size plus
  ``ALLOC_SLACK``; every opcode's arguments are checked to be in the file before unpickling
  (so a length field cannot make the unpickler allocate what the file does not hold), and
  memo indices are bounded by the number of opcodes;
- **nesting** deeper than ``MAX_DEPTH`` and cyclic structures are refused;
- every failure is a ``ValueError`` naming the file.
"""

from __future__ import annotations

import io
import math
import pickle
import pickletools
import re
import struct
from collections import OrderedDict
from typing import Any

import numpy as np

from jax3d.io.files import MAX_FILE_BYTES, check_max_bytes, describe, read_limited

# Default allocation budget: ALLOC_FACTOR * file size + ALLOC_SLACK bytes.
ALLOC_FACTOR = 8
ALLOC_SLACK = 64 << 20
# Bytes charged per pickle opcode (an upper bound of the Python objects one opcode creates).
OPCODE_COST = 256
# Bytes charged per element copied by a whitelisted constructor (list, set, dict, ...).
ELEMENT_COST = 64
# Deepest nesting of containers / stand-ins accepted in the result.
MAX_DEPTH = 100
_MAX_NDIM = 32
_PLAIN_KINDS = "biufc"
_PUT_OPS = ("PUT", "BINPUT", "LONG_BINPUT")


class _Budget:
    """Bytes that one load may still allocate."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0

    def take(self, nbytes: int, what: str) -> None:
        self.used += int(nbytes)
        if self.used > self.limit:
            raise ValueError(
                f"{what} would bring the allocations of this pickle to {self.used} bytes, "
                f"more than the limit of {self.limit} (pass a larger max_alloc_bytes= if "
                "the file is trusted to need it)"
            )


class _Global:
    """A whitelisted callable as the unpickler sees it: immutable (a pickle cannot BUILD
    attributes onto it) and not a type (NEWOBJ refuses it)."""

    __slots__ = ("fn", "name")

    def __init__(self, fn, name: str):
        object.__setattr__(self, "fn", fn)
        object.__setattr__(self, "name", name)

    def __setattr__(self, key, value):
        raise AttributeError(f"{self.name} is read-only")

    def __call__(self, *args):
        return self.fn(*args)


class _StandIn:
    """An inert object that records the state a pickle gives it (never runs foreign code)."""

    args: tuple = ()
    state: Any = None

    def __init__(self, *args):
        self.args = args

    def __setstate__(self, state):
        self.state = state


class ChumpyStandIn(_StandIn):
    """Stands for a chumpy object; its array is ``state['x']`` (a ``Ch``) or ``state['r']``."""

    qualname = "chumpy.Ch"


class SparseStandIn(_StandIn):
    """Stands for a SciPy ``csc_matrix``/``csr_matrix``; rebuilt densely by `to_plain`."""

    fmt = "csc"


class _CSRStandIn(SparseStandIn):
    fmt = "csr"


class _DtypeStandIn:
    """``numpy.dtype(spec, align, copy)`` as pickled: checked to be plain and numeric; its
    BUILD state must be what NumPy writes for that dtype (only the byte order may vary)."""

    def __init__(self, spec, *flags):
        if isinstance(spec, bytes):
            spec = spec.decode("latin-1")
        if not isinstance(spec, str) or len(spec) > 8:
            raise ValueError(f"refusing numpy.dtype of a {type(spec).__name__} spec")
        if len(flags) > 2 or any(not isinstance(x, (bool, int)) for x in flags):
            raise ValueError("refusing numpy.dtype with non-boolean flags")
        try:
            dt = np.dtype(spec)
        except (TypeError, ValueError) as err:
            raise ValueError(f"unknown dtype {spec!r} in pickle: {err}") from None
        if dt.kind not in _PLAIN_KINDS or dt.names is not None or dt.subdtype is not None:
            raise ValueError(f"refusing dtype {spec!r}: only plain numeric dtypes are allowed")
        self.dtype = dt
        self.built = False

    def __setstate__(self, state):
        dt = self.dtype
        if self.built or not isinstance(state, tuple) or len(state) not in (8, 9):
            raise ValueError("refusing an unexpected numpy.dtype state")
        version, order, sub, names, fields, elsize, align, flags = state[:8]
        if version not in (3, 4) or sub is not None or names is not None or fields is not None:
            raise ValueError("refusing a numpy.dtype state with fields or sub-arrays")
        if elsize not in (-1, dt.itemsize) or align not in (-1, dt.alignment) or flags != 0:
            raise ValueError("refusing a numpy.dtype state that changes its size or flags")
        if len(state) == 9 and state[8] not in (None, {}):
            raise ValueError("refusing a numpy.dtype state with metadata")
        if isinstance(order, bytes):
            order = order.decode("latin-1")
        if order not in ("<", ">", "=", "|") or (order == "|" and dt.itemsize > 1):
            raise ValueError(f"refusing a numpy.dtype byte order {order!r}")
        if order in "<>" and dt.itemsize > 1:
            self.dtype = dt.newbyteorder(order)
        self.built = True


def _as_dtype(dtype) -> np.dtype:
    if not isinstance(dtype, _DtypeStandIn):
        raise ValueError(f"expected a numpy.dtype, got {type(dtype).__name__}")
    return dtype.dtype


def _raw_bytes(data, what: str):
    """Array payloads: bytes (Python 3), latin-1 str (Python 2), bytearray or buffer."""
    if isinstance(data, str):
        return data.encode("latin-1")
    if isinstance(data, (bytes, bytearray)):
        return data
    if isinstance(data, (memoryview, pickle.PickleBuffer)):
        return memoryview(data).cast("B")
    raise ValueError(f"{what} data is a {type(data).__name__}, not bytes")


def _check_shape(shape) -> tuple:
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, tuple) or len(shape) > _MAX_NDIM:
        raise ValueError(f"array shape must be a tuple of at most {_MAX_NDIM} ints")
    for s in shape:
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < 1 << 62:
            raise ValueError("array shape must hold non-negative ints")
    return shape


class _ArrayStandIn:
    """What ``_reconstruct`` returns; its BUILD state ``(version, shape, dtype, fortran,
    data)`` becomes ``self.array`` once checked (no memory is touched before)."""

    def __init__(self, budget: _Budget):
        self.budget = budget
        self.array = None

    def __setstate__(self, state):
        if self.array is not None or not isinstance(state, tuple) or len(state) not in (4, 5):
            raise ValueError("refusing an unexpected ndarray state")
        shape, dtype, fortran, data = state[-4:]
        if len(state) == 5 and state[0] != 1:
            raise ValueError(f"unknown ndarray state version {state[0]!r}")
        self.array = _array_from_bytes(data, _as_dtype(dtype), _check_shape(shape),
                                       "F" if fortran else "C", self.budget)  # fmt: skip


def _array_from_bytes(data, dt: np.dtype, shape: tuple, order: str, budget: _Budget):
    """A new array of ``shape`` and ``dt`` from exactly its bytes (checked before copying)."""
    raw = _raw_bytes(data, "array")
    count = math.prod(shape)
    nbytes = count * dt.itemsize
    if len(raw) != nbytes:
        raise ValueError(
            f"array of shape {shape} and dtype {dt} needs {nbytes} bytes, the pickle holds "
            f"{len(raw)}"
        )
    budget.take(nbytes, f"an array of shape {shape}")
    flat = np.frombuffer(raw, dt, count)
    return flat.reshape(shape, order=order).copy(order="K")


def _reconstruct(budget: _Budget):
    def reconstruct(cls, shape, dtype):
        if cls is not _NDARRAY:
            raise ValueError(f"refusing to reconstruct an array of class {type(cls).__name__}")
        if not isinstance(dtype, (bytes, str, _DtypeStandIn)):
            raise ValueError("refusing _reconstruct with a non-dtype argument")
        _check_shape(shape)  # the real shape and data come with BUILD
        return _ArrayStandIn(budget)

    return reconstruct


def _frombuffer(budget: _Budget):
    def frombuffer(buf, dtype, shape, order):
        if order not in ("C", "F"):
            raise ValueError(f"refusing array order {order!r}")
        return _array_from_bytes(buf, _as_dtype(dtype), _check_shape(shape), order, budget)

    return frombuffer


def _scalar(dtype, data=None):
    """``numpy.core.multiarray.scalar`` for plain numeric dtypes, from exactly itemsize bytes."""
    dt = _as_dtype(dtype)
    raw = _raw_bytes(data, "scalar")
    if len(raw) != dt.itemsize:
        raise ValueError(f"scalar of dtype {dt} needs {dt.itemsize} bytes, got {len(raw)}")
    return np.frombuffer(raw, dt, 1)[0]


def _ndarray(*args):
    raise ValueError("refusing to call numpy.ndarray")


_NDARRAY = _Global(_ndarray, "numpy.ndarray")
_OBJECT = _Global(object, "builtins.object")


def _codecs_encode(budget: _Budget):
    def encode(text, encoding="utf-8"):
        if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8"):
            raise ValueError(f"refusing _codecs.encode({type(text).__name__}, {encoding!r})")
        budget.take(len(text), "_codecs.encode")
        return text.encode(encoding)

    return encode


def _container(cls, budget: _Budget):
    """``cls(iterable)`` for set, frozenset, list, tuple, dict, bytes, bytearray and
    OrderedDict, charged per item (no int argument: ``bytes(10**12)`` is refused)."""

    def build(*args):
        if len(args) > 1 or (args and not hasattr(args[0], "__len__")):
            raise ValueError(f"refusing {cls.__name__} of a {type(args[0]).__name__}")
        budget.take(ELEMENT_COST * (len(args[0]) + 1 if args else 1), cls.__name__)
        return cls(*args)

    return build


_NUMPY_MODULES = {
    "numpy": ("ndarray", "dtype"),
    "numpy.core.multiarray": ("_reconstruct", "scalar"),
    "numpy._core.multiarray": ("_reconstruct", "scalar"),
    "numpy.core.numeric": ("_frombuffer",),
    "numpy._core.numeric": ("_frombuffer",),
}
_SPARSE_MODULES = (
    "scipy.sparse.csc", "scipy.sparse._csc", "scipy.sparse.csr", "scipy.sparse._csr",
    "scipy.sparse", "scipy.sparse.compressed", "scipy.sparse._compressed",
)  # fmt: skip
_SPARSE_CLASSES = {
    "csc_matrix": SparseStandIn,
    "csr_matrix": _CSRStandIn,
    "csc_array": SparseStandIn,
    "csr_array": _CSRStandIn,
}
_CONTAINERS = {t.__name__: t for t in (set, frozenset, list, tuple, dict, bytes, bytearray)}


class RestrictedUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` whose ``find_class`` only resolves the whitelist (see the module
    docstring). Each instance has its own stand-in classes and allocation budget."""

    def __init__(self, file, budget: _Budget | None = None, **kwargs):
        super().__init__(file, **kwargs)
        self.budget = budget if budget is not None else _Budget(ALLOC_SLACK)
        self._classes: dict = {}
        b = self.budget
        self._globals = {
            "_reconstruct": _Global(_reconstruct(b), "numpy _reconstruct"),
            "scalar": _Global(_scalar, "numpy scalar"),
            "ndarray": _NDARRAY,
            "dtype": _Global(_DtypeStandIn, "numpy.dtype"),
            "_frombuffer": _Global(_frombuffer(b), "numpy _frombuffer"),
            "encode": _Global(_codecs_encode(b), "_codecs.encode"),
            "_reconstructor": _Global(self._copyreg_reconstructor, "copy_reg._reconstructor"),
            "OrderedDict": _Global(_container(OrderedDict, b), "OrderedDict"),
            "object": _OBJECT,
            "slice": _Global(slice, "slice"),
            "complex": _Global(complex, "complex"),
            **{n: _Global(_container(t, b), n) for n, t in _CONTAINERS.items()},
        }

    def _stand_in_class(self, module: str, name: str, base: type) -> type:
        """A fresh subclass of ``base`` per load and name (a pickle cannot alter shared ones)."""
        key = (module, name)
        if key not in self._classes:
            self._classes[key] = type(name, (base,), {"qualname": f"{module}.{name}"})
        return self._classes[key]

    def _copyreg_reconstructor(self, cls, base, state):
        """Python 2's ``copy_reg._reconstructor``, only for this load's stand-in classes."""
        if cls not in self._classes.values() or base is not _OBJECT:
            raise ValueError("refusing copy_reg._reconstructor outside chumpy / sparse classes")
        return cls.__new__(cls)

    def find_class(self, module: str, name: str):
        """The object a whitelisted ``module.name`` stands for; ValueError for anything else."""
        if name in _NUMPY_MODULES.get(module, ()):
            return self._globals[name]
        if (module, name) in (("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"),
                              ("_codecs", "encode"), ("collections", "OrderedDict")):  # fmt: skip
            return self._globals[name]
        if module in ("__builtin__", "builtins") and (
            name in _CONTAINERS or name in ("object", "slice", "complex")
        ):
            return self._globals[name]
        if (module == "chumpy" or module.startswith("chumpy.")) and name.isidentifier():
            return self._stand_in_class(module, name, ChumpyStandIn)
        if module in _SPARSE_MODULES and name in _SPARSE_CLASSES:
            return self._stand_in_class(module, name, _SPARSE_CLASSES[name])
        raise ValueError(
            f"refusing to unpickle global {module}.{name}: only NumPy arrays, chumpy arrays and "
            "SciPy sparse matrices are allowed in model files"
        )


_LENGTH_PREFIX = {
    pickletools.TAKEN_FROM_ARGUMENT1: ("<B", 1),
    pickletools.TAKEN_FROM_ARGUMENT4: ("<i", 4),
    pickletools.TAKEN_FROM_ARGUMENT4U: ("<I", 4),
    pickletools.TAKEN_FROM_ARGUMENT8U: ("<Q", 8),
}


# Opcode byte -> (name, argument size or pickletools' size code); (None, 0) if unknown.
_OPCODES = [(None, 0)] * 256
for _op in pickletools.opcodes:
    _OPCODES[ord(_op.code)] = (_op.name, _op.arg.n if _op.arg is not None else 0)
# Opcode byte -> its length when that is fixed and nothing else is checked (else 0).
_STEP = [0] * 256
for _op in pickletools.opcodes:
    if (_op.arg is None or _op.arg.n >= 0) and _op.name not in ("BINPUT", "LONG_BINPUT", "STOP"):
        _STEP[ord(_op.code)] = 1 + (_op.arg.n if _op.arg is not None else 0)
# Opcodes with a 1-byte length then that many bytes (SHORT_BINUNICODE, LONG1, ...).
_SHORT = [0] * 256
for _op in pickletools.opcodes:
    if _op.arg is not None and _op.arg.n == pickletools.TAKEN_FROM_ARGUMENT1:
        _SHORT[ord(_op.code)] = 1
# A run of opcodes without arguments (MARK, APPEND, NONE, ...): skipped by one regex match.
_NO_ARG_RUN = re.compile(
    b"[" + b"".join(re.escape(bytes([c])) for c in range(256) if _STEP[c] == 1) + b"]+"
)
del _op


def _prescan(data: bytes, budget: _Budget) -> None:
    """Walk the opcodes without decoding or executing them: every argument must be in the
    file (a length field cannot claim more), memo indices must be below the number of
    opcodes, and each opcode is charged ``OPCODE_COST``. Raises ValueError if malformed."""
    pos, ops, top_put, n = 0, 0, -1, len(data)
    step, short, no_arg_run = _STEP, _SHORT, _NO_ARG_RUN.match
    while True:
        while pos < n:  # the common opcodes, fast
            run = no_arg_run(data, pos)
            if run is not None:
                ops += run.end() - pos
                pos = run.end()
                continue
            code = data[pos]
            if step[code]:
                pos += step[code]
            elif short[code] and pos + 1 < n:  # a 1-byte length, then that many bytes
                pos += 2 + data[pos + 1]
            else:
                break
            ops += 1
        if pos >= n:
            raise ValueError("malformed pickle: no STOP opcode or a truncated argument")
        name, size = _OPCODES[data[pos]]
        if name is None:
            raise ValueError(f"malformed pickle: unknown opcode {data[pos]:#04x} at byte {pos}")
        start, pos, ops = pos, pos + 1, ops + 1
        if size >= 0:
            if name in ("BINPUT", "LONG_BINPUT"):
                top_put = max(top_put, int.from_bytes(data[pos : pos + size], "little"))
            pos += size
        elif size == pickletools.UP_TO_NEWLINE:
            for _ in range(2 if name in ("GLOBAL", "INST") else 1):
                end = data.find(b"\n", pos)
                if end < 0:
                    pos = n + 1
                    break
                if name == "PUT":
                    try:
                        top_put = max(top_put, int(data[pos:end]))
                    except ValueError:
                        raise ValueError(f"malformed pickle: bad PUT at byte {start}") from None
                pos = end + 1
        else:
            fmt, k = _LENGTH_PREFIX[size]
            length = struct.unpack_from(fmt, data, pos)[0] if pos + k <= n else -1
            pos += k
            if length < 0 or pos + length > n:
                raise ValueError(
                    f"malformed pickle: {name} at byte {start} claims {length} bytes, "
                    f"the file has {max(n - pos, 0)} left"
                )
            pos += length
        if pos > n:
            raise ValueError(f"malformed pickle: {name} at byte {start} is truncated")
        if name == "STOP":
            break
    if top_put >= ops:
        raise ValueError(f"malformed pickle: memo index {top_put} with only {ops} opcodes")
    budget.take(OPCODE_COST * ops, f"{ops} pickle opcodes")


class _Plain:
    """Replaces stand-ins by NumPy arrays, recursively; shared parts are converted once."""

    def __init__(self, budget: _Budget):
        self.budget = budget
        self.done: dict[int, Any] = {}
        self.active: set[int] = set()
        self.keep: list = []  # keeps converted inputs alive, so their ids stay unique

    def __call__(self, obj, depth: int = 0):
        if isinstance(obj, (str, bytes, bytearray, int, float, complex, type(None), np.generic,
                            np.ndarray, slice)):  # fmt: skip
            return obj
        key = id(obj)
        if key in self.done:
            return self.done[key]
        if depth > MAX_DEPTH:
            raise ValueError(f"pickle nests deeper than {MAX_DEPTH} levels")
        if key in self.active:
            raise ValueError("pickle holds a cyclic structure")
        self.active.add(key)
        out = self._convert(obj, depth + 1)
        self.active.discard(key)
        self.done[key] = out
        self.keep.append(obj)
        return out

    def _convert(self, obj, depth):
        if isinstance(obj, dict):
            out = {}
            for k, v in obj.items():
                k = k.decode("latin-1") if isinstance(k, bytes) else self(k, depth)
                out[_hashable(k)] = self(v, depth)
            return out
        if isinstance(obj, (list, tuple)):
            return type(obj)(self(v, depth) for v in obj)
        if isinstance(obj, (set, frozenset)):
            return type(obj)(_hashable(self(v, depth)) for v in obj)
        if isinstance(obj, _ArrayStandIn):
            if obj.array is None:
                raise ValueError("pickled array has no data (no BUILD)")
            return obj.array
        if isinstance(obj, _DtypeStandIn):
            return obj.dtype
        if isinstance(obj, SparseStandIn):
            return self._sparse(obj, depth)
        if isinstance(obj, ChumpyStandIn):
            state = obj.state if isinstance(obj.state, dict) else {}
            for key in ("x", "r", "_r"):
                if key in state:
                    return _numeric(self(state[key], depth), f"{obj.qualname} array")
            raise ValueError(f"pickled {obj.qualname} has no array state ('x' or 'r')")
        raise ValueError(f"refusing an object of type {type(obj).__name__} in a model file")

    def _sparse(self, obj: SparseStandIn, depth) -> np.ndarray:
        state = obj.state if isinstance(obj.state, dict) else {}
        try:
            data, indices, indptr = (
                _numeric(self(state[k], depth), f"sparse {k}")
                for k in ("data", "indices", "indptr")
            )
            shape = tuple(int(s) for s in state.get("_shape", state.get("shape")))
        except (KeyError, TypeError) as err:
            raise ValueError(
                f"pickled sparse matrix lacks data/indices/indptr/_shape: {err}"
            ) from None
        if len(shape) != 2 or min(shape) < 0:
            raise ValueError(f"pickled sparse matrix has shape {shape}")
        outer, inner = (shape[1], shape[0]) if obj.fmt == "csc" else shape
        if indptr.shape != (outer + 1,) or indices.shape != data.shape or data.ndim != 1:
            raise ValueError(f"pickled {obj.fmt} matrix is inconsistent with its shape {shape}")
        if indices.dtype.kind not in "iu" or indptr.dtype.kind not in "iu":
            raise ValueError(f"pickled {obj.fmt} matrix has non-integer indices")
        counts = np.diff(indptr)
        if indptr[0] != 0 or indptr[-1] != len(indices) or (counts < 0).any():
            raise ValueError(f"pickled {obj.fmt} matrix has an invalid indptr")
        if len(indices) and (indices.min() < 0 or indices.max() >= inner):
            raise ValueError(f"pickled {obj.fmt} matrix has indices outside [0, {inner})")
        self.budget.take(math.prod(shape) * data.dtype.itemsize, f"a dense {shape} matrix")
        dense = np.zeros(shape, dtype=data.dtype)
        major = np.repeat(np.arange(outer), counts)
        rows, cols = (indices, major) if obj.fmt == "csc" else (major, indices)
        np.add.at(dense, (rows, cols), data)
        return dense


def _numeric(x, what: str) -> np.ndarray:
    """``x`` as a plain numeric array (not an object array)."""
    arr = np.asarray(x) if isinstance(x, (np.ndarray, np.generic, int, float, bool)) else None
    if arr is None and isinstance(x, (list, tuple)):
        try:
            arr = np.asarray(x)
        except (ValueError, TypeError):
            arr = None
    if arr is None or arr.dtype.kind not in _PLAIN_KINDS:
        raise ValueError(f"{what} is not a numeric array")
    return arr


def _hashable(x):
    try:
        hash(x)
    except TypeError:
        raise ValueError(f"an unhashable {type(x).__name__} used as a key in a pickle") from None
    return x


def to_plain(obj, budget: _Budget | None = None):
    """Replace stand-ins by NumPy arrays, recursively through dicts, lists, tuples and sets."""
    return _Plain(budget if budget is not None else _Budget(ALLOC_SLACK))(obj)


def restricted_load(
    f, *, max_bytes: int = MAX_FILE_BYTES, max_alloc_bytes: int | None = None
) -> Any:
    """Unpickle a model file safely (see the module docstring), stand-ins replaced by arrays.

    Args:
        f: a path (a regular file), bytes, or a binary file object. Python 2 strings are read
            as latin-1, as NumPy needs for its array payloads.
        max_bytes: largest file read (default 1 GiB).
        max_alloc_bytes: most bytes the load may allocate (arrays, dense matrices, Python
            objects); None means ``ALLOC_FACTOR`` (8) times the file size plus
            ``ALLOC_SLACK`` (64 MiB).

    Returns:
        The unpickled object with chumpy objects replaced by their arrays and sparse matrices
        by dense NumPy arrays.

    Raises:
        ValueError: naming the file: a global outside the whitelist (the message names it),
            a dtype or array state NumPy would not write, data shorter or longer than an
            array needs, more allocation than ``max_alloc_bytes``, nesting deeper than
            ``MAX_DEPTH``, a special file or one over ``max_bytes``, or any malformed pickle.
    """
    source = describe(f)
    check_max_bytes(max_bytes)
    if isinstance(f, (bytes, bytearray, memoryview)):
        data = bytes(f)
        if len(data) > max_bytes:
            raise ValueError(f"{source}: pickle is larger than max_bytes={max_bytes}")
    else:
        data = read_limited(f, max_bytes=max_bytes, what="pickle")
    if max_alloc_bytes is None:
        max_alloc_bytes = ALLOC_FACTOR * len(data) + ALLOC_SLACK
    budget = _Budget(check_max_bytes(max_alloc_bytes, "max_alloc_bytes"))
    try:
        _prescan(data, budget)
        obj = RestrictedUnpickler(io.BytesIO(data), budget, encoding="latin1").load()
        return _Plain(budget)(obj)
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from None
    except RecursionError:
        raise ValueError(f"{source}: pickle nests too deeply") from None
    except MemoryError:
        raise
    except Exception as err:  # noqa: BLE001 - any other failure is a malformed file
        raise ValueError(f"{source}: malformed pickle: {type(err).__name__}: {err}") from None
