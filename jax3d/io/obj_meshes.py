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
    """Images of ``used`` materials and constant patches side by side; uvs remapped.

    A corner's new uv depends only on (its image part, its uv index) or on its colour patch,
    so those keys are made unique first (one integer sort) and each is remapped once.
    """
    num_faces = len(face_mat)
    if num_faces == 0:  # no faces: nothing to texture, a white 1x1 map
        return (np.ones((1, 1, 3), np.float32), np.zeros((0, 3), np.int32),
                np.full((1, 2), 0.5, np.float32))  # fmt: skip
    slot_of_mat, colours = _colour_slots(face_mat[~textured], names, aux.material_colors)
    parts = [aux.texture_images[n][..., :3] for n in used]
    parts += [np.broadcast_to(c, (_PATCH, _PATCH, 3)) for c in colours]
    sizes = np.array([p.shape[:2] for p in parts])  # (parts, 2) heights and widths
    height, width = int(sizes[:, 0].max()), int(sizes[:, 1].sum())
    canvas = np.zeros((height, width, 3), np.float32)
    x0 = np.cumsum(sizes[:, 1]) - sizes[:, 1]
    for p, x in zip(parts, x0):
        canvas[: p.shape[0], x : x + p.shape[1]] = p
    # one key per corner: part * T + uv index (textured), then K * T + colour slot (plain)
    num_uvs = len(aux.verts_uvs) if aux.verts_uvs is not None else 0
    part_of_mat = np.zeros(len(names) + 1, np.int64)
    for k, name in enumerate(used):
        part_of_mat[names.index(name)] = k
    tex_keys = len(used) * num_uvs
    keys = np.empty((num_faces, 3), np.int64)
    f = np.flatnonzero(textured)
    keys[f] = part_of_mat[face_mat[f]][:, None] * num_uvs + faces.textures_idx[f]
    f = np.flatnonzero(~textured)
    keys[f] = (tex_keys + slot_of_mat[face_mat[f]])[:, None]
    uniq, inverse = _unique_ints(keys.reshape(-1), tex_keys + len(colours))
    # the remapped uv of each distinct key, in pixel units of the canvas, then normalised
    px = np.empty((len(uniq), 2), np.float64)
    is_tex = uniq < tex_keys
    k, t = np.divmod(uniq[is_tex], max(num_uvs, 1))
    uv = wrap_uvs(aux.verts_uvs[t].astype(np.float64), texture_wrap or "clamp") if len(t) else \
        np.zeros((0, 2))  # fmt: skip
    px[is_tex, 0] = x0[k] + uv[:, 0] * (sizes[k, 1] - 1)
    px[is_tex, 1] = (1.0 - uv[:, 1]) * (sizes[k, 0] - 1)
    px[~is_tex, 0] = x0[len(used) + uniq[~is_tex] - tex_keys] + (_PATCH - 1) / 2
    px[~is_tex, 1] = (_PATCH - 1) / 2
    remapped = np.stack([px[:, 0] / max(width - 1, 1), 1.0 - px[:, 1] / max(height - 1, 1)], -1)
    # stored once per distinct value: one sort of 64-bit keys (a float32 pair each)
    values = np.ascontiguousarray(remapped.astype(np.float32)).view(np.uint64).reshape(-1)
    distinct, which = np.unique(values, return_inverse=True)
    verts_uvs = distinct.view(np.float32).reshape(-1, 2)
    return canvas, which[inverse].reshape(-1, 3).astype(np.int32), verts_uvs


def _colour_slots(plain_mats, names, colors):
    """The patch of each material's colour (numbered in order of first use by a face without
    an image, equal colours sharing one), and the colours: ``(M + 1,) int64, (P, 3)``."""
    colour_of_mat = _material_colours(names, colors)
    mats, first = np.unique(plain_mats, return_index=True)
    slot_of_mat = np.zeros(len(colour_of_mat), np.int64)
    slots: dict = {}
    for m in mats[np.argsort(first)].tolist():  # distinct materials, not faces
        slot_of_mat[m] = slots.setdefault(tuple(colour_of_mat[m].tolist()), len(slots))
    return slot_of_mat, np.array(list(slots), np.float32).reshape(-1, 3)


def _unique_ints(keys: np.ndarray, bound: int):
    """``np.unique(keys, return_inverse=True)`` for ints in ``[0, bound)``: without a sort
    when ``bound`` is not much larger than the number of keys."""
    if bound > 4 * len(keys) + 1024:
        return np.unique(keys, return_inverse=True)
    present = np.zeros(bound, bool)
    present[keys] = True
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present), rank[keys]
