"""OBJ files as ``Meshes`` with textures (PyTorch3D's ``load_objs_as_meshes``)."""

from __future__ import annotations

import numpy as np

from jax3d.device import as_device, device_put
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
      load_textures, create_texture_atlas, texture_atlas_size, texture_wrap, allow_outside:
        as in ``load_obj``.

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
            f, load_textures, create_texture_atlas, texture_atlas_size, texture_wrap, allow_outside
        )
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

    See ``load_objs_as_meshes`` for when the images are packed.
    """
    images = aux.texture_images
    mat = np.asarray(faces.materials_idx)
    tex_idx = np.asarray(faces.textures_idx)
    has_uv = (tex_idx >= 0).all(axis=1) if aux.verts_uvs is not None else np.zeros(len(mat), bool)
    face_image = np.array([names[m] if 0 <= m < len(names) and names[m] in images else None
                           for m in mat.tolist()], dtype=object)  # fmt: skip
    textured = has_uv & (face_image != None)  # noqa: E711 - elementwise on an object array
    used = [n for n in images if np.any(textured & (face_image == n))]
    if len(used) == 1 and textured.all():
        return images[used[0]], tex_idx.astype(np.int32), aux.verts_uvs
    return _packed_texture(faces, aux, names, used, textured, face_image, texture_wrap)


def _face_colour(m, names, colors):
    props = colors.get(names[m], {}) if colors and 0 <= m < len(names) else {}
    return tuple(np.asarray(props.get("diffuse_color", (1.0, 1.0, 1.0)), np.float32)[:3])


def _packed_texture(faces, aux, names, used, textured, face_image, texture_wrap):
    """Images of ``used`` materials and constant patches side by side; uvs remapped."""
    mat = np.asarray(faces.materials_idx)
    colours = {}
    face_colour = [None] * len(mat)
    for i in np.flatnonzero(~textured):
        c = _face_colour(int(mat[i]), names, aux.material_colors)
        colours.setdefault(c, len(colours))
        face_colour[i] = c
    parts = [aux.texture_images[n][..., :3] for n in used]
    parts += [np.broadcast_to(np.asarray(c, np.float32), (_PATCH, _PATCH, 3)) for c in colours]
    height = max(p.shape[0] for p in parts)
    width = sum(p.shape[1] for p in parts)
    canvas = np.zeros((height, width, 3), np.float32)
    x0 = np.cumsum([0] + [p.shape[1] for p in parts])[:-1]
    for p, x in zip(parts, x0):
        canvas[: p.shape[0], x : x + p.shape[1]] = p
    sx, sy = max(width - 1, 1), max(height - 1, 1)
    corner_uv = np.zeros((len(mat), 3, 2), np.float64)
    for k, name in enumerate(used):
        sel = textured & (face_image == name)
        h, w = parts[k].shape[:2]
        uv = wrap_uvs(aux.verts_uvs[faces.textures_idx[sel]].astype(np.float64),
                      texture_wrap or "clamp")  # fmt: skip
        corner_uv[sel, :, 0] = (x0[k] + uv[..., 0] * (w - 1)) / sx
        corner_uv[sel, :, 1] = 1.0 - (1.0 - uv[..., 1]) * (h - 1) / sy
    for i in np.flatnonzero(~textured):
        k = len(used) + colours[face_colour[i]]
        corner_uv[i, :, 0] = (x0[k] + (_PATCH - 1) / 2) / sx
        corner_uv[i, :, 1] = 1.0 - ((_PATCH - 1) / 2) / sy
    flat = corner_uv.reshape(-1, 2).astype(np.float32)
    verts_uvs, inverse = np.unique(flat, axis=0, return_inverse=True)
    return canvas, inverse.reshape(-1, 3).astype(np.int32), verts_uvs
