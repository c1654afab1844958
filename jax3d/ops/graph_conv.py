"""Graph convolution on mesh vertices (PyTorch3D's `GraphConv`, as a Flax linen module)."""

from __future__ import annotations

import math
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["GraphConv", "GraphConvModule", "gather_scatter"]


def gather_scatter(x: jax.Array, edges: jax.Array, directed: bool = False) -> jax.Array:
    """Sum of neighbour features: `out[i] = sum_{(i, j) in edges} x[j]` (+ reverse if undirected).

    Args:
        x: (V, D) float32 vertex features.
        edges: (E, 2) int vertex indices; rows of -1 are ignored.
        directed: if False, each edge (i, j) also sends `x[i]` to `j`.

    Returns:
        (V, D) float32.
    """
    x, edges = jnp.asarray(x), jnp.asarray(edges)
    if x.ndim != 2:
        raise ValueError(f"x must be (V, D), got {x.shape}")
    if edges.ndim != 2 or edges.shape[1] != 2:
        raise ValueError(f"edges must be (E, 2), got {edges.shape}")
    if not jnp.issubdtype(edges.dtype, jnp.integer):
        raise TypeError(f"edges must be an integer array, got {edges.dtype}")
    return _gather_scatter(x, edges, directed)


@partial(jax.jit, static_argnums=2)
def _gather_scatter(x, edges, directed: bool):
    V = x.shape[0]
    valid = jnp.all(edges >= 0, axis=-1)
    e0 = jnp.where(valid, edges[:, 0], V)  # segment V is out of range and dropped
    e1 = jnp.where(valid, edges[:, 1], V)
    xp = jnp.concatenate([x, jnp.zeros((1, x.shape[1]), x.dtype)])
    out = jax.ops.segment_sum(xp[e1], e0, num_segments=V)
    if not directed:
        out = out + jax.ops.segment_sum(xp[e0], e1, num_segments=V)
    return out


def _torch_default_bias_init(fan_in: int):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)), torch.nn.Linear's default bias init."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


class GraphConvModule(nn.Module):
    """`out = W0 x_i + b0 + sum_{j in N(i)} (W1 x_j + b1)` (PyTorch3D's `GraphConv`).

    Build it with `GraphConv(input_dim, output_dim, init=..., directed=...)`: a Flax module
    cannot have a field named `init` (that is its initialisation method), so the field is
    `weight_init`.

    Attributes:
        input_dim: D_in, feature size of the input vertices.
        output_dim: D_out.
        weight_init: "normal" (weights N(0, 0.01^2), biases 0) or "zero" (weights 0; biases keep the
            torch.nn.Linear default U(+-1/sqrt(D_in)), as in PyTorch3D).
        directed: if False (default) messages flow both ways along each edge.

    Call:
        verts: (V, D_in) float32 packed vertex features.
        edges: (E, 2) int packed edges; rows of -1 are ignored.
        Returns (V, D_out) float32.
    """

    input_dim: int
    output_dim: int
    weight_init: str = "normal"
    directed: bool = False

    def _dense(self, name: str) -> nn.Dense:
        if self.weight_init == "normal":
            kinit, binit = nn.initializers.normal(stddev=0.01), nn.initializers.zeros
        elif self.weight_init == "zero":
            kinit, binit = nn.initializers.zeros, _torch_default_bias_init(self.input_dim)
        else:
            raise ValueError(f'Invalid GraphConv initialization "{self.weight_init}"')
        return nn.Dense(self.output_dim, kernel_init=kinit, bias_init=binit, name=name)

    @nn.compact
    def __call__(self, verts: jax.Array, edges: jax.Array) -> jax.Array:
        verts, edges = jnp.asarray(verts), jnp.asarray(edges)
        if verts.ndim != 2 or verts.shape[1] != self.input_dim:
            raise ValueError(f"verts must be (V, {self.input_dim}), got {verts.shape}")
        if edges.ndim != 2 or edges.shape[1] != 2:
            raise ValueError(f"edges must be (E, 2), got {edges.shape}")
        w0, w1 = self._dense("w0"), self._dense("w1")
        verts_w0 = w0(verts)
        verts_w1 = w1(verts)
        if verts.shape[0] == 0:
            return verts_w0
        return verts_w0 + gather_scatter(verts_w1, edges, self.directed)


def GraphConv(  # noqa: N802 - PyTorch3D's class name, kept so code ports unchanged
    input_dim: int, output_dim: int, init: str = "normal", directed: bool = False, **kwargs
) -> GraphConvModule:
    """PyTorch3D-style constructor of `GraphConvModule` (see there); kwargs go to the module.

    Example: `conv = GraphConv(3, 16); params = conv.init(key, verts, edges)`.
    """
    if init not in ("normal", "zero"):
        raise ValueError(f'Invalid GraphConv initialization "{init}"')
    return GraphConvModule(input_dim, output_dim, weight_init=init, directed=directed, **kwargs)
