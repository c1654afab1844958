"""``generate_cow_renders``: multi-view training images of the cow (PyTorch3D's tutorial data).

As in PyTorch3D's ``docs/tutorials/utils/generate_cow_renders.py``: the mesh is centred and
scaled into the unit cube, ``num_views`` FoV perspective cameras at distance 2.7 and elevation 0
look at it from azimuths ``linspace(-azimuth_range, azimuth_range) + 180``, a point light sits
at ``(0, 0, -3)``, and the RGB images come from a soft Phong shader on a black background.
Silhouettes are the pixels covered by the mesh (PyTorch3D thresholds a soft silhouette at
``1e-4``, which adds a sub-pixel rim; here a pixel is in when its centre is covered).
"""

from __future__ import annotations

import jax
import numpy as np

from jax3d.datasets.data_path import DataNotFoundError, data_path

__all__ = ["generate_cow_renders", "load_cow_mesh", "procedural_textured_mesh"]

_COW = "meshes/cow_mesh/cow.obj"


def procedural_textured_mesh(subdivisions: int = 4):
    """A Utah teapot with smooth, position-dependent vertex colours (one-mesh ``Meshes``
    with ``TexturesVertex``): the stand-in for the cow when no data is available."""
    from jax3d.renderer.mesh.textures import TexturesVertex
    from jax3d.structures import Meshes
    from jax3d.utils import teapot_verts_faces

    verts, faces = teapot_verts_faces(subdivisions)
    v = verts - verts.mean(0)
    colours = 0.5 + 0.45 * np.sin(np.stack([3.0 * v[:, 0] + 1.0, 4.0 * v[:, 1],
                                            2.0 * (v[:, 2] - v[:, 0])], -1) * 2.0)
    textures = TexturesVertex(verts_features=[colours.astype(np.float32)])
    return Meshes(verts=[verts.astype(np.float32)], faces=[faces], textures=textures)


def load_cow_mesh():
    """The textured cow from ``JAX3D_DATA`` (``Meshes`` with ``TexturesUV``); raises
    ``DataNotFoundError`` when the data is not available."""
    from jax3d.io import load_objs_as_meshes

    return load_objs_as_meshes([data_path(_COW)])


def _normalise(meshes):
    """Centre the vertices at their mean and scale the largest |coordinate| to 1."""
    verts = np.asarray(meshes.verts_packed())
    centre = verts.mean(0)
    scale = float(np.abs(verts - centre).max())
    return meshes.offset_verts(np.broadcast_to(-centre, verts.shape)).scale_verts(1.0 / scale)


def _pick_mesh(mesh: str):
    if mesh not in ("auto", "cow", "procedural"):
        raise ValueError(f"mesh must be 'auto', 'cow' or 'procedural', got {mesh!r}")
    if mesh == "procedural":
        return procedural_textured_mesh(), "procedural"
    try:
        return load_cow_mesh(), "cow"
    except DataNotFoundError:
        if mesh == "cow":
            raise
        return procedural_textured_mesh(), "procedural"


def generate_cow_renders(num_views: int = 40, azimuth_range: float = 180.0, *,
                         image_size: int = 128, mesh: str = "auto", batch_size: int = 8,
                         return_source: bool = False):
    """Render ``num_views`` views of the cow (or a procedural stand-in) for volume / NeRF fits.

    Args:
      num_views: number of cameras (>= 1).
      azimuth_range: the cameras' azimuths span ``[-azimuth_range, azimuth_range] + 180``
        degrees.
      image_size: square image side in pixels (static).
      mesh: ``"auto"`` (the cow when ``JAX3D_DATA`` has it, else the procedural mesh),
        ``"cow"`` (raise ``DataNotFoundError`` without data) or ``"procedural"``.
      batch_size: views rendered per (jitted) rasterizer call, the last batch padded, so
        every call has the same shape (bounds memory; compiles once).
      return_source: also return which mesh was used (``"cow"`` / ``"procedural"``).

    Returns:
      ``(cameras, images, silhouettes)``: ``FoVPerspectiveCameras`` of batch ``num_views``,
      ``images (num_views, image_size, image_size, 3) float32`` RGB in ``[0, 1]`` on black,
      ``silhouettes (num_views, image_size, image_size) float32`` in ``{0, 1}``; plus the
      source name when ``return_source``.
    """
    if not isinstance(num_views, int) or num_views < 1:
        raise ValueError(f"num_views must be an int >= 1, got {num_views!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"image_size must be an int >= 8, got {image_size!r}")
    import jax.numpy as jnp

    from jax3d.renderer import FoVPerspectiveCameras, look_at_view_transform

    meshes, source = _pick_mesh(mesh)
    meshes = _normalise(meshes)
    azim = np.linspace(-azimuth_range, azimuth_range, num_views) + 180.0
    R, T = look_at_view_transform(dist=2.7, elev=np.zeros(num_views), azim=azim)
    cameras = FoVPerspectiveCameras(R=R, T=T)
    images, sils = [], []
    batch = batch_size
    batch_meshes = meshes.extend(batch)
    for start in range(0, num_views, batch):
        idx = np.arange(start, min(start + batch, num_views))
        padded = np.pad(idx, (0, batch - len(idx)), mode="edge")  # one compiled shape
        rgba, frags = _render_jit(batch_meshes, cameras[padded], image_size)
        images.append(np.asarray(rgba[: len(idx), ..., :3]))
        sils.append(np.asarray(frags.pix_to_face[: len(idx), ..., 0] >= 0, np.float32))
    out = (cameras, jnp.asarray(np.concatenate(images)), jnp.asarray(np.concatenate(sils)))
    return (*out, source) if return_source else out


def _render(meshes, cameras, image_size: int):
    """Soft-Phong RGBA and fragments of ``meshes`` seen by ``cameras`` (same batch)."""
    from jax3d.renderer.blending import BlendParams
    from jax3d.renderer.lighting import PointLights
    from jax3d.renderer.mesh.rasterizer import MeshRasterizer, RasterizationSettings
    from jax3d.renderer.mesh.renderer import MeshRendererWithFragments
    from jax3d.renderer.mesh.shader import SoftPhongShader

    lights = PointLights(location=[[0.0, 0.0, -3.0]])
    settings = RasterizationSettings(image_size=image_size, blur_radius=0.0, faces_per_pixel=1)
    blend = BlendParams(sigma=1e-4, gamma=1e-4, background_color=(0.0, 0.0, 0.0))
    renderer = MeshRendererWithFragments(
        rasterizer=MeshRasterizer(cameras=cameras, raster_settings=settings),
        shader=SoftPhongShader(cameras=cameras, lights=lights, blend_params=blend),
    )
    return renderer(meshes, cameras=cameras, lights=lights)


_render_jit = jax.jit(_render, static_argnums=2)
