"""Reading and writing SMPL-format model files (.pkl official layout, .npz) without chumpy."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from jax3d.io.restricted_pickle import restricted_load
from jax3d.models.smpl.model import SMPLModel, smpl_model_from_arrays, smpl_model_to_arrays


def _read_npz(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def load_smpl(path: str | os.PathLike, *, num_betas: int | None = None) -> SMPLModel:
    """Load an SMPL-format body model from the official ``.pkl`` or an ``.npz``.

    ``.pkl`` files are read with `restricted_load` (Python 2 pickles with chumpy arrays, SciPy
    sparse ``J_regressor`` and latin-1 strings are fine; any other class or function named in
    the file is refused). ``.npz`` files are read without pickle support. The model type
    (``"smpl"`` for 24 joints) and the number of betas are taken from the array shapes.

    Args:
        path: the model file.
        num_betas: keep only the first ``num_betas`` shape directions (None keeps all).

    Returns:
        An `SMPLModel` with float32 arrays.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unknown suffix, an unsafe or malformed pickle, or missing / mis-shaped keys
            (the message names the file and the key).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SMPL model file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".pkl":
            data = restricted_load(path)
        elif suffix == ".npz":
            data = _read_npz(path)
        else:
            raise ValueError(f"unknown SMPL model format {suffix!r} (expected .pkl or .npz)")
        if not isinstance(data, dict):
            raise ValueError(f"expected a dict of arrays, got {type(data).__name__}")
        return smpl_model_from_arrays(data, num_betas=num_betas)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err


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
