"""PyTorch3D's IO signatures: device=, path_manager=, IO's interpreter objects, binary=."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jax3d.io import IO, load_obj, load_objs_as_meshes, load_ply, save_obj, save_ply
from jax3d.structures import Meshes

VERTS = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32)
FACES = np.array([[0, 1, 2]], np.int32)


def test_device_and_path_manager(tmp_path):
    path = tmp_path / "tri.obj"
    save_obj(path, VERTS, FACES, 4, None)  # PyTorch3D's positional decimal_places
    verts, faces, _ = load_obj(path, True, False, 4, "repeat", "cpu", None)
    np.testing.assert_array_equal(verts, VERTS)
    mesh = load_objs_as_meshes([path], "cpu")
    assert mesh.device == jax.devices("cpu")[0]
    with pytest.raises(ValueError, match="unknown device"):
        load_objs_as_meshes([path], device="mps")
    with pytest.raises(ValueError, match="path_manager"):
        load_obj(path, path_manager=object())
    ply = tmp_path / "tri.ply"
    save_ply(ply, VERTS, FACES, None, True, 3)  # PyTorch3D's positional ascii, decimal_places
    assert ply.read_text().startswith("ply\nformat ascii")
    np.testing.assert_array_equal(load_ply(ply, path_manager=None)[1], FACES)
    with pytest.raises(ValueError, match="path_manager"):
        IO(path_manager=object())


class _OffInterpreter:
    """A PyTorch3D-style interpreter for a toy ".tri" format (one triangle per file)."""

    def read(self, path, include_textures, device, path_manager, **kwargs):
        if not str(path).endswith(".tri"):
            return None
        v = np.loadtxt(path, dtype=np.float32).reshape(3, 3)
        return Meshes([v], [FACES])

    def save(self, data, path, path_manager, binary, **kwargs):
        if not str(path).endswith(".tri"):
            return False
        np.savetxt(path, np.asarray(data.verts_packed()))
        return True


def test_interpreters_and_binary(tmp_path):
    io = IO()
    io.register_meshes_format(_OffInterpreter())
    mesh = Meshes([VERTS], [FACES])
    io.save_mesh(mesh, tmp_path / "a.tri")
    np.testing.assert_array_equal(io.load_mesh(tmp_path / "a.tri").verts_packed(), VERTS)
    io.save_mesh(mesh, tmp_path / "a.ply", binary=False)  # the built-ins still work
    assert (tmp_path / "a.ply").read_bytes().startswith(b"ply\nformat ascii")
    io.save_mesh(mesh, tmp_path / "b.ply")  # binary=None: the format's default
    assert b"binary_little_endian" in (tmp_path / "b.ply").read_bytes()[:40]
    bare = IO(include_default_formats=False)
    with pytest.raises(ValueError, match="no mesh reader"):
        bare.load_mesh(tmp_path / "a.ply")
    bare.register_default_formats()
    assert len(bare.load_mesh(tmp_path / "a.ply", device="cpu")) == 1
