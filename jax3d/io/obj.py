"""Loading and saving Wavefront OBJ meshes (PyTorch3D's ``load_obj`` / ``save_obj``)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jax3d.device import as_device
from jax3d.io.files import MAX_FILE_BYTES, MAX_IMAGE_PIXELS, check_max_bytes, read_limited
from jax3d.io.mtl import first_material, load_mtl, make_mesh_texture_atlas
from jax3d.io.obj_parse import MAX_MTLLIBS, parse_obj_bytes
from jax3d.io.utils import (
    as_numpy,
    describe,
    folder_of,
    format_rows,
    no_path_manager,
    open_for_writing,
    resolve_inside,
    write_image,
)


class Faces(NamedTuple):
    """Per-triangle indices of an OBJ file (0-based, ``int32``, ``-1`` where absent).

    verts_idx: (F, 3) into ``verts``. normals_idx: (F, 3) into ``Properties.normals``.
    textures_idx: (F, 3) into ``Properties.verts_uvs``. materials_idx: (F,) into the
    materials in order of first ``usemtl`` (the keys of ``Properties.material_colors``).
    """

    verts_idx: np.ndarray
    normals_idx: np.ndarray
    textures_idx: np.ndarray
    materials_idx: np.ndarray


class Properties(NamedTuple):
    """Auxiliary OBJ data (PyTorch3D's ``aux``).

    normals: (N, 3) float32 or None. verts_uvs: (T, 2) float32 or None.
    material_colors: dict name -> {"ambient_color" (3,), "diffuse_color" (3,),
    "specular_color" (3,), "shininess" (1,), and when given "opacity" (1,), "illum" (1,)},
    or None when textures are not loaded. texture_images: dict name -> (H, W, 3) float32
    in [0, 1], or None. texture_atlas: (F, R, R, 3) float32 or None.
    """

    normals: np.ndarray | None
    verts_uvs: np.ndarray | None
    material_colors: dict | None
    texture_images: dict | None
    texture_atlas: np.ndarray | None


def load_obj(
    f,
    load_textures: bool = True,
    create_texture_atlas: bool = False,
    texture_atlas_size: int = 4,
    texture_wrap: str | None = "repeat",
    device=None,
    path_manager=None,
    *,
    allow_outside: bool = False,
    max_bytes: int = MAX_FILE_BYTES,
    max_image_pixels: int = MAX_IMAGE_PIXELS,
):
    """Load an OBJ mesh, with its MTL materials and texture images, from untrusted input.

    Polygons are fan-triangulated ``(0, i, i + 1)``; indices may be negative (relative to the
    vertices defined so far). ``o``, ``g``, ``s``, ``l``, ``mg`` and comments are ignored.
    Faces before the first ``usemtl`` have material -1; a file with an ``mtllib`` but no
    ``usemtl`` at all uses the first material of the MTL for every face (a default material).

    Args:
      f: a path, or a file object (binary or text; relative MTL paths are then resolved
        against its ``name``'s folder, else the current folder).
      load_textures: read the MTL file(s) and texture images.
      create_texture_atlas: also build ``texture_atlas``, an ``(F, R, R, 3)`` per-face texture
        (white where there is no material; the diffuse colour where there is no image).
      texture_atlas_size: R.
      texture_wrap: "repeat", "clamp" or None: how uvs outside [0, 1] are treated in the atlas.
      device: PyTorch3D's placement of the outputs; jax3d returns host NumPy arrays, so it is
        only checked (``jax3d.device`` meaning). Move arrays with ``jnp.asarray`` /
        ``jax.device_put`` (``load_objs_as_meshes`` places its ``Meshes``).
      path_manager: must be None (PyTorch3D's iopath file systems are not supported).
      allow_outside: accept MTL/texture paths leaving the OBJ's folder (refused by default:
        such paths are skipped with a warning, and the mesh loads without them).
      max_bytes: largest OBJ, MTL or image file read, in bytes (default 1 GiB); a larger
        file raises ``ValueError``. Parsing needs a few times the file size in memory.
      max_image_pixels: largest texture image decoded, width * height (default 2^25); a
        larger one warns and is skipped.

    Returns:
      (verts, faces, aux): ``verts (V, 3) float32``; ``faces`` a ``Faces``; ``aux`` a
      ``Properties``. All arrays are NumPy (float32 / int32).

    Raises:
      ValueError: naming the file and line, for malformed numbers, wrong token counts, face
        index 0 or out of range, inconsistent face corners; naming the file, for a path that
        is not a regular file (FIFO, device, directory) or a file over ``max_bytes``; or for
        bad arguments.
    """
    as_device(device)
    no_path_manager(path_manager)
    verts, faces, aux, _ = load_obj_with_names(
        f, load_textures, create_texture_atlas, texture_atlas_size, texture_wrap, allow_outside,
        max_bytes=max_bytes, max_image_pixels=max_image_pixels,
    )  # fmt: skip
    return verts, faces, aux


def load_obj_with_names(
    f, load_textures, create_texture_atlas, texture_atlas_size, texture_wrap, allow_outside,
    *, max_bytes=MAX_FILE_BYTES, max_image_pixels=MAX_IMAGE_PIXELS,
):  # fmt: skip
    """``load_obj`` plus the material names that ``faces.materials_idx`` indexes."""
    if texture_wrap not in ("repeat", "clamp", None):
        raise ValueError(f"texture_wrap must be 'repeat', 'clamp' or None, got {texture_wrap!r}")
    if create_texture_atlas and (not isinstance(texture_atlas_size, int) or texture_atlas_size < 1):
        raise ValueError(f"texture_atlas_size must be a positive int, got {texture_atlas_size!r}")
    check_max_bytes(max_bytes)
    check_max_bytes(max_image_pixels, "max_image_pixels")
    source = describe(f)
    arrs = parse_obj_bytes(read_limited(f, max_bytes=max_bytes, what="OBJ file"), source)
    names, mat_idx = list(arrs.material_names), arrs.faces_materials
    colors = images = atlas = None
    if load_textures:
        limits = {"max_bytes": max_bytes, "max_image_pixels": max_image_pixels}
        colors, images, names, mat_idx = _load_materials(
            arrs, names, mat_idx, folder_of(f), allow_outside, source, limits
        )
        if create_texture_atlas:
            atlas = _atlas(arrs, names, mat_idx, colors, images, texture_atlas_size, texture_wrap)
    faces = Faces(arrs.faces_verts, arrs.faces_normals, arrs.faces_uvs, mat_idx)
    aux = Properties(
        normals=arrs.normals if len(arrs.normals) else None,
        verts_uvs=arrs.verts_uvs if len(arrs.verts_uvs) else None,
        material_colors=colors,
        texture_images=images,
        texture_atlas=atlas,
    )
    return arrs.verts, faces, aux, names


def _load_materials(arrs, names, mat_idx, folder, allow_outside, source, limits):
    """Read every ``mtllib`` (first definition of a name wins); see ``load_obj``.

    Each distinct name is resolved once, after parsing; names that cannot be files (too long,
    NUL) or leave the folder warn and are skipped, as do missing or unreadable files.
    """
    colors: dict = {}
    images: dict = {}
    if arrs.mtllibs_dropped:
        warnings.warn(f"{source}: more than {MAX_MTLLIBS} distinct 'mtllib' files; "
                      f"{arrs.mtllibs_dropped} more ignored", stacklevel=3)  # fmt: skip
    if not arrs.mtllibs:
        if names:
            warnings.warn(f"{source}: 'usemtl' without an 'mtllib'", stacklevel=3)
        return colors, images, names, mat_idx
    cache: dict = {}
    for lib in arrs.mtllibs:
        try:
            path = resolve_inside(folder, lib, allow_outside=allow_outside, what="material file")
        except ValueError as err:
            warnings.warn(f"{source}: {err}; loading without it", stacklevel=3)
            continue
        try:  # a malformed, special or too large MTL raises ValueError naming it
            if not names:  # no usemtl: the first material of the first MTL is the default
                first = first_material(path, max_bytes=limits["max_bytes"])
                if first is not None:
                    names = [first]
                    mat_idx = np.zeros_like(mat_idx)
            c, i = load_mtl(path, names, allow_outside=allow_outside, image_cache=cache, **limits)
        except FileNotFoundError:
            warnings.warn(f"{source}: material file does not exist: {path}", stacklevel=3)
            continue
        except OSError as err:
            warnings.warn(f"{source}: cannot read material file {path}: {err}", stacklevel=3)
            continue
        for k, v in c.items():
            colors.setdefault(k, v)
        for k, v in i.items():
            images.setdefault(k, v)
    return colors, images, names, mat_idx


def _atlas(arrs, names, mat_idx, colors, images, size, texture_wrap):
    names_arr = np.array(list(names) + [""], dtype=object)
    face_names = names_arr[np.where(mat_idx >= 0, mat_idx, len(names))]
    uvs = np.full(arrs.faces_uvs.shape + (2,), np.nan, np.float32)
    has = (arrs.faces_uvs >= 0).all(axis=1)
    if len(arrs.verts_uvs):
        uvs[has] = arrs.verts_uvs[arrs.faces_uvs[has]]
    return make_mesh_texture_atlas(colors, images, face_names, uvs, size, texture_wrap)


def save_obj(
    f,
    verts,
    faces,
    decimal_places: int | None = None,
    path_manager=None,
    *,
    normals=None,
    faces_normals_idx=None,
    verts_uvs=None,
    faces_uvs=None,
    texture_map=None,
):
    """Save a triangle mesh as OBJ; with ``texture_map``, also ``<stem>.mtl`` and ``<stem>.png``.

    Args:
      f: a path (needed when ``texture_map`` is given) or a writable text file object.
      verts: (V, 3) float. faces: (F, 3) int, 0-based, in [0, V).
      normals: (N, 3) float, written as ``vn``; faces_normals_idx: (F, 3) int into them.
      verts_uvs: (T, 2) float, written as ``vt``; faces_uvs: (F, 3) int into them.
      texture_map: (H, W, 3) or (1, H, W, 3) float in [0, 1], saved as 8-bit PNG next to ``f``
        with an MTL file ``newmtl mesh`` / ``map_Kd <stem>.png`` (requires the uvs).
      decimal_places: digits after the point; None writes 9 significant digits, which
        round-trips float32 exactly.
      path_manager: must be None (PyTorch3D's iopath file systems are not supported).

    Raises:
      ValueError / TypeError: bad shapes, dtypes, out-of-range indices, non-finite values.
    """
    no_path_manager(path_manager)
    verts = as_numpy(verts, "verts", ndim=2, last=3, kind="f")
    faces = _check_idx(faces, "faces", len(verts))
    fn = ft = None
    if (normals is None) != (faces_normals_idx is None):
        raise ValueError("normals and faces_normals_idx must be given together")
    if normals is not None:
        normals = as_numpy(normals, "normals", ndim=2, last=3, kind="f")
        fn = _check_idx(faces_normals_idx, "faces_normals_idx", len(normals), nrows=len(faces))
    if (verts_uvs is None) != (faces_uvs is None):
        raise ValueError("verts_uvs and faces_uvs must be given together")
    if verts_uvs is not None:
        verts_uvs = as_numpy(verts_uvs, "verts_uvs", ndim=2, last=2, kind="f")
        ft = _check_idx(faces_uvs, "faces_uvs", len(verts_uvs), nrows=len(faces))
    header = ""
    if texture_map is not None:
        if verts_uvs is None:
            raise ValueError("texture_map needs verts_uvs and faces_uvs")
        if not isinstance(f, (str, os.PathLike)):
            raise ValueError("texture_map needs f to be a path (the MTL and PNG go next to it)")
        image = np.asarray(texture_map, np.float32)
        image = image[0] if image.ndim == 4 and image.shape[0] == 1 else image
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"texture_map must be (H, W, 3) or (1, H, W, 3), got {image.shape}")
        stem = Path(f).stem
        write_image(Path(f).parent / f"{stem}.png", image)
        (Path(f).parent / f"{stem}.mtl").write_text(
            f"newmtl mesh\nmap_Kd {stem}.png\nKa 1.0 1.0 1.0\nKd 1.0 1.0 1.0\n"
            "Ks 0.0 0.0 0.0\nNs 10.0\nillum 2\n"
        )
        header = f"mtllib {stem}.mtl\nusemtl mesh\n"
    text = header + format_rows("v", verts, decimal_places)
    if normals is not None:
        text += format_rows("vn", normals, decimal_places)
    if verts_uvs is not None:
        text += format_rows("vt", verts_uvs, decimal_places)
    text += _face_lines(faces, ft, fn)
    with open_for_writing(f, binary=False) as fh:
        fh.write(text)


def _check_idx(x, name, bound, nrows=None):
    arr = as_numpy(x, name, ndim=2, last=3, kind="i")
    if nrows is not None and len(arr) != nrows:
        raise ValueError(f"{name} must have one row per face ({nrows}), got {len(arr)}")
    if arr.size and (arr.min() < 0 or arr.max() >= bound):
        raise ValueError(f"{name} holds indices outside [0, {bound})")
    return arr


def _face_lines(faces, ft, fn) -> str:
    """``f a/b/c`` lines (1-based); the middle or last field only when given."""
    if len(faces) == 0:
        return ""
    cols = [faces + 1]
    if ft is not None:
        cols.append(ft + 1)
    if fn is not None:
        cols.append(fn + 1)
    corner = np.stack(cols, axis=-1).reshape(len(faces), -1)  # (F, 3 * k)
    if ft is None and fn is None:
        fmt = "f %d %d %d"
    elif fn is None:
        fmt = "f %d/%d %d/%d %d/%d"
    elif ft is None:
        fmt = "f %d//%d %d//%d %d//%d"
    else:
        fmt = "f %d/%d/%d %d/%d/%d %d/%d/%d"
    return "\n".join(fmt % tuple(row) for row in corner.tolist()) + "\n"
