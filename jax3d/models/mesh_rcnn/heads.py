"""Mesh R-CNN's ShapeNet heads: the voxel head and the mesh refinement head (Flax linen).

`VoxelHead`: the last backbone map resized to (G/2, G/2), `num_conv` x (3x3 conv, ReLU), a
2x2 stride-2 transposed convolution (ReLU) and a 1x1 convolution to G channels: the logits of
a (G, G, G) grid whose channel axis is depth, i.e. `scores[n, z, y, x]` in the voxel frame of
`jax3d.transforms.r2n2`.

`MeshRefinementStage`: each vertex is projected with Blender's `K`, y flipped to image rows,
and samples every backbone map there (`jax3d.ops.vert_align`); a Linear(128) + ReLU bottleneck,
then `num_graph_convs` x (GraphConv(128) + ReLU) over the mesh edges with the vertex position
(camera frame) appended to every layer's input, and a tanh-bounded offset (Linear(3), zero
init) moves the vertex. The heads work on padded meshes: padding vertices have no edges, and
their offsets are zeroed.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jax3d.ops import GraphConv, vert_align
from jax3d.ops._padded_edges import padded_edges
from jax3d.transforms.r2n2 import blender_intrinsic_matrix, project_verts

__all__ = ["MeshRefinementStage", "VoxelHead", "mesh_edges_flat"]

_msra = nn.initializers.variance_scaling(2.0, "fan_out", "normal")  # detectron2 c2_msra_fill


class VoxelHead(nn.Module):
    """Voxel occupancy logits from the last backbone map.

    Call: x (B, h, w, C) -> (B, G, G, G) float32 logits indexed [z, y, x].
    """

    voxel_size: int = 48
    num_conv: int = 4
    conv_dim: int = 256

    @nn.compact
    def __call__(self, x):
        G = self.voxel_size
        B, _, _, C = x.shape
        x = jax.image.resize(x, (B, G // 2, G // 2, C), "bilinear", antialias=False)
        for k in range(self.num_conv):
            x = nn.relu(nn.Conv(self.conv_dim, (3, 3), padding=1, kernel_init=_msra,
                                name=f"voxel_fcn{k + 1}")(x))  # fmt: skip
        x = nn.ConvTranspose(self.conv_dim, (2, 2), strides=(2, 2), padding="VALID",
                             kernel_init=_msra, name="deconv")(x)  # fmt: skip
        x = nn.relu(x)
        x = nn.Conv(G, (1, 1), kernel_init=nn.initializers.normal(0.001), name="predictor")(x)
        return x.transpose(0, 3, 1, 2)  # (B, H, W, D) -> (B, D, H, W)


def mesh_edges_flat(faces: jax.Array, num_faces: jax.Array, num_verts_padded: int) -> jax.Array:
    """Unique edges of a padded batch as rows of the flattened (B * V) vertices.

    Args:
        faces: (B, F, 3) int, -1 padded; num_faces: (B,); num_verts_padded: V.

    Returns:
        (B * 3F, 2) int32 edges `(b V + i, b V + j)`, rows of -1 for padding.
    """
    edges = padded_edges(faces, num_faces).edges  # (B, 3F, 2)
    offset = (jnp.arange(faces.shape[0], dtype=jnp.int32) * num_verts_padded)[:, None, None]
    edges = jnp.where(edges >= 0, edges + offset, -1)
    return edges.reshape(-1, 2)


class MeshRefinementStage(nn.Module):
    """One refinement stage (see the module docstring).

    Call:
        feats: list of (B, h, w, C) backbone maps.
        verts: (B, V, 3) camera-frame vertices (padding rows 0); num_verts: (B,).
        edges: (B * 3F, 2) flat edges from `mesh_edges_flat`.
        vert_feats: (B, V, D) features of the previous stage, or None.
        positions: optional (B, V, 2+) where each vertex samples the maps, in
            `vert_align`'s normalised (x, y) (the full detector's ROI frame, whose x and y span
            the ROI's feature map); None projects `verts` with Blender's `K` (ShapeNet).

    Returns:
        new verts (B, V, 3) and the last graph-conv features (B, V, hidden).
    """

    hidden_dim: int = 128
    stage_depth: int = 3
    gconv_init: str = "normal"

    @nn.compact
    def __call__(self, feats, verts, num_verts, edges, vert_feats=None, positions=None):
        B, V, _ = verts.shape
        valid = (jnp.arange(V)[None] < num_verts[:, None])[..., None]  # (B, V, 1)
        if positions is None:
            ndc = project_verts(verts, blender_intrinsic_matrix())
            pos = ndc * jnp.array([1.0, -1.0, 1.0], verts.dtype)  # y down: image rows
        else:
            pos = positions
        maps = [f.transpose(0, 3, 1, 2) for f in feats]  # vert_align takes (B, C, h, w)
        aligned = vert_align(maps, pos)  # (B, V, sum C)
        x = nn.relu(nn.Dense(self.hidden_dim, kernel_init=nn.initializers.normal(0.01),
                             name="bottleneck")(aligned))  # fmt: skip
        parts = [x, verts] + ([] if vert_feats is None else [vert_feats])
        x = jnp.concatenate(parts, -1)
        flat_pos = verts.reshape(B * V, 3)
        x = x.reshape(B * V, -1)
        nopos = x
        for k in range(self.stage_depth):
            conv = GraphConv(x.shape[-1], self.hidden_dim, init=self.gconv_init, directed=False,
                             name=f"gconv{k}")  # fmt: skip
            nopos = nn.relu(conv(x, edges))
            x = jnp.concatenate([nopos, flat_pos], -1)
        offsets = jnp.tanh(nn.Dense(3, kernel_init=nn.initializers.zeros,
                                    name="vert_offset")(x)).reshape(B, V, 3)  # fmt: skip
        new_verts = verts + jnp.where(valid, offsets, 0.0)
        return new_verts, jnp.where(valid, nopos.reshape(B, V, -1), 0.0)
