"""Reading ``.npz`` archives from untrusted input: no pickles, no sizes the file only claims.

`load_npz` reads a regular file of at most ``max_bytes``, refuses members whose declared
uncompressed sizes add up to more than ``max_bytes``, and checks each ``.npy`` header's
``prod(shape) * itemsize`` against the member's size before reading it, so an archive whose
header claims 74.5 GiB fails at once. Object arrays (which need pickle) are refused.
"""

from __future__ import annotations

import io
import math
import zipfile

import numpy as np

from jax3d.io.files import MAX_FILE_BYTES, check_max_bytes, describe, read_limited

# Array kinds accepted: bool, integers, floats, complex, bytes and unicode strings.
_KINDS = "biufcSU"
_MAX_HEADER_BYTES = 10000


def load_npz(f, *, max_bytes: int = MAX_FILE_BYTES) -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` archive (as written by ``np.savez`` / ``np.savez_compressed``).

    Args:
      f: a path (a regular file) or a binary file object.
      max_bytes: largest archive read, and largest total of its members' uncompressed sizes
        (default 1 GiB).

    Returns:
      ``{name: array}`` for every ``<name>.npy`` member (other members are ignored), in
      archive order.

    Raises:
      ValueError: naming the file (and the member): not a zip archive, a special file, more
        than ``max_bytes``, a malformed ``.npy`` header, an object or structured dtype, a
        header whose shape and dtype do not match the member's size, or a corrupt member.
    """
    check_max_bytes(max_bytes)
    source = describe(f)
    data = read_limited(f, max_bytes=max_bytes, what="npz archive")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [i for i in archive.infolist() if i.filename.endswith(".npy")]
    except MemoryError:
        raise
    except Exception as err:  # noqa: BLE001 - whatever zipfile raises on a damaged directory
        message = f"not a valid .npz (zip) archive: {type(err).__name__}: {err}"
        raise ValueError(f"{source}: {message}") from None
    total = sum(i.file_size for i in members)
    if total > max_bytes:
        raise ValueError(
            f"{source}: members would hold {total} bytes uncompressed, more than the limit of "
            f"{max_bytes} bytes (pass a larger max_bytes= to read it)"
        )
    out = {}
    with archive:
        for info in members:
            try:
                out[info.filename[:-4]] = _read_member(archive, info)
            except ValueError as err:
                raise ValueError(f"{source}, member {info.filename!r}: {err}") from None
            except MemoryError:
                raise
            except Exception as err:  # noqa: BLE001 - zlib, bz2, lzma, zipfile: a corrupt member
                message = f"corrupt: {type(err).__name__}: {err}"
                raise ValueError(f"{source}, member {info.filename!r}: {message}") from None
    return out


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """One ``.npy`` member, its header checked against its size before reading the data."""
    with archive.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            header = np.lib.format.read_array_header_1_0(fh, max_header_size=_MAX_HEADER_BYTES)
        elif version in ((2, 0), (3, 0)):
            header = np.lib.format.read_array_header_2_0(fh, max_header_size=_MAX_HEADER_BYTES)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        shape, fortran, dtype = header
        if dtype.hasobject or dtype.kind not in _KINDS or dtype.names or dtype.subdtype:
            raise ValueError(f"refusing dtype {dtype}: only plain arrays (no objects or fields)")
        if dtype.itemsize == 0:
            raise ValueError(f"refusing dtype {dtype} of size 0")
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        left = info.file_size - fh.tell()
        if nbytes != left:
            raise ValueError(
                f"header claims shape {shape} of {dtype} ({nbytes} bytes), the member holds "
                f"{left} bytes of data"
            )
        arr = np.empty(count, dtype)
        buf = memoryview(arr.view(np.uint8).reshape(-1))
        got = 0
        while got < nbytes:
            n = fh.readinto(buf[got:])
            if not n:
                raise ValueError(f"data ends after {got} of {nbytes} bytes")
            got += n
    return arr.reshape(shape, order="F" if fortran else "C")
