"""Untrusted files: regular files only, size limits, texture pixel limits, names in files."""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from jax3d.io import (
    load_npz,
    load_obj,
    load_ply,
    open_regular,
    read_limited,
    read_ply,
    restricted_load,
    save_obj,
    save_ply,
)
from jax3d.io.files import MAX_IMAGE_PIXELS, check_name
from jax3d.io.obj_parse import MAX_MTLLIBS

READERS = {
    "obj": load_obj,
    "ply": read_ply,
    "pkl": restricted_load,
    "npz": load_npz,
}


@pytest.fixture
def special(tmp_path):
    """A FIFO, a symbolic link to /dev/zero and a directory, by name."""
    os.mkfifo(tmp_path / "fifo")
    os.symlink("/dev/zero", tmp_path / "zero")
    (tmp_path / "dir").mkdir()
    return tmp_path


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize(
    "name,kind", [("fifo", "a FIFO"), ("zero", "a character device"), ("dir", "a directory")]
)
def test_special_files_are_refused_at_once(special, reader, name, kind):
    path = special / name
    with pytest.raises(ValueError, match=f"{kind}, not a regular file") as err:
        READERS[reader](path)  # a FIFO without a writer would block a plain open()
    assert str(path) in str(err.value)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.obj"):
        load_obj(tmp_path / "nothing.obj")


def test_size_limit_and_keyword(tmp_path):
    path = tmp_path / "m.ply"
    save_ply(path, np.zeros((50, 3)), None, ascii=True)
    size = path.stat().st_size
    with pytest.raises(ValueError, match=r"m\.ply: PLY file is larger than the limit of 100 "):
        load_ply(path, max_bytes=100)
    assert load_ply(path, max_bytes=size)[0].shape == (50, 3)
    with pytest.raises(ValueError, match="max_bytes"):  # file objects are limited too
        read_ply(io.BytesIO(path.read_bytes()), max_bytes=size - 1)
    with pytest.raises(ValueError, match="max_bytes must be positive"):
        read_limited(path, max_bytes=0)


def test_read_limited_reads_files_of_unknown_size():
    data = read_limited("/proc/self/status", max_bytes=1 << 20)  # st_size is 0 for /proc files
    assert b"Name:" in data
    with pytest.raises(ValueError, match="larger than the limit of 10 bytes"):
        read_limited("/proc/self/status", max_bytes=10)


def test_read_limited_text_objects_and_bad_arguments():
    assert read_limited(io.StringIO("v 1 2 3\n"), max_bytes=8) == b"v 1 2 3\n"
    with pytest.raises(TypeError, match="path or a file object"):
        read_limited(12)
    with open_regular(__file__, max_bytes=1 << 20) as fh:
        assert fh.read(3) == b'"""'


@pytest.mark.parametrize(
    "name,match",
    [("x" * 256 + ".mtl", "too long"), ("a/" + "b" * 300, "too long"), ("a\x00b", "NUL"),
     (" ", "empty"), ("d/" * 2100, "too long")],
)  # fmt: skip
def test_check_name(name, match):
    with pytest.raises(ValueError, match=match):
        check_name(name, "material file")
    check_name("sub/dir/" + "x" * 255, "material file")


def _mesh_with_texture(tmp_path, texture_name: str, mtl_name: str = "m.mtl"):
    save_obj(tmp_path / "m.obj", np.eye(3), np.array([[0, 1, 2]]),
             verts_uvs=np.eye(3)[:, :2], faces_uvs=np.array([[0, 1, 2]]))  # fmt: skip
    text = (tmp_path / "m.obj").read_text()
    (tmp_path / "m.obj").write_text(f"mtllib {mtl_name}\nusemtl a\n" + text)
    if mtl_name == "m.mtl":
        (tmp_path / "m.mtl").write_text(f"newmtl a\nKd 1 0 0\nmap_Kd {texture_name}\n")
    return tmp_path / "m.obj"


def test_texture_pixel_limit_and_keyword(tmp_path):
    Image.fromarray(np.full((40, 50, 3), 255, np.uint8)).save(tmp_path / "t.png")
    path = _mesh_with_texture(tmp_path, "t.png")
    with pytest.warns(UserWarning, match=r"t\.png is 50x40 pixels, more than max_image_pixels"):
        _, _, aux = load_obj(path, max_image_pixels=1999)
    assert aux.texture_images == {} and "a" in aux.material_colors
    _, _, aux = load_obj(path, max_image_pixels=2000)
    assert aux.texture_images["a"].shape == (40, 50, 3)
    assert MAX_IMAGE_PIXELS == 1 << 25


def _png_header(width: int, height: int) -> bytes:
    """A tiny PNG claiming ``width x height`` (its one row of data would not decode)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


def test_texture_bomb_is_not_decoded(tmp_path):
    """A 66-byte PNG whose header says 9000 x 9000 is skipped before decoding."""
    (tmp_path / "big.png").write_bytes(_png_header(9000, 9000))
    path = _mesh_with_texture(tmp_path, "big.png")
    with pytest.warns(UserWarning, match="9000x9000 pixels"):
        _, _, aux = load_obj(path)
    assert aux.texture_images == {}


@pytest.mark.parametrize("target", ["fifo", "zero"])
def test_special_texture_warns(special, target):
    os.symlink(special / target, special / "t.png")
    path = _mesh_with_texture(special, "t.png")
    with pytest.warns(UserWarning, match="not a regular file|leaves the mesh's folder"):
        _, _, aux = load_obj(path)
    assert aux.texture_images == {}


def test_special_mtl_is_an_error(special):
    path = _mesh_with_texture(special, "t.png", mtl_name="fifo")
    with pytest.raises(ValueError, match="fifo: material file is a FIFO"):
        load_obj(path)


@pytest.mark.parametrize("where", ["mtllib", "map_Kd"])
@pytest.mark.parametrize("name", ["n" * 300 + ".x", "a\x00b.x"])
def test_impossible_names_warn(tmp_path, where, name):
    if where == "mtllib":
        path = _mesh_with_texture(tmp_path, "t.png", mtl_name=name)
    else:
        path = _mesh_with_texture(tmp_path, name)
    with pytest.warns(UserWarning, match="too long|NUL"):
        verts, _, _ = load_obj(path)
    assert verts.shape == (3, 3)


def test_too_many_mtllibs_warn_once(tmp_path):
    names = " ".join(f"m{i}.mtl" for i in range(MAX_MTLLIBS + 40))
    (tmp_path / "m.obj").write_text(f"mtllib {names}\nmtllib {names}\nv 0 0 0\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_obj(tmp_path / "m.obj")
    text = [str(w.message) for w in caught]
    assert sum("40 more ignored" in t for t in text) == 1
    assert sum("does not exist" in t for t in text) == MAX_MTLLIBS
