"""PyTorch3D's ops helpers: packed_to_padded / padded_to_packed, wmean, eyes,
get_point_covariances, is_pointclouds, convert_pointclouds_to_tensor."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jax3d.ops import (
    convert_pointclouds_to_tensor,
    eyes,
    get_point_covariances,
    is_pointclouds,
    packed_to_padded,
    padded_to_packed,
    wmean,
)
from jax3d.structures import Pointclouds


def test_packed_padded_round_trip():
    rng = np.random.default_rng(0)
    sizes = [3, 0, 5]
    packed = rng.normal(size=(8, 2)).astype(np.float32)
    first = np.array([0, 3, 3])
    padded = np.asarray(packed_to_padded(packed, first, 5))
    assert padded.shape == (3, 5, 2)
    np.testing.assert_array_equal(padded[2], packed[3:])
    np.testing.assert_array_equal(padded[0, 3:], 0.0)
    back = jax.jit(padded_to_packed, static_argnums=(2, 3))(padded, first, 8, 1)
    np.testing.assert_array_equal(np.asarray(back), packed)
    flat = padded_to_packed(padded[..., 0], first, 8)  # (N, M) -> (F,)
    np.testing.assert_array_equal(np.asarray(flat), packed[:, 0])
    moved = padded_to_packed(np.moveaxis(padded, 1, 2), first, 8, max_size_dim=2)
    np.testing.assert_array_equal(np.asarray(moved), packed)
    assert sum(sizes) == 8


def test_wmean_eyes_and_covariances():
    x = np.arange(12, dtype=np.float32).reshape(1, 4, 3)
    w = np.array([[1.0, 0.0, 0.0, 3.0]], np.float32)
    np.testing.assert_allclose(wmean(x, w), (x[:, :1] + 3 * x[:, 3:]) / 4)
    np.testing.assert_allclose(wmean(x, dim=(1, 2), keepdim=False), [x.mean()])
    with pytest.raises(ValueError, match="broadcastable"):
        wmean(x, np.ones((1, 3)))
    np.testing.assert_array_equal(eyes(3, 2), np.stack([np.eye(3)] * 2))
    pts = np.random.default_rng(1).normal(size=(1, 10, 3)).astype(np.float32)
    cov, knn = get_point_covariances(pts, np.array([10]), 4)
    assert cov.shape == (1, 10, 3, 3) and knn.shape == (1, 10, 4, 3)
    nb = np.asarray(knn)[0, 2]
    np.testing.assert_allclose(np.asarray(cov)[0, 2], np.cov(nb.T, bias=True), atol=1e-5)
    clouds = Pointclouds([pts[0], pts[0, :4]])
    assert is_pointclouds(clouds) and not is_pointclouds(pts)
    padded, lengths = convert_pointclouds_to_tensor(clouds)
    assert padded.shape == (2, 10, 3) and list(np.asarray(lengths)) == [10, 4]
