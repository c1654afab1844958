"""Per-fragment colours from lights, materials and texels (PyTorch3D's ``mesh.shading``).

Phong interpolates positions and normals to each pixel and lights there; Gouraud lights the
vertices and interpolates the colours; flat lights each face at its centroid with its face
normal. Every function returns ``(N, H, W, K, C)`` colours for a blending function. Lights,
materials and cameras are batched with ``M`` in {1, N} rows (see ``jax3d.renderer.lighting``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jax3d.ops.interpolate_face_attributes import interpolate_face_attributes
from jax3d.renderer.lighting import expand_to
from jax3d.renderer.mesh.textures import pix_to_padded_face

__all__ = ["flat_shading", "gouraud_shading", "phong_shading"]


def _apply_lighting(points, normals, lights, cameras, materials, camera_kwargs=None):
    """(ambient, diffuse, specular) light colours at ``points (N, ..., 3)``, each broadcast
    to ``(N, ..., 3)``-compatible shapes."""
    camera_position = cameras.get_camera_center(**(camera_kwargs or {}))
    nd = points.ndim
    light_diffuse = lights.diffuse(normals=normals, points=points)
    light_specular = lights.specular(normals=normals, points=points,
                                     camera_position=camera_position,
                                     shininess=materials.shininess)  # fmt: skip
    ambient = expand_to(materials.ambient_color, nd) * expand_to(lights.ambient_color, nd)
    diffuse = expand_to(materials.diffuse_color, nd) * light_diffuse
    specular = expand_to(materials.specular_color, nd) * light_specular
    return ambient, diffuse, specular


def _check_inputs(meshes, fragments, texels=None):
    p2f = getattr(fragments, "pix_to_face", None)
    if p2f is None or p2f.ndim != 4:
        raise ValueError("fragments must be Fragments with pix_to_face (N, H, W, K)")
    if p2f.shape[0] != len(meshes):
        raise ValueError(f"fragments hold {p2f.shape[0]} images for {len(meshes)} meshes")
    if texels is not None and tuple(jnp.shape(texels)[:4]) != tuple(p2f.shape):
        raise ValueError(f"texels must be (N, H, W, K, C) with (N, H, W, K) = "
                         f"{tuple(p2f.shape)}, got {tuple(jnp.shape(texels))}")  # fmt: skip


def _padded_index(meshes, fragments) -> jax.Array:
    faces = meshes.faces_padded()
    return pix_to_padded_face(fragments.pix_to_face, meshes.num_faces_per_mesh(), faces.shape[1])


def _face_vertex_values(meshes, values: jax.Array) -> jax.Array:
    """``values (N, V, C)`` per vertex -> ``(N * F, 3, C)`` per face corner (padded faces)."""
    faces = meshes.faces_padded()
    n, f = faces.shape[:2]
    idx = jnp.clip(faces, 0, values.shape[1] - 1).reshape(n, f * 3, 1)
    return jnp.take_along_axis(values, idx, axis=1).reshape(n * f, 3, values.shape[-1])


def phong_shading(meshes, fragments, lights, cameras, materials, texels, **camera_kwargs):
    """Phong shading: ``(ambient + diffuse) * texel + specular`` lit per pixel.

    Args:
        meshes: ``Meshes`` (N) in world space.
        fragments: ``Fragments`` (N, H, W, K) of ``meshes``.
        lights, materials: ``PointLights`` / ``DirectionalLights`` / ``AmbientLights`` and
            ``Materials`` (M in {1, N}).
        cameras: cameras (M in {1, N}); the specular term uses ``get_camera_center``.
        texels: (N, H, W, K, C) float32 surface colours (e.g. ``sample_textures``).
        **camera_kwargs: per-call camera overrides (``R=``, ``T=``).

    Returns:
        (N, H, W, K, C) float32 colours (only meaningful where ``pix_to_face >= 0``).
    """
    _check_inputs(meshes, fragments, texels)
    idx = _padded_index(meshes, fragments)
    bary = fragments.bary_coords
    coords = interpolate_face_attributes(idx, bary, _face_vertex_values(meshes,
                                                                        meshes.verts_padded()))
    normals = interpolate_face_attributes(
        idx, bary, _face_vertex_values(meshes, meshes.verts_normals_padded()))
    ambient, diffuse, specular = _apply_lighting(coords, normals, lights, cameras, materials,
                                                 camera_kwargs)  # fmt: skip
    return (ambient + diffuse) * texels + specular


def gouraud_shading(meshes, fragments, lights, cameras, materials, **camera_kwargs):
    """Gouraud shading: vertices lit with ``TexturesVertex`` colours, then interpolated.

    Args:
        meshes: ``Meshes`` (N) whose textures are ``TexturesVertex`` (N, V, C).
        fragments, lights, cameras, materials, camera_kwargs: as :func:`phong_shading`.

    Returns:
        (N, H, W, K, C) float32.
    """
    from jax3d.renderer.mesh.textures import TexturesVertex

    _check_inputs(meshes, fragments)
    if not isinstance(meshes.textures, TexturesVertex):
        raise ValueError("gouraud_shading needs meshes with TexturesVertex textures")
    verts = meshes.verts_padded()
    normals = meshes.verts_normals_padded()
    ambient, diffuse, specular = _apply_lighting(verts, normals, lights, cameras, materials,
                                                 camera_kwargs)  # fmt: skip
    colors = meshes.textures.verts_features_padded() * (ambient + diffuse) + specular
    idx = _padded_index(meshes, fragments)
    return interpolate_face_attributes(idx, fragments.bary_coords,
                                       _face_vertex_values(meshes, colors))  # fmt: skip


def flat_shading(meshes, fragments, lights, cameras, materials, texels, **camera_kwargs):
    """Flat shading: each face lit at its centroid with its face normal.

    Args: as :func:`phong_shading`.

    Returns:
        (N, H, W, K, C) float32; ``(ambient + diffuse) * texel + specular``.
    """
    _check_inputs(meshes, fragments, texels)
    idx = _padded_index(meshes, fragments)
    n, f = meshes.faces_padded().shape[:2]
    centroids = jnp.mean(_face_vertex_values(meshes, meshes.verts_padded()), axis=1)  # (NF, 3)
    face_normals = meshes.faces_normals_padded().reshape(n * f, 3)
    empty = (idx < 0)[..., None]
    safe = jnp.maximum(idx, 0)
    coords = jnp.where(empty, 0.0, centroids[safe])  # (N, H, W, K, 3)
    normals = jnp.where(empty, 0.0, face_normals[safe])
    ambient, diffuse, specular = _apply_lighting(coords, normals, lights, cameras, materials,
                                                 camera_kwargs)  # fmt: skip
    return (ambient + diffuse) * texels + specular
