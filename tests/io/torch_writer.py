"""Write PyTorch checkpoints by hand (zipfile + pickle with persistent ids, no torch).

Test helper for `jax3d.io.load_torch_checkpoint`: it emits the same records ``torch.save`` does
(``torch._utils._rebuild_tensor_v2`` calls on typed storages, referenced by persistent ids), in
the zip format of torch >= 1.6 or the legacy format of torch 0.4 - 1.5, and can write tensors with
any storage offset and stride, foreign globals and inconsistent sizes to exercise the reader.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from collections import OrderedDict

import numpy as np

STORAGE_NAMES = {
    np.dtype("float32"): "FloatStorage",
    np.dtype("float64"): "DoubleStorage",
    np.dtype("float16"): "HalfStorage",
    np.dtype("int64"): "LongStorage",
    np.dtype("int32"): "IntStorage",
    np.dtype("int16"): "ShortStorage",
    np.dtype("int8"): "CharStorage",
    np.dtype("uint8"): "ByteStorage",
    np.dtype("bool"): "BoolStorage",
}


class Global:
    """A module-level name the pickle refers to (written as a GLOBAL opcode, never imported)."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle's save_reduce wants a callable
        raise RuntimeError("a Global only names something")


class Storage:
    """A typed storage: `array` (1-D) under `key`; `numel` may lie, to test the reader."""

    def __init__(self, key: str, array: np.ndarray, numel: int | None = None):
        self.key, self.array = key, np.ascontiguousarray(array).reshape(-1)
        self.numel = self.array.size if numel is None else numel


class Tensor:
    """A tensor `storage[offset + sum(i_k * stride_k)]` of shape `size`."""

    def __init__(self, storage: Storage, offset: int, size, stride, rebuild=None):
        self.storage, self.offset = storage, offset
        self.size, self.stride = tuple(size), tuple(stride)
        self.rebuild = rebuild or Global("torch._utils", "_rebuild_tensor_v2")

    def __reduce_ex__(self, protocol):
        args = (self.storage, self.offset, self.size, self.stride, False, OrderedDict())
        return self.rebuild, args


class Call:
    """Any call `func(*args)` in the pickle (e.g. a foreign global)."""

    def __init__(self, func: Global, args: tuple):
        self.func, self.args = func, args

    def __reduce_ex__(self, protocol):
        return self.func, self.args


def contiguous(array, key: str) -> Tensor:
    """A C-contiguous tensor holding `array` in its own storage `key`."""
    array = np.asarray(array)
    strides = [int(np.prod(array.shape[i + 1 :])) for i in range(array.ndim)]
    return Tensor(Storage(key, array), 0, array.shape, strides)


class _Pickler(pickle._Pickler):
    """Protocol-2 pickler writing `Global`s as GLOBAL opcodes and storages as persistent ids."""

    def __init__(self, file, legacy: bool):
        super().__init__(file, protocol=2)
        self.legacy = legacy
        self.storages: dict[str, Storage] = {}

    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, Global):
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
            return
        super().save(obj, save_persistent_id)

    def persistent_id(self, obj):
        if not isinstance(obj, Storage):
            return None
        self.storages[obj.key] = obj
        kind = Global("torch", STORAGE_NAMES[obj.array.dtype])
        pid = ("storage", kind, obj.key, "cpu", obj.numel)
        return pid + (None,) if self.legacy else pid


def _wrap(state, prefix="w"):
    out = OrderedDict()
    for i, (name, value) in enumerate(state.items()):
        if isinstance(value, np.ndarray):
            value = contiguous(value, f"{prefix}{i}")
        elif isinstance(value, dict):
            value = _wrap(value, f"{prefix}{i}_")
        out[name] = value
    return out


def _dumps(obj, legacy: bool):
    buf = io.BytesIO()
    pickler = _Pickler(buf, legacy)
    pickler.dump(obj)
    return buf.getvalue(), pickler.storages


def save_torch_zip(path, state: dict, *, prefix: str = "archive", byteorder: str | None = None):
    """Write `state` ({name: array | Tensor | Call}) as torch >= 1.6 does (zip format)."""
    data, storages = _dumps(_wrap(state), legacy=False)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{prefix}/data.pkl", data)
        if byteorder is not None:
            zf.writestr(f"{prefix}/byteorder", byteorder)
        for key, s in storages.items():
            array = s.array
            if byteorder == "big":
                array = array.astype(array.dtype.newbyteorder(">"))
            zf.writestr(f"{prefix}/data/{key}", array.tobytes())
        zf.writestr(f"{prefix}/version", "3\n")


def save_torch_legacy(path, state: dict):
    """Write `state` as torch 0.4 - 1.5 did (consecutive pickles, then the raw storages)."""
    data, storages = _dumps(_wrap(state), legacy=True)
    sys_info = {"protocol_version": 1001, "little_endian": True,
                "type_sizes": {"short": 2, "int": 4, "long": 4}}  # fmt: skip
    with open(path, "wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001, sys_info):
            pickle.dump(header, f, protocol=2)
        f.write(data)
        keys = sorted(storages)
        pickle.dump(keys, f, protocol=2)
        for key in keys:
            f.write(struct.pack("<q", storages[key].numel))
            f.write(storages[key].array.tobytes())
