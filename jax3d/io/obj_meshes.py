"""OBJ files as ``Meshes`` with textures (PyTorch3D's ``load_objs_as_meshes``)."""

from __future__ import annotations

import numpy as np

from jax3d.device import as_device, device_put
from jax3d.io.files import MAX_FILE_BYTES, MAX_IMAGE_PIXELS
from jax3d.io.mtl import wrap_uvs
from jax3d.io.obj import load_obj_with_names
from jax3d.io.utils import no_path_manager

# Side of the constant-colour patches that stand for untextured materials in a packed map.
_PATCH = 8


def load_objs_as_meshes(
    files,
    device=None,
    load_textures: bool = True,
    create_texture_atlas: bool = False,
    texture_atlas_size: int = 4,
    texture_wrap: str | None = "repeat",
    path_manager=None,
    *,
    allow_outside: bool = False,
    max_bytes: int = MAX_FILE_BYTES,
    max_image_pixels: int = MAX_IMAGE_PIXELS,
):
    """Load OBJ files as one batched ``Meshes`` with one texture per mesh.

    With ``create_texture_atlas`` the textures are a ``TexturesAtlas`` (see ``load_obj``).
    Otherwise a file with at least one texture image gets a ``TexturesUV``:

    - one material with an image, used by every face with uvs: the image as is (PyTorch3D);
    - several materials with images, or faces without an image or without uvs: the images are
      packed side by side into one map (top-aligned, zero padding below), followed by one
      8x8 patch per needed constant colour (a material's diffuse colour, else white); each
      face's uvs are remapped into its part of the packed map (``texture_wrap`` applied first,
      "clamp" when None), for ``align_corners=True`` sampling, so no colour bleeds between
      parts. uvs are then stored per distinct remapped value.

    In a batch where some files have texture images and others not, the others get a white
    map. Files without images give ``textures=None`` when no file has one.

    Args:
      files: a list of paths or file objects (a single path is accepted too).
      device: where to place the ``Meshes`` (``jax3d.device`` meaning; None: JAX's default).
      path_manager: must be None (PyTorch3D's iopath file systems are not supported).
      load_textures, create_texture_atlas, texture_atlas_size, texture_wrap, allow_outside,
      max_bytes, max_image_pixels: as in ``load_obj`` (the limits apply to each file).

    Returns:
      ``Meshes`` of ``len(files)`` meshes.
    """
    from jax3d.renderer.mesh.textures import TexturesAtlas, TexturesUV
    from jax3d.structures import Meshes

    no_path_manager(path_manager)
    as_device(device)  # unknown devices fail before any file is read
    if not isinstance(files, (list, tuple)):
        files = [files]
    if not files:
        raise ValueError("files must not be empty")
    verts, faces, texs = [], [], []
    for f in files:
        v, fc, aux, names = load_obj_with_names(
            f, load_textures, create_texture_atlas, texture_atlas_size, texture_wrap,
            allow_outside, max_bytes=max_bytes, max_image_pixels=max_image_pixels,
        )  # fmt: skip
        verts.append(v)
        faces.append(fc.verts_idx)
        if create_texture_atlas and aux.texture_atlas is not None:
            texs.append(aux.texture_atlas)
        elif aux.texture_images:
            texs.append(uv_texture_from_obj(fc, aux, names, texture_wrap))
        else:
            texs.append(None)
    textures = None
    if create_texture_atlas and load_textures:
        textures = TexturesAtlas(texs)
    elif any(t is not None for t in texs):
        items = []
        for t, fc in zip(texs, faces):
            if t is None:  # an untextured mesh in a textured batch: a white 1x1 map
                t = (np.ones((1, 1, 3), np.float32), np.zeros((len(fc), 3), np.int32),
                     np.full((1, 2), 0.5, np.float32))  # fmt: skip
            items.append(t)
        textures = TexturesUV([t[0] for t in items], [t[1] for t in items], [t[2] for t in items])
    return device_put(Meshes(verts, faces, textures=textures), device)


def uv_texture_from_obj(faces, aux, names, texture_wrap):
    """``(map (H, W, 3), faces_uvs (F, 3) int32, verts_uvs (T, 2) float32)`` for one OBJ.

    See ``load_objs_as_meshes`` for when the images are packed. Work is linear in the number
    of faces (no Python loop over faces).
    """
    images = aux.texture_images
    mat = np.asarray(faces.materials_idx)
    tex_idx = np.asarray(faces.textures_idx)
    has_uv = (tex_idx >= 0).all(axis=1) if aux.verts_uvs is not None else np.zeros(len(mat), bool)
    # image_of[m]: index into `used` of material m's image, -1 without one (m = -1: last slot)
    image_names = [n if n in images else None for n in names]
    valid = (mat >= 0) & (mat < len(names))
    face_mat = np.where(valid, mat, len(names))
    has_image = np.array([n is not None for n in image_names] + [False], bool)
    textured = has_uv & has_image[face_mat]
    used_names = {image_names[m] for m in np.unique(face_mat[textured]).tolist()}
    used = [n for n in images if n in used_names]
    if len(used) == 1 and textured.all() and len(mat):
        return images[used[0]], tex_idx.astype(np.int32), aux.verts_uvs
    return _packed_texture(faces, aux, names, used, face_mat, textured, texture_wrap)


def _material_colours(names, colors) -> np.ndarray:
    """``(M + 1, 3) float32`` diffuse colour of each material (white without one), and white
    for faces without a material (the last row)."""
    out = np.ones((len(names) + 1, 3), np.float32)
    for m, name in enumerate(names):
        props = colors.get(name, {}) if colors else {}
        if "diffuse_color" in props:
            out[m] = np.asarray(props["diffuse_color"], np.float32).reshape(-1)[:3]
    return out


def _packed_texture(faces, aux, names, used, face_mat, textured, texture_wrap):
    """Images of ``used`` materials and constant patches side by side; uvs remapped."""
    num_faces = len(face_mat)
    if num_faces == 0:  # no faces: nothing to texture, a white 1x1 map
        return (np.ones((1, 1, 3), np.float32), np.zeros((0, 3), np.int32),
                np.full((1, 2), 0.5, np.float32))  # fmt: skip
    # constant colours needed by untextured faces, numbered in order of first use
    colour_of_mat = _material_colours(names, aux.material_colors)
    plain = ~textured
    plain_mats = face_mat[plain]
    mats, first = np.unique(plain_mats, return_index=True)
    slot_of_mat = np.zeros(len(colour_of_mat), np.int64)
    slots: dict = {}
    for m in mats[np.argsort(first)].tolist():  # distinct materials, not faces
        slot_of_mat[m] = slots.setdefault(tuple(colour_of_mat[m].tolist()), len(slots))
    colours = np.array(list(slots), np.float32).reshape(-1, 3)
    parts = [aux.texture_images[n][..., :3] for n in used]
    parts += [np.broadcast_to(c, (_PATCH, _PATCH, 3)) for c in colours]
    height = max(p.shape[0] for p in parts)
    width = sum(p.shape[1] for p in parts)
    canvas = np.zeros((height, width, 3), np.float32)
    x0 = np.cumsum([0] + [p.shape[1] for p in parts])[:-1]
    for p, x in zip(parts, x0):
        canvas[: p.shape[0], x : x + p.shape[1]] = p
    sx, sy = max(width - 1, 1), max(height - 1, 1)
    corner_uv = np.zeros((num_faces, 3, 2), np.float64)
    index = {n: m for m, n in enumerate(names)}
    for k, name in enumerate(used):
        sel = textured & (face_mat == index[name])
        h, w = parts[k].shape[:2]
        uv = wrap_uvs(aux.verts_uvs[faces.textures_idx[sel]].astype(np.float64),
                      texture_wrap or "clamp")  # fmt: skip
        corner_uv[sel, :, 0] = (x0[k] + uv[..., 0] * (w - 1)) / sx
        corner_uv[sel, :, 1] = 1.0 - (1.0 - uv[..., 1]) * (h - 1) / sy
    k = len(used) + slot_of_mat[plain_mats]
    corner_uv[plain, :, 0] = ((x0[k] + (_PATCH - 1) / 2) / sx)[:, None]
    corner_uv[plain, :, 1] = 1.0 - ((_PATCH - 1) / 2) / sy
    flat = np.ascontiguousarray(corner_uv.reshape(-1, 2).astype(np.float32))
    keys = flat.view(np.uint64).reshape(-1)  # one sort of 64-bit keys, not of rows
    uniq, inverse = np.unique(keys, return_inverse=True)
    verts_uvs = uniq.view(np.float32).reshape(-1, 2)
    return canvas, inverse.reshape(-1, 3).astype(np.int32), verts_uvs
