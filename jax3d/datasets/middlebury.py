"""A real rectified stereo pair for a two-view check: Middlebury 2014's "motorcycle".

scikit-image ships it (`skimage.data.stereo_motorcycle()`, 741 x 500 pixels, 4x down-sampled
from the benchmark, with the left view's ground-truth disparity); this module turns it into a
SynSin pair in `jax3d.models.synsin.geometry`'s conventions: the right view is the left camera
moved by the 193.001 mm baseline along +X, so `RT = [I | (-b, 0, 0)]` (metres), with the
calibration scikit-image documents for the down-sampled images (focal length 994.978 px,
principal point (311.193, 254.877) px, the right camera's principal point 31.086 px further
right) and depth `z = f b / (d + 31.086)` from disparity `d`.

Needs scikit-image (`pip install jax3d[synsin]`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["MOTORCYCLE_CALIBRATION", "load_motorcycle_pair"]

MOTORCYCLE_CALIBRATION = {
    "focal_px": 994.978,
    "cx_px": 311.193,
    "cy_px": 254.877,
    "doffs_px": 31.086,
    "baseline_m": 0.193001,
}


def _resize(img: np.ndarray, size: int, nearest: bool = False) -> np.ndarray:
    from PIL import Image

    mode = Image.NEAREST if nearest else Image.BILINEAR
    if img.ndim == 2:
        im = Image.fromarray(img.astype(np.float32), mode="F")
        return np.asarray(im.resize((size, size), mode), np.float32)
    im = Image.fromarray(img)
    return np.asarray(im.resize((size, size), mode), np.float32) / 255.0


def load_motorcycle_pair(size: int | None = None) -> dict:
    """The motorcycle stereo pair as a SynSin pair, optionally cropped and resized.

    Args:
        size: None keeps the 741 x 500 images; an int takes the centred 500 x 500 square and
            resizes it to `size x size` (bilinear images, nearest-neighbour depth).

    Returns:
        dict of NumPy float32 arrays: `src` (left) and `tgt` (right) (H, W, 3) in [0, 1];
        `depth_src` (H, W) z-depth of the left view in metres (0 where the benchmark has no
        ground truth) and `valid` (H, W) bool; `K` (3, 3) and `K_tgt` (3, 3) normalised
        intrinsics of the left and right views; `RT` (4, 4) left-to-right pose.
    """
    try:
        from skimage.data import stereo_motorcycle
    except ImportError as err:
        raise ImportError("the Middlebury pair comes with scikit-image: pip install "
                          "jax3d[synsin] (or scikit-image)") from err  # fmt: skip
    left, right, disp = stereo_motorcycle()
    c = MOTORCYCLE_CALIBRATION
    valid = np.isfinite(disp) & (disp > 0)
    depth = np.where(valid, c["focal_px"] * c["baseline_m"]
                     / (np.where(valid, disp, 0.0) + c["doffs_px"]), 0.0)  # fmt: skip
    H, W = disp.shape
    x0, width = 0, W
    if size is not None:
        x0, width = (W - H) // 2, H
        left, right = left[:, x0:x0 + H], right[:, x0:x0 + H]
        depth, valid = depth[:, x0:x0 + H], valid[:, x0:x0 + H]
    f, cx, cy = c["focal_px"], c["cx_px"] - x0, c["cy_px"]
    K_pix = np.array([[f, 0, cx], [0, f, cy], [0, 0, 1]])
    K_tgt_pix = K_pix.copy()
    K_tgt_pix[0, 2] += c["doffs_px"]
    scale = np.array([[2.0 / width, 0, -1.0], [0, 2.0 / H, -1.0], [0, 0, 1.0]])
    RT = np.eye(4)
    RT[0, 3] = -c["baseline_m"]
    if size is not None:
        left, right = _resize(left, size), _resize(right, size)
        depth = _resize(depth, size, nearest=True)
        valid = _resize(valid.astype(np.float32), size, nearest=True) > 0.5
    else:
        left, right = left.astype(np.float32) / 255.0, right.astype(np.float32) / 255.0
    return {
        "src": left.astype(np.float32),
        "tgt": right.astype(np.float32),
        "depth_src": depth.astype(np.float32),
        "valid": valid,
        "K": (scale @ K_pix).astype(np.float32),
        "K_tgt": (scale @ K_tgt_pix).astype(np.float32),
        "RT": RT.astype(np.float32),
    }
