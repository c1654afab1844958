"""Locating the optional real assets (cow, teapot, SMPLify prior, ...) via ``JAX3D_DATA``."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "JAX3D_DATA"


class DataNotFoundError(FileNotFoundError):
    """Raised when an optional asset is not available; tests turn it into a skip."""


def data_root() -> Path | None:
    """The folder named by ``JAX3D_DATA``, or None when the variable is unset or empty."""
    value = os.environ.get(ENV_VAR, "").strip()
    return Path(value).expanduser() if value else None


def has_data(name: str = "") -> bool:
    """True when ``JAX3D_DATA`` is set and ``name`` (relative to it) exists."""
    try:
        data_path(name)
    except DataNotFoundError:
        return False
    return True


def data_path(name: str = "") -> Path:
    """Resolve ``name`` (e.g. ``"meshes/cow_mesh/cow.obj"``) inside the ``JAX3D_DATA`` folder.

    Args:
      name: path relative to the data root; "" returns the root itself. It may not leave the root
        (no absolute paths, no ``..`` escaping it).

    Returns:
      The absolute path of an existing file or folder.

    Raises:
      DataNotFoundError: ``JAX3D_DATA`` is unset, or the asset does not exist under it. The
        message says which, so a test can skip with it and a script can fall back to a
        procedural asset.
      ValueError: ``name`` tries to leave the data root.
    """
    root = data_root()
    if root is None:
        raise DataNotFoundError(
            f"{ENV_VAR} is not set; point it at the folder holding jax3d's optional assets "
            f"(e.g. export {ENV_VAR}=../shared/data) to use {name or 'real data'!r}"
        )
    if not root.is_dir():
        raise DataNotFoundError(f"{ENV_VAR}={str(root)!r} is not a folder")
    root = root.resolve()
    path = (root / name).resolve()
    if path != root and root not in path.parents:
        raise ValueError(f"data name {name!r} leaves the data root {str(root)!r}")
    if not path.exists():
        raise DataNotFoundError(f"{name!r} not found under {ENV_VAR}={str(root)!r}")
    return path
