"""Midpoint subdivision of triangle meshes (PyTorch3D's `SubdivideMeshes`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.ops._padded_edges import padded_edges, padded_mesh_arrays
from jax3d.structures import Meshes

__all__ = ["SubdivideMeshes"]


def _subdivided_faces(faces: jax.Array, face_to_edge: jax.Array, num_faces, num_verts):
    """(4F, 3) faces of one mesh after subdivision; valid rows first, -1 after.

    Face (a, b, c) with edge midpoints m_bc, m_ca, m_ab (vertex `num_verts + edge`) becomes
    (a, m_ab, m_ca), (b, m_bc, m_ab), (c, m_ca, m_bc), (m_bc, m_ca, m_ab), in four blocks.
    """
    F = faces.shape[0]
    m = face_to_edge + num_verts  # (F, 3) midpoint vertex of the edge opposite each corner
    f0 = jnp.stack([faces[:, 0], m[:, 2], m[:, 1]], axis=1)
    f1 = jnp.stack([faces[:, 1], m[:, 0], m[:, 2]], axis=1)
    f2 = jnp.stack([faces[:, 2], m[:, 1], m[:, 0]], axis=1)
    blocks = jnp.concatenate([f0, f1, f2, m], axis=0)  # (4F, 3)
    k, f = jnp.divmod(jnp.arange(4 * F), F)
    target = jnp.where(f < num_faces, k * num_faces + f, 4 * F)  # padding rows dropped
    return jnp.full((4 * F, 3), -1, jnp.int32).at[target].set(blocks, mode="drop")


def _subdivided_verts(x: jax.Array, edges: jax.Array, num_verts, num_edges):
    """(V + E, D): the V_b vertex values, then the E_b edge midpoints, then zeros."""
    V, E = x.shape[0], edges.shape[0]
    valid_e = jnp.arange(E) < num_edges
    e = jnp.where(valid_e[:, None], edges, 0)
    mid = 0.5 * (x[e[:, 0]] + x[e[:, 1]])
    out = jnp.zeros((V + E, x.shape[1]), x.dtype)
    vt = jnp.where(jnp.arange(V) < num_verts, jnp.arange(V), V + E)
    et = jnp.where(valid_e, num_verts + jnp.arange(E), V + E)
    return out.at[vt].set(x, mode="drop").at[et].set(mid, mode="drop")


@jax.jit
def _subdivide_padded(verts, faces, num_verts, num_faces, feats):
    """Batched subdivision of padded arrays with the static bound E <= 3F edges per mesh."""
    pe = padded_edges(faces, num_faces)
    new_faces = jax.vmap(_subdivided_faces)(faces, pe.face_to_edge, num_faces, num_verts)
    new_verts = jax.vmap(_subdivided_verts)(verts, pe.edges, num_verts, pe.num_edges)
    new_feats = None
    if feats is not None:
        new_feats = jax.vmap(_subdivided_verts)(feats, pe.edges, num_verts, pe.num_edges)
    return new_verts, new_faces, num_verts + pe.num_edges, 4 * num_faces, new_feats


def _is_concrete(*xs) -> bool:
    return not any(isinstance(x, jax.core.Tracer) for x in xs)


class SubdivideMeshes:
    """Split every triangle into four by adding a vertex at the midpoint of each edge.

    New meshes hold, per mesh, the original vertices followed by one vertex per unique edge
    (edges in PyTorch3D's sorted order), and the faces in four blocks: the three corner
    triangles of every face, then the centre triangles. Features follow the same rule
    (copied for old vertices, averaged along each edge for new ones).

    `SubdivideMeshes(meshes)` precomputes the topology of `meshes[0]`, which is then applied
    to every mesh of each call (all meshes must share it: PyTorch3D's homogeneous mode);
    `SubdivideMeshes()` computes each batch's topology per mesh. Both work under `jax.jit`;
    under `jit` the heterogeneous mode pads to the static bound `V + 3F` vertices.

    Call:
        meshes: `Meshes` batch of B meshes.
        feats: optional per-vertex features, packed (sum V_b, D) (eager only) or padded
            (B, V, D).
        Returns the subdivided `Meshes`, and the new features in the input's layout
        (packed (sum V'_b, D) or padded (B, V', D)) when `feats` is given.
    """

    def __init__(self, meshes=None):
        self._edges = self._faces = None
        if meshes is not None:
            verts, faces, nv, nf = padded_mesh_arrays(meshes, "SubdivideMeshes")
            if len(meshes) == 0:
                raise ValueError("SubdivideMeshes: meshes must hold at least one mesh")
            pe = padded_edges(faces[:1], nf[:1])
            ne, nf0, nv0 = int(pe.num_edges[0]), int(nf[0]), int(nv[0])
            self._num_verts = nv0
            self._edges = np.asarray(pe.edges[0, :ne])
            fac = jax.vmap(_subdivided_faces)(faces[:1], pe.face_to_edge, nf[:1], nv[:1])
            self._faces = np.asarray(fac[0, : 4 * nf0])

    @property
    def precomputed(self) -> bool:
        return self._faces is not None

    def __call__(self, meshes, feats=None):
        verts, faces, num_verts, num_faces = padded_mesh_arrays(meshes, "SubdivideMeshes")
        packed = feats is not None and jnp.ndim(feats) == 2
        if feats is not None:
            feats = self._padded_feats(jnp.asarray(feats), num_verts, verts.shape)
        if self.precomputed:
            out = self._homogeneous(verts, feats)
        else:
            out = _subdivide_padded(verts, faces, num_verts, num_faces, feats)
            out = self._trim(*out)
        new_verts, new_faces, new_nv, new_nf, new_feats = out
        new_meshes = Meshes(new_verts, new_faces, num_verts=new_nv, num_faces=new_nf)
        if feats is None:
            return new_meshes
        if packed:
            mask = np.arange(new_feats.shape[1])[None] < np.asarray(new_nv)[:, None]
            new_feats = new_feats[mask]
        return new_meshes, new_feats

    def subdivide_homogeneous(self, meshes, feats=None):
        """Subdivide a batch sharing one topology (``meshes[0]``'s, precomputed at
        construction: PyTorch3D's homogeneous mode); same call and returns as the object."""
        if not self.precomputed:
            raise ValueError("subdivide_homogeneous needs SubdivideMeshes(meshes) (a topology)")
        return self(meshes, feats)

    def subdivide_heterogenerous(self, meshes, feats=None):  # (sic) PyTorch3D's name
        """Subdivide each mesh with its own topology (PyTorch3D's heterogeneous mode, spelt
        as in PyTorch3D); same call and returns as the object."""
        return SubdivideMeshes()(meshes, feats)

    def subdivide_faces(self, meshes) -> jax.Array:
        """``(4 sum F_b, 3) int32`` faces of the subdivided ``meshes``, packed: indices into
        the subdivided meshes' packed vertices (each mesh's old vertices, then one new vertex
        per edge). Needs concrete lengths."""
        return self.subdivide_heterogenerous(meshes).faces_packed()

    def _homogeneous(self, verts, feats):
        B, V = verts.shape[:2]
        if V != self._num_verts:
            raise ValueError(
                f"SubdivideMeshes was built for meshes of {self._num_verts} verts, got {V}"
            )
        e = jnp.asarray(self._edges)

        def cat(x):
            return jnp.concatenate([x, 0.5 * (x[:, e[:, 0]] + x[:, e[:, 1]])], axis=1)

        faces = jnp.broadcast_to(jnp.asarray(self._faces), (B, *self._faces.shape))
        nv = jnp.full((B,), V + e.shape[0], jnp.int32)
        nf = jnp.full((B,), self._faces.shape[0], jnp.int32)
        return cat(verts), faces, nv, nf, None if feats is None else cat(feats)

    @staticmethod
    def _padded_feats(feats, num_verts, verts_shape):
        B, V = verts_shape[:2]
        if feats.ndim == 3:
            if feats.shape[:2] != (B, V):
                raise ValueError(
                    f"feats must be packed (sum V, D) or ({B}, {V}, D), got {feats.shape}"
                )
            return feats
        if feats.ndim != 2:
            raise ValueError(f"feats must be packed (sum V, D) or ({B}, {V}, D), got {feats.shape}")
        if not _is_concrete(num_verts):
            raise ValueError("packed feats need concrete lengths; pass padded (B, V, D) under jit")
        nv = np.asarray(num_verts)
        if feats.shape[0] != int(nv.sum()):
            raise ValueError(f"packed feats must have {int(nv.sum())} rows, got {feats.shape[0]}")
        mask = np.arange(V)[None] < nv[:, None]
        return jnp.zeros((B, V, feats.shape[1]), feats.dtype).at[mask].set(feats)

    @staticmethod
    def _trim(verts, faces, nv, nf, feats):
        """Eagerly, cut the vertex padding from the 3F-edge bound to the real maximum."""
        if not _is_concrete(nv):
            return verts, faces, nv, nf, feats
        vmax = max(int(np.max(np.asarray(nv), initial=0)), 1)
        feats = None if feats is None else feats[:, :vmax]
        return verts[:, :vmax], faces, nv, nf, feats
