"""Chapter 10: the book's Mesh R-CNN demo: an image in, a mask and a mesh per detected object out.

As the authors' `demo/demo.py` (and the book's run of it), the detector finds the objects of
one image and, for every detection `i`, saves its mask and its mesh:

    overlay.png                          the image with every mask, box, class and confidence
    <i>_mask_<class>_<score>.png         the detection's mask
    <i>_mesh_<class>_<score>.obj         its mesh (camera frame, OpenCV axes, depth `--zcenter`)

then, as the book's `viz_demo_results.py`, renders each OBJ from a camera at `--distance`,
`--elevation`, `--azimuth` (`look_at_view_transform`) twice, side by side in
`<i>_mesh_<class>_<score>.png`: a soft silhouette (`SoftSilhouetteShader`, 100 faces per pixel,
`BlendParams(sigma=1e-4, gamma=1e-4)`, blur radius `log(1 / 1e-4 - 1) sigma`) and a
`HardPhongShader` view (point light at the camera). The mesh is first turned to PyTorch3D's view
axes (x left, y up), centred at its box's centre and scaled to a longest box edge of 1 (the
book's script renders the OBJ as saved; the camera-frame mesh sits at depth `--zcenter`, away
from the orbit's centre). `--onlyhighest` keeps the best detection only, as the book's demo.

The model is a checkpoint written by `experiments/ch10_mesh_rcnn.py` (`--checkpoint OUT`: its
`run/settings.json` and newest `run/checkpoints/`); with `--quick` and no checkpoint a freshly
initialised tiny detector is used, and every output says that it is UNTRAINED (its detections
are noise: plumbing only). Without `--input` the image is a held-out synthetic scene (the
checkpoint's "test" split, `--scene`); with `--input IMAGE` (any size: resized so its longer
side is the model's input, padded at the bottom / right) the camera is the authors' demo camera
(focal 20 mm on a 32 mm sensor, `--focal-length`).

    python experiments/ch10_demo.py --checkpoint out/ch10_rcnn --output out/demo --onlyhighest
    python experiments/ch10_demo.py --checkpoint out/ch10_rcnn --output out/demo_photo \\
        --input $JAX3D_DATA/images/appartement.jpg
    python experiments/ch10_demo.py --quick --output out/demo_quick
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ch10_mesh_rcnn as rcnn  # noqa: E402

from jax3d.datasets import FurnitureScenes  # noqa: E402
from jax3d.io import load_obj, save_obj  # noqa: E402
from jax3d.models.mesh_rcnn import QUICK_COMPILE, make_detector_inference  # noqa: E402
from jax3d.structures import Meshes  # noqa: E402
from jax3d.utils import enable_compilation_cache
from jax3d.vis import draw_instances, save_image  # noqa: E402

SIGMA = GAMMA = 1e-4  # the book's BlendParams of the silhouette view
FACES_PER_PIXEL = 100


def load_model(checkpoint: Path | None, quick: bool):
    """(settings, params, trained?) from a `ch10_mesh_rcnn.py` output folder, or (`quick`, no
    checkpoint) a freshly initialised tiny detector."""
    if checkpoint is None:
        if not quick:
            raise SystemExit("--checkpoint OUT (a folder written by experiments/ch10_mesh_rcnn.py)"
                             " is needed; --quick without one runs an untrained model")
        st = rcnn.settings_from_args(rcnn._parse(["--quick"]))
        return st, rcnn.initial_state(st).params, False
    path = Path(checkpoint) / "run" / "settings.json"
    if not path.exists():
        raise SystemExit(f"--checkpoint: {path} not found (run experiments/ch10_mesh_rcnn.py)")
    saved = json.loads(path.read_text())
    st = {k: v for k, v in saved.items() if k not in ("devices", "model_config")}
    state = rcnn.restore_params(Path(checkpoint), rcnn.initial_state(st))
    return st, state.params, True


def letterbox(image: np.ndarray, size: int, focal_mm: float):
    """An (H, W, 3) image resized so its longer side is `size` (bilinear), padded with black at
    the bottom / right to (size, size, 3), and the demo camera K (focal `focal_mm` on a 32 mm
    sensor across the original width, principal point at the original centre), both for the
    padded image."""
    from PIL import Image

    H, W = image.shape[:2]
    s = size / max(H, W)
    h, w = max(1, round(H * s)), max(1, round(W * s))
    img = Image.fromarray((np.clip(image, 0, 1) * 255).round().astype(np.uint8))
    small = np.asarray(img.resize((w, h), Image.BILINEAR), np.float32) / 255.0
    out = np.zeros((size, size, 3), np.float32)
    out[:h, :w] = small
    f = focal_mm / 32.0 * w
    K = np.array([[f, 0.0, w / 2.0], [0.0, f, h / 2.0], [0.0, 0.0, 1.0]], np.float32)
    return out, K


def read_image(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), np.float32) / 255.0


def normalise_for_view(verts: np.ndarray) -> np.ndarray:
    """OpenCV camera-frame vertices turned to PyTorch3D's view axes (x left, y up: x and y
    negated), centred at the box centre and scaled to a longest box edge of 1."""
    v = np.asarray(verts, np.float64) * np.array([-1.0, -1.0, 1.0])
    lo, hi = v.min(0), v.max(0)
    return ((v - (lo + hi) / 2) / max(float((hi - lo).max()), 1e-9)).astype(np.float32)


@functools.partial(jax.jit, static_argnames=("size",))
def render_views(verts, faces, distance, elevation, azimuth, *, size: int):
    """(silhouette (S, S), Phong RGB (S, S, 3)) of one mesh (V, 3), (F, 3) seen from a
    `look_at_view_transform(distance, elevation, azimuth)` camera (`FoVPerspectiveCameras`)."""
    from jax3d.renderer import (
        BlendParams,
        FoVPerspectiveCameras,
        HardPhongShader,
        MeshRasterizer,
        MeshRenderer,
        PointLights,
        RasterizationSettings,
        SoftSilhouetteShader,
        TexturesVertex,
        look_at_view_transform,
    )
    from jax3d.renderer.cameras.look_at import camera_position_from_spherical_angles

    mesh = Meshes(verts[None], faces[None], textures=TexturesVertex(jnp.ones_like(verts)[None]))
    R, T = look_at_view_transform(distance, elevation, azimuth)
    cameras = FoVPerspectiveCameras(R=R, T=T)
    blend = BlendParams(sigma=SIGMA, gamma=GAMMA)
    soft = RasterizationSettings(image_size=size, blur_radius=float(np.log(1.0 / 1e-4 - 1.0))
                                 * blend.sigma, faces_per_pixel=FACES_PER_PIXEL)  # fmt: skip
    silhouette = MeshRenderer(MeshRasterizer(cameras, soft),
                              SoftSilhouetteShader(blend_params=blend))(mesh)[0, ..., 3]
    light = camera_position_from_spherical_angles(distance, elevation, azimuth)
    hard = RasterizationSettings(image_size=size, blur_radius=0.0, faces_per_pixel=1)
    phong = MeshRenderer(MeshRasterizer(cameras, hard),
                         HardPhongShader(cameras=cameras,
                                         lights=PointLights(location=light)))(mesh)[0, ..., :3]
    return silhouette, jnp.clip(phong, 0.0, 1.0)


def render_obj(obj: Path, png: Path, distance: float, elevation: float, azimuth: float,
               size: int) -> np.ndarray:  # fmt: skip
    """The book's visualisation of one OBJ: silhouette | Phong side by side, saved as `png`."""
    verts, faces, _ = load_obj(obj)
    v = normalise_for_view(np.asarray(verts))
    f = np.asarray(faces.verts_idx, np.int32)
    # pad to a multiple of 512 (few distinct compiled shapes)
    V, F = int(np.ceil(len(v) / 512) * 512), int(np.ceil(len(f) / 512) * 512)
    vp = np.zeros((V, 3), np.float32)
    vp[: len(v)] = v
    fp = np.full((F, 3), -1, np.int32)
    fp[: len(f)] = f
    sil, phong = render_views(vp, fp, float(distance), float(elevation), float(azimuth),
                              size=size)  # fmt: skip
    side = np.concatenate([np.repeat(np.asarray(sil)[..., None], 3, -1), np.asarray(phong)], 1)
    save_image(png, side)
    return side


def save_overlay(path: Path, image, masks, boxes, classes, scores, names, title: str):
    """The image with the detections' masks, boxes and `class score` labels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    S = image.shape[0]
    fig = Figure(figsize=(5, 5.3))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(draw_instances(image, masks, boxes), extent=(0, S, S, 0), interpolation="nearest")
    rcnn.label_axes(ax, {"boxes": boxes, "classes": classes, "scores": scores}, names, 9)
    ax.set_xlim(0, S), ax.set_ylim(S, 0)
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    fig.tight_layout(pad=0.3)
    fig.savefig(path, dpi=100)


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--input", type=Path, default=None,
                   help="an image file (default: a held-out synthetic scene)")
    p.add_argument("--output", type=Path, default=Path("out/ch10_demo"))
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="an experiments/ch10_mesh_rcnn.py output folder")
    p.add_argument("--onlyhighest", action="store_true", help="keep the best detection only")
    p.add_argument("--quick", action="store_true",
                   help="small renders; without --checkpoint an UNTRAINED tiny model")
    p.add_argument("--scene", type=int, default=0, help="the held-out scene (without --input)")
    p.add_argument("--focal-length", type=float, default=20.0,
                   help="mm on a 32 mm sensor, the camera of --input images")
    p.add_argument("--zcenter", type=float, default=None,
                   help="centre depth of the meshes (default: the scene's mean object depth, "
                        "1.0 for --input images)")  # fmt: skip
    p.add_argument("--score-thresh", type=float, default=0.05)
    p.add_argument("--distance", type=float, default=2.0)
    p.add_argument("--elevation", type=float, default=20.0)
    p.add_argument("--azimuth", type=float, default=30.0)
    p.add_argument("--render-size", type=int, default=None, help="side of each view (256)")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    enable_compilation_cache()  # compiled programs persist across runs
    args = _parse(argv)
    st, params, trained = load_model(args.checkpoint, args.quick)
    config = rcnn.model_config(st).replace(score_thresh=args.score_thresh)
    S = config.image_size
    names = st["classes"]
    if args.input is None:
        scenes = FurnitureScenes(rcnn.scene_config(st, "test", args.scene + 1).replace(
            num_points=0))  # fmt: skip
        batch = scenes.get_batch([args.scene])
        image, K = batch["images"][0], batch["K"][0]
        zc = batch["zrange"][0][batch["valid"][0]].mean() if args.zcenter is None else args.zcenter
        source = f"held-out synthetic scene {args.scene}"
    else:
        image, K = letterbox(read_image(args.input), S, args.focal_length)
        zc = 1.0 if args.zcenter is None else args.zcenter
        source = str(args.input)
    options = QUICK_COMPILE if st["preset"] == "quick" else None
    infer = make_detector_inference(config, only_highest=args.onlyhighest,
                                    compiler_options=options)  # fmt: skip
    det = jax.tree_util.tree_map(np.asarray, infer(params, image[None], K[None], float(zc)))
    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    slots = np.flatnonzero(det.valid[0])
    status = "" if trained else "UNTRAINED model (random weights): "
    if not trained:
        print("WARNING: no --checkpoint: an UNTRAINED detector; its detections are noise",
              flush=True)  # fmt: skip
    size = args.render_size or (64 if args.quick else 256)
    files = []
    for i, s in enumerate(slots):
        name, score = names[int(det.classes[0, s])], float(det.scores[0, s])
        stem = f"{i}_%s_{name}_{score:.3f}"
        save_image(out / (stem % "mask" + ".png"), det.masks[0, s].astype(np.float32))
        nv, nf = int(det.num_verts[0, s]), int(det.num_faces[0, s])
        obj = out / (stem % "mesh" + ".obj")
        save_obj(obj, det.verts[0, s, :nv], det.faces[0, s, :nf], decimal_places=5)
        render_obj(obj, out / (stem % "mesh" + ".png"), args.distance, args.elevation,
                   args.azimuth, size)  # fmt: skip
        files.append({"class": name, "score": score, "box": det.boxes[0, s].tolist(),
                      "obj": obj.name, "verts": nv, "faces": nf})  # fmt: skip
    title = (f"{status}{len(slots)} detection(s) on {Path(source).name}"
             f"{' (--onlyhighest)' if args.onlyhighest else ''}")  # fmt: skip
    save_overlay(out / "overlay.png", image, det.masks[0, slots], det.boxes[0, slots],
                 det.classes[0, slots], det.scores[0, slots], names, title)  # fmt: skip
    save_image(out / "input.png", image)
    summary = {"input": source, "trained": trained, "checkpoint": str(args.checkpoint),
               "only_highest": args.onlyhighest, "zcenter": float(zc), "K": K.tolist(),
               "view": {"distance": args.distance, "elevation": args.elevation,
                        "azimuth": args.azimuth, "size": size},
               "detections": files}  # fmt: skip
    (out / "detections.json").write_text(json.dumps(summary, indent=1))
    print(f"{title}; outputs in {out}")
    for f in files:
        print(f"  {f['class']} {f['score']:.3f}: {f['obj']} ({f['verts']} vertices)")
    return summary


if __name__ == "__main__":
    main()
