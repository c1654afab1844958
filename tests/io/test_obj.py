"""OBJ / MTL loading and saving: assets, trimesh parity, round trips, strict errors."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
import trimesh

from jax3d.io import load_obj, load_objs_as_meshes, make_mesh_texture_atlas, save_obj

MESH_ASSETS = [
    "meshes/cube.obj",
    "meshes/diamond.obj",
    "meshes/dodecahedron.obj",
    "meshes/teapot.obj",
    "meshes/camera_cube/cube.obj",
    "meshes/cube_texture/cube_texture.obj",
    "meshes/cow_mesh/cow.obj",
]


def obj_bytes(text: str) -> io.BytesIO:
    return io.BytesIO(text.encode())


def triangle_set(verts, faces):
    """Faces as a set of rounded coordinate triples, invariant to vertex order and rotation."""
    tris = np.asarray(verts, np.float32)[np.asarray(faces)]
    out = set()
    for t in tris:
        rows = [tuple(r) for r in t]
        k = rows.index(min(rows))
        out.add(tuple(rows[k:] + rows[:k]))
    return out


# ------------------------------------------------------------------------------------- assets


@pytest.mark.parametrize("name", MESH_ASSETS)
def test_assets_match_trimesh(data, name):
    path = data(name)
    verts, faces, _ = load_obj(path, load_textures=False)
    tm = trimesh.load(path, process=False, force="mesh")
    assert verts.dtype == np.float32 and faces.verts_idx.dtype == np.int32
    assert len(faces.verts_idx) == len(tm.faces)
    assert triangle_set(verts, faces.verts_idx) == triangle_set(tm.vertices, tm.faces)
    if len(tm.vertices) == len(verts):  # trimesh splits vertices only where uvs differ
        np.testing.assert_allclose(verts, tm.vertices, atol=1e-6)


def test_cow(data):
    verts, faces, aux = load_obj(data("meshes/cow_mesh/cow.obj"))
    assert verts.shape == (2930, 3) and faces.verts_idx.shape == (5856, 3)
    assert aux.verts_uvs.shape == (3225, 2) and aux.normals is None
    assert (faces.textures_idx >= 0).all() and (faces.normals_idx == -1).all()
    assert list(aux.texture_images) == ["material_1"]
    image = aux.texture_images["material_1"]
    assert image.shape == (1024, 1024, 3) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert (faces.materials_idx == 0).all()
    np.testing.assert_allclose(aux.material_colors["material_1"]["shininess"], [10.0])


def test_cube_texture_mtl(data):
    verts, faces, aux = load_obj(data("meshes/cube_texture/cube_texture.obj"))
    assert aux.texture_images["Skin"].shape == (250, 250, 3)
    np.testing.assert_allclose(aux.material_colors["Skin"]["diffuse_color"],
                               [0.827451, 0.792157, 0.772549], rtol=1e-6)  # fmt: skip
    assert aux.normals.shape == (6, 3) and (faces.normals_idx >= 0).all()
    # f 2/1/1 3/2/1 4/3/1 is the first face
    np.testing.assert_array_equal(faces.verts_idx[0], [1, 2, 3])
    np.testing.assert_array_equal(faces.textures_idx[0], [0, 1, 2])


def test_cube_material_colors(data):
    _, _, aux = load_obj(data("meshes/cube.obj"))
    door = aux.material_colors["Door"]
    np.testing.assert_allclose(door["ambient_color"], [0.8, 0.6, 0.4])
    np.testing.assert_allclose(door["specular_color"], [0.9, 0.9, 0.9])
    assert door["illum"].tolist() == [2] and door["opacity"].tolist() == [1.0]
    assert aux.texture_images == {}


def test_load_objs_as_meshes_cow(data):
    mesh = load_objs_as_meshes([data("meshes/cow_mesh/cow.obj")])
    assert mesh.verts.shape == (1, 2930, 3)
    assert mesh.textures.maps.shape == (1, 1024, 1024, 3)
    assert mesh.textures.verts_uvs.shape == (1, 3225, 2)


# -------------------------------------------------------------------------- parsing semantics

POLY = """# a comment
o thing
g group1
v 0 0 0
v 1 0 0
v 1 1 0
v 0 1 0  # trailing comment
vt 0 0
vt 1 0
vt 1 1
vn 0 0 1
s off
mg 1
f 1/1/1 2/2/1 3/3/1 4/1/1
l 1 2
f -4 -2 -1
"""


def test_polygon_fan_and_relative_indices():
    verts, faces, aux = load_obj(obj_bytes(POLY))
    np.testing.assert_array_equal(faces.verts_idx, [[0, 1, 2], [0, 2, 3], [0, 2, 3]])
    np.testing.assert_array_equal(faces.textures_idx, [[0, 1, 2], [0, 2, 0], [-1, -1, -1]])
    np.testing.assert_array_equal(faces.normals_idx[:2], 0)
    assert (faces.normals_idx[2] == -1).all()
    assert (faces.materials_idx == -1).all()
    assert aux.verts_uvs.shape == (3, 2) and aux.normals.shape == (1, 3)


def test_relative_index_counts_vertices_defined_so_far():
    text = "v 0 0 0\nv 1 0 0\nv 0 1 0\nf -3 -2 -1\nv 5 5 5\nf -1 -2 -3\nf 1 2 3 4"
    _, faces, _ = load_obj(obj_bytes(text))
    np.testing.assert_array_equal(faces.verts_idx[:2], [[0, 1, 2], [3, 2, 1]])
    # the quad with positive indices fans as (0, 1, 2), (0, 2, 3)
    np.testing.assert_array_equal(faces.verts_idx[2:], [[0, 1, 2], [0, 2, 3]])


def test_several_materials_and_default(tmp_path):
    (tmp_path / "m.mtl").write_text("newmtl red\nKd 1 0 0\nnewmtl blue\nKd 0 0 1\nNs 3\n")
    quad = "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\n"
    (tmp_path / "a.obj").write_text(
        "mtllib m.mtl\n" + quad + "f 1 2 3\nusemtl blue\nf 1 3 4\nusemtl red\nf 1 2 4\n"
        "usemtl blue\nf 2 3 4\n"
    )
    _, faces, aux = load_obj(tmp_path / "a.obj")
    np.testing.assert_array_equal(faces.materials_idx, [-1, 0, 1, 0])
    assert list(aux.material_colors) == ["blue", "red"]
    np.testing.assert_allclose(aux.material_colors["blue"]["shininess"], [3.0])
    # no usemtl at all: the first material of the MTL is the default for every face
    (tmp_path / "b.obj").write_text("mtllib m.mtl\n" + quad + "f 1 2 3\n")
    _, faces, aux = load_obj(tmp_path / "b.obj")
    np.testing.assert_array_equal(faces.materials_idx, [0])
    assert list(aux.material_colors) == ["red"]


def test_load_textures_false_gives_none(data):
    _, _, aux = load_obj(data("meshes/cube.obj"), load_textures=False)
    assert aux.material_colors is None and aux.texture_images is None


# ------------------------------------------------------------------------------ texture atlas


def atlas_naive(image, uvs, r):
    """Loop version of PyTorch3D's per-face atlas (cell centroids, bilinear, v up)."""
    h, w = image.shape[:2]
    flipped = image[::-1].astype(np.float64)
    out = np.zeros((len(uvs), r, r, 3))
    for f in range(len(uvs)):
        for y in range(r):
            for x in range(r):
                if x + y < r:
                    w0, w1 = (x + 1 / 3) / r, (y + 1 / 3) / r
                else:
                    w0, w1 = (r - 1 - x + 2 / 3) / r, (r - 1 - y + 2 / 3) / r
                u, v = w0 * uvs[f, 0] + w1 * uvs[f, 1] + (1 - w0 - w1) * uvs[f, 2]
                px, py = u * (w - 1), v * (h - 1)
                x0, y0 = int(np.floor(px)), int(np.floor(py))
                x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
                ax, ay = px - x0, py - y0
                out[f, y, x] = ((1 - ax) * (1 - ay) * flipped[y0, x0] + ax * (1 - ay) *
                                flipped[y0, x1] + (1 - ax) * ay * flipped[y1, x0] +
                                ax * ay * flipped[y1, x1])  # fmt: skip
    return out


def test_atlas_matches_naive():
    rng = np.random.default_rng(0)
    image = rng.random((7, 9, 3)).astype(np.float32)
    uvs = rng.random((5, 3, 2)).astype(np.float32)
    names = np.array(["tex"] * 4 + [""], dtype=object)
    colors = {"tex": {"diffuse_color": np.array([0.2, 0.3, 0.4], np.float32)}}
    atlas = make_mesh_texture_atlas(colors, {"tex": image}, names, uvs, 3, "repeat")
    np.testing.assert_allclose(atlas[:4], atlas_naive(image, uvs[:4], 3), atol=1e-5)
    np.testing.assert_array_equal(atlas[4], 1.0)  # no material: white


def test_atlas_on_cube_texture(data):
    _, faces, aux = load_obj(data("meshes/cube_texture/cube_texture.obj"),
                             create_texture_atlas=True, texture_atlas_size=2)  # fmt: skip
    assert aux.texture_atlas.shape == (12, 2, 2, 3)
    uvs = aux.verts_uvs[faces.textures_idx]
    ref = atlas_naive(aux.texture_images["Skin"], uvs, 2)
    np.testing.assert_allclose(aux.texture_atlas, ref, atol=1e-5)


def test_atlas_diffuse_colour_without_image(data):
    _, _, aux = load_obj(data("meshes/cube.obj"), create_texture_atlas=True)
    np.testing.assert_allclose(aux.texture_atlas, np.broadcast_to([0.8, 0.6, 0.4], (12, 4, 4, 3)))


# ------------------------------------------------------------------------------- round trips


def test_save_load_round_trip_exact(tmp_path):
    rng = np.random.default_rng(1)
    verts = (rng.standard_normal((50, 3)) * 10 ** rng.uniform(-8, 8, (50, 1))).astype(np.float32)
    faces = rng.integers(0, 50, (80, 3))
    normals = rng.standard_normal((7, 3)).astype(np.float32)
    fn = rng.integers(0, 7, (80, 3))
    uvs = rng.random((20, 2)).astype(np.float32)
    ft = rng.integers(0, 20, (80, 3))
    path = tmp_path / "m.obj"
    save_obj(path, verts, faces, normals=normals, faces_normals_idx=fn, verts_uvs=uvs,
             faces_uvs=ft)  # fmt: skip
    v2, f2, aux = load_obj(path)
    np.testing.assert_array_equal(v2, verts)
    np.testing.assert_array_equal(f2.verts_idx, faces)
    np.testing.assert_array_equal(f2.normals_idx, fn)
    np.testing.assert_array_equal(f2.textures_idx, ft)
    np.testing.assert_array_equal(aux.normals, normals)
    np.testing.assert_array_equal(aux.verts_uvs, uvs)


def test_save_with_texture_map(tmp_path):
    rng = np.random.default_rng(2)
    image = np.round(rng.random((6, 5, 3)) * 255) / 255
    verts, faces = rng.random((4, 3)), np.array([[0, 1, 2], [0, 2, 3]])
    uvs, ft = rng.random((4, 2)), np.array([[0, 1, 2], [0, 2, 3]])
    save_obj(tmp_path / "t.obj", verts, faces, verts_uvs=uvs, faces_uvs=ft,
             texture_map=image[None])  # fmt: skip
    assert (tmp_path / "t.mtl").exists() and (tmp_path / "t.png").exists()
    _, f2, aux = load_obj(tmp_path / "t.obj")
    np.testing.assert_allclose(aux.texture_images["mesh"], image, atol=1e-6)
    np.testing.assert_array_equal(f2.materials_idx, [0, 0])


def test_decimal_places(tmp_path):
    save_obj(tmp_path / "d.obj", [[0.123456, 1.0, 2.5]], np.zeros((0, 3), int), decimal_places=2)
    assert "v 0.12 1.00 2.50" in (tmp_path / "d.obj").read_text()


def test_save_validates_arguments():
    buf = io.StringIO()
    with pytest.raises(ValueError, match="verts"):
        save_obj(buf, np.zeros((3, 2)), np.zeros((1, 3), int))
    with pytest.raises(ValueError, match="faces"):
        save_obj(buf, np.zeros((3, 3)), [[0, 1, 3]])
    with pytest.raises(TypeError, match="faces"):
        save_obj(buf, np.zeros((3, 3)), [[0.0, 1.0, 2.0]])
    with pytest.raises(ValueError, match="NaN"):
        save_obj(buf, [[np.nan, 0, 0]], np.zeros((0, 3), int))
    with pytest.raises(ValueError, match="path"):
        save_obj(buf, np.zeros((3, 3)), [[0, 1, 2]], verts_uvs=np.zeros((3, 2)),
                 faces_uvs=[[0, 1, 2]], texture_map=np.zeros((2, 2, 3)))  # fmt: skip


# -------------------------------------------------------------------------------- bad inputs

BAD = [
    ("v 1 2\n", 1, "needs 3 to 7"),
    ("v 0 0 0\nv 1 0 0\nv 1 1 x\n", 3, "malformed number 'x'"),
    ("v 0 0 0\nv 1 0 0\nv 1 1 0\n\nf 1 2 0\n", 5, "index 0"),
    ("v 0 0 0\nv 1 0 0\nv 1 1 0\nf 1 2 4\n", 4, "out of range"),
    ("v 0 0 0\nv 1 0 0\nv 1 1 0\nf -4 1 2\n", 4, "out of range"),
    ("v 0 0 0\nv 1 0 0\nv 1 1 0\nf 1 2\n", 4, "at least 3"),
    ("v 0 0 0\nv 1 0 0\nv 1 1 0\nvt 0 0\nf 1/1 2 3\n", 5, "some corners"),
    ("v 0 0 0\nv 1 0 0\nv 1 1 0\nf 1/1/1/1 2 3\n", 4, "> 3 fields"),
    ("v 0 0 0\nv 1 0 0\nv 1 1 0\nf 1.5 2 3\n", 4, "malformed face index"),
    ("v 1e39 0 0\n", 1, "float32"),
    ("v nan 0 0\n", 1, "NaN"),
    ("vn 0 0\n", 1, "needs 3"),
    ("usemtl\n", 1, "without a material name"),
    ("mtllib\n", 1, "without a file name"),
    ("v 0 0 0\r\nv 1 0 0\r\nv 1 1 0\r\nf 1 2 99999999999999999999\r\n", 4, "out of range"),
]


@pytest.mark.parametrize("text,line,msg", BAD)
def test_malformed_inputs_name_file_and_line(tmp_path, text, line, msg):
    path = tmp_path / "bad.obj"
    path.write_bytes(text.encode())
    with pytest.raises(ValueError, match=msg) as err:
        load_obj(path)
    assert f"bad.obj, line {line}:" in str(err.value)


def test_bad_mtl_names_line(tmp_path):
    (tmp_path / "m.mtl").write_text("newmtl a\nKd 1 0\n")
    (tmp_path / "a.obj").write_text("mtllib m.mtl\nusemtl a\nv 0 0 0\n")
    with pytest.raises(ValueError, match=r"m\.mtl, line 2: 'Kd' needs 1 or 3"):
        load_obj(tmp_path / "a.obj")


def test_bad_arguments():
    with pytest.raises(ValueError, match="texture_wrap"):
        load_obj(obj_bytes("v 0 0 0\n"), texture_wrap="mirror")
    with pytest.raises(ValueError, match="texture_atlas_size"):
        load_obj(obj_bytes("v 0 0 0\n"), create_texture_atlas=True, texture_atlas_size=0)


# ----------------------------------------------------------------------------- path escapes


def _escape_setup(tmp_path: Path):
    inner = tmp_path / "inner"
    inner.mkdir()
    (tmp_path / "secret.mtl").write_text("newmtl m\nKd 1 0 0\nmap_Kd tex.png\n")
    from PIL import Image

    Image.fromarray(np.full((2, 2, 3), 255, np.uint8)).save(tmp_path / "tex.png")
    (inner / "local.mtl").write_text("newmtl m\nKd 0 1 0\nmap_Kd ../tex.png\n")
    quad = "usemtl m\nv 0 0 0\nv 1 0 0\nv 1 1 0\nf 1 2 3\n"
    (inner / "up.obj").write_text("mtllib ../secret.mtl\n" + quad)
    (inner / "abs.obj").write_text(f"mtllib {tmp_path / 'secret.mtl'}\n" + quad)
    (inner / "tex.obj").write_text("mtllib local.mtl\n" + quad)
    return inner


@pytest.mark.parametrize("name", ["up.obj", "abs.obj"])
def test_mtl_outside_folder_refused(tmp_path, name):
    inner = _escape_setup(tmp_path)
    with pytest.warns(UserWarning, match="leaves the mesh's folder"):
        _, _, aux = load_obj(inner / name)
    assert aux.material_colors == {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, _, aux = load_obj(inner / name, allow_outside=True)
    np.testing.assert_array_equal(aux.material_colors["m"]["diffuse_color"], [1, 0, 0])
    assert aux.texture_images["m"].shape == (2, 2, 3)


def test_texture_outside_folder_refused(tmp_path):
    inner = _escape_setup(tmp_path)
    with pytest.warns(UserWarning, match="leaves the mesh's folder"):
        _, _, aux = load_obj(inner / "tex.obj")
    assert aux.texture_images == {} and "m" in aux.material_colors
    _, _, aux = load_obj(inner / "tex.obj", allow_outside=True)
    assert "m" in aux.texture_images


def test_missing_files_warn(tmp_path):
    (tmp_path / "a.obj").write_text("mtllib nope.mtl\nusemtl x\nv 0 0 0\n")
    with pytest.warns(UserWarning, match="does not exist"):
        verts, _, aux = load_obj(tmp_path / "a.obj")
    assert verts.shape == (1, 3) and aux.texture_images == {}
    (tmp_path / "b.mtl").write_text("newmtl x\nmap_Kd -s 1 1 1 missing.png\n")
    (tmp_path / "b.obj").write_text("mtllib b.mtl\nusemtl x\nv 0 0 0\n")
    with pytest.warns(UserWarning, match="missing.png"):
        load_obj(tmp_path / "b.obj")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "c.mtl").write_text("newmtl x\nmap_Kd broken.png\n")
    (tmp_path / "c.obj").write_text("mtllib c.mtl\nusemtl x\nv 0 0 0\n")
    with pytest.warns(UserWarning, match="cannot decode"):
        _, _, aux = load_obj(tmp_path / "c.obj")
    assert aux.texture_images == {}
