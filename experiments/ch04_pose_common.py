"""Shared pieces of the chapter 4 pose-estimation experiments (silhouette and texture).

A camera position ``p (3,)`` is the only parameter: ``R = look_at_rotation(p)``, ``T = -R^T p``
(the book's model). ``fit_positions`` runs Adam on ``S`` starting positions at once: the S starts
are one batch of S cameras looking at S copies of the mesh (no ``vmap``, so the rasterizer
sees one batch and sizes its work from the true bin counts); each start stops (freezes) at the
first iteration whose loss is below the threshold, as the book's ``if loss < threshold: break``.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm import tqdm

from jax3d.datasets import data_path, has_data
from jax3d.io import load_objs_as_meshes
from jax3d.renderer import (
    FoVPerspectiveCameras,
    HardPhongShader,
    MeshRasterizer,
    MeshRenderer,
    PointLights,
    RasterizationSettings,
    TexturesUV,
    TexturesVertex,
    camera_position_from_spherical_angles,
    look_at_rotation,
)
from jax3d.structures import Meshes
from jax3d.utils import checkerboard, teapot_uvs, teapot_verts_faces
from jax3d.vis import plot_losses, save_gif, save_image


def camera_from_position(position: jax.Array) -> FoVPerspectiveCameras:
    """Cameras at ``position`` (3,) or (S, 3) looking at the origin (the book's R, T)."""
    position = jnp.atleast_2d(position)
    R = look_at_rotation(position)  # (S, 3, 3)
    T = -jnp.einsum("bji,bj->bi", R, position)  # -R^T p
    return FoVPerspectiveCameras(R=R, T=T)


def target_position(dist: float, elev: float, azim: float) -> np.ndarray:
    """(3,) world position of the camera ``look_at_view_transform(dist, elev, azim)``."""
    return np.asarray(camera_position_from_spherical_angles(dist, elev, azim))[0]


def teapot_mesh(quick: bool, textured: bool) -> tuple[Meshes, str]:
    """The book's teapot (JAX3D_DATA) with white vertex colours, else the procedural teapot
    (UV checkerboard when ``textured``)."""
    if has_data("meshes/teapot.obj") and not textured:
        mesh = load_objs_as_meshes([data_path("meshes/teapot.obj")], load_textures=False)
        source = "JAX3D_DATA"
    else:
        verts, faces = teapot_verts_faces(3 if quick else 6)
        verts = verts - (verts.max(0) + verts.min(0)) / 2  # centre on the origin
        mesh = Meshes([verts], [faces])
        source = "procedural"
        if textured:
            verts_uvs, faces_uvs = teapot_uvs(3 if quick else 6)
            board = checkerboard((128, 128), 4, ((0.9, 0.3, 0.2), (0.2, 0.5, 0.9)))
            tex = TexturesUV([board], [faces_uvs], [verts_uvs])
            return mesh.replace(textures=tex), source
    ones = jnp.ones_like(mesh.verts_padded())
    return mesh.replace(textures=TexturesVertex(ones)), source


def cow_mesh(quick: bool) -> tuple[Meshes, str]:
    """The book's textured cow (JAX3D_DATA), else the procedural checkerboard teapot."""
    if has_data("meshes/cow_mesh/cow.obj"):
        return load_objs_as_meshes([data_path("meshes/cow_mesh/cow.obj")]), "JAX3D_DATA"
    print("JAX3D_DATA not set: using the procedural checkerboard teapot")
    return teapot_mesh(quick, textured=True)


def phong_renderer(image_size: int, light=(0.0, 0.0, -3.0)) -> MeshRenderer:
    """Hard Phong renderer (K = 1, no blur) used for targets and GIF frames."""
    settings = RasterizationSettings(image_size=image_size, blur_radius=0.0, faces_per_pixel=1)
    lights = PointLights(location=[light])
    cams = camera_from_position(jnp.asarray([0.0, 0.0, 3.0]))
    return MeshRenderer(MeshRasterizer(cams, settings), HardPhongShader(cameras=cams,
                                                                        lights=lights))


def random_starts(seed: int, n: int, r_min: float = 3.0, r_max: float = 7.0) -> np.ndarray:
    """(n, 3) positions uniform in direction with radius uniform in [r_min, r_max]."""
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return (d * rng.uniform(r_min, r_max, size=(n, 1))).astype(np.float32)


def make_step(loss_fn, optimizer, threshold: float, jit: bool = True):
    """Step ``(pos (S, 3), opt_state, done (S,)) -> (pos, state, done, loss (S,))``.

    ``loss_fn(positions (S, 3)) -> (S,)`` per-start losses of one batched render (start s
    depends only on ``positions[s]``, so the gradient of the sum is every start's own). A start
    whose loss (before the update) is below ``threshold`` is marked done and keeps its position
    from then on. The step is one jitted function (the rasterizer's data-dependent jit path);
    ``jit=False`` runs it eagerly, where the rasterizer sizes its work from concrete counts
    (but recompiles whenever the rounded counts change).
    """

    def total(pos):
        losses = loss_fn(pos)
        return losses.sum(), losses

    value_and_grad = jax.value_and_grad(total, has_aux=True)

    def step(pos, opt_state, done):
        (_, loss), grad = value_and_grad(pos)
        grad = jnp.where(jnp.isfinite(grad), grad, 0.0)
        updates, new_state = optimizer.update(grad, opt_state, pos)
        now_done = done | (loss < threshold)
        new_pos = jnp.where(now_done[:, None], pos, optax.apply_updates(pos, updates))
        return new_pos, new_state, now_done, loss

    return jax.jit(step) if jit else step


def fit_positions(loss_fn, starts, *, lr: float, max_iters: int, threshold: float,
                  on_iteration=None, desc: str = "fit", jit: bool = True):  # fmt: skip
    """Adam from ``starts (S, 3)``; returns dict with ``positions (S, 3)``, ``losses
    (T, S)`` and ``iterations (S,)`` (1-based iteration that reached the threshold, or -1).

    ``loss_fn(positions (S, 3)) -> (S,)``. ``on_iteration(i, positions)`` is called before
    each update (e.g. to render a frame).
    """
    optimizer = optax.adam(lr)
    step = make_step(loss_fn, optimizer, threshold, jit=jit)
    pos = jnp.asarray(starts, jnp.float32)
    state = optimizer.init(pos)
    done = jnp.zeros(pos.shape[0], bool)
    iterations = np.full(pos.shape[0], -1)
    losses = []
    bar = tqdm(range(max_iters), desc=desc)
    for i in bar:
        if on_iteration is not None:
            on_iteration(i, pos)
        pos, state, new_done, loss = step(pos, state, done)
        fresh = np.asarray(new_done & ~done)
        iterations[fresh] = i + 1
        losses.append(np.asarray(loss))
        bar.set_postfix(loss=float(np.min(losses[-1])), done=int(np.sum(np.asarray(new_done))))
        done = new_done
        if bool(jnp.all(done)):
            break
    return dict(positions=np.asarray(pos), losses=np.stack(losses), iterations=iterations)


def save_outputs(out: Path, name: str, frames, losses, metrics: dict) -> None:
    """GIF of the fit, loss curve and metrics.json."""
    if frames:
        save_gif(out / f"{name}.gif", frames, fps=10)
    curve = losses[:, 0]
    plot_losses(out / f"{name}_loss.png", {"loss": curve[np.isfinite(curve)]},
                title=f"{name} loss")  # fmt: skip
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))


def multistart_summary(result: dict, target: np.ndarray) -> dict:
    """Success rate, median iterations of the successful starts and position errors."""
    it = result["iterations"]
    ok = it > 0
    err = np.linalg.norm(result["positions"] - target[None], axis=1)
    return {
        "starts": int(len(it)),
        "success_rate": float(ok.mean()),
        "median_iterations": float(np.median(it[ok])) if ok.any() else None,
        "median_position_error_success": float(np.median(err[ok])) if ok.any() else None,
    }


def save_target(out: Path, name: str, image) -> None:
    save_image(out / f"{name}.png", np.clip(np.asarray(image), 0.0, 1.0))
