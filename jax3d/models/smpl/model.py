"""`SMPLModel`: the arrays of an SMPL-format body model as an immutable pytree.

The model is data, not code: `smpl_forward` (lbs.py) poses it, `load_smpl`/`save_smpl`
(smpl_io.py) read and write it, `synthetic_body_model` (synthetic.py) builds one without the
licensed file. Glossary: V vertices, F faces, J joints, S shape coefficients (betas),
P = 9 (J - 1) pose blend-shape features.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

ROOT_PARENT_ID = 4294967295  # the root's "parent" in the official kintree_table (uint32 -1)
MODEL_TYPES = {24: "smpl", 52: "smplh", 55: "smplx"}


@struct.dataclass
class SMPLModel:
    """An SMPL-format body model (names and layout of the official files).

    Fields:
        v_template: (V, 3) float32 rest-pose template vertices (metres, +Y up, facing +Z).
        shapedirs: (V, 3, S) float32 shape blend shapes:
            ``v_shaped = v_template + shapedirs @ betas``.
        posedirs: (V, 3, 9 (J - 1)) float32 pose blend shapes, driven by the flattened
            ``R_j - I`` of joints 1..J-1.
        J_regressor: (J, V) float32; rest joints are ``J_regressor @ v_shaped``.
        weights: (V, J) float32 linear-blend-skinning weights (rows sum to 1).
        faces: (F, 3) int32 triangles (outward winding).
        kintree_table: static (2, J) tuple of tuples of ints, the official layout: row 0 the
            parent ids (``ROOT_PARENT_ID`` for the root), row 1 the joint ids.
        model_type: static, ``"smpl"`` for J = 24 (``"smplh"``, ``"smplx"`` or ``"customJ"``).
    """

    v_template: jax.Array
    shapedirs: jax.Array
    posedirs: jax.Array
    J_regressor: jax.Array
    weights: jax.Array
    faces: jax.Array
    kintree_table: tuple = struct.field(pytree_node=False)
    model_type: str = struct.field(pytree_node=False, default="smpl")

    @property
    def parents(self) -> tuple[int, ...]:
        """Parent index of every joint (-1 for the root), a static tuple of length J."""
        return parents_from_kintree(np.asarray(self.kintree_table))

    @property
    def num_joints(self) -> int:
        return int(self.J_regressor.shape[0])

    @property
    def num_betas(self) -> int:
        return int(self.shapedirs.shape[-1])

    @property
    def num_verts(self) -> int:
        return int(self.v_template.shape[0])

    def rest_joints(self, betas: jax.Array | None = None) -> jax.Array:
        """(J, 3) rest-pose joints of the template, or of the shaped template for betas (S',)."""
        v = self.v_template
        if betas is not None:
            v = v + self.shapedirs[..., : betas.shape[-1]] @ betas
        return self.J_regressor @ v


def parents_from_kintree(kintree_table: np.ndarray) -> tuple[int, ...]:
    """Parent indices (-1 for the root) from a (2, J) kintree table whose row 1 holds joint ids.

    Raises:
        ValueError: the table is not (2, J), names an unknown parent, or is not topologically
            ordered (every parent must come before its children).
    """
    table = np.asarray(kintree_table)
    if table.ndim != 2 or table.shape[0] != 2:
        raise ValueError(f"kintree_table must be (2, J), got {table.shape}")
    col_of = {int(jid): col for col, jid in enumerate(table[1])}
    parents = []
    for col, pid in enumerate(table[0]):
        if col == 0:
            parents.append(-1)
            continue
        if int(pid) not in col_of:
            raise ValueError(f"kintree_table: joint {col} has unknown parent id {int(pid)}")
        parent = col_of[int(pid)]
        if parent >= col:
            raise ValueError(f"kintree_table: parent {parent} of joint {col} must come before it")
        parents.append(parent)
    return tuple(parents)


def kintree_from_parents(parents) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The official (2, J) kintree table (as a tuple of tuples) from parent indices."""
    row0 = tuple(ROOT_PARENT_ID if p < 0 else int(p) for p in parents)
    return row0, tuple(range(len(parents)))


def _array(d: Mapping, key: str, ndim: int, dtype=np.float32) -> np.ndarray:
    if key not in d:
        raise ValueError(f"SMPL model is missing key {key!r} (has {sorted(d)})")
    a = np.asarray(d[key])
    if a.dtype == object or a.ndim != ndim:
        raise ValueError(f"SMPL model key {key!r} must be a {ndim}-d numeric array, got {a.shape}")
    return a.astype(dtype)


def smpl_model_from_arrays(d: Mapping, *, num_betas: int | None = None) -> SMPLModel:
    """Validate a dict of arrays in the official layout and build an `SMPLModel`.

    Args:
        d: mapping with ``v_template (V, 3)``, ``shapedirs (V, 3, S)``, ``posedirs (V, 3, 9(J-1))``,
            ``J_regressor (J, V)`` (dense), ``weights (V, J)``, ``kintree_table (2, J)`` and
            ``f (F, 3)`` (or ``faces``); extra keys are ignored.
        num_betas: keep only the first ``num_betas`` shape directions (None keeps all).

    Raises:
        ValueError: a key is missing or has the wrong shape; the message names it.
    """
    v = _array(d, "v_template", 2)
    n_v = v.shape[0]
    faces = _array(d, "f" if "f" in d else "faces", 2, np.int64)
    table = np.asarray(_array(d, "kintree_table", 2, np.int64))
    parents = parents_from_kintree(table)
    n_j = len(parents)
    shapedirs = _array(d, "shapedirs", 3)
    posedirs = _array(d, "posedirs", 3)
    regressor = _array(d, "J_regressor", 2)
    weights = _array(d, "weights", 2)
    expected = {
        "v_template": (v.shape, (n_v, 3)),
        "shapedirs": (shapedirs.shape[:2], (n_v, 3)),
        "posedirs": (posedirs.shape, (n_v, 3, 9 * (n_j - 1))),
        "J_regressor": (regressor.shape, (n_j, n_v)),
        "weights": (weights.shape, (n_v, n_j)),
    }
    for key, (got, want) in expected.items():
        if tuple(got) != want:
            raise ValueError(f"SMPL model key {key!r} has shape {got}, expected {want}")
    if faces.shape[1:] != (3,) or (faces.size and (faces.min() < 0 or faces.max() >= n_v)):
        raise ValueError(
            f"SMPL model faces must be (F, 3) indices in [0, {n_v}), got {faces.shape}"
        )
    if num_betas is not None:
        if not 0 < num_betas <= shapedirs.shape[-1]:
            raise ValueError(f"num_betas must be in [1, {shapedirs.shape[-1]}], got {num_betas}")
        shapedirs = shapedirs[..., :num_betas]
    return SMPLModel(
        v_template=jnp.asarray(v),
        shapedirs=jnp.asarray(shapedirs),
        posedirs=jnp.asarray(posedirs),
        J_regressor=jnp.asarray(regressor),
        weights=jnp.asarray(weights),
        faces=jnp.asarray(faces.astype(np.int32)),
        kintree_table=kintree_from_parents(parents),
        model_type=MODEL_TYPES.get(n_j, f"custom{n_j}"),
    )


def smpl_model_to_arrays(model: SMPLModel) -> dict[str, np.ndarray]:
    """The model as a dict of NumPy arrays in the official layout (keys of the .pkl files)."""
    table = np.asarray(model.kintree_table, np.int64)
    return {
        "v_template": np.asarray(model.v_template, np.float64),
        "shapedirs": np.asarray(model.shapedirs, np.float64),
        "posedirs": np.asarray(model.posedirs, np.float64),
        "J_regressor": np.asarray(model.J_regressor, np.float64),
        "weights": np.asarray(model.weights, np.float64),
        "kintree_table": table,
        "f": np.asarray(model.faces, np.uint32),
        "J": np.asarray(model.rest_joints(), np.float64),
        "bs_type": "lrotmin",
        "bs_style": "lbs",
    }


def reduce_to_vertices(model: SMPLModel, vertex_ids) -> SMPLModel:
    """A smaller model that poses only some vertices but gives the same joints.

    The result has ``K + J`` vertices: the K selected ones (same blend shapes and weights)
    followed by one virtual vertex per joint holding the joint's rest position and its shape
    directions (``J_regressor @ v_template``, ``J_regressor @ shapedirs``); its regressor picks
    those. So ``smpl_forward(reduced, ...)`` returns exactly the joints of the full model and
    ``vertices[:, :K]`` equal the full model's ``vertices[:, vertex_ids]``, at a fraction of
    the cost (SMPLify only needs the head vertex). Faces are dropped.

    Args:
        model: an `SMPLModel`.
        vertex_ids: sequence of K vertex indices in [0, V).
    """
    ids = np.asarray(vertex_ids, np.int64).reshape(-1)
    if ids.size and (ids.min() < 0 or ids.max() >= model.num_verts):
        raise ValueError(f"vertex_ids must be in [0, {model.num_verts}), got {ids.tolist()}")
    n_j, k = model.num_joints, ids.size
    j_template = model.J_regressor @ model.v_template  # (J, 3)
    j_dirs = jnp.einsum("jv,vcs->jcs", model.J_regressor, model.shapedirs)  # (J, 3, S)
    one_hot = jnp.eye(n_j, dtype=model.weights.dtype)
    regressor = jnp.concatenate([jnp.zeros((n_j, k), model.J_regressor.dtype), one_hot], axis=1)
    zeros_pose = jnp.zeros((n_j,) + model.posedirs.shape[1:], model.posedirs.dtype)
    return model.replace(
        v_template=jnp.concatenate([model.v_template[ids], j_template]),
        shapedirs=jnp.concatenate([model.shapedirs[ids], j_dirs]),
        posedirs=jnp.concatenate([model.posedirs[ids], zeros_pose]),
        J_regressor=regressor,
        weights=jnp.concatenate([model.weights[ids], one_hot]),
        faces=jnp.zeros((0, 3), jnp.int32),
    )
