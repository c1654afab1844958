"""Read PyTorch checkpoints (``torch.save`` files) as NumPy arrays, without importing torch.

Two on-disk formats are understood:

* the zip format (torch >= 1.6): a zip archive ``<prefix>/data.pkl`` (a pickle whose tensors refer
  to storages through persistent ids ``('storage', storage_type, key, location, numel)``),
  ``<prefix>/data/<key>`` (each storage's raw bytes, little-endian unless ``<prefix>/byteorder``
  says ``big``) and ``<prefix>/version``;
* the legacy format (torch 0.4 - 1.5): consecutive pickles in one file: a magic number, the
  protocol version 1001, a system-info dict, the object pickle (persistent ids
  ``('storage', storage_type, key, location, numel, view_metadata)``), the list of storage keys,
  then for each key an int64 element count followed by the storage's raw bytes.

The pickles are read by an unpickler whose ``find_class`` resolves only
``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2``,
``torch._utils._rebuild_parameter`` and the typed storage classes (``torch.FloatStorage`` etc.),
all mapped to inert stand-ins; any other global raises a ValueError naming it before anything is
called, so a malicious file cannot run code. A tensor is rebuilt (a strided view of its storage,
copied) only after its size, stride and offset have been checked against the storage's length,
and the total number of bytes read and produced is capped by ``max_bytes``.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import tarfile
import zipfile
from collections import OrderedDict
from typing import Any, NamedTuple

import numpy as np

from jax3d.io.files import open_regular

__all__ = ["load_torch_checkpoint", "state_dict_to_flax"]

DEFAULT_MAX_BYTES = 1 << 31  # 2 GiB: well above any backbone jax3d loads (VGG16 is 0.55 GB)
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES = {
    "FloatStorage": "float32",
    "DoubleStorage": "float64",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
}


def _np_dtype(name: str) -> np.dtype:
    if name == "bfloat16":
        import ml_dtypes  # a dependency of jax; NumPy has no bfloat16

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


# Stand-ins. NamedTuples are immutable, so a pickle's BUILD opcode cannot change them after the
# unpickler made them (it raises instead).
class _StorageType(NamedTuple):
    name: str  # "FloatStorage", ...


class _StorageRef(NamedTuple):
    key: str
    dtype: str
    numel: int  # elements of the root storage
    view_offset: int = 0  # legacy views: a window [view_offset, view_offset + view_numel)
    view_numel: int = -1


class _TensorRef(NamedTuple):
    storage: _StorageRef
    offset: Any
    size: Any
    stride: Any


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, *_args):
    """Stand-in for ``torch._utils._rebuild_tensor_v2``: records its arguments only."""
    if not isinstance(storage, _StorageRef):
        raise ValueError(f"tensor rebuilt from {type(storage).__name__}, not from a storage")
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, *_args):
    """Stand-in for ``torch._utils._rebuild_parameter``: a parameter is its tensor."""
    if not isinstance(data, _TensorRef):
        raise ValueError(f"parameter rebuilt from {type(data).__name__}, not from a tensor")
    return data


def _resolve_global(module: str, name: str):
    if module == "collections" and name == "OrderedDict":
        return OrderedDict
    if module == "torch._utils" and name == "_rebuild_tensor_v2":
        return _rebuild_tensor_v2
    if module == "torch._utils" and name == "_rebuild_parameter":
        return _rebuild_parameter
    if module == "torch" and name in _STORAGE_DTYPES:
        return _StorageType(name)
    raise ValueError(
        f"refusing to unpickle global {module}.{name}: only tensors, storages and OrderedDicts "
        "are allowed in a checkpoint (save a state_dict, not a module)"
    )


def _as_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an int, got {type(value).__name__}")
    return value


class _Unpickler(pickle.Unpickler):
    """Resolves only the whitelist above; storages become `_StorageRef`s, registered in `refs`."""

    def __init__(self, file, *, legacy: bool, max_bytes: int):
        super().__init__(file, encoding="latin1")
        self.legacy = legacy
        self.max_bytes = max_bytes
        self.refs: dict[str, _StorageRef] = {}
        self.total_bytes = 0

    def find_class(self, module: str, name: str):
        return _resolve_global(module, name)

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid:
            raise ValueError(f"unexpected persistent id {pid!r}")
        kind = pid[0].decode("ascii") if isinstance(pid[0], bytes) else pid[0]
        if kind != "storage" or len(pid) != (6 if self.legacy else 5):
            raise ValueError(f"unexpected persistent id {pid[:1]!r} of length {len(pid)}")
        storage_type, key, _location, numel = pid[1:5]
        if not isinstance(storage_type, _StorageType):
            raise ValueError(f"persistent id names {storage_type!r}, not a typed storage")
        key = key.decode("ascii") if isinstance(key, bytes) else key
        if not isinstance(key, str):
            raise ValueError(f"storage key must be a string, got {type(key).__name__}")
        ref = self._register(key, _STORAGE_DTYPES[storage_type.name], _as_int(numel, "numel"))
        if self.legacy and pid[5] is not None:
            return self._legacy_view(ref, pid[5])
        return ref

    def _register(self, key: str, dtype: str, numel: int) -> _StorageRef:
        if key in self.refs:
            ref = self.refs[key]
            if (ref.dtype, ref.numel) != (dtype, numel):
                raise ValueError(f"storage {key} is declared twice with different types/sizes")
            return ref
        if numel < 0:
            raise ValueError(f"storage {key} has a negative size {numel}")
        self.total_bytes += numel * _np_dtype(dtype).itemsize
        if self.total_bytes > self.max_bytes:
            raise ValueError(f"storages exceed max_bytes={self.max_bytes}")
        ref = _StorageRef(key, dtype, numel, 0, numel)
        self.refs[key] = ref
        return ref

    @staticmethod
    def _legacy_view(ref: _StorageRef, view) -> _StorageRef:
        if not isinstance(view, tuple) or len(view) != 3:
            raise ValueError(f"malformed storage view {view!r}")
        offset, numel = _as_int(view[1], "view offset"), _as_int(view[2], "view size")
        if offset < 0 or numel < 0 or offset + numel > ref.numel:
            raise ValueError(f"storage view [{offset}, {offset + numel}) outside storage {ref.key}")
        return ref._replace(view_offset=offset, view_numel=numel)


def _materialise(t: _TensorRef, storages: dict[str, np.ndarray], budget: list) -> np.ndarray:
    """The tensor's values, after checking that every element it indexes lies in its storage."""
    offset = _as_int(t.offset, "storage offset")
    if not isinstance(t.size, tuple) or not isinstance(t.stride, tuple):
        raise ValueError("tensor size and stride must be tuples")
    size = tuple(_as_int(s, "size") for s in t.size)
    stride = tuple(_as_int(s, "stride") for s in t.stride)
    if len(size) != len(stride) or min(size + stride + (offset,), default=0) < 0:
        raise ValueError(f"invalid tensor geometry size={size} stride={stride} offset={offset}")
    flat = storages[t.storage.key]
    flat = flat[t.storage.view_offset : t.storage.view_offset + t.storage.view_numel]
    n = int(np.prod(size, dtype=np.int64))
    budget[0] -= n * flat.dtype.itemsize
    if budget[0] < 0:
        raise ValueError("tensors exceed max_bytes")
    if n == 0:
        return np.zeros(size, flat.dtype)
    last = offset + sum((s - 1) * st for s, st in zip(size, stride))
    if last >= flat.size:
        raise ValueError(
            f"tensor of size {size}, stride {stride}, offset {offset} reads element {last} of a "
            f"storage of {flat.size}"
        )
    contiguous = tuple(int(np.prod(size[i + 1 :], dtype=np.int64)) for i in range(len(size)))
    if all(s == 1 or st == c for s, st, c in zip(size, stride, contiguous)):
        return flat[offset : offset + n].reshape(size).copy()
    # strides and offset are non-negative and the last element read, offset + sum((s-1) st), is
    # inside `flat` (checked above), so this view stays within the storage's buffer
    flat = np.ascontiguousarray(flat)
    itemsize = flat.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        flat[offset:], shape=size, strides=tuple(st * itemsize for st in stride), writeable=False
    )
    return view.copy()


def _resolve(obj, storages, budget):
    if isinstance(obj, _TensorRef):
        return _materialise(obj, storages, budget)
    if isinstance(obj, dict):
        return {k: _resolve(v, storages, budget) for k, v in obj.items()}
    if type(obj) in (list, tuple):
        return type(obj)(_resolve(v, storages, budget) for v in obj)
    return obj


def _flatten(obj, prefix: str, out: dict[str, np.ndarray]) -> None:
    for k, v in obj.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            _flatten(v, f"{name}.", out)
        elif isinstance(v, np.ndarray):
            out[name] = v
        elif isinstance(v, (bool, int, float)):
            out[name] = np.asarray(v)
        # other leaves (strings, None, lists of hyper-parameters) carry no weights: skipped


def _decode(raw: bytes, dtype: str, big_endian: bool) -> np.ndarray:
    dt = _np_dtype("uint8" if dtype == "bool" else dtype)
    if big_endian and dt.itemsize > 1:
        dt = dt.newbyteorder(">")
    arr = np.frombuffer(raw, dtype=dt)
    if dtype == "bool":
        return arr != 0
    return arr.astype(dt.newbyteorder("="))


def _load_zip(fh, max_bytes: int):
    with zipfile.ZipFile(fh) as zf:
        pkls = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkls) != 1:
            raise ValueError(f"expected one <prefix>/data.pkl in the archive, found {pkls}")
        prefix = pkls[0][: -len("data.pkl")]
        big = False
        if f"{prefix}byteorder" in zf.namelist():
            order = zf.read(f"{prefix}byteorder")
            if order not in (b"little", b"big"):
                raise ValueError(f"unknown byteorder record {order[:20]!r}")
            big = order == b"big"
        if zf.getinfo(pkls[0]).file_size > max_bytes:
            raise ValueError(f"data.pkl exceeds max_bytes={max_bytes}")
        unpickler = _Unpickler(io.BytesIO(zf.read(pkls[0])), legacy=False, max_bytes=max_bytes)
        obj = unpickler.load()
        storages = {}
        for key, ref in unpickler.refs.items():
            name = f"{prefix}data/{key}"
            try:
                info = zf.getinfo(name)
            except KeyError:
                raise ValueError(f"storage {key} is missing ({name})") from None
            nbytes = ref.numel * _np_dtype(ref.dtype).itemsize
            if info.file_size != nbytes:
                raise ValueError(
                    f"storage {key} holds {info.file_size} bytes, expected {ref.numel} x "
                    f"{ref.dtype} = {nbytes}"
                )
            storages[key] = _decode(zf.read(name), ref.dtype, big)
    return obj, storages


def _read_exact(f, n: int, remaining: int, what: str) -> bytes:
    if n > remaining:
        raise ValueError(f"file ends inside {what}")
    data = f.read(n)
    if len(data) != n:
        raise ValueError(f"file ends inside {what}")
    return data


def _load_legacy(f, max_bytes: int):
    size = os.fstat(f.fileno()).st_size
    header = _Unpickler(f, legacy=True, max_bytes=max_bytes)
    magic = header.load()
    if type(magic) is not int or magic != _LEGACY_MAGIC:
        raise ValueError("not a PyTorch checkpoint (no zip archive, no legacy magic number)")
    protocol = header.load()
    if protocol != _LEGACY_PROTOCOL:
        raise ValueError(f"unsupported legacy protocol version {protocol!r}")
    sys_info = header.load()
    big = isinstance(sys_info, dict) and sys_info.get("little_endian") is False
    unpickler = _Unpickler(f, legacy=True, max_bytes=max_bytes)
    obj = unpickler.load()
    keys = _Unpickler(f, legacy=True, max_bytes=max_bytes).load()
    if not isinstance(keys, list) or set(keys) != set(unpickler.refs):
        raise ValueError("the storage key list does not match the storages the pickle uses")
    storages = {}
    for key in keys:
        ref = unpickler.refs[key]
        raw = _read_exact(f, 8, size - f.tell(), f"the size of storage {key}")
        (numel,) = struct.unpack(">q" if big else "<q", raw)
        if numel != ref.numel:
            raise ValueError(f"storage {key} holds {numel} elements, expected {ref.numel}")
        nbytes = numel * _np_dtype(ref.dtype).itemsize
        raw = _read_exact(f, nbytes, size - f.tell(), f"storage {key}")
        storages[key] = _decode(raw, ref.dtype, big)
    return obj, storages


def _load_file(fh, path: str, max_bytes: int):
    try:
        if zipfile.is_zipfile(fh):
            fh.seek(0)
            return _load_zip(fh, max_bytes)
        fh.seek(0)
        if tarfile.is_tarfile(fh):
            raise ValueError("a tar checkpoint (torch < 0.4): re-save it with torch>=1.6")
        fh.seek(0)
        return _load_legacy(fh, max_bytes)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    except _MALFORMED as err:
        raise ValueError(f"{path}: malformed checkpoint: {type(err).__name__}: {err}") from None


_MALFORMED = (
    pickle.UnpicklingError, EOFError, TypeError, AttributeError, IndexError, KeyError,
    zipfile.BadZipFile, struct.error, UnicodeDecodeError, OverflowError, RecursionError,
)  # fmt: skip


def load_torch_checkpoint(path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, np.ndarray]:
    """Read a ``torch.save`` file (typically a ``state_dict``) into NumPy arrays, safely.

    Args:
        path: a ``.pt``/``.pth`` file in PyTorch's zip format (torch >= 1.6) or its legacy
            pickle format (torch 0.4 - 1.5). The tar format of torch < 0.4 is refused.
        max_bytes: cap on the bytes of storages read, and again on the bytes of the tensors built.

    Returns:
        ``{name: array}``: each tensor as a C-contiguous NumPy array of its dtype (float32 for
        ``FloatStorage``, ``ml_dtypes.bfloat16`` for bfloat16, ...), with its size, stride and
        storage offset applied. Nested dicts are flattened with dotted names
        (``{"model": {"fc.weight": t}}`` -> ``"model.fc.weight"``); Python numbers become 0-d
        arrays; other leaves (strings, None, lists) are dropped.

    Raises:
        ValueError naming the file: a global outside the whitelist (e.g. a pickled module
        class or ``os.system``), a storage missing or of the wrong size, a tensor reading outside
        its storage, more than ``max_bytes``, or a file that is not a PyTorch checkpoint.
    """
    path = os.fspath(path)
    # a regular file (not a FIFO or device), at most the storages' cap plus the pickle's
    with open_regular(path, max_bytes=2 * max_bytes, what="checkpoint") as fh:
        obj, storages = _load_file(fh, path, max_bytes)
    try:
        obj = _resolve(obj, storages, [max_bytes])
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    except _MALFORMED as err:
        raise ValueError(f"{path}: malformed checkpoint: {type(err).__name__}: {err}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict, found a {type(obj).__name__}")
    out: dict[str, np.ndarray] = {}
    _flatten(obj, "", out)
    return out


def state_dict_to_flax(state_dict: dict[str, np.ndarray]) -> dict[str, dict]:
    """Re-arrange a PyTorch ``state_dict`` as Flax variables ``{"params", "batch_stats"}``.

    Dotted names become nested dicts (``"layer1.0.conv1.weight"`` -> ``["layer1"]["0"]["conv1"]``)
    and each module's tensors are renamed and laid out as ``flax.linen`` expects:

    * ``Conv2d.weight (O, I, kh, kw)`` -> ``kernel (kh, kw, I, O)``; ``Linear.weight (O, I)`` ->
      ``kernel (I, O)``; ``bias`` stays ``bias``;
    * a module with ``running_mean`` is a BatchNorm: ``weight``/``bias`` -> ``scale``/``bias``
      (params), ``running_mean``/``running_var`` -> ``mean``/``var`` (batch_stats);
      ``num_batches_tracked`` is dropped.

    Args:
        state_dict: ``{name: array}`` as `load_torch_checkpoint` returns.

    Returns:
        ``{"params": nested dict, "batch_stats": nested dict}`` of NumPy arrays (``batch_stats``
        is empty without BatchNorm layers). Module names are kept, so the Flax modules must be
        named like the PyTorch ones.
    """
    modules: dict[str, dict[str, np.ndarray]] = {}
    for name, value in state_dict.items():
        module, _, leaf = name.rpartition(".")
        modules.setdefault(module, {})[leaf] = np.asarray(value)
    params: dict = {}
    stats: dict = {}
    for module, tensors in modules.items():
        path = module.split(".") if module else []
        if "running_mean" in tensors:
            p = {"scale": tensors.get("weight"), "bias": tensors.get("bias")}
            s = {"mean": tensors["running_mean"], "var": tensors.get("running_var")}
            _put(params, path, {k: v for k, v in p.items() if v is not None})
            _put(stats, path, {k: v for k, v in s.items() if v is not None})
            continue
        leaves = {}
        for leaf, value in tensors.items():
            if leaf == "weight" and value.ndim == 4:
                leaves["kernel"] = value.transpose(2, 3, 1, 0)
            elif leaf == "weight" and value.ndim == 2:
                leaves["kernel"] = value.T
            else:
                leaves[leaf] = value
        _put(params, path, leaves)
    return {"params": params, "batch_stats": stats}


def _put(tree: dict, path: list[str], leaves: dict) -> None:
    for part in path:
        tree = tree.setdefault(part, {})
    tree.update(leaves)
