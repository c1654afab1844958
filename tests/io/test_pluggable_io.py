"""IO(): dispatch by extension to Meshes / Pointclouds; load_objs_as_meshes textures."""

from __future__ import annotations

import numpy as np
import pytest

from jax3d.io import IO, load_obj, load_objs_as_meshes
from jax3d.renderer import TexturesAtlas, TexturesUV, TexturesVertex
from jax3d.structures import Meshes, Pointclouds


def test_obj_mesh_round_trip_with_texture(data, tmp_path):
    mesh = IO().load_mesh(data("meshes/cow_mesh/cow.obj"))
    assert isinstance(mesh, Meshes) and isinstance(mesh.textures, TexturesUV)
    IO().save_mesh(mesh, tmp_path / "cow.obj")
    assert {p.name for p in tmp_path.iterdir()} == {"cow.obj", "cow.mtl", "cow.png"}
    again = IO().load_mesh(tmp_path / "cow.obj")
    np.testing.assert_array_equal(again.verts, mesh.verts)
    np.testing.assert_array_equal(again.faces, mesh.faces)
    np.testing.assert_array_equal(again.textures.verts_uvs, mesh.textures.verts_uvs)
    np.testing.assert_allclose(again.textures.maps, mesh.textures.maps, atol=1e-6)


@pytest.mark.parametrize("binary", [True, False])
def test_ply_mesh_colours_round_trip(data, tmp_path, binary):
    mesh = IO().load_mesh(data("ply/parallel_plane_color.ply"))
    assert isinstance(mesh.textures, TexturesVertex)
    IO().save_mesh(mesh, tmp_path / "p.ply", binary=binary)
    again = IO().load_mesh(tmp_path / "p.ply")
    np.testing.assert_array_equal(again.verts, mesh.verts)
    np.testing.assert_array_equal(again.faces, mesh.faces)
    np.testing.assert_array_equal(again.textures.verts_features, mesh.textures.verts_features)
    plain = IO().load_mesh(tmp_path / "p.ply", include_textures=False)
    assert plain.textures is None


def test_pointcloud_round_trip(data, tmp_path):
    cloud = IO().load_pointcloud(data("pointclouds/pedestrian.ply"))
    assert isinstance(cloud, Pointclouds) and cloud.points_padded().shape == (1, 239, 3)
    rng = np.random.default_rng(0)
    pts, nrm, col = (rng.random((10, 3)).astype(np.float32) for _ in range(3))
    IO().save_pointcloud(Pointclouds([pts], normals=[nrm], features=[col]), tmp_path / "c.ply")
    again = IO().load_pointcloud(tmp_path / "c.ply")
    np.testing.assert_array_equal(again.points_list()[0], pts)
    np.testing.assert_array_equal(again.normals_list()[0], nrm)
    np.testing.assert_array_equal(again.features_list()[0], col)


def test_dispatch_errors(tmp_path):
    mesh = Meshes([np.zeros((3, 3))], [np.array([[0, 1, 2]])])
    with pytest.raises(ValueError, match="known extensions"):
        IO().save_mesh(mesh, tmp_path / "m.stl")
    with pytest.raises(ValueError, match="known extensions"):
        IO().load_pointcloud(tmp_path / "m.obj")
    with pytest.raises(ValueError, match="single mesh"):
        IO().save_mesh(mesh.extend(2), tmp_path / "m.obj")
    with pytest.raises(TypeError, match="path"):
        IO().load_mesh(123)


def test_register_format(tmp_path):
    io = IO()
    seen = []
    io.register_meshes_format(".xyz", lambda p, t: seen.append(p) or "loaded", None)
    assert io.load_mesh(tmp_path / "a.XYZ") == "loaded" and seen


# ------------------------------------------------------------------- load_objs_as_meshes


def test_batch_with_and_without_textures(data):
    files = [data("meshes/cube_texture/cube_texture.obj"), data("meshes/teapot.obj")]
    mesh = load_objs_as_meshes(files)
    assert mesh.verts.shape[0] == 2 and isinstance(mesh.textures, TexturesUV)
    np.testing.assert_array_equal(mesh.textures.num_faces, [12, 2464])
    teapot_map = np.asarray(mesh.textures.maps[1])
    np.testing.assert_allclose(teapot_map, 1.0)  # untextured member: white
    assert load_objs_as_meshes([data("meshes/teapot.obj")]).textures is None


def test_atlas_batch(data):
    mesh = load_objs_as_meshes([data("meshes/cube.obj"), data("meshes/diamond.obj")],
                               create_texture_atlas=True, texture_atlas_size=3)  # fmt: skip
    assert isinstance(mesh.textures, TexturesAtlas)
    assert mesh.textures.atlas.shape == (2, 12, 3, 3, 3)
    np.testing.assert_array_equal(mesh.textures.num_faces, [12, 9])


def sample_uv_naive(image, uv):
    """align_corners=True bilinear lookup with v up (row 0 is v = 1)."""
    h, w = image.shape[:2]
    x, y = uv[0] * (w - 1), (1 - uv[1]) * (h - 1)
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
    ax, ay = x - x0, y - y0
    return ((1 - ax) * (1 - ay) * image[y0, x0] + ax * (1 - ay) * image[y0, x1] +
            (1 - ax) * ay * image[y1, x0] + ax * ay * image[y1, x1])  # fmt: skip


def test_multi_material_packing_preserves_colours(tmp_path):
    """Sampling the packed map at the remapped uvs gives each material's own texture."""
    from PIL import Image

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (5, 4, 3), np.uint8)
    b = rng.integers(0, 256, (3, 7, 3), np.uint8)
    Image.fromarray(a).save(tmp_path / "a.png")
    Image.fromarray(b).save(tmp_path / "b.png")
    (tmp_path / "m.mtl").write_text("newmtl A\nmap_Kd a.png\nnewmtl B\nmap_Kd b.png\n"
                                    "newmtl C\nKd 0.2 0.4 0.6\n")  # fmt: skip
    uvs = rng.random((6, 2))
    text = "mtllib m.mtl\n" + "".join(f"v {i} {i % 2} 0\n" for i in range(6))
    text += "".join(f"vt {u} {v}\n" for u, v in uvs)
    text += "usemtl A\nf 1/1 2/2 3/3\nusemtl B\nf 4/4 5/5 6/6\nf 1/6 3/5 5/4\nusemtl C\nf 1 2 3\n"
    (tmp_path / "mm.obj").write_text(text)
    mesh = load_objs_as_meshes([tmp_path / "mm.obj"])
    packed = np.asarray(mesh.textures.maps[0], np.float64)
    fu = np.asarray(mesh.textures.faces_uvs[0])
    vu = np.asarray(mesh.textures.verts_uvs[0], np.float64)
    _, faces, aux = load_obj(tmp_path / "mm.obj")
    for f, image in ((0, a), (1, b), (2, b)):
        for k in range(3):
            want = sample_uv_naive(image / 255.0, aux.verts_uvs[faces.textures_idx[f, k]])
            got = sample_uv_naive(packed, vu[fu[f, k]])
            np.testing.assert_allclose(got, want, atol=1e-5)
    for k in range(3):  # untextured material C: its diffuse colour
        np.testing.assert_allclose(sample_uv_naive(packed, vu[fu[3, k]]), [0.2, 0.4, 0.6],
                                   atol=1e-6)  # fmt: skip
