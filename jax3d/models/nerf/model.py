"""The book's neural radiance field (chapter 6): a small MLP on harmonic embeddings."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jax3d.renderer.implicit.harmonic_embedding import HarmonicEmbedding
from jax3d.renderer.implicit.raybundle import RayBundle, ray_bundle_to_ray_points

__all__ = ["NeuralRadianceField", "softplus_beta", "torch_linear_init"]

# PyTorch's nn.Linear weight init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), so the book's training
# recipe sees the same initial scale as in PyTorch3D.
torch_linear_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def softplus_beta(x: jax.Array, beta: float = 10.0) -> jax.Array:
    """PyTorch's `Softplus(beta)`: `log(1 + exp(beta x)) / beta`, overflow-safe."""
    return jax.nn.softplus(beta * x) / beta


def normalize_directions(directions: jax.Array) -> jax.Array:
    """Unit vectors along `directions: (..., 3)`; zero vectors stay zero (no NaN, finite grads)."""
    sq = jnp.sum(directions**2, axis=-1, keepdims=True)
    small = sq < 1e-24
    return jnp.where(small, 0.0, directions * jax.lax.rsqrt(jnp.where(small, 1.0, sq)))


class _PerRayConcatDense(nn.Module):
    """`Dense(features)` on `concat([x, broadcast(y)])`, with `y`'s product taken once per ray.

    `x: (..., S, n)` per sample, `y: (..., m)` per ray -> `(..., S, features)`; the parameters
    (`kernel (n + m, features)`, `bias`) and the values are those of `nn.Dense` on the
    concatenation, but the `(m, features)` block is applied to `R` rays instead of `R * S`
    samples (the colour head's direction input is constant along a ray).
    """

    features: int

    @nn.compact
    def __call__(self, x: jax.Array, y: jax.Array) -> jax.Array:
        n = x.shape[-1]
        kernel = self.param("kernel", torch_linear_init, (n + y.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        per_ray = y @ kernel[n:] + bias  # (..., features)
        return x @ kernel[:n] + per_ray[..., None, :]


class NeuralRadianceField(nn.Module):
    """The book's radiance field: opacities and colours of the samples of a `RayBundle`.

    Points are embedded with `HarmonicEmbedding(n_harmonic_functions, omega_0,
    append_input=False)` (`6 n` channels), passed through two `Linear(n_hidden) ->
    Softplus(beta=10)` layers; the density head is `Linear(1)` (bias initialised to -1.5) ->
    Softplus(beta=10) and the opacity `1 - exp(-raw)` lies in [0, 1); the colour head takes the
    features concatenated with the embedded *normalised* ray direction through
    `Linear(n_hidden) -> Softplus(10) -> Linear(3) -> sigmoid`.

    Call: `model.apply(params, ray_bundle) -> (rays_densities (B, ..., S, 1),
    rays_colors (B, ..., S, 3))` float32, for a bundle with `origins (B, ..., 3)` and
    `lengths (B, ..., S)`; feed them to `EmissionAbsorptionRaymarcher`.
    """

    n_harmonic_functions: int = 60
    n_hidden_neurons: int = 256
    omega_0: float = 0.1

    def setup(self):
        self.embedding = HarmonicEmbedding(
            n_harmonic_functions=self.n_harmonic_functions,
            omega_0=self.omega_0,
            append_input=False,
        )
        dense = dict(kernel_init=torch_linear_init)
        self.mlp = [nn.Dense(self.n_hidden_neurons, **dense, name=f"mlp_{i}") for i in range(2)]
        self.density_layer = nn.Dense(
            1, **dense, bias_init=nn.initializers.constant(-1.5), name="density"
        )
        self.color_hidden = _PerRayConcatDense(self.n_hidden_neurons, name="color_hidden")
        self.color_out = nn.Dense(3, **dense, name="color_out")

    def features(self, points: jax.Array) -> jax.Array:
        """`points: (..., 3)` world coordinates -> `(..., n_hidden)` features."""
        h = self.embedding(points)
        for layer in self.mlp:
            h = softplus_beta(layer(h))
        return h

    def densities(self, features: jax.Array) -> jax.Array:
        """`(..., n_hidden)` features -> `(..., 1)` opacities `1 - exp(-softplus(raw))`."""
        raw = softplus_beta(self.density_layer(features))
        return -jnp.expm1(-raw)

    def colors(self, features: jax.Array, directions: jax.Array) -> jax.Array:
        """Features `(..., S, n_hidden)`, ray directions `(..., 3)` -> `(..., S, 3)` in (0, 1)."""
        dirs = self.embedding(normalize_directions(directions))
        h = softplus_beta(self.color_hidden(features, dirs))
        return jax.nn.sigmoid(self.color_out(h))

    def __call__(self, ray_bundle: RayBundle) -> tuple[jax.Array, jax.Array]:
        if not isinstance(ray_bundle, RayBundle):
            raise TypeError(f"ray_bundle must be a RayBundle, got {type(ray_bundle).__name__}")
        points = ray_bundle_to_ray_points(ray_bundle)  # (B, ..., S, 3)
        features = self.features(points)
        return self.densities(features), self.colors(features, ray_bundle.directions)
