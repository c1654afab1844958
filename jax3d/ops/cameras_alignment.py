"""Similarity alignment of two sets of cameras (PyTorch3D's ``corresponding_cameras_alignment``).

A similarity ``(R_A, T_A, s_A)`` changes world coordinates ``X = (X' R_A + T_A) / s_A``; the
cameras ``(R_i, T_i)`` (row vectors: ``X_view = X R_i + T_i``) then become
``(R_A R_i, T_A R_i + s_A T_i)``. It is estimated so that the aligned source cameras match the
target cameras, either from the camera centres (``mode="centers"``: Umeyama on the centres) or
from the extrinsics (``mode="extrinsics"``: ``R_A`` from the rotations by SVD, then ``T_A`` and
``s_A`` by least squares from the translations).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jax3d.ops.points_alignment import corresponding_points_alignment

__all__ = ["corresponding_cameras_alignment"]

Array = jax.Array


def _align_centers(src, tgt, estimate_scale: bool, eps: float):
    fit = corresponding_points_alignment(
        src.get_camera_center()[None], tgt.get_camera_center()[None],
        estimate_scale=estimate_scale, allow_reflection=False, eps=eps,
    )  # centres_tgt ~ s centres_src R + T
    R_A = jnp.swapaxes(fit.R[0], 0, 1)
    return R_A, -fit.T[0] @ R_A, fit.s[0]


def _align_extrinsics(src, tgt, estimate_scale: bool, eps: float):
    # R_A R_i = R'_i for all i: R_A^T ~ mean_i R_i R'_i^T, projected on the rotations.
    cov = jnp.mean(jnp.einsum("nij,nkj->nik", src.R, tgt.R), axis=0)
    u, _, vt = jnp.linalg.svd(cov)
    d = jnp.sign(jnp.linalg.det(vt.T @ u.T))
    R_A = vt.T @ jnp.diag(jnp.array([1.0, 1.0, 1.0]).at[2].set(jnp.where(d == 0, 1.0, d))) @ u.T
    # T_A R_i + s_A T_i = T'_i  <=>  T_A + s_A (T_i R_i^T) = T'_i R_i^T  (rows A_i, B_i)
    a = jnp.einsum("nj,nij->ni", src.T, src.R)
    b = jnp.einsum("nj,nij->ni", tgt.T, src.R)
    a_mu, b_mu = a.mean(0), b.mean(0)
    if estimate_scale and a.shape[0] > 1:
        ac, bc = a - a_mu, b - b_mu
        s_A = jnp.mean(ac * bc) / jnp.maximum(jnp.mean(ac * ac), eps)
    else:
        s_A = jnp.asarray(1.0, a.dtype)
    return R_A, b_mu - s_A * a_mu, s_A


def corresponding_cameras_alignment(
    cameras_src, cameras_tgt, estimate_scale: bool = True, mode: str = "extrinsics",
    eps: float = 1e-9,
):
    """``cameras_src`` moved by the similarity that best aligns them with ``cameras_tgt``.

    Args:
        cameras_src: N jax3d cameras to align.
        cameras_tgt: N target cameras (any camera type; only ``R``, ``T`` and the centres are
            used).
        estimate_scale: estimate ``s_A`` (else 1, a rigid motion).
        mode: "extrinsics" (rotations and translations) or "centers" (camera centres, needs
            N >= 3 non-collinear centres for a unique rotation).
        eps: clamp of the variance denominators.

    Returns:
        ``cameras_src.replace(R=R_A R_i, T=T_A R_i + s_A T_i)``: the same cameras (and
        intrinsics) in the target's world frame. ``R_A`` is always a proper rotation (the SVD
        solution is corrected for reflections, which PyTorch3D's ``extrinsics`` mode omits).
    """
    if len(cameras_src) != len(cameras_tgt):
        raise ValueError(f"cameras_src ({len(cameras_src)}) and cameras_tgt "
                         f"({len(cameras_tgt)}) must hold the same number of cameras")  # fmt: skip
    if mode == "centers":
        R_A, T_A, s_A = _align_centers(cameras_src, cameras_tgt, estimate_scale, eps)
    elif mode == "extrinsics":
        R_A, T_A, s_A = _align_extrinsics(cameras_src, cameras_tgt, estimate_scale, eps)
    else:
        raise ValueError(f"mode must be 'centers' or 'extrinsics', got {mode!r}")
    R = jnp.einsum("ij,njk->nik", R_A, cameras_src.R)
    T = jnp.einsum("j,njk->nk", T_A, cameras_src.R) + s_A * cameras_src.T
    return cameras_src.replace(R=R, T=T)
