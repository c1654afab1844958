"""jax3d.vis: small headless helpers for figures, images and animations.

Images are float arrays in [0, 1] (H, W, C); figures use matplotlib's Agg canvas directly, so
nothing here needs a display or touches pyplot's global state.
"""

from jax3d.vis.gallery import write_gallery
from jax3d.vis.image_grid import image_grid
from jax3d.vis.image_io import save_gif, save_image, to_uint8
from jax3d.vis.instances import INSTANCE_COLOURS, draw_instances
from jax3d.vis.plot3d import mesh_edges, plot_mesh, plot_mesh_wireframe, plot_pointcloud
from jax3d.vis.plot_losses import plot_losses

__all__ = [
    "INSTANCE_COLOURS",
    "draw_instances",
    "image_grid",
    "mesh_edges",
    "plot_losses",
    "plot_mesh",
    "plot_mesh_wireframe",
    "plot_pointcloud",
    "save_gif",
    "save_image",
    "to_uint8",
    "write_gallery",
]
