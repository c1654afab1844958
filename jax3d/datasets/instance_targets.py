"""Per-instance ground truth for Mesh R-CNN: mask boxes, ROI voxels, and padded batches.

Both multi-object datasets (`jax3d.datasets.furniture_scenes`, rendered, and
`jax3d.datasets.pix3d`, read from disk) produce one record per image: a dict of NumPy arrays
with the image's `M` instances along the first axis,

    image (H, W, 3) float32 RGB in [0, 1];  K (3, 3) float32 pixel intrinsics;
    boxes (M, 4) float32 `(x0, y0, x1, y1)` pixels, the box of the *visible* mask (as COCO and
        Pix3D annotate), `x1 = last column + 1`;
    classes (M,) int32;  masks (M, H, W) bool visible masks;
    voxels (M, G, G, G) bool occupancy [z, y, x] in the ROI frame of `boxes` and `zrange`
        (`jax3d.transforms.roi_frustum`); parts of the object outside the box are cut off, as
        in the authors' `batch_crop_voxels_within_box`;
    zrange (M, 2) float32 the mesh's nearest and farthest camera depth;
    verts (M, V, 3) float32 camera frame, padded with 0; faces (M, F, 3) int32, padded with -1;
    num_verts, num_faces (M,) int32;  points, normals (M, P, 3) float32 surface samples,
        camera frame (unit normals);

all in OpenCV's camera frame (+X right, +Y down, +Z forward; `K` projects a camera point `p`
to pixel `(K p)[:2] / p[2]`, pixel centres at `+0.5`). `collate_instances` stacks records into
a batch with a fixed number of instance slots and a `valid` mask.
"""

from __future__ import annotations

import numpy as np

from jax3d.datasets.voxelize import VoxelGrid
from jax3d.transforms.roi_frustum import camera_to_roi, roi_to_camera

__all__ = ["collate_instances", "mask_boxes", "roi_voxels"]


def mask_boxes(masks) -> np.ndarray:
    """Tight boxes of masks (Detectron2's `BitMasks.get_bounding_boxes`).

    Args:
        masks: (M, H, W) bool.

    Returns:
        (M, 4) float32 `(x0, y0, x1, y1)` with `x1 = last column + 1`, `y1 = last row + 1`;
        zeros for an empty mask.
    """
    masks = np.asarray(masks, bool)
    if masks.ndim != 3:
        raise ValueError(f"masks must be (M, H, W), got {masks.shape}")
    boxes = np.zeros((len(masks), 4), np.float32)
    cols, rows = masks.any(1), masks.any(2)  # (M, W), (M, H)
    for m in range(len(masks)):
        xs, ys = np.flatnonzero(cols[m]), np.flatnonzero(rows[m])
        if len(xs):
            boxes[m] = (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)
    return boxes


def roi_voxels(grid: VoxelGrid, object_to_camera, box, K, zrange, size: int,
               surface_points=None) -> np.ndarray:  # fmt: skip
    """Occupancy of an object in the ROI frame of `box` (`jax3d.transforms.roi_frustum`).

    A ROI cell is occupied when an occupied cell centre of the object-space grid falls into it
    (the authors' splatting of voxel points, which keeps parts thinner than a ROI cell), when
    one of `surface_points` does (the surface cells, also where ROI cells are finer than the
    object grid), or when its own centre, taken back to object space, lies in an occupied
    object cell (which fills ROI cells smaller than object cells, for small boxes).

    Args:
        grid: the object's solid occupancy (`jax3d.datasets.voxelize_mesh`), object frame.
        object_to_camera: (4, 4) affine map from the object frame to the camera frame.
        box: (4,) `(x0, y0, x1, y1)` pixels; K: (3, 3) intrinsics; zrange: (2,) depths.
        size: G.
        surface_points: optional (N, 3) camera-frame points densely sampled on the surface.

    Returns:
        (G, G, G) bool indexed [z, y, x].
    """
    if not isinstance(size, (int, np.integer)) or size < 2:
        raise ValueError(f"size must be an int >= 2, got {size!r}")
    A = np.asarray(object_to_camera, np.float64)
    if A.shape != (4, 4):
        raise ValueError(f"object_to_camera must be (4, 4), got {A.shape}")
    box, K, zrange = (np.asarray(a, np.float64) for a in (box, K, zrange))
    G = int(size)
    out = np.zeros((G, G, G), bool)
    if not (box[2] > box[0] and box[3] > box[1] and 0 < zrange[0] < zrange[1]):
        return out
    centres = grid.centers() @ A[:3, :3].T + A[:3, 3]
    if surface_points is not None:
        centres = np.concatenate([centres, np.asarray(surface_points, np.float64).reshape(-1, 3)])
    idx = np.round(0.5 * (G - 1) * (camera_to_roi(centres, box, K, zrange) + 1.0))
    idx = idx.astype(np.int64)
    ok = np.all((idx >= 0) & (idx < G), axis=1)
    out[idx[ok, 2], idx[ok, 1], idx[ok, 0]] = True
    # Backward: the centre of every ROI cell, looked up in the object grid.
    c = 2.0 * np.arange(G) / (G - 1) - 1.0
    z, y, x = np.meshgrid(c, c, c, indexing="ij")
    roi = np.stack([x, y, z], -1).reshape(-1, 3)
    obj = (roi_to_camera(roi, box, K, zrange) - A[:3, 3]) @ np.linalg.inv(A[:3, :3]).T
    cell = np.round((obj - grid.origin) / grid.voxel_size).astype(np.int64)  # [x, y, z]
    R = np.array(grid.occupancy.shape[::-1])
    inside = np.all((cell >= 0) & (cell < R), axis=1)
    hit = np.zeros(len(cell), bool)
    hit[inside] = grid.occupancy[cell[inside, 2], cell[inside, 1], cell[inside, 0]]
    return out | hit.reshape(G, G, G)


_PAD = {"faces": -1}


def collate_instances(records: list[dict], max_instances: int) -> dict:
    """Stack per-image records (module docstring) into a batch with `max_instances` slots.

    Per-instance arrays become `(B, M, ...)` (M = `max_instances`), padded with zeros (faces
    with -1) and described by `valid (B, M) bool`; `image` becomes `images (B, H, W, 3)`;
    other per-image arrays are stacked. Every record must have the same image size, and the
    same trailing shapes per key.

    Raises:
        ValueError: a record with more than `max_instances` instances, or mismatched shapes.
    """
    if not records:
        raise ValueError("records must not be empty")
    M = int(max_instances)
    if M < 1:
        raise ValueError(f"max_instances must be >= 1, got {max_instances!r}")
    per_instance = [k for k, v in records[0].items() if k not in ("image", "K")]
    out = {"images": np.stack([r["image"] for r in records]),
           "K": np.stack([r["K"] for r in records])}  # fmt: skip
    counts = [len(r["classes"]) for r in records]
    if max(counts) > M:
        raise ValueError(f"a record has {max(counts)} instances, more than max_instances={M}")
    for key in per_instance:
        first = np.asarray(records[0][key])
        arr = np.full((len(records), M) + first.shape[1:], _PAD.get(key, 0), first.dtype)
        for b, r in enumerate(records):
            v = np.asarray(r[key])
            if v.shape[1:] != first.shape[1:]:
                raise ValueError(f"{key}: record {b} has shape {v.shape}, record 0 {first.shape}")
            arr[b, : len(v)] = v
        out[key] = arr
    out["valid"] = np.arange(M)[None, :] < np.array(counts)[:, None]
    return out
