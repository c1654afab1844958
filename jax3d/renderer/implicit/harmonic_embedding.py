"""``HarmonicEmbedding``: NeRF's positional encoding with PyTorch3D's output layout."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import struct

__all__ = ["HarmonicEmbedding"]


@struct.dataclass
class HarmonicEmbedding:
    """Sines and cosines of ``x`` at ``n_harmonic_functions`` frequencies (PyTorch3D's layout).

    For ``x: (..., D)`` the output is ``(..., D * 2 * n + D)`` (``+ D`` only when
    ``append_input``), laid out as all sines, then all cosines, then ``x``::

        [sin(f_0 x_0), ..., sin(f_{n-1} x_0), sin(f_0 x_1), ..., sin(f_{n-1} x_{D-1}),
         cos(f_0 x_0), ..., cos(f_{n-1} x_{D-1}), x_0, ..., x_{D-1}]

    where ``f_k = omega_0 * 2**k`` (``logspace``) or
    ``omega_0 * linspace(1, 2**(n-1), n)``. All settings are static.
    """

    n_harmonic_functions: int = struct.field(pytree_node=False, default=6)
    omega_0: float = struct.field(pytree_node=False, default=1.0)
    logspace: bool = struct.field(pytree_node=False, default=True)
    append_input: bool = struct.field(pytree_node=False, default=True)

    def __post_init__(self):
        if not isinstance(self.n_harmonic_functions, int) or self.n_harmonic_functions < 0:
            raise ValueError("n_harmonic_functions must be a non-negative int, got "
                             f"{self.n_harmonic_functions!r}")

    @property
    def frequencies(self) -> jax.Array:
        """``(n_harmonic_functions,) float32`` angular frequencies."""
        n = self.n_harmonic_functions
        if self.logspace:
            f = 2.0 ** jnp.arange(n, dtype=jnp.float32)
        else:
            f = jnp.linspace(1.0, 2.0 ** (n - 1), n, dtype=jnp.float32)
        return self.omega_0 * f

    def get_output_dim(self, input_dims: int = 3) -> int:
        """Channels of the embedding of a ``(..., input_dims)`` input."""
        return self.get_output_dim_static(input_dims, self.n_harmonic_functions,
                                          self.append_input)  # fmt: skip

    @staticmethod
    def get_output_dim_static(input_dims: int, n_harmonic_functions: int,
                              append_input: bool) -> int:  # fmt: skip
        """Channels of an embedding with these settings: ``D (2 n + append_input)``."""
        return input_dims * (2 * n_harmonic_functions + int(append_input))

    def __call__(self, x: jax.Array, diag_cov: jax.Array | None = None, **kwargs) -> jax.Array:
        """Embed ``x: (..., D) float32`` -> ``(..., get_output_dim(D))``.

        ``diag_cov: (..., D)`` (optional) damps each frequency by ``exp(-0.5 f^2 cov)``, the
        integrated positional encoding of mip-NeRF (PyTorch3D's ``diag_cov``). Other keyword
        arguments are ignored, as in PyTorch3D.
        """
        x = jnp.asarray(x)
        if x.ndim < 1 or not jnp.issubdtype(x.dtype, jnp.floating):
            raise ValueError(f"x must be a float array (..., D), got {x.shape} {x.dtype}")
        f = self.frequencies
        embed = (x[..., None] * f).reshape(*x.shape[:-1], -1)  # (..., D * n)
        embed = jnp.sin(jnp.concatenate([embed, embed + 0.5 * math.pi], axis=-1))
        if diag_cov is not None:
            diag_cov = jnp.asarray(diag_cov)
            if diag_cov.shape != x.shape:
                raise ValueError(f"diag_cov must have x's shape {x.shape}, got {diag_cov.shape}")
            damp = jnp.exp(-0.5 * diag_cov[..., None] * f**2).reshape(*x.shape[:-1], -1)
            embed = embed * jnp.concatenate([damp, damp], axis=-1)
        return jnp.concatenate([embed, x], axis=-1) if self.append_input else embed
