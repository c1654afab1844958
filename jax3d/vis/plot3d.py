"""Headless matplotlib figures of point clouds and meshes (no pyplot, no global state)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d.art3d import Line3DCollection, Poly3DCollection


def _check_points(points, name: str) -> np.ndarray:
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"{name} must be (P, 3), got {points.shape}")
    points = points.astype(np.float64)
    if not np.all(np.isfinite(points)):
        raise ValueError(f"{name} must be finite")
    return points


def _check_faces(faces, num_verts: int) -> np.ndarray:
    faces = np.asarray(faces)
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces must be (F, 3), got {faces.shape}")
    if not np.issubdtype(faces.dtype, np.integer):
        raise TypeError(f"faces must hold integers, got {faces.dtype}")
    faces = faces[faces[:, 0] >= 0]  # drop -1 padding rows
    if faces.size and faces.max() >= num_verts:
        raise ValueError(f"faces index {faces.max()} but there are only {num_verts} verts")
    return faces


def _to_plot_frame(points: np.ndarray, y_up: bool) -> np.ndarray:
    """Y-up world (x, y, z) -> matplotlib's Z-up axes (x, -z, y), a proper rotation."""
    return np.stack([points[:, 0], -points[:, 2], points[:, 1]], axis=1) if y_up else points


def _axes(ax, y_up: bool, elev: float, azim: float, title: str | None):
    """A new 3D axes on its own Agg figure, or the given one, set up with labels and view."""
    if ax is None:
        fig = Figure(figsize=(5, 5), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(projection="3d")
    ax.view_init(elev=elev, azim=azim)
    ax.set_xlabel("x")
    ax.set_ylabel("-z" if y_up else "y")
    ax.set_zlabel("y" if y_up else "z")
    if title:
        ax.set_title(title)
    return ax


def _finish(ax, points: np.ndarray, path) -> Figure:
    """Equal aspect around `points`; save the figure when `path` is given."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-6)
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] - half, centre[1] + half)
    ax.set_zlim(centre[2] - half, centre[2] + half)
    ax.set_box_aspect((1, 1, 1))
    fig = ax.figure
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    return fig


def plot_pointcloud(
    points,
    *,
    ax=None,
    path: str | os.PathLike | None = None,
    title: str | None = None,
    color=None,
    size: float = 2.0,
    y_up: bool = True,
    elev: float = 20.0,
    azim: float = -60.0,
) -> Figure:
    """Scatter plot of a point cloud.

    Args:
        points: (P, 3) float, P >= 1 (NumPy or JAX).
        ax: a matplotlib 3D axes to draw into; default a new 5x5 inch, 100 dpi Agg figure.
        path: if given, the figure is saved there (PNG by extension).
        title: axes title. color: a matplotlib colour or (P, 3) RGB in [0, 1]; default by height.
        size: marker size. y_up: show +Y (PyTorch3D's up) as the vertical axis.
        elev, azim: view angles in degrees, as matplotlib's `view_init`.

    Returns:
        The matplotlib `Figure`.
    """
    points = _check_points(points, "points")
    if len(points) == 0:
        raise ValueError("points must hold at least one point")
    xyz = _to_plot_frame(points, y_up)
    ax = _axes(ax, y_up, elev, azim, title)
    ax.scatter(xyz[:, 0], xyz[:, 1], xyz[:, 2], s=size, c=xyz[:, 2] if color is None else color)
    return _finish(ax, xyz, path)


def mesh_edges(faces) -> np.ndarray:
    """Unique undirected edges of triangles: (F, 3) int -> (E, 2) int, rows sorted (i < j)."""
    faces = np.asarray(faces)
    sides = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.unique(np.sort(sides, axis=1), axis=0)


def plot_mesh_wireframe(
    verts,
    faces,
    *,
    ax=None,
    path: str | os.PathLike | None = None,
    title: str | None = None,
    color="k",
    linewidth: float = 0.3,
    y_up: bool = True,
    elev: float = 20.0,
    azim: float = -60.0,
) -> Figure:
    """Wireframe of a triangle mesh: each unique edge drawn once.

    Args:
        verts: (V, 3) float. faces: (F, 3) int (rows starting with -1 are padding, skipped).
        ax, path, title, y_up, elev, azim: as for `plot_pointcloud`.
        color, linewidth: line style.

    Returns:
        The matplotlib `Figure`; its 3D axes holds one `Line3DCollection` of E segments.
    """
    verts = _check_points(verts, "verts")
    faces = _check_faces(faces, len(verts))
    xyz = _to_plot_frame(verts, y_up)
    ax = _axes(ax, y_up, elev, azim, title)
    ax.add_collection3d(
        Line3DCollection(xyz[mesh_edges(faces)], colors=color, linewidths=linewidth)
    )
    return _finish(ax, xyz, path)


def _eye_direction(elev: float, azim: float) -> np.ndarray:
    """Unit vector from the scene towards matplotlib's 3D camera for `view_init(elev, azim)`."""
    e, a = np.deg2rad(elev), np.deg2rad(azim)
    return np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])


def plot_mesh(
    verts,
    faces,
    *,
    ax=None,
    path: str | os.PathLike | None = None,
    title: str | None = None,
    color=(0.65, 0.75, 0.9),
    edgecolor=None,
    cull_backfaces: bool = True,
    y_up: bool = True,
    elev: float = 20.0,
    azim: float = -60.0,
) -> Figure:
    """Flat-shaded triangle mesh, lit by a light near the camera.

    Matplotlib paints triangles back to front by their centroids, which goes wrong on closed
    meshes; dropping the faces that look away from the camera (PyTorch3D's outward normal
    `cross(v1 - v0, v2 - v0)` against the view direction of `elev`, `azim`) avoids most of it.

    Args:
        verts: (V, 3) float. faces: (F, 3) int (rows starting with -1 are padding, skipped).
        color: RGB in [0, 1], the base colour. edgecolor: a colour to outline faces, or None.
        cull_backfaces: drop faces whose normal points away from the camera; turn off for
            meshes that are not consistently oriented (both sides are then lit).
        ax, path, title, y_up, elev, azim: as for `plot_pointcloud` (culling uses elev, azim).

    Returns:
        The matplotlib `Figure`; its 3D axes holds one `Poly3DCollection` of the drawn triangles.
    """
    verts = _check_points(verts, "verts")
    faces = _check_faces(faces, len(verts))
    xyz = _to_plot_frame(verts, y_up)
    tris = xyz[faces]  # (F, 3, 3)
    normals = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    norm = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.where(norm > 0, normals / np.where(norm > 0, norm, 1.0), 0.0)
    eye = _eye_direction(elev, azim)
    facing = normals @ eye  # (F,) > 0 for faces towards the camera
    if cull_backfaces:
        tris, normals = tris[facing > 0], normals[facing > 0]
    light = eye + np.array([0.0, 0.0, 0.5])
    shade = 0.3 + 0.7 * np.abs(normals @ (light / np.linalg.norm(light)))  # (F,)
    colors = np.clip(np.asarray(color, np.float64)[None, :3] * shade[:, None], 0.0, 1.0)
    ax = _axes(ax, y_up, elev, azim, title)
    edges = colors if edgecolor is None else edgecolor
    ax.add_collection3d(Poly3DCollection(tris, facecolors=colors, edgecolors=edges, linewidths=0.1))
    return _finish(ax, xyz, path)
