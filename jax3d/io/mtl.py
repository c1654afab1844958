"""Wavefront MTL material files and per-face texture atlases (PyTorch3D's ``mtl_io``)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from jax3d.io.files import MAX_FILE_BYTES, MAX_IMAGE_PIXELS, read_limited
from jax3d.io.utils import decode_text, file_error, read_image, resolve_inside

# Colour keywords -> PyTorch3D's property names; scalar keywords likewise.
_COLOURS = {"Ka": "ambient_color", "Kd": "diffuse_color", "Ks": "specular_color"}
_SCALARS = {"Ns": "shininess", "d": "opacity", "illum": "illum"}
_FLOAT32_MAX = float(np.finfo(np.float32).max)
# map_Kd options and their maximum number of numeric arguments.
_MAP_OPTIONS = {
    "-blendu": 1, "-blendv": 1, "-bm": 1, "-boost": 1, "-cc": 1, "-clamp": 1, "-imfchan": 1,
    "-mm": 2, "-o": 3, "-s": 3, "-t": 3, "-texres": 1, "-type": 1,
}  # fmt: skip


def parse_mtl(lines: list[str], source: str, wanted=None) -> tuple[dict, dict]:
    """Parse MTL lines.

    Args:
      lines: the lines of the file (index ``i`` is line ``i + 1``).
      source: the file's name, for messages.
      wanted: if given, a collection of material names: only their properties are parsed
        and returned (the lines of other materials are skipped unchecked).

    Returns:
      (properties, texture_files): ``properties[name]`` is a dict with any of
      ``ambient_color``/``diffuse_color``/``specular_color`` ``(3,) float32``, ``shininess``
      ``(1,) float32``, ``opacity`` ``(1,) float32`` (``d``; ``Tr`` gives ``1 - Tr``) and
      ``illum`` ``(1,) int32``; ``texture_files[name]`` is the ``map_Kd`` file name.

    Raises:
      ValueError: naming ``source`` and the line, for a malformed number or token count, or a
        property before any ``newmtl``.
    """
    props: dict[str, dict] = {}
    files: dict[str, str] = {}
    name = None
    skip = False
    for lineno, line in enumerate(lines, 1):
        if "#" in line:
            line = line.split("#", 1)[0]
        toks = line.split()
        if not toks:
            continue
        key, args = toks[0], toks[1:]
        if key == "newmtl":
            if not args:
                raise file_error(source, f"line {lineno}", "'newmtl' without a name")
            name = " ".join(args)
            skip = wanted is not None and name not in wanted
            if not skip:
                props.setdefault(name, {})
            continue
        if skip or (key not in _COLOURS and key not in _SCALARS and key not in ("map_Kd", "Tr")):
            continue
        if name is None:
            raise file_error(source, f"line {lineno}", f"'{key}' before any 'newmtl'")
        if key == "map_Kd":
            files[name] = _map_file_name(args, source, lineno)
        elif key in _COLOURS:
            props[name][_COLOURS[key]] = (key, _numbers(args, key, source, lineno, colour=True))
        else:
            val = _numbers(args, key, source, lineno, colour=False)
            props[name]["opacity" if key == "Tr" else _SCALARS[key]] = (key, val)
    return {n: {k: _as_array(*v) for k, v in p.items()} for n, p in props.items()}, files


def _as_array(key: str, values: list) -> np.ndarray:
    """The property array of a checked MTL line (made once per kept property, not per line)."""
    arr = np.array(values, np.float32)
    if key == "Tr":
        return np.float32(1.0) - arr
    return arr.astype(np.int32) if key == "illum" else arr


def _numbers(args, key, source, lineno, *, colour: bool) -> list:
    """``Ka r g b`` (or one value for grey) -> 3 floats; scalars -> 1; all finite in float32."""
    want = (1, 3) if colour else (1,)
    if args and args[0] in ("spectral", "xyz"):
        raise file_error(source, f"line {lineno}", f"'{key} {args[0]}' is not supported")
    if len(args) not in want:
        raise file_error(
            source, f"line {lineno}", f"'{key}' needs {' or '.join(map(str, want))} numbers"
        )
    try:
        vals = [float(a) for a in args]
    except (ValueError, OverflowError):
        raise file_error(source, f"line {lineno}", f"malformed number in '{key}' line") from None
    if not all(math.isfinite(v) and abs(v) <= _FLOAT32_MAX for v in vals):
        raise file_error(source, f"line {lineno}", f"'{key}' value is NaN or infinite")
    return vals * 3 if colour and len(vals) == 1 else vals


def _map_file_name(args, source, lineno) -> str:
    """The file name of a ``map_Kd [-options] file`` line (options are skipped)."""
    i = 0
    while i < len(args) and args[i] in _MAP_OPTIONS:
        n = _MAP_OPTIONS[args[i]]
        i += 1
        for _ in range(n):
            if i < len(args) - 1 and _is_number_or_flag(args[i]):
                i += 1
    if i >= len(args):
        raise file_error(source, f"line {lineno}", "'map_Kd' without a file name")
    return " ".join(args[i:])


def _is_number_or_flag(tok: str) -> bool:
    if tok in ("on", "off") or len(tok) == 1:
        return True
    try:
        float(tok)
    except ValueError:
        return False
    return True


def first_material(path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> str | None:
    """The name of the first ``newmtl`` of an MTL file, or None (the default material)."""
    text = decode_text(read_limited(path, max_bytes=max_bytes, what="material file"))
    for line in text.split("\n"):
        toks = line.split("#", 1)[0].split()
        if toks and toks[0] == "newmtl" and len(toks) > 1:
            return " ".join(toks[1:])
    return None


def load_mtl(
    path: Path,
    material_names: list,
    *,
    allow_outside: bool = False,
    max_bytes: int = MAX_FILE_BYTES,
    max_image_pixels: int = MAX_IMAGE_PIXELS,
    image_cache: dict | None = None,
):
    """Load the materials named ``material_names`` from the MTL file ``path``.

    Args:
      path: the MTL file; its folder is where texture files are looked for.
      material_names: names used by the OBJ file; other materials are dropped (PyTorch3D).
      allow_outside: accept texture paths that leave the MTL's folder.
      max_bytes: largest MTL and image file read (bytes); see docs/io.md.
      max_image_pixels: largest texture decoded (width * height).
      image_cache: a dict shared between calls: each texture file is read once and
        materials naming the same file share one array.

    Returns:
      (material_colors, texture_images): ``material_colors[name]`` as in ``parse_mtl``
      (an empty dict for a material without properties); ``texture_images[name]`` an
      ``(H, W, 3) float32`` image in [0, 1]. Missing, undecodable, special or oversized
      images warn and are left out; a texture name that leaves the folder, is too long for a
      file system or contains NUL warns and is left out.

    Raises:
      ValueError: the MTL file is malformed (naming it and the line), not a regular file, or
        larger than ``max_bytes``.
    """
    path = Path(path)
    text = decode_text(read_limited(path, max_bytes=max_bytes, what="material file"))
    wanted = set(material_names)
    props, files = parse_mtl(text.split("\n"), str(path), wanted)
    colors, images = {}, {}
    cache = {} if image_cache is None else image_cache
    for name in material_names:
        if name in props:
            colors[name] = props[name]
        if name not in files:
            continue
        try:
            tex_path = resolve_inside(
                path.parent, files[name], allow_outside=allow_outside, what="texture file"
            )
        except ValueError as err:
            warnings.warn(f"{path}: {err}; loading without it", stacklevel=3)
            continue
        if tex_path not in cache:
            cache[tex_path] = read_image(tex_path, max_pixels=max_image_pixels, max_bytes=max_bytes)
        if cache[tex_path] is not None:
            images[name] = cache[tex_path]
    return colors, images


def make_material_atlas(image: np.ndarray, faces_verts_uvs: np.ndarray, size: int) -> np.ndarray:
    """Sample an ``(F, R, R, 3)`` per-face texture from ``image`` (PyTorch3D's layout).

    Cell ``(y, x)`` of face ``f`` holds the colour at the centroid of the sub-triangle that the
    cell maps to: below the diagonal (``x + y < R``) barycentrics
    ``w0 = (x + 1/3) / R, w1 = (y + 1/3) / R``; above it ``((R - 1 - x) + 2/3) / R`` etc.;
    ``w2 = 1 - w0 - w1``. The uv there is ``sum_k w_k uv_k`` and the image is sampled
    bilinearly with v pointing up (row 0 of ``image`` is v = 1), corners aligned, border clamp.

    Args:
      image: (H, W, C) float texture.
      faces_verts_uvs: (F, 3, 2) float uv of each face corner, in [0, 1].
      size: R.
    """
    r = size
    y, x = np.meshgrid(np.arange(r), np.arange(r), indexing="ij")
    grid = np.stack([x, y], axis=-1).astype(np.float64)  # (R, R, 2) as (x, y)
    below = grid.sum(-1) < r
    w01 = np.where(below[..., None], (grid + 1.0 / 3.0) / r, ((r - 1.0 - grid) + 2.0 / 3.0) / r)
    bary = np.concatenate([w01, 1.0 - w01.sum(-1, keepdims=True)], axis=-1)  # (R, R, 3)
    uv = np.einsum("rsk,fkc->frsc", bary, np.asarray(faces_verts_uvs, np.float64))
    return bilinear_sample(np.asarray(image)[::-1], uv).astype(np.float32)


def bilinear_sample(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear lookup ``image[y, x]`` at ``x = u (W - 1)``, ``y = v (H - 1)``, clamped.

    image: (H, W, C); uv: (..., 2) -> (..., C).
    """
    h, w = image.shape[:2]
    xy = np.asarray(uv, np.float64) * np.array([w - 1, h - 1], np.float64)
    xy = np.clip(xy, 0.0, [w - 1, h - 1])
    x0 = np.floor(xy[..., 0]).astype(np.int64)
    y0 = np.floor(xy[..., 1]).astype(np.int64)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    wx = (xy[..., 0] - x0)[..., None]
    wy = (xy[..., 1] - y0)[..., None]
    img = np.asarray(image, np.float64)
    top = img[y0, x0] * (1 - wx) + img[y0, x1] * wx
    bottom = img[y1, x0] * (1 - wx) + img[y1, x1] * wx
    return top * (1 - wy) + bottom * wy


def wrap_uvs(uvs: np.ndarray, texture_wrap: str | None) -> np.ndarray:
    """``"repeat"``: values outside [0, 1] keep their fractional part (1.0 stays 1.0, as in
    PyTorch3D for in-range uvs); ``"clamp"``: clip to [0, 1]; None: unchanged."""
    if texture_wrap == "repeat":
        return np.where((uvs < 0) | (uvs > 1), np.mod(uvs, 1.0), uvs)
    if texture_wrap == "clamp":
        return np.clip(uvs, 0.0, 1.0)
    return uvs


def make_mesh_texture_atlas(
    material_colors, texture_images, face_material_names, faces_verts_uvs, size, texture_wrap
) -> np.ndarray:
    """``(F, R, R, 3) float32`` atlas: white, then each face's diffuse colour, then its texture.

    Args:
      material_colors: dict name -> properties (see ``parse_mtl``).
      texture_images: dict name -> (H, W, 3) image.
      face_material_names: (F,) array of str, "" for faces without a material.
      faces_verts_uvs: (F, 3, 2) uv of each corner; NaN rows for faces without uvs (those keep
        their diffuse colour).
      size: R; texture_wrap: "repeat", "clamp" or None (see ``wrap_uvs``).
    """
    n = len(face_material_names)
    atlas = np.ones((n, size, size, 3), np.float32)
    has_uv = ~np.isnan(faces_verts_uvs).any(axis=(1, 2))
    uvs = wrap_uvs(np.nan_to_num(faces_verts_uvs), texture_wrap)
    if texture_wrap is None:
        uvs = np.clip(uvs, 0.0, 1.0)  # the sampler clamps at the border anyway
    for name, props in material_colors.items():
        if "diffuse_color" in props:
            atlas[face_material_names == name] = props["diffuse_color"][:3]
    for name, image in texture_images.items():
        sel = (face_material_names == name) & has_uv
        if sel.any():
            atlas[sel] = make_material_atlas(image[..., :3], uvs[sel], size)
    return atlas
