"""Shared fixtures: optional real data (JAX3D_DATA), PyTorch3D references, hypothesis profiles."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from jax3d.datasets import DataNotFoundError, data_path

# Hypothesis: no deadlines (the first call of a jitted function compiles), modest example counts
# so the default suite stays fast; `HYPOTHESIS_PROFILE=thorough` for more.
settings.register_profile(
    "default",
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

REFERENCE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "reference"


def require_data(name: str) -> Path:
    """Path of a JAX3D_DATA asset, or skip the calling test with the reason."""
    try:
        return data_path(name)
    except DataNotFoundError as err:
        pytest.skip(str(err))


def load_reference(name: str) -> dict[str, np.ndarray]:
    """Arrays of ../shared/reference/<name>.npz (PyTorch3D outputs), or skip when absent."""
    path = REFERENCE_DIR / f"{name}.npz"
    if not path.exists():
        pytest.skip(f"PyTorch3D reference {path} is absent")
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture
def data():
    """`data("meshes/cow_mesh/cow.obj")` -> Path, skipping when JAX3D_DATA lacks it."""
    return require_data


@pytest.fixture
def reference():
    """`reference("cameras")` -> dict of arrays from ../shared/reference, skipping when absent."""
    return load_reference
