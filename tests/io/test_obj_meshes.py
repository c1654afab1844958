"""``load_objs_as_meshes``' texture packing: sampling the packed map at a corner's new uv
gives what sampling the corner's own image (or its material colour) gave, for every face."""

from __future__ import annotations

import warnings

import numpy as np
from PIL import Image

from jax3d.io.mtl import bilinear_sample, wrap_uvs
from jax3d.io.obj import load_obj_with_names
from jax3d.io.obj_meshes import uv_texture_from_obj


def textured_obj(tmp_path, faces: str):
    rng = np.random.default_rng(0)
    images = {"a.png": rng.integers(0, 256, (3, 4, 3)), "b.png": rng.integers(0, 256, (5, 2, 3))}
    for name, img in images.items():
        Image.fromarray(img.astype(np.uint8)).save(tmp_path / name)
    (tmp_path / "m.mtl").write_text(
        "newmtl A\nmap_Kd a.png\nnewmtl B\nmap_Kd b.png\n"
        "newmtl red\nKd 1 0 0\nnewmtl grey\nKd 0.5\n"
    )
    head = "mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\n"
    head += "vt 0 0\nvt 1 0\nvt 0 1\nvt 0.25 0.75\nvt 1.5 -0.25\nvt 1 1\n"
    (tmp_path / "m.obj").write_text(head + faces)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return load_obj_with_names(tmp_path / "m.obj", True, False, 4, "repeat", False)


FACES = """f 1/1 2/2 3/3
usemtl A
f 1/1 2/2 3/3
f 2/4 3/5 4/6 1/1
usemtl B
f 1/5 2/4 4/6
f 1 2 3
usemtl red
f 1/1 2/2 4/4
usemtl grey
f 1 2 4
usemtl A
f 3/3 4/4 1/5
"""


def test_packed_map_samples_like_the_originals(tmp_path):
    verts, faces, aux, names = textured_obj(tmp_path, FACES)
    canvas, faces_uvs, verts_uvs = uv_texture_from_obj(faces, aux, names, "repeat")
    assert faces_uvs.shape == faces.verts_idx.shape
    got = bilinear_sample(canvas[::-1], verts_uvs[faces_uvs])  # (F, 3, 3)
    for f in range(len(faces_uvs)):
        m = faces.materials_idx[f]
        name = names[m] if m >= 0 else None
        has_uv = (faces.textures_idx[f] >= 0).all()
        if name in aux.texture_images and has_uv:
            uv = wrap_uvs(aux.verts_uvs[faces.textures_idx[f]].astype(np.float64), "repeat")
            want = bilinear_sample(aux.texture_images[name][::-1], uv)
        elif name is not None and "diffuse_color" in aux.material_colors.get(name, {}):
            want = np.broadcast_to(aux.material_colors[name]["diffuse_color"], (3, 3))
        else:
            want = np.ones((3, 3))
        np.testing.assert_allclose(got[f], want, atol=1e-5, err_msg=f"face {f}")


def test_one_image_used_by_every_face_is_kept_as_is(tmp_path):
    _, faces, aux, names = textured_obj(tmp_path, "usemtl B\nf 1/1 2/2 3/3\nf 2/2 3/3 4/6\n")
    canvas, faces_uvs, verts_uvs = uv_texture_from_obj(faces, aux, names, "repeat")
    assert canvas is aux.texture_images["B"] and verts_uvs is aux.verts_uvs


def test_textured_materials_without_faces(tmp_path):
    """Vertices and a textured MTL but no faces: a white 1x1 map and no face uvs."""
    _, faces, aux, names = textured_obj(tmp_path, "usemtl A\n")
    canvas, faces_uvs, verts_uvs = uv_texture_from_obj(faces, aux, names, "repeat")
    assert canvas.shape == (1, 1, 3) and faces_uvs.shape == (0, 3) and verts_uvs.shape == (1, 2)


def test_unique_ints_matches_numpy():
    from jax3d.io.obj_meshes import _unique_ints

    rng = np.random.default_rng(0)
    for bound in (10, 100_000):  # dense counting, and the sort for a sparse range
        keys = rng.integers(0, bound, 300)
        got, inv = _unique_ints(keys, bound)
        want, want_inv = np.unique(keys, return_inverse=True)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(inv.reshape(-1), want_inv.reshape(-1))
