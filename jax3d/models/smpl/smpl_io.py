"""Reading and writing SMPL-format model files (.pkl official layout, .npz) without chumpy."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from jax3d.io.files import MAX_FILE_BYTES
from jax3d.io.restricted_pickle import restricted_load
from jax3d.io.safe_npz import load_npz
from jax3d.models.smpl.model import SMPLModel, smpl_model_from_arrays, smpl_model_to_arrays


def load_smpl(
    path: str | os.PathLike, *, num_betas: int | None = None, max_bytes: int = MAX_FILE_BYTES
) -> SMPLModel:
    """Load an SMPL-format body model from the official ``.pkl`` or an ``.npz``.

    ``.pkl`` files are read with `restricted_load` (Python 2 pickles with chumpy arrays, SciPy
    sparse ``J_regressor`` and latin-1 strings are fine; any other class or function named in
    the file is refused, and no crafted file can allocate more than a few times its size).
    ``.npz`` files are read with `jax3d.io.load_npz` (no pickles; headers checked against the
    data). The model type (``"smpl"`` for 24 joints) and the number of betas are taken from
    the array shapes.

    Args:
        path: the model file.
        num_betas: keep only the first ``num_betas`` shape directions (None keeps all).
        max_bytes: largest file read (default 1 GiB).

    Returns:
        An `SMPLModel` with float32 arrays.

    Raises:
        FileNotFoundError: no such file.
        ValueError: naming the file: unknown suffix, not a regular file, an unsafe or
            malformed pickle or archive, or missing / mis-shaped keys (naming the key).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".pkl":
        data = restricted_load(path, max_bytes=max_bytes)
    elif suffix == ".npz":
        data = load_npz(path, max_bytes=max_bytes)
    else:
        raise ValueError(f"{path}: unknown SMPL model format {suffix!r} (expected .pkl or .npz)")
    try:
        if not isinstance(data, dict):
            raise ValueError(f"expected a dict of arrays, got {type(data).__name__}")
        return smpl_model_from_arrays(data, num_betas=num_betas)
    except (ValueError, TypeError, IndexError, KeyError, OverflowError) as err:
        raise ValueError(f"{path}: {err}") from None


def save_smpl(path: str | os.PathLike, model: SMPLModel) -> Path:
    """Save a model as ``.pkl`` (a plain pickle of a dict of ndarrays in the official layout,
    dense ``J_regressor``, protocol 2) or ``.npz``; `load_smpl` reads both back exactly.

    Returns:
        The path written.
    """
    if not isinstance(model, SMPLModel):
        raise TypeError(f"model must be an SMPLModel, got {type(model).__name__}")
    path = Path(path)
    arrays = smpl_model_to_arrays(model)
    suffix = path.suffix.lower()
    if suffix == ".pkl":
        with open(path, "wb") as f:
            pickle.dump(arrays, f, protocol=2)
    elif suffix == ".npz":
        np.savez(path, **{k: np.asarray(v) for k, v in arrays.items()})
    else:
        raise ValueError(f"unknown SMPL model format {suffix!r} (expected .pkl or .npz)")
    return path
