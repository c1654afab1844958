"""Chapter 1: loading and saving meshes and point clouds (PLY and OBJ with MTL and textures).

With ``JAX3D_DATA``: the book's ply/cube.ply, parallel_plane_mono.ply, parallel_plane_color.ply,
cow.ply, meshes/cube.obj (+ MTL) and meshes/cube_texture/cube_texture.obj (+ its 250x250 JPG)
are loaded and their types, shapes and materials printed, as in the book. Without it, the same
steps run on procedural assets (a cube, a coloured icosphere, a checkerboard-textured sphere)
that are first written to ``--out/procedural``. Every mesh is then saved again (binary PLY,
ascii PLY, OBJ) and reloaded; ``metrics.json`` records shapes, load times and whether the round
trip is exact.

    python experiments/ch01_io.py --quick --out out/ch01_io
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from tqdm import tqdm

from jax3d.datasets import data_path, has_data
from jax3d.io import IO, load_obj, load_ply, read_ply, save_obj, save_ply
from jax3d.utils import (
    checkerboard_image,
    cube_verts_faces,
    enable_compilation_cache,
    ico_sphere_uvs,
    ico_sphere_verts_faces,
)

PLY_NAMES = ["ply/cube.ply", "ply/parallel_plane_mono.ply", "ply/parallel_plane_color.ply",
             "ply/cow.ply"]  # fmt: skip
OBJ_NAMES = ["meshes/cube.obj", "meshes/cube_texture/cube_texture.obj"]


def procedural_assets(folder: Path, quick: bool) -> tuple[list[Path], list[Path]]:
    """Write stand-ins for the book's files: PLY cube / coloured sphere, OBJ cube + MTL,
    textured sphere OBJ + PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    verts, faces = cube_verts_faces()
    level = 1 if quick else 3
    sverts, sfaces = ico_sphere_verts_faces(level)
    colours = 0.5 * (np.asarray(sverts) + 1.0)
    save_ply(folder / "cube.ply", verts, faces, ascii=True)
    save_ply(folder / "sphere_color.ply", sverts, sfaces, verts_colors=colours, ascii=True)
    save_obj(folder / "cube.obj", verts, faces)
    text = (folder / "cube.obj").read_text()
    (folder / "cube.obj").write_text("mtllib cube.mtl\nusemtl Door\n" + text)
    (folder / "cube.mtl").write_text(
        "newmtl Door\nKa 0.8 0.6 0.4\nKd 0.8 0.6 0.4\nKs 0.9 0.9 0.9\nd 1.0\nNs 0.0\nillum 2\n"
    )
    uvs, faces_uvs = ico_sphere_uvs(level)
    image = checkerboard_image((250, 250), squares=8, colors=((0.9, 0.2, 0.1), (0.1, 0.3, 0.9)))
    save_obj(folder / "sphere_texture.obj", sverts, sfaces, verts_uvs=uvs, faces_uvs=faces_uvs,
             texture_map=image)  # fmt: skip
    plys = [folder / "cube.ply", folder / "sphere_color.ply"]
    return plys, [folder / "cube.obj", folder / "sphere_texture.obj"]


def describe_ply(path: Path) -> dict:
    """Print what the book prints for a PLY file and return its summary."""
    verts, faces = load_ply(path)
    mesh = read_ply(path)
    print(f"{path.name}: verts {type(verts).__name__} {verts.shape} {verts.dtype}, "
          f"faces {faces.shape} {faces.dtype}")  # fmt: skip
    if len(verts) <= 8:
        print("  verts =", verts.tolist(), "\n  faces =", faces.tolist())
    if mesh.colors is not None:
        print(f"  vertex colours {mesh.colors.shape} in [{mesh.colors.min()}, {mesh.colors.max()}]")
    return {"verts": list(verts.shape), "faces": list(faces.shape),
            "colors": mesh.colors is not None}  # fmt: skip


def describe_obj(path: Path) -> dict:
    """Print what the book prints for an OBJ file (faces, aux, materials, textures)."""
    verts, faces, aux = load_obj(path)
    print(f"{path.name}: verts {verts.shape}, faces.verts_idx {faces.verts_idx.shape}, "
          f"normals {None if aux.normals is None else aux.normals.shape}, "
          f"verts_uvs {None if aux.verts_uvs is None else aux.verts_uvs.shape}")  # fmt: skip
    for name, props in (aux.material_colors or {}).items():
        values = {k: np.round(np.asarray(v, np.float64), 4).tolist() for k, v in props.items()}
        print(f"  material {name}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    images = {k: list(v.shape) for k, v in (aux.texture_images or {}).items()}
    for name, shape in images.items():
        print(f"  texture image of {name}: {tuple(shape)}")
    return {"verts": list(verts.shape), "faces": list(faces.verts_idx.shape),
            "materials": sorted(aux.material_colors or {}), "texture_images": images}  # fmt: skip


def round_trip(path: Path, out: Path) -> dict:
    """Save the mesh as binary PLY, ascii PLY and OBJ (with texture) and reload each; files are
    named ``<stem>_from_<ply|obj>[_ascii].<ext>``."""
    io = IO()
    mesh = io.load_mesh(path)
    verts, faces = (np.asarray(x) for x in mesh.get_mesh_verts_faces(0))
    result = {}
    for suffix, kwargs in ((".ply", {"binary": True}), ("_ascii.ply", {"binary": False}),
                           (".obj", {})):  # fmt: skip
        target = out / f"{path.stem}_from_{path.suffix[1:]}{suffix}"
        io.save_mesh(mesh, target, **kwargs)
        again = io.load_mesh(target)
        v2, f2 = (np.asarray(x) for x in again.get_mesh_verts_faces(0))
        result[suffix.lstrip("_.")] = bool(np.array_equal(v2, verts) and np.array_equal(f2, faces))
    return result


def draw(paths: list[Path], file: Path) -> None:
    """One panel per mesh: its triangles projected on (x, y), coloured by depth."""
    fig = Figure(figsize=(3 * len(paths), 3.2))
    FigureCanvasAgg(fig)
    for i, path in enumerate(paths):
        ax = fig.add_subplot(1, len(paths), i + 1)
        verts, faces = (np.asarray(x) for x in IO().load_mesh(path).get_mesh_verts_faces(0))
        tris = verts[faces]
        order = np.argsort(tris[:, :, 2].mean(1))
        shade = (tris[order, :, 2].mean(1) - verts[:, 2].min()) / (np.ptp(verts[:, 2]) + 1e-9)
        ax.add_collection(PolyCollection(tris[order, :, :2], array=shade, cmap="viridis",
                                         edgecolors="k", linewidths=0.2))  # fmt: skip
        ax.autoscale()
        ax.set_aspect("equal")
        ax.set_title(path.name, fontsize=8)
        ax.axis("off")
    fig.savefig(file, dpi=90)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small assets, seconds")
    parser.add_argument("--out", default="out/ch01_io", help="output folder")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    real = has_data("ply/cube.ply") and has_data("meshes/cube_texture/cube_texture.obj")
    if real:
        plys = [data_path(n) for n in PLY_NAMES]
        objs = [data_path(n) for n in OBJ_NAMES]
    else:
        print("JAX3D_DATA not set: using procedural assets")
        plys, objs = procedural_assets(out / "procedural", args.quick)
    metrics = {"data": "JAX3D_DATA" if real else "procedural", "assets": {}}
    for path in tqdm(plys + objs, desc="load + round trip"):
        start = time.perf_counter()
        summary = describe_ply(path) if path.suffix == ".ply" else describe_obj(path)
        summary["load_ms"] = round(1000 * (time.perf_counter() - start), 2)
        summary["round_trip_exact"] = round_trip(path, out)
        metrics["assets"][path.name] = summary
    draw(plys[:2] + objs[-1:], out / "meshes.png")
    metrics["all_round_trips_exact"] = all(
        all(a["round_trip_exact"].values()) for a in metrics["assets"].values()
    )
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"round trips exact: {metrics['all_round_trips_exact']}; outputs in {out}")
    return metrics


if __name__ == "__main__":
    enable_compilation_cache()  # compiled programs persist across runs
    main()
