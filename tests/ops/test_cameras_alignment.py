"""corresponding_cameras_alignment recovers a known similarity in both modes."""

from __future__ import annotations

import numpy as np
import pytest

from jax3d.ops import corresponding_cameras_alignment
from jax3d.renderer import PerspectiveCameras
from jax3d.transforms import euler_angles_to_matrix


@pytest.mark.parametrize("mode", ["extrinsics", pytest.param("centers", marks=pytest.mark.slow)])
def test_recovers_the_target_cameras(mode):
    rng = np.random.default_rng(0)
    n = 6
    R = np.asarray(euler_angles_to_matrix(rng.uniform(-np.pi, np.pi, (n, 3)), "XYZ"))
    T = rng.normal(size=(n, 3))
    tgt = PerspectiveCameras(R=R, T=T)
    # src: the same cameras in another world frame, X = (X' R_A + T_A) / s_A
    R_A = np.asarray(euler_angles_to_matrix(np.array([0.3, -0.5, 1.1]), "XYZ"))
    T_A, s_A = np.array([0.5, -1.0, 2.0]), 1.7
    R_src = np.einsum("ij,njk->nik", R_A.T, R)
    T_src = (T - np.einsum("j,njk->nk", T_A, R_src)) / s_A
    src = PerspectiveCameras(R=R_src, T=T_src, focal_length=2.0)
    aligned = corresponding_cameras_alignment(src, tgt, estimate_scale=True, mode=mode)
    np.testing.assert_allclose(np.asarray(aligned.R), R, atol=1e-4)
    np.testing.assert_allclose(np.asarray(aligned.T), T, atol=1e-3)
    np.testing.assert_array_equal(np.asarray(aligned.focal_length), src.focal_length)  # kept
    with pytest.raises(ValueError, match="mode"):
        corresponding_cameras_alignment(src, tgt, mode="rays")
