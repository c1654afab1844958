"""Area-weighted uniform sampling of points on the surface of meshes."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.ops._padded_edges import faces_valid_mask, padded_mesh_arrays
from jax3d.prng import require_key
from jax3d.safe_math import safe_norm

__all__ = ["sample_points_from_meshes"]

_NORMAL_EPS = float(np.finfo(np.float64).eps)  # PyTorch3D clamps with sys.float_info.epsilon


def _sample_faces(key, areas, valid, num_samples: int):
    """Face index of each sample, with probability proportional to area: (S,) int32.

    Inverse-CDF sampling (one uniform per sample, a binary search in the cumulative areas).
    A mesh whose faces all have zero area samples its valid faces uniformly.
    """
    weights = jnp.where(valid, areas, 0.0)
    total = jnp.sum(weights)
    weights = jnp.where(total > 0, weights, valid.astype(weights.dtype))
    cdf = jnp.cumsum(weights)
    x = jax.random.uniform(key, (num_samples,), weights.dtype) * cdf[-1]
    idx = jnp.searchsorted(cdf, x, side="right").astype(jnp.int32)
    last = jnp.maximum(jnp.sum(valid.astype(jnp.int32)) - 1, 0)
    return jnp.minimum(idx, last)  # guards x == cdf[-1] after rounding


def _rand_barycentric(key, num_samples: int, dtype):
    """Uniform barycentrics on a triangle (sqrt trick): (S, 3)."""
    u, v = jax.random.uniform(key, (2, num_samples), dtype)
    su = jnp.sqrt(u)
    return jnp.stack([1.0 - su, su * (1.0 - v), su * v], axis=-1)


def _sample_single(key, verts, faces, num_faces, vert_feats, num_samples: int):
    valid = faces_valid_mask(faces, num_faces)
    f = jnp.where(valid[:, None], faces, 0)
    tri = verts[f]  # (F, 3, 3)
    cross = jnp.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 1])  # (F, 3)
    areas = 0.5 * safe_norm(jax.lax.stop_gradient(cross))
    k_face, k_bary = jax.random.split(key)
    face_idx = jax.lax.stop_gradient(_sample_faces(k_face, areas, valid, num_samples))
    bary = _rand_barycentric(k_bary, num_samples, verts.dtype)  # (S, 3)
    nonempty = jnp.any(valid)
    points = jnp.einsum("sk,skc->sc", bary, tri[face_idx])
    normals = cross / jnp.maximum(safe_norm(cross, keepdims=True), _NORMAL_EPS)
    normals = normals[face_idx]
    feats = None
    if vert_feats is not None:
        feats = jnp.einsum("sk,skc->sc", bary, vert_feats[f[face_idx]])
        feats = jnp.where(nonempty, feats, 0.0)
    return jnp.where(nonempty, points, 0.0), jnp.where(nonempty, normals, 0.0), feats


@partial(jax.jit, static_argnames=("num_samples",))
def _sample_batch(key, verts, faces, num_faces, vert_feats, num_samples: int):
    keys = jax.random.split(key, verts.shape[0])
    fn = partial(_sample_single, num_samples=num_samples)
    in_axes = (0, 0, 0, 0, None if vert_feats is None else 0)
    return jax.vmap(fn, in_axes=in_axes)(keys, verts, faces, num_faces, vert_feats)


def _vertex_features(meshes):
    """(B, V, C) per-vertex texture features, for TexturesVertex-like textures."""
    textures = getattr(meshes, "textures", None)
    if textures is None:
        raise ValueError("Meshes do not contain textures.")
    if not hasattr(textures, "verts_features_padded"):
        raise NotImplementedError(
            f"return_textures supports per-vertex textures (verts_features_padded); "
            f"got {type(textures).__name__}"
        )
    return jnp.asarray(textures.verts_features_padded())


def _check_args(key, verts, num_samples) -> None:
    if not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive int, got {num_samples!r}")
    require_key(key, "sample_points_from_meshes")
    if not isinstance(verts, jax.core.Tracer) and not np.all(np.isfinite(np.asarray(verts))):
        raise ValueError("Meshes contain nan or inf.")


def sample_points_from_meshes(
    meshes,
    num_samples: int = 10000,
    return_normals: bool = False,
    return_textures: bool = False,
    *,
    key: jax.Array,
):
    """Sample points uniformly over the surface of each mesh (PyTorch3D semantics).

    Faces are drawn with probability proportional to their area, then a point is drawn
    uniformly inside the face (barycentrics `(1 - sqrt(u), sqrt(u)(1 - v), sqrt(u) v)`). The
    choice of faces is not differentiated; the points are differentiable w.r.t. the vertices.
    Jitted internally; also works inside `jax.jit` with `num_samples` static.

    Example (PyTorch3D's call plus the key): ``sample_points_from_meshes(meshes, 5000,
    key=jax.random.key(0))``.

    Args:
        meshes: `Meshes` batch of B meshes.
        num_samples: S, points per mesh (static).
        return_normals: also return the unit normal of the sampled face at each point
            (`(v1 - v0) x (v2 - v1)`, normalised).
        return_textures: also return per-point texture features interpolated from the
            meshes' per-vertex textures (`textures.verts_features_padded()`, as
            TexturesVertex); raises ValueError without textures and NotImplementedError for
            textures of another kind.
        key: a `jax.random` key (required, keyword-only, so that PyTorch3D's positional
            parameters keep their places).

    Returns:
        samples: (B, S, 3) float32; `samples[b, s]` is a point on mesh b. Meshes without faces
            give zeros.
        normals: (B, S, 3) float32, when `return_normals`.
        textures: (B, S, C) float32, when `return_textures`.
        Order: `samples[, normals][, textures]`, a tuple when more than one.
    """
    if isinstance(meshes, jax.Array):
        raise TypeError("sample_points_from_meshes: meshes must be a jax3d.structures.Meshes, "
                        "got an array; the PRNG key is keyword-only: "
                        "sample_points_from_meshes(meshes, num_samples, key=key)")
    verts, faces, _, num_faces = padded_mesh_arrays(meshes, "sample_points_from_meshes")
    _check_args(key, verts, num_samples)
    feats = _vertex_features(meshes) if return_textures else None
    samples, normals, textures = _sample_batch(key, verts, faces, num_faces, feats, num_samples)
    out = (
        (samples,)
        + ((normals,) if return_normals else ())
        + ((textures,) if return_textures else ())
    )
    return out[0] if len(out) == 1 else out
