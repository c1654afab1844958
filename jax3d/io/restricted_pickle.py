"""A restricted unpickler for the official SMPL / SMPLify files (Python 2 pickles).

Those files hold NumPy arrays, chumpy objects (``chumpy.ch.Ch``) and SciPy sparse matrices.
`restricted_load` resolves only a short whitelist of globals: NumPy's array reconstruction
functions and dtypes, plain containers (set, frozenset, list, tuple, dict, slice, complex,
OrderedDict), Python 2's ``copy_reg._reconstructor`` (restricted to the stand-ins
below), chumpy classes and SciPy's CSC/CSR classes, both mapped to inert stand-ins that only
record their pickled state. Neither chumpy nor SciPy is imported. Every other global (e.g.
``os.system``, ``builtins.eval``, ``subprocess.Popen``) raises a ValueError naming it, before
anything is called, so a malicious file cannot run code.
"""

from __future__ import annotations

import io
import os
import pickle
from collections import OrderedDict
from typing import Any

import numpy as np

try:  # NumPy 2 moved the C module to numpy._core
    from numpy._core import multiarray as _multiarray
except ImportError:  # pragma: no cover - NumPy 1
    from numpy.core import multiarray as _multiarray


class _StandIn:
    """An inert object that records the state a pickle gives it (never runs foreign code)."""

    def __init__(self, *args):
        self.args = args
        self.state: Any = None

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


def _reconstruct(cls, shape, dtype):
    """``numpy.core.multiarray._reconstruct`` restricted to plain ndarrays."""
    if cls is not np.ndarray:
        raise ValueError(f"refusing to reconstruct an array of class {cls!r}")
    return _multiarray._reconstruct(np.ndarray, shape, dtype)


def _copyreg_reconstructor(cls, base, state):
    """Python 2's ``copy_reg._reconstructor``, only for the stand-in classes."""
    if not (isinstance(cls, type) and issubclass(cls, _StandIn)) or base is not object:
        raise ValueError(f"refusing copy_reg._reconstructor({cls!r}, {base!r})")
    return cls.__new__(cls)


def _codecs_encode(text, encoding="utf-8"):
    """``_codecs.encode``, as Python 3 writes bytes in protocol-2 pickles; strings only."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8"):
        raise ValueError(f"refusing _codecs.encode({type(text).__name__}, {encoding!r})")
    return text.encode(encoding)


def _frombuffer(buf, dtype, shape, order):
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order).copy()


def _safe_dtype(*args):
    dt = np.dtype(*args)
    if dt.hasobject:
        raise ValueError("refusing object dtype in a pickled array")
    return dt


# plain containers that chumpy's pickled state may hold (constructing them runs no foreign code)
_BUILTINS = {t.__name__: t for t in (object, set, frozenset, list, tuple, dict, slice, complex)}
_NUMPY = {
    "_reconstruct": _reconstruct,
    "scalar": _multiarray.scalar,
    "ndarray": np.ndarray,
    "dtype": _safe_dtype,
    "_frombuffer": _frombuffer,
}
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


def _resolve_global(module: str, name: str):
    """The object a whitelisted ``module.name`` stands for; ValueError for anything else."""
    if name in _NUMPY_MODULES.get(module, ()):
        return _NUMPY[name]
    if module in ("copy_reg", "copyreg") and name == "_reconstructor":
        return _copyreg_reconstructor
    if module == "_codecs" and name == "encode":
        return _codecs_encode
    if module in ("__builtin__", "builtins") and name in _BUILTINS:
        return _BUILTINS[name]
    if module == "collections" and name == "OrderedDict":
        return OrderedDict
    if (module == "chumpy" or module.startswith("chumpy.")) and name.isidentifier():
        return type(name, (ChumpyStandIn,), {"qualname": f"{module}.{name}"})
    if module in _SPARSE_MODULES and name in _SPARSE_CLASSES:
        return _SPARSE_CLASSES[name]
    raise ValueError(
        f"refusing to unpickle global {module}.{name}: only NumPy arrays, chumpy arrays and "
        "SciPy sparse matrices are allowed in model files"
    )


class RestrictedUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` whose ``find_class`` only resolves the whitelist above."""

    def find_class(self, module: str, name: str):
        return _resolve_global(module, name)


def _sparse_to_dense(obj: SparseStandIn) -> np.ndarray:
    state = obj.state if isinstance(obj.state, dict) else {}
    try:
        data, indices, indptr = (np.asarray(state[k]) for k in ("data", "indices", "indptr"))
        shape = tuple(int(s) for s in state.get("_shape", state.get("shape")))
    except (KeyError, TypeError) as err:
        raise ValueError(f"pickled sparse matrix lacks data/indices/indptr/_shape: {err}") from err
    outer = shape[1] if obj.fmt == "csc" else shape[0]
    if indptr.shape != (outer + 1,) or indices.shape != data.shape:
        raise ValueError(f"pickled {obj.fmt} matrix is inconsistent with its shape {shape}")
    dense = np.zeros(shape, dtype=data.dtype)
    counts = np.diff(indptr)
    major = np.repeat(np.arange(outer), counts)
    rows, cols = (indices, major) if obj.fmt == "csc" else (major, indices)
    np.add.at(dense, (rows, cols), data)
    return dense


def to_plain(obj):
    """Replace stand-ins by NumPy arrays, recursively through dicts, lists and tuples."""
    if isinstance(obj, dict):
        return {
            (k.decode("latin-1") if isinstance(k, bytes) else k): to_plain(v)
            for k, v in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_plain(v) for v in obj)
    if isinstance(obj, SparseStandIn):
        return _sparse_to_dense(obj)
    if isinstance(obj, ChumpyStandIn):
        state = obj.state if isinstance(obj.state, dict) else {}
        for key in ("x", "r", "_r"):
            if key in state:
                return np.asarray(to_plain(state[key]))
        raise ValueError(f"pickled {obj.qualname} has no array state ('x' or 'r')")
    return obj


def restricted_load(f) -> Any:
    """Unpickle a model file safely (see the module docstring), stand-ins replaced by arrays.

    Args:
        f: a path, or bytes, or a binary file object. Python 2 strings are read as latin-1,
            as NumPy needs for its array payloads.

    Returns:
        The unpickled object with chumpy objects replaced by their arrays and sparse matrices
        by dense NumPy arrays.

    Raises:
        ValueError: the pickle names a global outside the whitelist (the message names it),
            or is malformed.
    """
    if isinstance(f, (bytes, bytearray)):
        f = io.BytesIO(f)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            return restricted_load(fh)
    try:
        obj = RestrictedUnpickler(f, encoding="latin1").load()
    except ValueError:
        raise
    except (pickle.UnpicklingError, EOFError, TypeError, AttributeError, IndexError) as err:
        raise ValueError(f"malformed pickle: {err}") from err
    return to_plain(obj)
