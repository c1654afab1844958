"""Tests of the full Mesh R-CNN (jax3d.models.mesh_rcnn: ResNetFPN, detector, training, inference).

Default tests trace (jax.eval_shape) or run small pure functions; the compiled forward passes and
training steps are marked slow.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.models.mesh_rcnn import MeshRCNNDetectorConfig, ResNetFPN, check_detector_batch


def _count(tree):
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def test_config_validation():
    with pytest.raises(ValueError, match="image_size"):
        MeshRCNNDetectorConfig.tiny(image_size=48)
    with pytest.raises(ValueError, match="norm"):
        MeshRCNNDetectorConfig(norm="batch")
    with pytest.raises(ValueError, match="mesh_rois_per_image"):
        MeshRCNNDetectorConfig.tiny(mesh_rois_per_image=100)
    with pytest.raises(ValueError, match="voxel_pooler_resolution"):
        MeshRCNNDetectorConfig(voxel_pooler_resolution=7)


def test_fpn_shapes_tiny():
    c = MeshRCNNDetectorConfig.tiny()
    fpn = ResNetFPN(c.resnet_depth, c.norm, c.resnet_width, c.resnet_blocks, c.fpn_dim)
    x = jax.ShapeDtypeStruct((2, 64, 96, 3), jnp.float32)
    variables = jax.eval_shape(fpn.init, jax.random.key(0), x)
    outs = jax.eval_shape(fpn.apply, variables, x)
    expected = [(2, -(-64 // s), -(-96 // s), 32) for s in (4, 8, 16, 32, 64)]  # P6: ceil
    assert [o.shape for o in outs] == expected
    names = set(variables["params"])
    assert {"bottom_up", "fpn_lateral2", "fpn_output5"} <= names
    with pytest.raises(ValueError, match="multiples of 32"):
        jax.eval_shape(
            fpn.init, jax.random.key(0), jax.ShapeDtypeStruct((1, 40, 64, 3), jnp.float32)
        )


def test_fpn_params_resnet50():
    """ResNet-50 trunk (torchvision: 23,508,032 weights without fc; FrozenBN adds running
    mean / var, 53,120 each) + Detectron2's FPN (3,344,384)."""
    fpn = ResNetFPN(50, "frozen")
    x = jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.float32)
    params = jax.eval_shape(fpn.init, jax.random.key(0), x)["params"]
    trunk = _count(params["bottom_up"])
    assert trunk == 23_508_032 + 2 * 26_560
    assert _count(params) - trunk == 3_344_384


def test_check_detector_batch():
    c = MeshRCNNDetectorConfig.tiny()
    B, M, P, S, G = 1, 2, 5, 64, 24
    batch = {
        "images": np.zeros((B, S, S, 3), np.float32),
        "K": np.eye(3)[None],
        "valid": np.ones((B, M), bool),
        "boxes": np.zeros((B, M, 4)),
        "classes": np.zeros((B, M), np.int32),
        "masks": np.zeros((B, M, S, S), bool),
        "voxels": np.zeros((B, M, G, G, G), bool),
        "zrange": np.ones((B, M, 2)),
        "points": np.zeros((B, M, P, 3)),
        "normals": np.zeros((B, M, P, 3)),
    }
    assert set(check_detector_batch(batch, c)) >= {"images", "normals"}
    with pytest.raises(ValueError, match="voxels"):
        check_detector_batch({**batch, "voxels": np.zeros((B, M, 8, 8, 8))}, c)
    with pytest.raises(ValueError, match="missing"):
        check_detector_batch({k: v for k, v in batch.items() if k != "zrange"}, c)
