"""The NeRF paper's model (Mildenhall et al. 2020): 8 x 256 MLP, coarse + fine hierarchical
sampling, explicit background colour."""

from __future__ import annotations

import math
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from jax3d.models.nerf.model import normalize_directions
from jax3d.renderer.implicit.harmonic_embedding import HarmonicEmbedding
from jax3d.renderer.implicit.raybundle import RayBundle, ray_bundle_variables_to_ray_points
from jax3d.renderer.implicit.raymarching import alpha_composite
from jax3d.renderer.implicit.sample_pdf import sample_pdf

__all__ = ["NeRFMLP", "PaperNeRF", "PaperNeRFOutput"]

BACKGROUNDS = {"black": (0.0, 0.0, 0.0), "white": (1.0, 1.0, 1.0)}


class NeRFMLP(nn.Module):
    """The paper's network: `depth` ReLU layers of `width` units on gamma(x) (L = `n_harmonic_xyz`,
    input appended), gamma(x) concatenated again after the `skip`-th layer (5 in the paper);
    sigma = ReLU(Linear(1)); the colour branch Linear(width) (no activation) ++ gamma(d)
    (L = `n_harmonic_dir`) -> Linear(width / 2) ReLU -> Linear(3) sigmoid. Frequencies are
    `2^k pi` as in the paper.

    Call: `(points (..., S, 3), directions (..., 3)) -> (sigma (..., S) >= 0, rgb (..., S, 3))`.
    """

    depth: int = 8
    width: int = 256
    skip: int = 5
    n_harmonic_xyz: int = 10
    n_harmonic_dir: int = 4

    @nn.compact
    def __call__(self, points: jax.Array, directions: jax.Array):
        embed_x = HarmonicEmbedding(n_harmonic_functions=self.n_harmonic_xyz, omega_0=math.pi)
        embed_d = HarmonicEmbedding(n_harmonic_functions=self.n_harmonic_dir, omega_0=math.pi)
        gx = embed_x(points)
        h = gx
        for i in range(self.depth):
            if i == self.skip:
                h = jnp.concatenate([h, gx], axis=-1)
            h = nn.relu(nn.Dense(self.width, name=f"layer_{i}")(h))
        sigma = nn.relu(nn.Dense(1, name="sigma")(h))[..., 0]
        feat = nn.Dense(self.width, name="feature")(h)
        gd = embed_d(normalize_directions(directions))
        gd = jnp.broadcast_to(gd[..., None, :], feat.shape[:-1] + gd.shape[-1:])
        h = nn.relu(nn.Dense(self.width // 2, name="view")(jnp.concatenate([feat, gd], axis=-1)))
        return sigma, jax.nn.sigmoid(nn.Dense(3, name="rgb")(h))


class PaperNeRFOutput(NamedTuple):
    """Rendered `rgb (..., 3)` and `opacity (..., 1)` of the coarse and the fine pass, and the
    fine pass's sample depths `lengths_fine (..., n_coarse + n_fine)`."""

    rgb_coarse: jax.Array
    opacity_coarse: jax.Array
    rgb_fine: jax.Array
    opacity_fine: jax.Array
    lengths_fine: jax.Array


def _deltas(lengths: jax.Array, directions: jax.Array) -> jax.Array:
    """Distances between consecutive samples in world units; the last one is 1e10."""
    d = jnp.diff(lengths, axis=-1) * jnp.linalg.norm(directions, axis=-1, keepdims=True)
    return jnp.concatenate([d, jnp.full_like(lengths[..., :1], 1e10)], axis=-1)


class PaperNeRF(nn.Module):
    """Coarse + fine NeRF with hierarchical sampling, rendering a `RayBundle` directly.

    The coarse network is evaluated at the bundle's `lengths (..., n_coarse)` (64 stratified
    depths in the paper); `n_fine` more depths are drawn with `sample_pdf` from the coarse
    weights on the midpoints (no gradient through them) and the fine network is evaluated at
    all `n_coarse + n_fine` sorted depths. Colours are composited with NeRF's
    quadrature and the remaining transmittance is filled with `background`
    ("black", "white" or an RGB triple): `rgb = sum_s w_s c_s + (1 - sum_s w_s) background`.

    Call: `model.apply(params, ray_bundle, key=None) -> PaperNeRFOutput`; `key` randomises
    the fine samples (training), `None` places them at deterministic quantiles.
    """

    n_fine: int = 128
    background: str | tuple = "black"
    width: int = 256
    depth: int = 8

    def _background(self) -> jax.Array:
        bg = BACKGROUNDS.get(self.background) if isinstance(self.background, str) else None
        bg = self.background if bg is None else bg
        if isinstance(bg, str) or len(bg) != 3:
            raise ValueError(f"background must be 'black', 'white' or an RGB triple, got {bg!r}")
        return jnp.asarray(bg, jnp.float32)

    def _pass(self, net, bundle: RayBundle, lengths: jax.Array):
        points = ray_bundle_variables_to_ray_points(bundle.origins, bundle.directions, lengths)
        sigma, rgb = net(points, bundle.directions)
        color, opacity, weights = alpha_composite(sigma, _deltas(lengths, bundle.directions), rgb)
        return color + (1.0 - opacity) * self._background(), opacity, weights

    @nn.compact
    def __call__(self, ray_bundle: RayBundle, key: jax.Array | None = None) -> PaperNeRFOutput:
        if not isinstance(ray_bundle, RayBundle):
            raise TypeError(f"ray_bundle must be a RayBundle, got {type(ray_bundle).__name__}")
        coarse = NeRFMLP(depth=self.depth, width=self.width, name="coarse")
        fine = NeRFMLP(depth=self.depth, width=self.width, name="fine")
        z = ray_bundle.lengths
        rgb_c, opa_c, weights = self._pass(coarse, ray_bundle, z)
        mids = 0.5 * (z[..., 1:] + z[..., :-1])
        z_new = sample_pdf(key, mids, weights[..., 1:-1], self.n_fine, det=key is None)
        z_all = jnp.sort(jnp.concatenate([z, jax.lax.stop_gradient(z_new)], axis=-1), axis=-1)
        rgb_f, opa_f, _ = self._pass(fine, ray_bundle, z_all)
        return PaperNeRFOutput(rgb_c, opa_c, rgb_f, opa_f, z_all)
