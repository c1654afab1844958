"""`MeshRCNN`: Mesh R-CNN's ShapeNet mesh predictor (voxels -> cubify -> refinement).

Images (B, H, W, 3) in [0, 1] go through the backbone (ImageNet normalisation inside); with
the voxel branch the voxel head predicts (G, G, G) occupancy logits, `cubify_padded`
turns the probabilities above `cubify_thresh` into a mesh of static capacity (a grid with no
voxel above the threshold gets its central block filled, as the authors do), which is brought
from voxel to camera coordinates (`jax3d.transforms.r2n2.voxel_to_camera`) and refined by
`num_stages` stages. Without it (the sphere-init ablation) the stages refine an ico-sphere.
Everything runs under `jax.jit`; output meshes are padded `Meshes` in camera coordinates.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from jax3d.models.mesh_rcnn.backbones import build_backbone, imagenet_normalize
from jax3d.models.mesh_rcnn.config import MeshRCNNConfig
from jax3d.models.mesh_rcnn.heads import MeshRefinementStage, VoxelHead, mesh_edges_flat
from jax3d.ops.cubify import cubify_padded
from jax3d.ops.subdivide_meshes import SubdivideMeshes
from jax3d.structures import Meshes
from jax3d.transforms.r2n2 import VoxelSpace, voxel_to_camera
from jax3d.utils import ico_sphere_verts_faces

__all__ = ["MeshRCNN", "MeshRCNNOutput", "fill_empty_grids", "voxels_to_meshes"]


@struct.dataclass
class MeshRCNNOutput:
    """What `MeshRCNN` predicts for a batch of B images.

    voxel_scores: (B, G, G, G) occupancy logits [z, y, x] (None without the voxel branch).
    init_meshes: the meshes the refinement starts from (cubified voxels or the sphere), camera
        frame.
    meshes: tuple of `num_stages` refined `Meshes`, camera frame; the last is the prediction.
    cubify_overflow: (B,) bool, the cubified mesh did not fit `max_faces` / `max_verts` and was
        truncated (all False without the voxel branch).
    cubify_faces_needed: (B,) int32 faces the complete cubified mesh needs (0 without voxels).
    """

    voxel_scores: jax.Array | None
    init_meshes: Meshes | None
    meshes: tuple
    cubify_overflow: jax.Array
    cubify_faces_needed: jax.Array


def fill_empty_grids(probs: jax.Array, thresh: float) -> jax.Array:
    """Set the central block [G/4, 3G/4)^3 to 1 in grids with no voxel above `thresh`
    (Mesh R-CNN's guard against empty predictions). probs: (B, D, H, W)."""
    G = probs.shape[1]
    start, stop = G // 4, G // 4 + G // 2
    empty = ~jnp.any(probs > thresh, axis=(1, 2, 3))
    block = jnp.zeros(probs.shape[1:], bool).at[start:stop, start:stop, start:stop].set(True)
    return jnp.where(empty[:, None, None, None] & block[None], 1.0, probs)


def voxels_to_meshes(voxel_scores, config: MeshRCNNConfig):
    """Cubified meshes (camera frame) of predicted logits: `(Meshes, CubifyResult)`."""
    probs = fill_empty_grids(jax.nn.sigmoid(jax.lax.stop_gradient(voxel_scores)),
                             config.cubify_thresh)  # fmt: skip
    cub = cubify_padded(probs, config.cubify_thresh, max_verts=config.max_verts,
                        max_faces=config.max_faces, align=config.cubify_align)  # fmt: skip
    m = cub.meshes
    valid = (jnp.arange(m.verts.shape[1])[None] < m.num_verts[:, None])[..., None]
    verts = voxel_to_camera(m.verts, VoxelSpace(config.zmin, config.zmax))
    verts = jnp.where(valid, verts, 0.0)
    return Meshes(verts, m.faces, num_verts=m.num_verts, num_faces=m.num_faces), cub


def _sphere(config: MeshRCNNConfig, batch: int) -> Meshes:
    v, f = ico_sphere_verts_faces(config.ico_sphere_level)
    v = v * config.sphere_radius + jnp.asarray(config.sphere_center, jnp.float32)
    verts = jnp.broadcast_to(jnp.asarray(v, jnp.float32), (batch,) + v.shape)
    faces = jnp.broadcast_to(jnp.asarray(f, jnp.int32), (batch,) + f.shape)
    return Meshes(verts, faces)


class MeshRCNN(nn.Module):
    """Mesh R-CNN's ShapeNet model configured by a `MeshRCNNConfig`.

    Call:
        images: (B, H, W, 3) float RGB in [0, 1].
        train: batch statistics for norm="batch" (apply with `mutable=["batch_stats"]`).
        voxel_only: stop after the voxel head (the warm-up iterations): `meshes` is empty.

    Returns:
        `MeshRCNNOutput`.

    Parameters: `backbone` (see `backbones`), `voxel_head`, `stage0` ... `stage{S-1}`.
    """

    config: MeshRCNNConfig

    @nn.compact
    def __call__(self, images, train: bool = False, voxel_only: bool = False) -> MeshRCNNOutput:
        c = self.config
        images = jnp.asarray(images, jnp.float32)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be (B, H, W, 3), got {images.shape}")
        B = images.shape[0]
        feats = build_backbone(c.backbone, c.norm, name="backbone")(imagenet_normalize(images),
                                                                  train)  # fmt: skip
        zeros_b = jnp.zeros((B,), jnp.int32)
        voxel_scores = None
        if c.voxel_on:
            voxel_scores = VoxelHead(c.voxel_size, c.voxel_num_conv, c.voxel_conv_dim,
                                     name="voxel_head")(feats[-1])  # fmt: skip
            if voxel_only:
                return MeshRCNNOutput(voxel_scores, None, (), zeros_b.astype(bool), zeros_b)
            meshes, cub = voxels_to_meshes(voxel_scores, c)
            overflow, needed = cub.overflow, cub.num_faces_needed
        else:
            if voxel_only:
                raise ValueError("voxel_only needs the voxel branch (voxel_on=True)")
            meshes, overflow, needed = _sphere(c, B), zeros_b.astype(bool), zeros_b
        init = meshes
        outputs, vert_feats, edges = [], None, None
        for s in range(c.num_stages):
            if edges is None or c.subdivide:  # the topology changes only by subdivision
                edges = mesh_edges_flat(meshes.faces, meshes.num_faces, meshes.verts.shape[1])
            stage = MeshRefinementStage(c.graph_conv_dim, c.num_graph_convs, c.graph_conv_init,
                                        name=f"stage{s}")  # fmt: skip
            verts, vert_feats = stage(feats, meshes.verts, meshes.num_verts, edges, vert_feats)
            meshes = meshes.update_padded(verts)
            outputs.append(meshes)
            if c.subdivide and s < c.num_stages - 1:
                meshes, vert_feats = SubdivideMeshes()(meshes, feats=vert_feats)
        return MeshRCNNOutput(voxel_scores, init, tuple(outputs), overflow, needed)
