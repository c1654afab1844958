"""Opening untrusted files: regular files only, read with a size limit, names checked.

Every reader of ``jax3d.io`` (OBJ, MTL, PLY, texture images, pickles, ``.npz``) reads its
input through `read_limited`, so that a path naming a FIFO, a device (``/dev/zero``: endless
zeros) or a directory fails at once with a ``ValueError`` instead of hanging or reading until
memory runs out, and a file larger than ``max_bytes`` is refused before it is read.

The limits (defaults below) are keyword arguments of the public readers; see docs/io.md.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

# Largest file (bytes) a reader agrees to read by default: 1 GiB.
MAX_FILE_BYTES = 1 << 30
# Largest texture image (width * height) a reader agrees to decode by default: 2^25 pixels
# (e.g. 8192 x 4096), about 0.4 GB once decoded to float32 RGB.
MAX_IMAGE_PIXELS = 1 << 25
# Longest file name component and whole path (bytes) accepted for names found inside files.
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4096
_PIECE = 1 << 20

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def describe(f) -> str:
    """A short name for ``f`` in error messages: its path, or the file object's name."""
    if isinstance(f, (str, os.PathLike)):
        return os.fsdecode(os.fspath(f))
    if isinstance(f, (bytes, bytearray, memoryview)):
        return "<bytes>"
    return str(getattr(f, "name", "<file object>"))


def check_max_bytes(max_bytes, name: str = "max_bytes") -> int:
    """``max_bytes`` as a positive int, else a ``ValueError`` / ``TypeError`` naming it."""
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int):
        raise TypeError(f"{name} must be an int, got {type(max_bytes).__name__}")
    if max_bytes < 1:
        raise ValueError(f"{name} must be positive, got {max_bytes}")
    return max_bytes


def _too_large(source: str, what: str, size: str, max_bytes: int) -> ValueError:
    return ValueError(
        f"{source}: {what} is larger than the limit of {max_bytes} bytes ({size}); "
        "pass a larger max_bytes= to read it"
    )


def open_regular(path, *, max_bytes: int = MAX_FILE_BYTES, what: str = "file") -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file of at most ``max_bytes``.

    The file is opened non-blocking (so opening a FIFO never waits for a writer), then
    checked with ``fstat`` on the opened descriptor (no race between the check and the read).

    Args:
      path: a ``str`` or ``os.PathLike``; symbolic links are followed.
      max_bytes: largest accepted size in bytes.
      what: what the file is ("OBJ file", "texture image", ...), for messages.

    Returns:
      A binary file object (the caller closes it).

    Raises:
      ValueError: ``path`` is not a regular file (a directory, FIFO, device, socket), or is
        larger than ``max_bytes``; the message names the path.
      OSError: the file cannot be opened (missing, no permission); it names the path.
    """
    check_max_bytes(max_bytes)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        source = describe(path)
        if not stat.S_ISREG(st.st_mode):
            kind = next((k for test, k in _KINDS if test(st.st_mode)), "not a regular file")
            raise ValueError(f"{source}: {what} is {kind}, not a regular file")
        if st.st_size > max_bytes:
            raise _too_large(source, what, f"{st.st_size} bytes", max_bytes)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_limited(f, *, max_bytes: int = MAX_FILE_BYTES, what: str = "file") -> bytes:
    """All bytes of a path or file object, refusing more than ``max_bytes``.

    Args:
      f: a path (opened with `open_regular`) or a binary / text file object (read with
        ``f.read(max_bytes + 1)``; text is encoded as UTF-8).
      max_bytes, what: as in `open_regular`.

    Raises:
      ValueError: not a regular file, or more than ``max_bytes`` bytes (naming the file).
      TypeError: ``f`` is neither a path nor a readable file object.
    """
    check_max_bytes(max_bytes)
    source = describe(f)
    if isinstance(f, (str, os.PathLike)):
        with open_regular(f, max_bytes=max_bytes, what=what) as fh:
            size = os.fstat(fh.fileno()).st_size
            data = fh.read(size + 1)  # one allocation of the size fstat gave
            if len(data) > size:  # the file grew, or its size is not known (/proc): read on
                data += b"".join(_read_pieces(fh.read, max_bytes - len(data) + 1))
    elif hasattr(f, "read"):
        pieces = _read_pieces(f.read, max_bytes + 1)
        if pieces and isinstance(pieces[0], str):
            data = "".join(pieces).encode("utf-8")
        elif all(isinstance(p, (bytes, bytearray, memoryview)) for p in pieces):
            data = b"".join(pieces)
        else:
            raise TypeError(f"{source}: read() returned {type(pieces[0]).__name__}, not bytes")
    else:
        raise TypeError(f"f must be a path or a file object, got {type(f).__name__}")
    if len(data) > max_bytes:
        raise _too_large(source, what, f"at least {max_bytes + 1} bytes", max_bytes)
    return data


def _read_pieces(read, limit: int) -> list:
    """``read(n)`` in pieces of at most 1 MiB until EOF or ``limit`` items were read (so a
    file object is never asked for, and never allocates, more than a piece at a time)."""
    pieces, total = [], 0
    while total < limit:
        piece = read(min(_PIECE, limit - total))
        if not piece:
            break
        pieces.append(piece)
        total += len(piece)
    return pieces


def check_name(name: str, what: str) -> None:
    """Refuse a file name found inside a file that no file system would accept.

    Raises:
      ValueError: ``name`` is empty, contains a NUL byte, or has a component longer than
        ``MAX_NAME_BYTES`` or a total length over ``MAX_PATH_BYTES`` (UTF-8 bytes).
    """
    raw = name.encode("utf-8", errors="surrogateescape")
    short = repr(name) if len(name) <= 60 else repr(name[:60]) + "..."
    if not raw.strip():
        raise ValueError(f"{what} name is empty")
    if b"\x00" in raw:
        raise ValueError(f"{what} name {short} contains a NUL byte")
    if len(raw) > MAX_PATH_BYTES or any(len(p) > MAX_NAME_BYTES for p in raw.split(b"/")):
        raise ValueError(
            f"{what} name {short} is too long ({len(raw)} bytes; at most "
            f"{MAX_NAME_BYTES} per component and {MAX_PATH_BYTES} in all)"
        )
